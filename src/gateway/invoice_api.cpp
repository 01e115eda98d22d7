#include "gateway/invoice_api.hpp"

#include <algorithm>
#include <iterator>

#include <nlohmann/json.hpp>

#include "gateway/api_error.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

namespace petalsln::gateway {

namespace {

using json = nlohmann::json;

// Longer than any macaroon this gateway mints and any invoice it issues, by far.
constexpr std::size_t kMaxMacaroonChars = 4096;
constexpr std::size_t kMaxInvoiceChars = 4096;

bool is_devnet(const Wallet& wallet) { return wallet.describe().rfind("devnet:", 0) == 0; }

// The string field @p name of a JSON object body, of at most @p max_chars characters.
std::string string_field(const json& body, const char* name, std::size_t max_chars) {
  const auto it = body.find(name);
  if (it == body.end() || !it->is_string()) throw bad_request(std::string("'") + name + "' (a string) is required", name);
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty() || s.size() > max_chars) throw bad_request(std::string("'") + name + "' is empty or too long", name);
  return s;
}

json object_body(const HttpRequest& request) {
  json body = json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) throw bad_request("send a JSON object");
  return body;
}

// A 429 that also says when to come back (Retry-After).
struct RateLimited : ApiError {
  explicit RateLimited(long seconds)
      : ApiError(429, "rate_limit_error", "too many requests; retry in " + std::to_string(seconds) + " s", "", "rate_limited"), retry_after_s(seconds) {}
  long retry_after_s;
};

void check_rate(RequesterLimit& limit, const std::string& requester) {
  const auto now = std::chrono::steady_clock::now();
  if (!limit.allow(requester, now)) throw RateLimited(limit.retry_after_s(requester, now));
}

// The receiving wallet's word on @p hash. An invoice the wallet does not know was not issued
// by this gateway.
InvoiceStatus lookup(ApiContext& api, const PaymentHash& hash) {
  try {
    return api.options.wallet->lookup_invoice(hash);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::not_found) throw ApiError(404, "invalid_request_error", "this gateway issued no such invoice", "", "unknown_invoice");
    throw ApiError(503, "server_error", "the gateway's wallet cannot be reached; retry shortly", "", "wallet_unavailable");
  }
}

// The answer both endpoints give: where the invoice stands and, once paid, its preimage.
void respond_status(ResponseWriter& writer, const InvoiceStatus& status) {
  json out = {{"ok", true}};
  if (status.settled) {
    out["status"] = "settled";
    if (status.preimage) {
      out["preimage"] = util::to_hex(status.preimage->data(), status.preimage->size());
    } else {
      out["preimage"] = nullptr;
      out["message"] = "the invoice is paid, but this gateway's wallet does not say its preimage: enter it from the paying wallet";
    }
  } else if (status.expired) {
    out["status"] = "expired";
    out["message"] = "the invoice expired; get a new one";
  } else {
    out["status"] = "pending";
  }
  HttpResponse response{200, "application/json", out.dump(), {}};
  response.headers.emplace_back("Cache-Control", "no-store");
  writer.respond(response);
  writer.account.status = 200;
}

}  // namespace

RequesterLimit::RequesterLimit(std::size_t per_window, std::chrono::seconds window, std::size_t max_requesters)
    : per_window_(per_window), window_(window), max_requesters_(max_requesters) {}

bool RequesterLimit::allow(const std::string& requester, std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = windows_.find(requester);
  if (it == windows_.end()) {
    if (windows_.size() >= max_requesters_) {
      // Windows that have ended hold nothing back: drop them before refusing a newcomer.
      for (auto w = windows_.begin(); w != windows_.end();) w = now - w->second.start >= window_ ? windows_.erase(w) : std::next(w);
      if (windows_.size() >= max_requesters_) return false;
    }
    it = windows_.emplace(requester, Window{now, 0}).first;
  }
  Window& w = it->second;
  if (now - w.start >= window_) w = Window{now, 0};
  if (w.count >= per_window_) return false;
  ++w.count;
  return true;
}

long RequesterLimit::retry_after_s(const std::string& requester, std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = windows_.find(requester);
  if (it == windows_.end()) return 1;
  const auto left = std::chrono::duration_cast<std::chrono::seconds>(it->second.start + window_ - now).count();
  return std::max<long>(1, static_cast<long>(left));
}

InvoiceDesk::InvoiceDesk(const GatewayOptions& options) : demo_wallet_(options.demo_wallet) {
  if (!demo_wallet_) return;
  if (options.price_msat_per_1k_tokens == 0) throw Error(ErrorCode::invalid_argument, "a demo wallet needs a priced gateway (a free one issues no invoices)");
  if (!options.wallet || !is_devnet(*options.wallet) || !is_devnet(*demo_wallet_)) {
    throw Error(ErrorCode::invalid_argument, "a demo wallet is for the devnet only: both the gateway's wallet and the demo wallet must be devnet wallets");
  }
}

namespace {

// These endpoints are the page's own, not chat.petals.dev's: a refusal keeps its HTTP status
// (the page and scripts act on 401, 403, 429) with {"ok": false, "traceback", "code"}.
template <typename Handler>
void answer(ResponseWriter& writer, Handler&& handler) {
  try {
    handler();
  } catch (const ApiError& e) {
    const json out = {{"ok", false}, {"status_code", e.status()}, {"traceback", e.what()}, {"code", e.code()}};
    HttpResponse response{e.status(), "application/json", out.dump(-1, ' ', false, json::error_handler_t::replace), {}};
    const auto* limited = dynamic_cast<const RateLimited*>(&e);
    if (limited != nullptr) response.headers.emplace_back("Retry-After", std::to_string(limited->retry_after_s));
    if (e.status() == 503) response.headers.emplace_back("Retry-After", "1");
    writer.account.status = e.status();
    writer.respond(response);
  }
}

void invoice_status(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  check_rate(api.invoices.status_limit, request.remote);
  const json body = object_body(request);
  const PaymentHash hash = api.billing.challenge_payment_hash(string_field(body, "macaroon", kMaxMacaroonChars));
  respond_status(writer, lookup(api, hash));
}

void demo_pay(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  Wallet* demo = api.invoices.demo_wallet();
  if (demo == nullptr) throw ApiError(404, "invalid_request_error", "this gateway has no demo wallet (start it with --demo-wallet on the devnet)", "", "not_found");
  check_rate(api.invoices.demo_limit, request.remote);
  check_rate(api.invoices.demo_total_limit, "");
  const json body = object_body(request);
  const PaymentHash hash = api.billing.challenge_payment_hash(string_field(body, "macaroon", kMaxMacaroonChars));
  const std::string bolt11 = string_field(body, "invoice", kMaxInvoiceChars);
  Bolt11Invoice invoice;
  try {
    invoice = Bolt11Invoice::decode(bolt11);
  } catch (const Error&) {
    throw bad_request("'invoice' is not a valid BOLT11 invoice", "invoice");
  }
  // Only the invoice this gateway sold with that macaroon: the demo account pays nothing else.
  if (invoice.payment_hash != hash || !invoice.amount_msat) {
    throw ApiError(403, "permission_error", "that invoice is not the one this macaroon was sold with", "invoice", "wrong_invoice");
  }
  const InvoiceStatus before = lookup(api, hash);
  if (before.settled || before.expired) return respond_status(writer, before);
  PayOptions pay;
  pay.max_fee_msat = 0;  // one devnet pays another at no fee
  pay.timeout = std::chrono::seconds(30);
  const PaymentResult paid = demo->pay_invoice(bolt11, pay);
  if (paid.status != PaymentStatus::succeeded) {
    throw ApiError(502, "server_error", "the demo wallet could not pay: " + paid.failure_reason, "", "demo_payment_failed");
  }
  writer.account.msat = paid.amount_msat;
  respond_status(writer, lookup(api, hash));
}

}  // namespace

void handle_invoice_status(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  answer(writer, [&] { invoice_status(api, request, writer); });
}

void handle_demo_pay(ApiContext& api, const HttpRequest& request, ResponseWriter& writer) {
  answer(writer, [&] { demo_pay(api, request, writer); });
}

}  // namespace petalsln::gateway
