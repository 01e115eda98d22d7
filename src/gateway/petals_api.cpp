// chat.petals.dev's HTTP API (/api/v1/generate, form-encoded, every answer HTTP 200 with
// {"ok": ...}) and the swarm as this gateway sees it (/api/v1/swarm).

#include <nlohmann/json.hpp>

#include "gateway/api_error.hpp"
#include "gateway/api_handlers.hpp"
#include "gateway/form_body.hpp"
#include "gateway/request_fields.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

namespace petalsln::gateway {

namespace {

using json = nlohmann::ordered_json;

std::map<std::string, std::string> request_fields(const HttpRequest& request) {
  auto fields = parse_form(request.query);
  const std::string type = request.header("content-type");
  if (!request.body.empty()) {
    if (type.rfind("application/x-www-form-urlencoded", 0) != 0) {
      throw bad_request("send the fields form-encoded (application/x-www-form-urlencoded)");
    }
    for (auto& [k, v] : parse_form(request.body)) fields[k] = std::move(v);
  }
  return fields;
}

TextRequest generate_request(ApiContext& api, const std::map<std::string, std::string>& form) {
  const auto model = form.find("model");
  if (model != form.end() && !model->second.empty() && model->second != api.service.model_name()) {
    throw ApiError(404, "invalid_request_error", "Unknown model '" + model->second + "'; this gateway serves '" + api.service.model_name() + "'");
  }
  const auto inputs = form.find("inputs");
  if (inputs == form.end() || inputs->second.empty()) throw bad_request("'inputs' is required");
  TextRequest request;
  try {
    request.prompt_ids = api.service.encode_raw(inputs->second);
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  const auto prompt = static_cast<std::int64_t>(request.prompt_ids.size());
  const std::int64_t context = api.service.context_length();
  if (prompt >= context) throw bad_request("Maximum length exceeded: the inputs have " + std::to_string(prompt) + " tokens of " + std::to_string(context));
  const auto max_length = form_integer(form, "max_length", 1, context);
  const auto max_new = form_integer(form, "max_new_tokens", 1, api.options.max_new_tokens);
  if (!max_length && !max_new) throw bad_request("give 'max_length' or 'max_new_tokens'");
  if (max_length && *max_length <= prompt) throw bad_request("Maximum length exceeded: 'max_length' must exceed the inputs' " + std::to_string(prompt) + " tokens");
  request.max_new_tokens = max_new ? *max_new : std::min(*max_length - prompt, api.options.max_new_tokens);
  request.sampling = petals_sampling(form_bool(form, "do_sample"), form_number(form, "temperature", 0.0, 100.0),
                                     form_integer(form, "top_k", 0, 1 << 20), form_number(form, "top_p", 0.0, 1.0),
                                     form_number(form, "repetition_penalty", 0.0, 100.0));
  return request;
}

// What a server earned through this gateway, for /api/v1/swarm; @p from_income: servers are
// paid from message income (else only paywall payments count).
json earned_json(const ServerEarnings& e, const std::string& address, bool from_income, bool allow_http_loopback) {
  json out = {{"accrued_msat", e.accrued_msat}, {"paid_msat", e.paid_msat},   {"owed_msat", e.owed_msat},
              {"in_flight_msat", e.in_flight_msat}, {"kept_by_gateway_msat", e.kept_msat}, {"paywall_msat", e.paywall_msat}};
  if (!from_income) {
    out["unpaid_reason"] = "this gateway does not pay servers from message income (no --ledger)";
  } else if (const std::string why = unpaid_reason(address, allow_http_loopback); !why.empty()) {
    out["unpaid_reason"] = why + ": its share of message income stays with the gateway";
  } else {
    out["unpaid_reason"] = nullptr;
  }
  return out;
}

}  // namespace

void handle_petals_generate(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  const auto form = request_fields(request);
  const TextRequest text = generate_request(api, form);
  Charge charge = charge_for(api, text, request.header("authorization"), request.remote);
  auto slot = api.service.try_acquire();
  if (!slot) throw ApiError(503, "server_error", "the gateway is generating its most messages at once; retry shortly", "", "overloaded");
  const TextResult r = api.service.generate(*slot, text, [&](const std::string&, std::int64_t) { return !writer.cancelled(); });
  const MessageReceipt receipt = settle_message(api, charge, r);
  writer.account.tokens = r.prompt_tokens + static_cast<std::int64_t>(r.new_ids.size());
  writer.account.msat = receipt.charged_msat;
  json out = {{"ok", true}, {"outputs", r.text}, {"petalsln_receipt", receipt_json(receipt)}};
  writer.respond({200, "application/json", out.dump(-1, ' ', false, json::error_handler_t::replace), {}});
}

void handle_swarm(ApiContext& api, ResponseWriter& writer) {
  json servers = json::array();
  const PayoutReport ledger = api.earnings.report();
  const auto kept = api.earnings.kept_msat();
  const auto paywall = api.service.paywall_paid_msat();
  for (const auto& s : api.service.servers()) {
    const std::string peer = util::to_hex(s.peer_id.data(), s.peer_id.size());
    servers.push_back({{"peer", peer},
                       {"public_name", s.public_name},
                       {"endpoint", s.endpoint},
                       {"blocks", {s.block_begin, s.block_end}},
                       {"throughput", s.throughput},
                       {"batch_throughput", s.batch_throughput},
                       {"batch_sessions", s.batch_sessions},
                       {"weights", s.weights},
                       {"weight_bytes_per_block", s.weight_bytes_per_block},
                       {"price_msat_per_1k_block_tokens", s.price_msat},
                       {"lightning_address", s.lightning_address.empty() ? json(nullptr) : json(s.lightning_address)},
                       {"state", "online"},
                       {"earned", earned_json(server_earnings(ledger, kept, paywall, peer, s.lightning_address), s.lightning_address,
                                              api.earnings.enabled(), api.options.payout_allow_http_loopback)}});
  }
  json out = {{"model", api.service.model_name()},
              {"num_blocks", api.service.num_blocks()},
              {"servers", servers}};
  writer.respond({200, "application/json", out.dump(-1, ' ', false, json::error_handler_t::replace), {}});
}

}  // namespace petalsln::gateway
