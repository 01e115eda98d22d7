// chat.petals.dev's WebSocket API (/api/v2/generate): open_inference_session, then generate
// messages that each stream replies {"ok": true, "outputs", "stop", "token_count"}; errors are
// {"ok": false, "traceback": ...} and the session goes on. The session keeps its history, so a
// continuing chat sends only its new turn.
//
// A priced gateway sells each generate message as the HTTP side does, in JSON (browsers cannot
// set headers): an unpaid one gets {"ok": false, "status_code": 402, "invoice", "macaroon", ...}
// and the retry carries "authorization": "L402 <macaroon>:<preimage>"; the session then keeps
// using that token until it is refused.
//
// The session keeps its route's KV caches between messages (a Conversation on a pipeline of
// its own, opened at the first generate): a message runs, and is billed for, only its new
// tokens; when a server has closed the idle session, the history is replayed onto a fresh
// route at the gateway's cost. The final reply of each message also says what the route ran:
// "prompt_tokens" (run as the prompt) and "block_tokens" (blocks x tokens over the message),
// and carries the message's "receipt" (earnings.hpp: tokens, what they cost, the fee, and
// what each server on the route earned).

#include <chrono>
#include <nlohmann/json.hpp>

#include "gateway/api_error.hpp"
#include "gateway/api_handlers.hpp"
#include "gateway/request_fields.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::gateway {

namespace {

using json = nlohmann::ordered_json;

// The longest "authorization" field read: a macaroon list and a preimage fit well within it.
constexpr std::size_t kL402MaxAuthorization = 16 * 1024;

// chat.petals.dev's page sends do_sample as 0/1; transformers' users send true/false.
std::optional<bool> do_sample(const nlohmann::json& m) {
  const auto it = m.find("do_sample");
  if (it == m.end() || it->is_null()) return std::nullopt;
  if (it->is_boolean()) return it->get<bool>();
  return json_integer(m, "do_sample", 0, 1).value() == 1;
}

struct PetalsSession {
  ApiContext& api;
  MessageChannel& channel;
  std::string remote;
  bool open = false;
  std::int64_t max_length = 0;
  std::unique_ptr<SessionConversation> conversation;  // from the first generate: its own route and history
  std::string authorization;  // the last token accepted, used until one is sent again

  bool send(const json& message) { return channel.send(message.dump(-1, ' ', false, json::error_handler_t::replace)); }
  bool send_error(const ApiError& e) {
    json out = {{"ok", false}, {"traceback", e.what()}};
    if (e.status() == 402 || e.status() == 401) out["status_code"] = e.status();
    if (const auto& p = e.payment()) {
      out["invoice"] = p->invoice;
      out["macaroon"] = p->macaroon;
      out["amount_msat"] = p->amount_msat;
      out["credit_tokens"] = p->credit_tokens;
      out["needed_tokens"] = p->needed_tokens;
      out["left_tokens"] = p->left_tokens ? json(*p->left_tokens) : json(nullptr);
    }
    return send(out);
  }

  void open_session(const nlohmann::json& m) {
    if (open) throw bad_request("the inference session is already open");
    const auto model = json_string(m, "model", 256);
    if (model && *model != api.service.model_name()) {
      throw ApiError(404, "invalid_request_error", "Unknown model '" + *model + "'; this gateway serves '" + api.service.model_name() + "'");
    }
    const auto length = json_integer(m, "max_length", 1, api.service.context_length());
    if (!length) throw bad_request("'max_length' is required");
    max_length = *length;
    open = true;
    send({{"ok", true}});
  }

  TextRequest read_generate(const nlohmann::json& m, std::vector<std::string>& extra_stops, std::optional<std::string>& stop) {
    if (!open) throw bad_request("open an inference session first: send {\"type\": \"open_inference_session\", \"max_length\": N}");
    const auto inputs = json_string(m, "inputs", api.options.max_body_bytes);
    stop = json_string(m, "stop_sequence", api.options.max_stop_string_bytes);
    if (stop && stop->empty()) stop.reset();
    extra_stops = json_string_list(m, "extra_stop_sequences", api.options.max_stop_strings, api.options.max_stop_string_bytes);
    const auto max_new = json_integer(m, "max_new_tokens", 1, api.options.max_new_tokens).value_or(1);
    TextRequest request;
    request.sampling = petals_sampling(do_sample(m),
                                       json_number(m, "temperature", 0.0, 100.0), json_integer(m, "top_k", 0, 1 << 20),
                                       json_number(m, "top_p", 0.0, 1.0), json_number(m, "repetition_penalty", 0.0, 100.0));
    if (inputs && !inputs->empty()) {
      try {
        request.prompt_ids = api.service.encode_raw(*inputs);  // only the new tokens: the route holds the rest
      } catch (const Error& e) {
        throw bad_request(e.what());
      }
    }
    const std::size_t held = conversation ? conversation->history_size() : 0;
    if (request.prompt_ids.empty() && held == 0) throw bad_request("nothing to continue: send 'inputs'");
    const auto length = static_cast<std::int64_t>(held + request.prompt_ids.size());
    if (length >= max_length) throw bad_request("Maximum length exceeded");
    // With a stop sequence the reply goes on (in pieces of max_new_tokens) until it is seen.
    request.max_new_tokens = stop ? std::min(max_length - length, api.options.max_new_tokens) : std::min(max_new, max_length - length);
    if (stop) {
      request.stop_strings = extra_stops;
      request.stop_strings.insert(request.stop_strings.begin(), *stop);
      request.keep_stop_string = true;
    }
    return request;
  }

  // Reserves the message's worst case on the token it carries (or the session's last one).
  Charge charge(const nlohmann::json& m, const TextRequest& request) {
    const auto given = json_string(m, "authorization", kL402MaxAuthorization);
    if (given) authorization = *given;
    Charge c = charge_for(api, request, authorization, remote);
    return c;
  }

  // Streams one generate message's replies; returns the tokens used and what they cost.
  std::int64_t generate(const nlohmann::json& m, std::uint64_t& msat) {
    std::vector<std::string> extra_stops;
    std::optional<std::string> stop;
    const TextRequest request = read_generate(m, extra_stops, stop);
    Charge paid = charge(m, request);
    const std::int64_t piece = stop ? json_integer(m, "max_new_tokens", 1, api.options.max_new_tokens).value_or(1) : request.max_new_tokens;
    auto slot = api.service.try_acquire(/*pooled_pipeline=*/false);
    if (!slot) throw ApiError(503, "server_error", "the gateway is generating its most messages at once; retry shortly");
    if (!conversation) conversation = api.service.open_conversation(max_length);
    std::string pending;
    std::int64_t sent_tokens = 0;
    bool alive = true;
    const TextResult r = api.service.converse(*slot, *conversation, request, [&](const std::string& delta, std::int64_t tokens) {
      pending += delta;
      if (stop && tokens - sent_tokens >= piece) {
        alive = send({{"ok", true}, {"outputs", pending}, {"stop", false}, {"token_count", tokens - sent_tokens}});
        pending.clear();
        sent_tokens = tokens;
      }
      return alive && !channel.cancelled();
    });
    std::string last = pending;
    // chat.petals.dev replaces an extra stop sequence with the main one.
    for (const auto& extra : extra_stops) {
      if (stop && last.size() >= extra.size() && last.compare(last.size() - extra.size(), extra.size(), extra) == 0) {
        last = last.substr(0, last.size() - extra.size()) + *stop;
        break;
      }
    }
    const auto total = static_cast<std::int64_t>(r.new_ids.size());
    // A client that left mid-stream pays for the tokens produced, no more.
    const MessageReceipt receipt = settle_message(api, paid, r);
    msat = receipt.charged_msat;
    if (alive) {
      send({{"ok", true}, {"outputs", last}, {"stop", true}, {"token_count", total - sent_tokens}, {"prompt_tokens", r.run_prompt_tokens},
            {"block_tokens", r.block_tokens}, {"receipt", receipt_json(receipt)}});
    }
    return static_cast<std::int64_t>(request.prompt_ids.size()) + total;
  }

  // Handles one message; returns its log entry.
  RequestAccount handle(const ChannelMessage& message, std::string& what) {
    RequestAccount account{200, 0, 0};
    try {
      if (message.kind == ChannelMessage::Kind::binary) throw bad_request("binary frames are not supported: send JSON as text");
      const auto m = parse_json_object(message.data);
      const auto type = json_string(m, "type", 64);
      what = type.value_or("?");
      if (!type) throw bad_request("'type' is required: open_inference_session or generate");
      if (*type == "open_inference_session") {
        open_session(m);
      } else if (*type == "generate") {
        account.tokens = generate(m, account.msat);
      } else {
        throw bad_request("unknown message type '" + *type + "'");
      }
    } catch (const ApiError& e) {
      account.status = e.status();
      send_error(e);
    }
    return account;
  }
};

}  // namespace

void run_petals_session(ApiContext& api, MessageChannel& channel, const std::string& remote) {
  PetalsSession session{api, channel, remote, false, 0, {}, {}};
  for (;;) {
    const ChannelMessage message = channel.receive();
    if (message.kind == ChannelMessage::Kind::closed) return;
    const auto started = std::chrono::steady_clock::now();
    std::string what = "binary";
    const RequestAccount account = session.handle(message, what);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    channel.log(what, account, ms);
  }
}

}  // namespace petalsln::gateway
