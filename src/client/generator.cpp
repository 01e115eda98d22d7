#include "petalsln/client/generator.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "petalsln/util/error.hpp"

namespace petalsln {

const char* to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::stop_token: return "stop_token";
    case StopReason::length: return "length";
    case StopReason::cancelled: return "cancelled";
  }
  return "?";
}

Generator::Generator(const Tokenizer& tokenizer, const LocalHead& head, BlockPipeline& pipeline)
    : tokenizer_(tokenizer), head_(head), pipeline_(pipeline) {}

GenerationResult Generator::generate(const std::vector<TokenId>& prompt_ids, const GenerationOptions& options,
                                     const TokenCallback& on_token) {
  if (prompt_ids.empty()) throw Error(ErrorCode::invalid_argument, "the prompt has no tokens");
  if (options.max_new_tokens < 0) throw Error(ErrorCode::invalid_argument, "max_new_tokens must be >= 0");
  const auto& config = head_.config();
  const auto prompt_len = static_cast<std::int64_t>(prompt_ids.size());
  if (prompt_len > config.max_position_embeddings) {
    throw Error(ErrorCode::invalid_argument, "the prompt has " + std::to_string(prompt_len) + " tokens, more than the model's context of " +
                                                 std::to_string(config.max_position_embeddings));
  }
  Sampler sampler(options.sampling);
  GenerationResult result;
  // The context bounds how many tokens fit; say "length" when it, not the caller, stops us.
  const std::int64_t budget = std::min(options.max_new_tokens, config.max_position_embeddings - prompt_len + 1);
  if (budget == 0) return result;

  auto hidden = head_.embed({prompt_ids});  // validates every id before any compute
  pipeline_.begin_sequence(prompt_len + budget - 1);
  std::vector<TokenId> context = prompt_ids;  // the repetition penalty sees prompt and reply
  TokenStreamDecoder stream(tokenizer_, /*skip_special=*/true);
  auto out = pipeline_.step(hidden);
  for (std::int64_t n = 0; n < budget; ++n) {
    auto logits = head_.last_logits(out).contiguous();
    const TokenId next = sampler.sample(logits.data_ptr<float>(), static_cast<std::size_t>(logits.size(1)), context);
    result.new_ids.push_back(next);
    context.push_back(next);
    const std::string piece = stream.push(next);
    if (on_token && !on_token(next, piece)) {
      result.stop_reason = StopReason::cancelled;
      break;
    }
    if (std::find(options.stop_ids.begin(), options.stop_ids.end(), next) != options.stop_ids.end()) {
      result.stop_reason = StopReason::stop_token;
      break;
    }
    if (n + 1 == budget) break;
    out = pipeline_.step(head_.embed({{next}}));
  }
  result.text = tokenizer_.decode(result.new_ids, /*skip_special=*/true);
  return result;
}

}  // namespace petalsln
