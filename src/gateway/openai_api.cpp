// OpenAI's API: /v1/chat/completions and /v1/completions, whole or streamed as server-sent
// events, and /v1/models. Field names, shapes and error statuses follow OpenAI's reference so
// that its SDKs work unchanged.

#include <chrono>
#include <cmath>

#include "gateway/api_error.hpp"
#include "gateway/api_handlers.hpp"
#include "gateway/request_fields.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::gateway {

namespace {

using json = nlohmann::ordered_json;
constexpr std::size_t kMaxMessages = 1024;

// The fields both completion endpoints share, checked.
struct CompletionParams {
  std::int64_t max_tokens = 0;
  SamplingParams sampling;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void check_model(const ApiContext& api, const nlohmann::json& body) {
  const auto model = json_string(body, "model", 256);
  if (!model) throw bad_request("'model' is required", "model");
  if (*model != api.service.model_name()) {
    throw ApiError(404, "invalid_request_error", "The model '" + *model + "' does not exist; this gateway serves '" + api.service.model_name() + "'",
                   "model", "model_not_found");
  }
}

CompletionParams read_params(const ApiContext& api, const nlohmann::json& body) {
  CompletionParams p;
  const std::int64_t limit = api.options.max_new_tokens;
  auto max_tokens = json_integer(body, "max_completion_tokens", 1, limit);
  if (!max_tokens) max_tokens = json_integer(body, "max_tokens", 1, limit);
  p.max_tokens = max_tokens.value_or(limit);
  const auto n = json_integer(body, "n", 1, 1);
  (void)n;
  const auto temperature = json_number(body, "temperature", 0.0, 2.0);
  const auto top_p = json_number(body, "top_p", 0.0, 1.0);
  json_number(body, "frequency_penalty", -2.0, 2.0);
  json_number(body, "presence_penalty", -2.0, 2.0);
  const auto seed = json_integer(body, "seed", INT64_MIN, INT64_MAX);
  p.sampling.greedy = temperature.has_value() && *temperature == 0.0;
  p.sampling.temperature = static_cast<float>(temperature.value_or(1.0));
  p.sampling.top_p = static_cast<float>(top_p.value_or(1.0));
  if (p.sampling.top_p <= 0.0f) throw bad_request("'top_p' must be greater than 0", "top_p");
  p.sampling.seed = seed ? static_cast<std::uint64_t>(*seed) : random_seed();
  p.stop = json_string_list(body, "stop", api.options.max_stop_strings, api.options.max_stop_string_bytes);
  p.stream = json_bool(body, "stream").value_or(false);
  const auto options = body.find("stream_options");
  if (options != body.end() && !options->is_null()) {
    if (!options->is_object()) throw bad_request("'stream_options' must be an object", "stream_options");
    p.include_usage = json_bool(*options, "include_usage").value_or(false);
  }
  return p;
}

// A message's content: a string, or a list of {"type": "text", "text": ...} parts.
std::string message_content(const nlohmann::json& message, std::size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  const auto it = message.find("content");
  if (it == message.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw bad_request("'" + where + "' must be a string or a list of text parts", where);
  std::string text;
  for (const auto& part : *it) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
      throw bad_request("'" + where + "' may hold only {\"type\": \"text\", \"text\": ...} parts", where);
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

std::vector<ChatMessage> read_messages(const nlohmann::json& body) {
  const auto it = body.find("messages");
  if (it == body.end() || !it->is_array()) throw bad_request("'messages' is required and must be a list", "messages");
  if (it->empty()) throw bad_request("'messages' must not be empty", "messages");
  if (it->size() > kMaxMessages) throw bad_request("'messages' holds more than " + std::to_string(kMaxMessages) + " messages", "messages");
  std::vector<ChatMessage> messages;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const auto& m = (*it)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad_request("'" + where + "' must be an object", where);
    const auto role = json_string(m, "role", 32);
    if (!role) throw bad_request("'" + where + ".role' is required", where + ".role");
    std::string r = *role == "developer" ? "system" : *role;  // OpenAI's newer name for system
    if (r != "system" && r != "user" && r != "assistant") {
      throw bad_request("'" + where + ".role' must be system, user or assistant; got '" + *role + "'", where + ".role");
    }
    messages.push_back({r, message_content(m, i)});
  }
  return messages;
}

std::unique_ptr<GenerationSlot> acquire(ApiContext& api) {
  auto slot = api.service.try_acquire();
  if (!slot) {
    throw ApiError(503, "server_error", "The gateway is generating its most messages at once; retry shortly", "", "overloaded");
  }
  return slot;
}

json usage_json(const TextResult& r) {
  const auto completion = static_cast<std::int64_t>(r.new_ids.size());
  return {{"prompt_tokens", r.prompt_tokens}, {"completion_tokens", completion}, {"total_tokens", r.prompt_tokens + completion}};
}

std::string sse(const json& event) { return "data: " + event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

// What differs between chat.completion and text_completion objects.
struct Dialect {
  bool chat;
  std::string id;
  std::int64_t created;
  std::string model;

  json base(const char* object) const { return {{"id", id}, {"object", object}, {"created", created}, {"model", model}}; }
  json delta_choice(const std::string& text, const json& finish) const {
    if (chat) return {{"index", 0}, {"delta", text.empty() && !finish.is_null() ? json::object() : json{{"content", text}}}, {"logprobs", nullptr}, {"finish_reason", finish}};
    return {{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", finish}};
  }
  json chunk(const std::string& text, const json& finish, bool with_usage_field) const {
    json c = base(chat ? "chat.completion.chunk" : "text_completion");
    c["choices"] = json::array({delta_choice(text, finish)});
    if (with_usage_field) c["usage"] = nullptr;
    return c;
  }
};

void respond_whole(ApiContext& api, ResponseWriter& writer, const Dialect& d, const TextRequest& request, Charge& charge) {
  auto slot = acquire(api);
  const TextResult r = api.service.generate(*slot, request, [&](const std::string&, std::int64_t) { return !writer.cancelled(); });
  json out = d.base(d.chat ? "chat.completion" : "text_completion");
  const char* finish = r.finish == FinishReason::stop ? "stop" : "length";
  if (d.chat) {
    out["choices"] = json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", r.text}, {"refusal", nullptr}}},
                                   {"logprobs", nullptr}, {"finish_reason", finish}}});
  } else {
    out["choices"] = json::array({{{"index", 0}, {"text", r.text}, {"logprobs", nullptr}, {"finish_reason", finish}}});
  }
  out["usage"] = usage_json(r);
  const MessageReceipt receipt = settle_message(api, charge, r);
  out["petalsln_receipt"] = receipt_json(receipt);
  writer.account.tokens = r.prompt_tokens + static_cast<std::int64_t>(r.new_ids.size());
  writer.account.msat = receipt.charged_msat;
  writer.respond({200, "application/json", out.dump(-1, ' ', false, json::error_handler_t::replace), {}});
}

void respond_stream(ApiContext& api, ResponseWriter& writer, const Dialect& d, const TextRequest& request, bool include_usage, Charge& charge) {
  auto slot = acquire(api);  // before the head, so a busy gateway still answers 503
  if (!writer.begin_stream(200, "text/event-stream")) return;
  bool open = true;
  if (d.chat) {
    json first = d.chunk("", nullptr, include_usage);
    first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
    open = writer.write_chunk(sse(first));
  }
  TextResult r;
  try {
    r = api.service.generate(*slot, request, [&](const std::string& delta, std::int64_t) {
      if (!delta.empty() && open) open = writer.write_chunk(sse(d.chunk(delta, nullptr, include_usage)));
      return open && !writer.cancelled();
    });
  } catch (const ApiError& e) {
    // The head is gone already: report the failure in-band, as OpenAI does mid-stream.
    writer.account.status = e.status();
    json err = {{"error", {{"message", e.what()}, {"type", e.type()}, {"param", nullptr}, {"code", e.code().empty() ? json(nullptr) : json(e.code())}}}};
    if (open) writer.write_chunk(sse(err));
    if (open) writer.end_stream();
    return;
  }
  // A client that left mid-stream pays for the tokens produced, no more.
  const MessageReceipt receipt = settle_message(api, charge, r);
  writer.account.tokens = r.prompt_tokens + static_cast<std::int64_t>(r.new_ids.size());
  writer.account.msat = receipt.charged_msat;
  if (!open) return;
  open = writer.write_chunk(sse(d.chunk("", r.finish == FinishReason::stop ? "stop" : "length", include_usage)));
  if (open && include_usage) {
    json last = d.base(d.chat ? "chat.completion.chunk" : "text_completion");
    last["choices"] = json::array();
    last["usage"] = usage_json(r);
    last["petalsln_receipt"] = receipt_json(receipt);  // extra fields are ignored by OpenAI's SDKs
    open = writer.write_chunk(sse(last));
  }
  if (open && writer.write_chunk("data: [DONE]\n\n")) writer.end_stream();
}

TextRequest text_request(const ApiContext& api, std::vector<TokenId> prompt, const CompletionParams& p) {
  TextRequest request;
  const auto prompt_tokens = static_cast<std::int64_t>(prompt.size());
  if (prompt_tokens >= api.service.context_length()) {
    throw bad_request("This model's maximum context length is " + std::to_string(api.service.context_length()) + " tokens; the prompt has " +
                          std::to_string(prompt_tokens),
                      "messages", "context_length_exceeded");
  }
  request.prompt_ids = std::move(prompt);
  request.max_new_tokens = p.max_tokens;
  request.sampling = p.sampling;
  request.stop_strings = p.stop;
  try {
    request.sampling.validate();
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  return request;
}

void answer(ApiContext& api, const HttpRequest& http, ResponseWriter& writer, bool chat, const TextRequest& request, const CompletionParams& p) {
  const Dialect d{chat, random_id(chat ? "chatcmpl-" : "cmpl-"), unix_now(), api.service.model_name()};
  // Reserved before the slot and the head: an unpaid request gets its 402 whole.
  Charge charge = charge_for(api, request, http.header("authorization"), http.remote);
  if (p.stream) {
    respond_stream(api, writer, d, request, p.include_usage, charge);
  } else {
    respond_whole(api, writer, d, request, charge);
  }
}

std::vector<TokenId> encode_or_refuse(const std::function<std::vector<TokenId>()>& encode, const char* param) {
  try {
    return encode();
  } catch (const Error& e) {
    throw bad_request(e.what(), param);
  }
}

}  // namespace

void respond_openai_error(ResponseWriter& writer, int status, const std::string& type, const std::string& message,
                          const std::string& param, const std::string& code) {
  json err = {{"error", {{"message", message}, {"type", type}, {"param", param.empty() ? json(nullptr) : json(param)},
                         {"code", code.empty() ? json(nullptr) : json(code)}}}};
  HttpResponse response{status, "application/json", err.dump(-1, ' ', false, json::error_handler_t::replace), {}};
  if (status == 503) response.headers.emplace_back("Retry-After", "1");
  writer.account.status = status;
  writer.respond(response);
}

void respond_openai_error(ResponseWriter& writer, const ApiError& e) {
  json err = {{"message", e.what()}, {"type", e.type()}, {"param", e.param().empty() ? json(nullptr) : json(e.param())},
              {"code", e.code().empty() ? json(nullptr) : json(e.code())}};
  if (const auto& p = e.payment()) {
    err["invoice"] = p->invoice;
    err["macaroon"] = p->macaroon;
    err["amount_msat"] = p->amount_msat;
    err["credit_tokens"] = p->credit_tokens;
    err["needed_tokens"] = p->needed_tokens;
    err["left_tokens"] = p->left_tokens ? json(*p->left_tokens) : json(nullptr);
  }
  HttpResponse response{e.status(), "application/json", json{{"error", err}}.dump(-1, ' ', false, json::error_handler_t::replace), {}};
  add_challenge_headers(response, e);
  if (e.status() == 503) response.headers.emplace_back("Retry-After", "1");
  writer.account.status = e.status();
  writer.respond(response);
}

void handle_chat_completions(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  const auto body = parse_json_object(request.body);
  check_model(api, body);
  const auto messages = read_messages(body);
  const auto params = read_params(api, body);
  auto prompt = encode_or_refuse([&] { return api.service.encode_chat(messages); }, "messages");
  answer(api, request, writer, /*chat=*/true, text_request(api, std::move(prompt), params), params);
}

void handle_completions(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  const auto body = parse_json_object(request.body);
  check_model(api, body);
  std::string prompt_text;
  const auto it = body.find("prompt");
  if (it != body.end() && it->is_array() && it->size() == 1 && (*it)[0].is_string()) {
    prompt_text = (*it)[0].get<std::string>();
  } else {
    const auto prompt = json_string(body, "prompt", api.options.max_body_bytes);
    if (!prompt) throw bad_request("'prompt' is required and must be a string", "prompt");
    prompt_text = *prompt;
  }
  if (prompt_text.empty()) throw bad_request("'prompt' must not be empty", "prompt");
  const auto params = read_params(api, body);
  auto prompt = encode_or_refuse([&] { return api.service.encode_raw(prompt_text); }, "prompt");
  answer(api, request, writer, /*chat=*/false, text_request(api, std::move(prompt), params), params);
}

void handle_models(ApiContext& api, ResponseWriter& writer) {
  json out = {{"object", "list"},
              {"data", json::array({{{"id", api.service.model_name()}, {"object", "model"}, {"created", 0}, {"owned_by", "petalsln"}}})}};
  writer.respond({200, "application/json", out.dump(), {}});
}

}  // namespace petalsln::gateway
