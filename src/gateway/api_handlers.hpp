#pragma once
// The gateway's routes and the handler of each, by dialect: OpenAI's in openai_api.cpp,
// chat.petals.dev's in petals_api.cpp (HTTP) and petals_session.cpp (WebSocket), the rest in
// routes.cpp.

#include "gateway/billing.hpp"
#include "gateway/earnings.hpp"
#include "gateway/generation_service.hpp"
#include "gateway/http_types.hpp"
#include "petalsln/gateway/gateway_options.hpp"

namespace petalsln::gateway {

class InvoiceDesk;

/// What every handler works with.
struct ApiContext {
  GenerationService& service;     ///< The model and the swarm.
  const GatewayOptions& options;  ///< Limits.
  Billing& billing;               ///< Prices and meters messages (free: asks for nothing).
  InvoiceDesk& invoices;          ///< The invoice endpoints' limits and demo wallet (invoice_api.hpp).
  Earnings& earnings;             ///< Splits each message's income among its servers (earnings.hpp).
};

class ApiError;

/// Reserves @p request's worst case (prompt + max new tokens) on the credit of the L402 token
/// in @p authorization, for a client at @p remote. Throws as Billing::reserve().
Charge charge_for(ApiContext& api, const TextRequest& request, const std::string& authorization, const std::string& remote);

/// Debits @p charge for what @p result used (prompt and generated tokens), splits that
/// income among the servers that did the work (accruing it when servers are paid from
/// income) and returns the message's receipt. Throws as Charge::finish().
MessageReceipt settle_message(ApiContext& api, Charge& charge, const TextResult& result);

/// The WebSocket path of chat.petals.dev's streaming API.
inline constexpr const char* kPetalsWebSocketPath = "/api/v2/generate";

/// Answers any HTTP request (not a WebSocket upgrade): routes it, and turns every refusal into
/// the error shape of the route's dialect.
void handle_request(ApiContext& api, const HttpRequest& request, ResponseWriter& writer);

/// POST /v1/chat/completions.
void handle_chat_completions(ApiContext& api, const HttpRequest& request, ResponseWriter& writer);
/// POST /v1/completions.
void handle_completions(ApiContext& api, const HttpRequest& request, ResponseWriter& writer);
/// GET /v1/models.
void handle_models(ApiContext& api, ResponseWriter& writer);
/// Sends @p error as OpenAI's {"error": {...}} with its status.
void respond_openai_error(ResponseWriter& writer, int status, const std::string& type, const std::string& message,
                          const std::string& param, const std::string& code);
/// Sends @p error as OpenAI's {"error": {...}} with its status, and for a 402 its L402
/// challenge (`WWW-Authenticate` in both the L402 and the legacy LSAT form) and numbers.
void respond_openai_error(ResponseWriter& writer, const ApiError& error);
/// Adds a 402's L402 challenge to @p response's headers: `WWW-Authenticate: L402 ...` and the
/// legacy `WWW-Authenticate: LSAT ...`.
void add_challenge_headers(HttpResponse& response, const ApiError& error);

/// GET or POST /api/v1/generate (form-encoded).
void handle_petals_generate(ApiContext& api, const HttpRequest& request, ResponseWriter& writer);
/// GET /api/v1/swarm.
void handle_swarm(ApiContext& api, ResponseWriter& writer);
/// GET /api/v1/credit: the credit left on the L402 token in the Authorization header.
void handle_credit(ApiContext& api, const HttpRequest& request, ResponseWriter& writer);

/// Runs one chat.petals.dev WebSocket session (/api/v2/generate) until the client leaves;
/// @p remote is the client's address.
void run_petals_session(ApiContext& api, MessageChannel& channel, const std::string& remote);

}  // namespace petalsln::gateway
