// Which handler answers which request, and how each dialect says no.

#include <nlohmann/json.hpp>

#include "gateway/api_error.hpp"
#include "gateway/api_handlers.hpp"
#include "gateway/invoice_api.hpp"
#include "gateway/static_files.hpp"
#include "petalsln/util/error.hpp"
#include "util/log.hpp"

namespace petalsln::gateway {

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// A 402's numbers in the body, for clients that read JSON rather than headers.
void add_payment_fields(nlohmann::json& body, const ApiError& e) {
  const auto& p = e.payment();
  if (!p) return;
  body["invoice"] = p->invoice;
  body["macaroon"] = p->macaroon;
  body["amount_msat"] = p->amount_msat;
  body["credit_tokens"] = p->credit_tokens;
  body["needed_tokens"] = p->needed_tokens;
  body["left_tokens"] = p->left_tokens ? nlohmann::json(*p->left_tokens) : nlohmann::json(nullptr);
}

std::string index_text(const ApiContext& api) {
  return "petalsln gateway for " + api.service.model_name() +
         "\n\n"
         "OpenAI-compatible:   POST /v1/chat/completions, POST /v1/completions, GET /v1/models\n"
         "chat.petals.dev:     POST /api/v1/generate (form-encoded), WebSocket /api/v2/generate\n"
         "the swarm:           GET /api/v1/swarm\n" +
         (api.billing.free() ? std::string("price:               free\n")
                             : "price:               " + std::to_string(api.options.price_msat_per_1k_tokens) +
                                   " msat per 1000 tokens, paid over L402 (a 402 carries the invoice); GET /api/v1/credit shows a token's credit\n");
}

// chat.petals.dev answers its own errors with HTTP 200 and {"ok": false}; refusals about the
// request itself (busy, no such path, wrong method) keep their status.
void respond_petals_error(ResponseWriter& writer, const ApiError& e) {
  const int status = e.status();
  // Paying and being refused keep their status too: L402 clients act on 402 and 401.
  const bool keep = status == 503 || status == 405 || status == 426 || status == 402 || status == 401 || status == 429 || e.code() == "not_found";
  nlohmann::json body = {{"ok", false}, {"traceback", e.what()}};
  if (status == 402 || status == 401) body["status_code"] = status;
  add_payment_fields(body, e);
  HttpResponse response{keep ? status : 200, "application/json", body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
  add_challenge_headers(response, e);
  if (status == 503) response.headers.emplace_back("Retry-After", "1");
  writer.account.status = status;
  writer.respond(response);
}

void route(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";
  if (auto page = get ? static_file_response(api.options.web_root, path) : std::nullopt) {
    writer.respond(*page);  // the web chat page (static_files.cpp)
  } else if (path == "/" && get) {
    writer.respond({200, "text/plain; charset=utf-8", index_text(api), {}});
  } else if (path == "/v1/models" && get) {
    handle_models(api, writer);
  } else if (path == "/v1/chat/completions" && post) {
    handle_chat_completions(api, request, writer);
  } else if (path == "/v1/completions" && post) {
    handle_completions(api, request, writer);
  } else if (path == "/api/v1/generate" && (post || get)) {
    handle_petals_generate(api, request, writer);
  } else if (path == "/api/v1/swarm" && get) {
    handle_swarm(api, writer);
  } else if (path == "/api/v1/credit" && get) {
    handle_credit(api, request, writer);
  } else if (path == kInvoiceStatusPath && post) {
    handle_invoice_status(api, request, writer);  // invoice_api.cpp
  } else if (path == kDemoPayPath && post) {
    handle_demo_pay(api, request, writer);  // invoice_api.cpp
  } else if (path == kWebConfigPath && get) {
    writer.respond(web_config_response(api));  // the web chat page's settings (static_files.cpp)
  } else if (path == kPetalsWebSocketPath) {
    throw ApiError(426, "invalid_request_error", "this path speaks WebSocket: open it with a WebSocket upgrade");
  } else if (path == "/" || path == "/v1/models" || path == "/v1/chat/completions" || path == "/v1/completions" ||
             path == "/api/v1/generate" || path == "/api/v1/swarm" || path == "/api/v1/credit" || path == kInvoiceStatusPath ||
             path == kDemoPayPath) {
    throw ApiError(405, "invalid_request_error", "method " + request.method + " is not allowed on " + path);
  } else {
    throw ApiError(404, "invalid_request_error", "no route " + path + " (see GET /)", "", "not_found");
  }
}

}  // namespace

Charge charge_for(ApiContext& api, const TextRequest& request, const std::string& authorization, const std::string& remote) {
  const auto worst = static_cast<std::int64_t>(request.prompt_ids.size()) + request.max_new_tokens;
  return api.billing.reserve(authorization, worst, remote);
}

void add_challenge_headers(HttpResponse& response, const ApiError& error) {
  const auto& p = error.payment();
  if (!p) return;
  response.headers.emplace_back("WWW-Authenticate", p->challenge);
  // Older clients read the LSAT name; the parameters are the same.
  response.headers.emplace_back("WWW-Authenticate", "LSAT" + p->challenge.substr(p->challenge.find(' ')));
}

void handle_credit(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  const std::uint64_t left = api.billing.credit_left(request.header("authorization"));
  nlohmann::json out = {{"ok", true}, {"left_tokens", left}, {"price_msat_per_1k_tokens", api.options.price_msat_per_1k_tokens}};
  writer.respond({200, "application/json", out.dump(), {}});
}

void handle_request(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  const bool openai = starts_with(request.path, "/v1/");
  try {
    route(api, request, writer);
    if (writer.account.status == 0) writer.account.status = 200;
  } catch (const ApiError& e) {
    if (openai) {
      respond_openai_error(writer, e);
    } else if (starts_with(request.path, "/api/")) {
      respond_petals_error(writer, e);
    } else {
      writer.account.status = e.status();
      writer.respond({e.status(), "text/plain; charset=utf-8", std::string(e.what()) + "\n", {}});
    }
  } catch (const std::exception& e) {
    // A bug or an unexpected failure: log it here, tell the client no more than that.
    util::log(util::LogLevel::error, std::string("gateway: ") + request.method + " " + request.path + ": " + e.what());
    if (openai) {
      respond_openai_error(writer, 500, "server_error", "internal error", "", "internal_error");
    } else {
      respond_petals_error(writer, ApiError(500, "server_error", "internal error", "", "internal_error"));
    }
  }
}

}  // namespace petalsln::gateway
