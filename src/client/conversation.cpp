#include "petalsln/client/conversation.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "petalsln/util/error.hpp"

namespace petalsln {

Conversation::Conversation(const Tokenizer& tokenizer, const LocalHead& head, BlockPipeline& pipeline, std::int64_t max_length)
    : tokenizer_(tokenizer), head_(head), pipeline_(pipeline), max_length_(max_length) {
  if (max_length < 1 || max_length > head.config().max_position_embeddings) {
    throw Error(ErrorCode::invalid_argument, "a conversation's max length must be in [1, " + std::to_string(head.config().max_position_embeddings) + "]");
  }
}

GenerationResult Conversation::turn(const std::vector<TokenId>& new_ids, const GenerationOptions& options, const TokenCallback& on_token) {
  if (options.max_new_tokens < 0) throw Error(ErrorCode::invalid_argument, "max_new_tokens must be >= 0");
  const std::size_t before = history_.size();
  const auto total = static_cast<std::int64_t>(before + new_ids.size());
  if (total > max_length_) {
    throw Error(ErrorCode::invalid_argument, "the conversation would hold " + std::to_string(total) + " tokens, more than its max length of " +
                                                 std::to_string(max_length_));
  }
  const std::size_t from = open_ ? cached_ : 0;  // a failed sequence replays everything
  std::vector<TokenId> input(history_.begin() + static_cast<std::ptrdiff_t>(from), history_.end());
  input.insert(input.end(), new_ids.begin(), new_ids.end());
  if (input.empty()) throw Error(ErrorCode::invalid_argument, "nothing to run: the conversation is empty and the turn has no tokens");
  GenerationResult result;
  // Generating k tokens runs k - 1 of them: the last one waits for the next turn.
  const std::int64_t budget = std::min(options.max_new_tokens, max_length_ - total + 1);
  if (budget <= 0) return result;
  auto hidden = head_.embed({input});  // validates every id before any compute
  Sampler sampler(options.sampling);
  history_.insert(history_.end(), new_ids.begin(), new_ids.end());
  last_prompt_tokens_ = static_cast<std::int64_t>(input.size());
  try {
    if (!open_) {
      pipeline_.begin_sequence(max_length_);
      open_ = true;
    }
    TokenStreamDecoder stream(tokenizer_, /*skip_special=*/true);
    auto out = pipeline_.step(hidden);
    cached_ = history_.size();
    for (std::int64_t n = 0; n < budget; ++n) {
      auto logits = head_.last_logits(out).contiguous();
      const TokenId next = sampler.sample(logits.data_ptr<float>(), static_cast<std::size_t>(logits.size(1)), history_);
      result.new_ids.push_back(next);
      history_.push_back(next);
      if (on_token && !on_token(next, stream.push(next))) {
        result.stop_reason = StopReason::cancelled;
        break;
      }
      if (std::find(options.stop_ids.begin(), options.stop_ids.end(), next) != options.stop_ids.end()) {
        result.stop_reason = StopReason::stop_token;
        break;
      }
      if (n + 1 == budget) break;
      out = pipeline_.step(head_.embed({{next}}));
      cached_ = history_.size();
    }
  } catch (...) {
    // Undo the turn; the sequence's state is unknown, so the next turn starts a fresh one.
    history_.resize(before);
    open_ = false;
    cached_ = 0;
    throw;
  }
  result.text = tokenizer_.decode(result.new_ids, /*skip_special=*/true);
  return result;
}

}  // namespace petalsln
