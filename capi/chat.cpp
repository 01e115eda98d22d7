// Local models and swarm chats: both are a SwarmChat (blocks here, or on the swarm). The only
// translation unit of the C ABI that sees libtorch's headers.
#include <ATen/Parallel.h>

#include <limits>
#include <memory>
#include <vector>

#include "capi_internal.hpp"
#include "petalsln/client/local_model.hpp"
#include "petalsln/client/swarm_chat.hpp"

using namespace petalsln;
using namespace petalsln::capi;

struct pln_model {
  std::unique_ptr<SwarmChat> chat;
};

struct pln_chat {
  std::unique_ptr<SwarmChat> chat;
};

namespace {

// The longest prompt given as ids; far beyond any model's context, so the model's own check
// names the real limit, but it bounds the copy.
constexpr std::size_t kMaxPromptIds = std::size_t{1} << 24;

std::vector<std::string> split_list(const char* list) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  std::string s(list);
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto comma = s.find(',', start);
    out.push_back(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

GenerationOptions generation_options(const SwarmChat& chat, const pln_generate_params* p) {
  const pln_generate_params params = p != nullptr ? *p : pln_generate_default_params();
  if (params.max_new_tokens < 0) throw Error(ErrorCode::invalid_argument, "max_new_tokens must not be negative");
  GenerationOptions o;
  o.max_new_tokens = params.max_new_tokens;
  o.sampling.greedy = params.greedy != 0;
  o.sampling.temperature = params.temperature;
  o.sampling.top_k = params.top_k;
  o.sampling.top_p = params.top_p;
  o.sampling.repetition_penalty = params.repetition_penalty;
  o.sampling.seed = params.seed;
  o.sampling.validate();
  if (params.stop_at_eos != 0) o.stop_ids = chat.model().stop_ids();
  return o;
}

// Runs one generation and stores its JSON; the callback's non-zero return cancels.
void generate(SwarmChat& chat, const std::vector<TokenId>& prompt_ids, const GenerationOptions& options,
              pln_token_callback callback, void* user_data, char** out_json) {
  TokenCallback on_token;
  if (callback != nullptr) {
    on_token = [callback, user_data](TokenId id, const std::string& piece) {
      return callback(static_cast<int32_t>(id), piece.data(), piece.size(), user_data) == 0;
    };
  }
  const GenerationResult result = chat.generate(prompt_ids, options, on_token);
  put_string(out_json, generation_json(prompt_ids, result, &chat));
}

}  // namespace

extern "C" {

PLN_API pln_generate_params pln_generate_default_params(void) {
  pln_generate_params p{};
  p.max_new_tokens = 128;
  p.greedy = 1;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.repetition_penalty = 1.0f;
  p.seed = 0;
  p.raw = 0;
  p.stop_at_eos = 1;
  return p;
}

PLN_API pln_model_params pln_model_default_params(void) {
  pln_model_params p{};
  p.n_threads = 0;
  return p;
}

PLN_API int pln_model_open(const char* model_dir, const pln_model_params* params, pln_model** out) {
  return guard([&] {
    require(model_dir, "model_dir");
    require(out, "out");
    const pln_model_params p = params != nullptr ? *params : pln_model_default_params();
    if (p.n_threads < 0) throw Error(ErrorCode::invalid_argument, "n_threads must not be negative");
    if (p.n_threads > 0) at::set_num_threads(p.n_threads);
    SwarmChatOptions o;
    o.local = true;
    auto model = std::make_unique<pln_model>();
    model->chat = std::make_unique<SwarmChat>(model_dir, o);
    *out = model.release();
  });
}

PLN_API void pln_model_free(pln_model* model) { delete model; }

PLN_API int pln_model_tokenize(const pln_model* model, const char* text, int32_t raw, int32_t* ids, size_t capacity,
                               size_t* n_ids) {
  return guard([&] {
    require(model, "model");
    require(text, "text");
    require(n_ids, "n_ids");
    if (ids == nullptr && capacity > 0) throw Error(ErrorCode::invalid_argument, "ids must not be NULL when capacity > 0");
    const auto encoded = model->chat->encode_prompt(text, raw != 0);
    *n_ids = encoded.size();
    if (encoded.size() > capacity) {
      throw Error(ErrorCode::out_of_range, "the text encodes to " + std::to_string(encoded.size()) + " ids, the buffer holds " +
                                               std::to_string(capacity));
    }
    for (std::size_t i = 0; i < encoded.size(); ++i) ids[i] = static_cast<int32_t>(encoded[i]);
  });
}

PLN_API int pln_model_generate(pln_model* model, const char* prompt, const pln_generate_params* params,
                               pln_token_callback callback, void* user_data, char** out_json) {
  return guard([&] {
    require(model, "model");
    require(prompt, "prompt");
    const auto options = generation_options(*model->chat, params);
    const bool raw = params != nullptr && params->raw != 0;
    generate(*model->chat, model->chat->encode_prompt(prompt, raw), options, callback, user_data, out_json);
  });
}

PLN_API int pln_model_generate_tokens(pln_model* model, const int32_t* ids, size_t n_ids, const pln_generate_params* params,
                                      pln_token_callback callback, void* user_data, char** out_json) {
  return guard([&] {
    require(model, "model");
    require(ids, "ids");
    if (n_ids == 0) throw Error(ErrorCode::invalid_argument, "the prompt must hold at least one id");
    if (n_ids > kMaxPromptIds) throw Error(ErrorCode::out_of_range, "the prompt holds more than 2^24 ids");
    const auto options = generation_options(*model->chat, params);
    std::vector<TokenId> prompt(ids, ids + n_ids);
    generate(*model->chat, prompt, options, callback, user_data, out_json);
  });
}

PLN_API pln_chat_params pln_chat_default_params(void) {
  pln_chat_params p{};
  p.initial_peers = nullptr;
  p.peers = nullptr;
  p.model_name = nullptr;
  p.wallet_uri = nullptr;
  p.budget_msat = 0;
  p.max_price_msat = -1;
  p.step_timeout_s = 30;
  return p;
}

PLN_API int pln_chat_open(const char* model_dir, const pln_chat_params* params, pln_chat** out) {
  return guard([&] {
    require(model_dir, "model_dir");
    require(params, "params");
    require(out, "out");
    SwarmChatOptions o;
    o.initial_peers = split_list(params->initial_peers);
    o.peers = split_list(params->peers);
    o.model_name = str_or_empty(params->model_name);
    if (params->wallet_uri != nullptr) o.wallet = std::shared_ptr<Wallet>(open_wallet(params->wallet_uri));
    o.budget_msat = params->budget_msat;
    if (params->max_price_msat < -1) throw Error(ErrorCode::invalid_argument, "max_price_msat must be -1 (no limit) or >= 0");
    if (params->max_price_msat >= 0) o.max_price_msat = static_cast<std::uint64_t>(params->max_price_msat);
    o.step_timeout_s = params->step_timeout_s;
    auto chat = std::make_unique<pln_chat>();
    chat->chat = std::make_unique<SwarmChat>(model_dir, o);
    *out = chat.release();
  });
}

PLN_API void pln_chat_free(pln_chat* chat) { delete chat; }

PLN_API int pln_chat_generate(pln_chat* chat, const char* prompt, const pln_generate_params* params,
                              pln_token_callback callback, void* user_data, char** out_json) {
  return guard([&] {
    require(chat, "chat");
    require(prompt, "prompt");
    const auto options = generation_options(*chat->chat, params);
    const bool raw = params != nullptr && params->raw != 0;
    generate(*chat->chat, chat->chat->encode_prompt(prompt, raw), options, callback, user_data, out_json);
  });
}

PLN_API int pln_chat_receipt(const pln_chat* chat, char** out_json) {
  return guard([&] {
    require(chat, "chat");
    require(out_json, "out_json");
    *out_json = dup_string(chat->chat->receipt_json());
  });
}

PLN_API int pln_chat_spent_msat(const pln_chat* chat, uint64_t* out_msat) {
  return guard([&] {
    require(chat, "chat");
    require(out_msat, "out_msat");
    *out_msat = chat->chat->spent_msat();
  });
}

}  // extern "C"
