// Local models and swarm chats: both are a SwarmChat (blocks here, or on the swarm). The only
// translation unit of the C ABI that sees libtorch's headers.
#include <ATen/Parallel.h>

#include <cstdlib>
#include <limits>
#include <memory>
#include <vector>

#include "capi_internal.hpp"
#include "petalsln/model/compute_threads.hpp"
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
// The most compute threads pln_model_params may ask for.
constexpr std::uint32_t kMaxThreads = 65536;

std::vector<std::string> split_list(const char* list, const char* name) {
  std::vector<std::string> out;
  if (list == nullptr) return out;
  const std::string s(bounded(list, name));
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
  GenerationOptions o;
  o.max_new_tokens = params.max_new_tokens;
  o.sampling.greedy = params.greedy;
  o.sampling.temperature = params.temperature;
  o.sampling.top_k = to_int(params.top_k, "top_k");
  o.sampling.top_p = params.top_p;
  o.sampling.repetition_penalty = params.repetition_penalty;
  o.sampling.seed = params.seed;
  o.sampling.validate();
  if (params.stop_at_eos) o.stop_ids = chat.model().stop_ids();
  return o;
}

// malloc'd memory released with free(): what pln_generation_clear() releases.
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

std::unique_ptr<pln_token, FreeDeleter> copy_ids(const std::vector<TokenId>& ids) {
  if (ids.empty()) return nullptr;
  auto* p = static_cast<pln_token*>(std::malloc(ids.size() * sizeof(pln_token)));
  if (p == nullptr) throw std::bad_alloc();
  for (std::size_t i = 0; i < ids.size(); ++i) p[i] = static_cast<pln_token>(ids[i]);
  return std::unique_ptr<pln_token, FreeDeleter>(p);
}

pln_stop_reason stop_reason_of(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::stop_token: return PLN_STOP_REASON_STOP_TOKEN;
    case StopReason::length: return PLN_STOP_REASON_LENGTH;
    case StopReason::cancelled: return PLN_STOP_REASON_CANCELLED;
  }
  return PLN_STOP_REASON_LENGTH;
}

// Runs one generation and stores it in *out, which is written only once everything is allocated.
void generate(SwarmChat& chat, const std::vector<TokenId>& prompt_ids, const GenerationOptions& options,
              pln_token_callback callback, void* user_data, pln_generation* out) {
  TokenCallback on_token;
  if (callback != nullptr) {
    on_token = [callback, user_data](TokenId id, const std::string& piece) {
      return callback(static_cast<pln_token>(id), piece.data(), piece.size(), user_data);
    };
  }
  const GenerationResult result = chat.generate(prompt_ids, options, on_token);
  auto prompt = copy_ids(prompt_ids);
  auto fresh = copy_ids(result.new_ids);
  std::unique_ptr<char, FreeDeleter> text(dup_string(result.text));
  out->stop_reason = stop_reason_of(result.stop_reason);
  out->n_prompt_ids = prompt_ids.size();
  out->prompt_ids = prompt.release();
  out->n_new_ids = result.new_ids.size();
  out->new_ids = fresh.release();
  out->text = text.release();
}

// pln_model_generate() and pln_chat_generate(): a text prompt on either kind of handle (@p chat
// is the handle's, never null).
pln_status generate_text(SwarmChat* chat, const char* prompt, const pln_generate_params* params,
                         pln_token_callback callback, void* user_data, pln_generation* out) {
  return guard([&] {
    const std::string text(bounded(prompt, "prompt"));
    require(out, "out");
    const auto options = generation_options(*chat, params);
    const bool raw = params != nullptr && params->raw;
    generate(*chat, chat->encode_prompt(text, raw), options, callback, user_data, out);
  });
}

SwarmChatOptions chat_options(const pln_chat_params& p) {
  SwarmChatOptions o;
  // First: a misspelt format is refused before the wallet below is opened.
  o.weights = weight_format(p.weights, "weights");
  o.initial_peers = split_list(p.initial_peers, "initial_peers");
  o.peers = split_list(p.peers, "peers");
  o.model_name = optional_string(p.model_name, "model_name");
  if (p.wallet_uri != nullptr) o.wallet = std::shared_ptr<Wallet>(open_wallet(std::string(bounded(p.wallet_uri, "wallet_uri"))));
  o.budget_msat = p.budget_msat;
  if (p.max_price_msat != std::numeric_limits<std::uint64_t>::max()) o.max_price_msat = p.max_price_msat;
  o.server_timeout = positive_ms(p.server_timeout_ms, "server_timeout_ms");
  o.dht_connect_timeout = positive_ms(p.dht_connect_timeout_ms, "dht_connect_timeout_ms");
  return o;
}

}  // namespace

extern "C" {

PLN_API pln_generate_params pln_generate_default_params(void) {
  pln_generate_params p{};
  p.max_new_tokens = 128;
  p.greedy = true;
  p.temperature = 1.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.repetition_penalty = 1.0f;
  p.seed = 0;
  p.raw = false;
  p.stop_at_eos = true;
  return p;
}

PLN_API void pln_generation_clear(pln_generation* generation) {
  if (generation == nullptr) return;
  std::free(generation->prompt_ids);
  std::free(generation->new_ids);
  std::free(generation->text);
  *generation = pln_generation{};
}

PLN_API pln_model_params pln_model_default_params(void) {
  pln_model_params p{};
  p.n_threads = 0;
  p.weights = nullptr;
  return p;
}

PLN_API pln_status pln_model_open(const char* model_dir, const pln_model_params* params, pln_model** out) {
  return guard([&] {
    const std::string dir(bounded(model_dir, "model_dir"));
    require(out, "out");
    const pln_model_params p = params != nullptr ? *params : pln_model_default_params();
    if (p.n_threads > kMaxThreads) throw Error(ErrorCode::invalid_argument, "n_threads must be at most 65536");
    SwarmChatOptions o;
    o.local = true;
    o.weights = weight_format(p.weights, "weights");  // before the process-wide thread count changes
    if (p.n_threads > 0) set_compute_threads(static_cast<int>(p.n_threads));
    auto model = std::make_unique<pln_model>();
    model->chat = std::make_unique<SwarmChat>(dir, o);
    *out = model.release();
  });
}

PLN_API void pln_model_free(pln_model* model) { delete model; }

PLN_API pln_status pln_model_tokenize(const pln_model* model, const char* text, bool raw, pln_token* ids, size_t capacity,
                                      size_t* out_n_ids) {
  return guard([&] {
    require(model, "model");
    const std::string input(bounded(text, "text"));
    require(out_n_ids, "out_n_ids");
    if (ids == nullptr && capacity > 0) throw Error(ErrorCode::invalid_argument, "ids must not be NULL when capacity is above 0");
    const auto encoded = model->chat->encode_prompt(input, raw);
    *out_n_ids = encoded.size();
    if (encoded.size() > capacity) {
      throw Error(ErrorCode::out_of_range, "the text encodes to " + std::to_string(encoded.size()) + " ids, the array holds " +
                                               std::to_string(capacity));
    }
    for (std::size_t i = 0; i < encoded.size(); ++i) ids[i] = static_cast<pln_token>(encoded[i]);
  });
}

PLN_API pln_status pln_model_generate(pln_model* model, const char* prompt, const pln_generate_params* params,
                                      pln_token_callback callback, void* user_data, pln_generation* out) {
  if (model == nullptr) return fail(PLN_ERR_INVALID_ARGUMENT, "model must not be NULL");
  return generate_text(model->chat.get(), prompt, params, callback, user_data, out);
}

PLN_API pln_status pln_model_generate_tokens(pln_model* model, const pln_token* ids, size_t n_ids,
                                             const pln_generate_params* params, pln_token_callback callback, void* user_data,
                                             pln_generation* out) {
  return guard([&] {
    require(model, "model");
    require(ids, "ids");
    require(out, "out");
    if (n_ids == 0) throw Error(ErrorCode::invalid_argument, "the prompt must hold at least one id");
    if (n_ids > kMaxPromptIds) throw Error(ErrorCode::out_of_range, "the prompt holds more than 2^24 ids");
    const auto options = generation_options(*model->chat, params);
    const std::vector<TokenId> prompt(ids, ids + n_ids);
    generate(*model->chat, prompt, options, callback, user_data, out);
  });
}

PLN_API pln_chat_params pln_chat_default_params(void) {
  pln_chat_params p{};
  p.initial_peers = nullptr;
  p.peers = nullptr;
  p.model_name = nullptr;
  p.wallet_uri = nullptr;
  p.budget_msat = 0;
  p.max_price_msat = std::numeric_limits<std::uint64_t>::max();
  p.server_timeout_ms = 30000;
  p.dht_connect_timeout_ms = 10000;
  p.weights = nullptr;
  return p;
}

PLN_API pln_status pln_chat_open(const char* model_dir, const pln_chat_params* params, pln_chat** out) {
  return guard([&] {
    const std::string dir(bounded(model_dir, "model_dir"));
    require(out, "out");
    const pln_chat_params p = params != nullptr ? *params : pln_chat_default_params();
    auto chat = std::make_unique<pln_chat>();
    chat->chat = std::make_unique<SwarmChat>(dir, chat_options(p));
    *out = chat.release();
  });
}

PLN_API void pln_chat_free(pln_chat* chat) { delete chat; }

PLN_API pln_status pln_chat_generate(pln_chat* chat, const char* prompt, const pln_generate_params* params,
                                     pln_token_callback callback, void* user_data, pln_generation* out) {
  if (chat == nullptr) return fail(PLN_ERR_INVALID_ARGUMENT, "chat must not be NULL");
  return generate_text(chat->chat.get(), prompt, params, callback, user_data, out);
}

PLN_API pln_status pln_chat_receipt(const pln_chat* chat, char** out_json) {
  return guard([&] {
    require(chat, "chat");
    require(out_json, "out_json");
    *out_json = dup_string(chat->chat->receipt().to_json());
  });
}

PLN_API pln_status pln_chat_spent_msat(const pln_chat* chat, uint64_t* out_msat) {
  return guard([&] {
    require(chat, "chat");
    require(out_msat, "out_msat");
    *out_msat = chat->chat->spent_msat();
  });
}

}  // extern "C"
