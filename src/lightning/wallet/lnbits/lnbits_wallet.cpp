// One LNbits wallet as a Wallet, over the LNbits REST API.

#include "lightning/wallet/lnbits/lnbits_wallet.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "lightning/wallet/rest_wallet_common.hpp"
#include "petalsln/util/error.hpp"
#include "util/clock.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln {
namespace {

using lightning::json_hex32;
using lightning::json_opt_string;
using lightning::json_string;
using lightning::json_u64;
using lightning::peer_text;
using nlohmann::json;

constexpr const char* kUsage = "lnbits://HOST[:PORT]?key=KEY[&cert=FILE][&timeout=SECONDS]";
constexpr std::size_t kMaxKeyBytes = 1024;

std::string base_url(const LnbitsUri& uri) { return lightning::https_base(uri.host, uri.port); }

lightning::HttpResponse send(const LnbitsUri& uri, const std::string& method, const std::string& path,
                             const json* body, bool with_key) {
  lightning::HttpRequest request;
  request.method = method;
  request.url = base_url(uri) + path;
  request.headers = {{"Accept", "application/json"}};
  if (with_key) request.headers.emplace_back("X-Api-Key", uri.key);
  if (body != nullptr) {
    request.headers.emplace_back("Content-Type", "application/json");
    request.body = body->dump();
  }
  return lightning::http_request(request, lightning::endpoint_options(uri, uri.timeout));
}

// LNbits' error body is {"detail": ...}; detail is usually text (validation errors: a list).
std::string detail_of(const lightning::HttpResponse& response) {
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("detail")) {
    const json& d = body["detail"];
    return peer_text(d.is_string() ? d.get<std::string>() : d.dump());
  }
  return peer_text(response.body.substr(0, 200));
}

// The "status" of a 520 error body ("failed", "pending", "success"), or "".
std::string error_status_of(const lightning::HttpResponse& response) {
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("status") && body["status"].is_string()) return body["status"].get<std::string>();
  return {};
}

[[noreturn]] void throw_unexpected(const LnbitsUri& uri, const std::string& action, const lightning::HttpResponse& r) {
  const std::string where = "LNbits at " + base_url(uri) + " (" + action + ")";
  if (r.status == 401 || r.status == 403) {
    lightning::throw_credential_refused(where, "API key", r.status,
                                        detail_of(r) + (action == "pay" ? " (paying needs the wallet's admin key)" : ""));
  }
  throw Error(ErrorCode::io, where + ": unexpected HTTP status " + std::to_string(r.status) + ": " + detail_of(r));
}

std::int64_t json_i64(const json& obj, const char* key, const std::string& what) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) {
    throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' is missing or not an integer");
  }
  return it->get<std::int64_t>();
}

std::uint64_t magnitude(std::int64_t v) {
  return v < 0 ? static_cast<std::uint64_t>(-(v + 1)) + 1 : static_cast<std::uint64_t>(v);
}

// Parses an ISO 8601 date-time as FastAPI writes Python datetimes ("2024-05-01T10:00:00",
// optional fraction, optional "Z" or "+HH:MM" offset; naive times are UTC, as LNbits stores
// them), or a number of Unix seconds (older LNbits versions). 0 when absent.
std::uint64_t parse_time(const json& obj, const char* key, const std::string& what) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_float() && it->get<double>() >= 0) return static_cast<std::uint64_t>(it->get<double>());
  const std::string text = it->is_string() ? it->get<std::string>() : std::string();
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, consumed = 0;
  char sep = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &s, &consumed) != 7 ||
      (sep != 'T' && sep != ' ') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 || y < 1970) {
    throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' is not a date-time");
  }
  std::size_t i = static_cast<std::size_t>(consumed);
  if (i < text.size() && text[i] == '.') {
    ++i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  }
  long offset = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59) {
      throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' has a malformed UTC offset");
    }
    offset = (text[i] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
    i += 6;
  } else if (i < text.size() && text[i] == 'Z') {
    ++i;
  }
  if (i != text.size()) throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' is not a date-time");
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const long long t = static_cast<long long>(timegm(&tm)) - offset;
  return t < 0 ? 0 : static_cast<std::uint64_t>(t);
}

// A Payment object (the reply to a payment, or "details" of a lookup) for an outgoing payment.
PaymentResult outgoing_payment(const json& p, const PaymentHash& hash, const std::string& what) {
  if (json_hex32(p, "payment_hash", what) != hash) throw Error(ErrorCode::invalid_format, what + ": the payment is for another hash");
  PaymentResult r;
  r.payment_hash = hash;
  // LNbits records outgoing amounts and fees as negative millisatoshis.
  r.amount_msat = magnitude(json_i64(p, "amount", what));
  r.fee_msat = magnitude(json_i64(p, "fee", what));
  const std::string status = json_string(p, "status", what);
  if (status == "success") {
    r.status = PaymentStatus::succeeded;
    r.preimage = json_hex32(p, "preimage", what);
    lightning::check_preimage(*r.preimage, hash, what);
  } else if (status == "pending") {
    r.status = PaymentStatus::pending;
  } else if (status == "failed") {
    r.status = PaymentStatus::failed;
    r.failure_reason = "LNbits reports the payment failed";
  } else {
    throw Error(ErrorCode::invalid_format, what + ": unknown payment status '" + peer_text(status) + "'");
  }
  return r;
}

// GET /api/v1/payments/{hash}: this wallet's payment of that hash ("details"), or null.
json find_payment(const LnbitsUri& uri, const PaymentHash& hash) {
  const auto r = send(uri, "GET", "/api/v1/payments/" + lightning::hex32(hash), nullptr, true);
  if (r.status == 404) return nullptr;
  if (r.status != 200) throw_unexpected(uri, "payment lookup", r);
  const json reply = lightning::json_object_reply(r, "LNbits payment lookup");
  // Without "details" the payment belongs to another wallet on the same server.
  const auto it = reply.find("details");
  if (it == reply.end() || it->is_null()) return nullptr;
  if (!it->is_object()) throw Error(ErrorCode::invalid_format, "LNbits payment lookup: 'details' is not an object");
  return *it;
}

}  // namespace

LnbitsUri LnbitsUri::parse(const std::string& uri) {
  const auto parsed = lightning::parse_rest_uri(uri, "lnbits", 443, {"key", "key_file", "cert", "timeout"}, kUsage);
  LnbitsUri out;
  lightning::set_endpoint(out, parsed, kUsage);
  out.key = lightning::secret_param(parsed, "key", "key_file", kMaxKeyBytes, "API key", kUsage);
  return out;
}

LnbitsWallet::LnbitsWallet(LnbitsUri uri) : uri_(std::move(uri)) {}

LnbitsWallet::~LnbitsWallet() { util::secure_wipe(uri_.key.data(), uri_.key.size()); }

std::unique_ptr<LnbitsWallet> LnbitsWallet::open(const std::string& uri) {
  return std::make_unique<LnbitsWallet>(LnbitsUri::parse(uri));
}

std::string LnbitsWallet::describe() const { return lightning::shown_uri("lnbits", uri_.host, uri_.port); }

CreatedInvoice LnbitsWallet::create_invoice(const InvoiceRequest& request) {
  lightning::check_invoice_request(request);
  if (!request.amount_msat) {
    throw Error(ErrorCode::unsupported, "LNbits cannot create amount-less invoices (it refuses them: \"Amountless invoices not supported\")");
  }
  if (*request.amount_msat % 1000 != 0) {
    throw Error(ErrorCode::unsupported, "LNbits invoices are in whole satoshis; " + std::to_string(*request.amount_msat) +
                                            " msat is not a multiple of 1000");
  }
  json body = {{"out", false},
               {"amount", *request.amount_msat / 1000},
               {"unit", "sat"},
               {"memo", request.memo},
               {"expiry", request.expiry.count()}};
  if (request.description_hash) body["description_hash"] = lightning::hex32(*request.description_hash);

  const auto r = send(uri_, "POST", "/api/v1/payments", &body, true);
  if (r.status == 400) throw Error(ErrorCode::invalid_argument, "LNbits refused the invoice: " + detail_of(r));
  if (r.status == 520) throw Error(ErrorCode::io, "LNbits could not create the invoice: " + detail_of(r));
  if (r.status != 200 && r.status != 201) throw_unexpected(uri_, "create invoice", r);
  const std::string what = "LNbits create invoice";
  const json reply = lightning::json_object_reply(r, "LNbits create invoice");
  CreatedInvoice out;
  out.payment_hash = json_hex32(reply, "payment_hash", what);
  // LNbits 1.x returns the Payment ("bolt11"); earlier versions "payment_request".
  auto bolt11 = json_opt_string(reply, "bolt11", what);
  if (!bolt11) bolt11 = json_opt_string(reply, "payment_request", what);
  if (!bolt11) throw Error(ErrorCode::invalid_format, what + ": the reply has neither 'bolt11' nor 'payment_request'");
  out.bolt11 = *bolt11;
  lightning::check_created_invoice(out.bolt11, out.payment_hash, request, what);
  return out;
}

PaymentResult LnbitsWallet::pay_invoice(const std::string& bolt11, const PayOptions& options) {
  std::string refusal;
  const Bolt11Invoice invoice = lightning::decode_for_payment(bolt11, options, refusal);
  const PaymentHash& hash = invoice.payment_hash;
  if (!invoice.amount_msat && options.amount_msat) {
    throw Error(ErrorCode::unsupported, "LNbits cannot pay amount-less invoices (it refuses them: \"Amountless invoices not supported\")");
  }
  if (!refusal.empty()) return lightning::failed_payment(hash, refusal);

  // The API has no fee limit; LNbits never pays more in fees than its fee reserve.
  const auto reserve = send(uri_, "GET", "/api/v1/payments/fee-reserve?invoice=" + bolt11, nullptr, false);
  if (reserve.status != 200) throw_unexpected(uri_, "fee reserve", reserve);
  const std::uint64_t reserve_msat = json_u64(lightning::json_object_reply(reserve, "LNbits fee reserve"), "fee_reserve", "LNbits fee reserve");
  if (reserve_msat > options.max_fee_msat) {
    return lightning::failed_payment(hash, "LNbits reserves up to " + std::to_string(reserve_msat) +
                                               " msat for routing fees, above the limit of " +
                                               std::to_string(options.max_fee_msat) + " msat");
  }

  const json body = {{"out", true}, {"bolt11", bolt11}};
  const auto r = send(uri_, "POST", "/api/v1/payments", &body, true);
  if (r.status == 520 || r.status == 400) {
    PaymentResult result = lightning::failed_payment(hash, "LNbits: " + detail_of(r));
    if (error_status_of(r) == "pending") result.status = PaymentStatus::pending;
    return result;
  }
  if (r.status != 200 && r.status != 201) throw_unexpected(uri_, "pay", r);
  const json reply = lightning::json_object_reply(r, "LNbits pay");
  if (reply.contains("status")) return outgoing_payment(reply, hash, "LNbits pay");
  // Versions before 1.0 answer only {"payment_hash", "checking_id"}: ask for the outcome.
  if (json_hex32(reply, "payment_hash", "LNbits pay") != hash) {
    throw Error(ErrorCode::invalid_format, "LNbits pay: the reply is for another payment hash");
  }
  if (auto found = lookup_payment(hash)) return *found;
  PaymentResult pending;
  pending.payment_hash = hash;
  return pending;
}

InvoiceStatus LnbitsWallet::lookup_invoice(const PaymentHash& payment_hash) {
  const std::string what = "LNbits payment lookup";
  const json details = find_payment(uri_, payment_hash);
  if (details.is_null() || json_i64(details, "amount", what) <= 0) {
    throw Error(ErrorCode::not_found, "this LNbits wallet has no invoice with payment hash " + lightning::hex32(payment_hash));
  }
  if (json_hex32(details, "payment_hash", what) != payment_hash) {
    throw Error(ErrorCode::invalid_format, what + ": the payment is for another hash");
  }
  InvoiceStatus s;
  s.payment_hash = payment_hash;
  const std::string status = json_string(details, "status", what);
  if (status == "success") {
    s.settled = true;
    s.amount_paid_msat = static_cast<std::uint64_t>(json_i64(details, "amount", what));
    s.settled_at = parse_time(details, "updated_at", what);
    if (s.settled_at == 0) s.settled_at = parse_time(details, "time", what);
  } else if (status == "pending" || status == "failed") {
    // LNbits leaves an unpaid invoice pending past its expiry; the invoice itself says when.
    const Bolt11Invoice invoice = Bolt11Invoice::decode(json_string(details, "bolt11", what));
    s.expired = status == "failed" || invoice.is_expired(util::unix_seconds());
  } else {
    throw Error(ErrorCode::invalid_format, what + ": unknown payment status '" + peer_text(status) + "'");
  }
  return s;
}

std::optional<PaymentResult> LnbitsWallet::lookup_payment(const PaymentHash& payment_hash) {
  const std::string what = "LNbits payment lookup";
  const json details = find_payment(uri_, payment_hash);
  if (details.is_null() || json_i64(details, "amount", what) >= 0) return std::nullopt;
  return outgoing_payment(details, payment_hash, what);
}

std::uint64_t LnbitsWallet::balance_msat() {
  const auto r = send(uri_, "GET", "/api/v1/wallet", nullptr, true);
  if (r.status != 200) throw_unexpected(uri_, "wallet", r);
  return json_u64(lightning::json_object_reply(r, "LNbits wallet"), "balance", "LNbits wallet");
}

}  // namespace petalsln
