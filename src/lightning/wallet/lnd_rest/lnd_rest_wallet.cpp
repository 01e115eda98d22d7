// An LND node as a Wallet, over LND's REST proxy (grpc-gateway).

#include "lightning/wallet/lnd_rest/lnd_rest_wallet.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>

#include "lightning/wallet/rest_wallet_common.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/base64.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln {
namespace {

using lightning::peer_text;
using nlohmann::json;

constexpr const char* kUsage = "lnd+rest://HOST[:PORT]?macaroon=FILE[&cert=FILE][&timeout=SECONDS]";
// Baked macaroons are a few hundred bytes; third-party caveats can add some. Anything larger
// is not a macaroon file.
constexpr std::size_t kMaxMacaroonBytes = 64 * 1024;
// A payment stream carries a handful of updates (one per HTLC attempt at most with
// no_inflight_updates off); more lines than this is not LND.
constexpr std::size_t kMaxStreamLines = 10'000;

// gRPC status codes LND's errors carry (google.rpc.Code).
constexpr long long kGrpcUnknown = 2;
constexpr long long kGrpcInvalidArgument = 3;
constexpr long long kGrpcNotFound = 5;
constexpr long long kGrpcAlreadyExists = 6;
constexpr long long kGrpcPermissionDenied = 7;
constexpr long long kGrpcUnauthenticated = 16;

// A gRPC status as grpc-gateway writes it: {"code", "message", "details"}, or wrapped in
// {"error": ...} inside (or instead of) a stream.
struct GrpcStatus {
  long long code = 0;
  std::string message;
};

std::optional<GrpcStatus> grpc_status_of(const json& value) {
  const json* obj = &value;
  if (obj->is_object() && obj->contains("error") && (*obj)["error"].is_object()) obj = &(*obj)["error"];
  if (!obj->is_object()) return std::nullopt;
  const auto code = obj->find("code");
  const auto message = obj->find("message");
  if (code == obj->end() || !code->is_number_integer()) return std::nullopt;
  GrpcStatus s;
  s.code = code->get<long long>();
  if (message != obj->end() && message->is_string()) s.message = message->get<std::string>();
  return s;
}

// LND's macaroon checks fail with plain errors (gRPC Unknown, HTTP 500); their texts are the
// only way to tell them from other failures.
bool is_macaroon_refusal(long status, const std::optional<GrpcStatus>& s) {
  if (status == 401 || status == 403) return true;
  if (!s) return false;
  if (s->code == kGrpcUnauthenticated || s->code == kGrpcPermissionDenied) return true;
  if (s->code != kGrpcUnknown) return false;
  static const char* const kTexts[] = {"verification failed", "expected 1 macaroon", "permission denied",
                                       "cannot get macaroon", "macaroon"};
  return std::any_of(std::begin(kTexts), std::end(kTexts),
                     [&](const char* t) { return s->message.find(t) != std::string::npos; });
}

std::string status_text(const GrpcStatus& s) {
  return "(code " + std::to_string(s.code) + "): " + peer_text(s.message);
}

// A uint64 field as grpc-gateway writes it: a decimal string (or, leniently, a number).
// Absent means zero, as proto3 omits defaults.
std::uint64_t u64_field(const json& obj, const char* key, const std::string& what) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return 0;
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer() && it->get<long long>() >= 0) return static_cast<std::uint64_t>(it->get<long long>());
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    const bool digits = !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    if (digits) {
      errno = 0;
      char* end = nullptr;
      const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
      if (errno == 0 && *end == '\0') return v;
    }
  }
  throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' is not an unsigned 64-bit integer");
}

std::string string_field(const json& obj, const char* key, const std::string& what) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' is not a string");
  return it->get<std::string>();
}

// A bytes field: base64 of exactly 32 bytes.
std::array<std::uint8_t, 32> b64_32(const json& obj, const char* key, const std::string& what) {
  const std::string text = string_field(obj, key, what);
  std::string bytes;
  try {
    bytes = util::base64_decode(text, util::Base64Alphabet::either, util::Base64Padding::optional, key);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_format, what + ": field '" + key + "': " + e.what());
  }
  if (bytes.size() != 32) throw Error(ErrorCode::invalid_format, what + ": field '" + key + "' is not 32 bytes");
  std::array<std::uint8_t, 32> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

std::string b64(const std::array<std::uint8_t, 32>& bytes, util::Base64Alphabet alphabet) {
  return util::base64_encode(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), alphabet);
}

// Reads a payment stream: the last {"result"} line, or the first {"error"} line's status.
struct StreamEnd {
  std::optional<json> last_result;
  std::optional<GrpcStatus> error;
};

StreamEnd read_stream(const std::string& body, const std::string& what) {
  StreamEnd end;
  std::size_t start = 0, lines = 0;
  while (start < body.size()) {
    std::size_t nl = body.find('\n', start);
    if (nl == std::string::npos) nl = body.size();
    const std::string line = body.substr(start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (++lines > kMaxStreamLines) throw Error(ErrorCode::invalid_format, what + ": the stream has too many updates");
    const json value = json::parse(line, nullptr, false);
    if (value.is_discarded() || !value.is_object()) {
      throw Error(ErrorCode::invalid_format, what + ": a stream line is not a JSON object");
    }
    if (value.contains("result")) {
      end.last_result = value["result"];
    } else if (value.contains("error")) {
      end.error = grpc_status_of(value);
      if (!end.error) throw Error(ErrorCode::invalid_format, what + ": a stream error has no gRPC status");
      return end;
    } else {
      throw Error(ErrorCode::invalid_format, what + ": a stream line has neither 'result' nor 'error'");
    }
  }
  return end;
}

class Client {
 public:
  explicit Client(const LndRestUri& uri) : uri_(uri) {}

  std::string base() const { return lightning::https_base(uri_.host, uri_.port); }

  lightning::HttpResponse send(const std::string& method, const std::string& path, const std::string& body,
                               std::chrono::milliseconds timeout, bool first_line_only = false) const {
    lightning::HttpRequest request;
    request.method = method;
    request.url = base() + path;
    request.headers = {{"Grpc-Metadata-macaroon", uri_.macaroon_hex}, {"Accept", "application/json"}};
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    request.body = body;
    lightning::HttpOptions options = lightning::endpoint_options(uri_, timeout);
    options.stop_after_first_line = first_line_only;
    return lightning::http_request(request, options);
  }

  // Throws the errors every call shares: a refused macaroon, or (when not @p allowed) an
  // unexpected status. Returns the gRPC status the body carries, if any.
  std::optional<GrpcStatus> check(const lightning::HttpResponse& r, const std::string& what,
                                  bool throw_unless_ok) const {
    const json body = json::parse(r.body.substr(0, r.body.find('\n')), nullptr, false);
    std::optional<GrpcStatus> s = body.is_discarded() ? std::nullopt : grpc_status_of(body);
    if (r.status == 200 && !(s && body.contains("error"))) return std::nullopt;
    if (is_macaroon_refusal(r.status, s)) {
      lightning::throw_credential_refused(what, "macaroon", r.status, s ? peer_text(s->message) : std::string());
    }
    if (throw_unless_ok) {
      if (s && s->code == kGrpcInvalidArgument) throw Error(ErrorCode::invalid_argument, what + ": LND refused " + status_text(*s));
      throw Error(ErrorCode::io, what + ": unexpected HTTP status " + std::to_string(r.status) +
                                     (s ? " " + status_text(*s) : ": " + peer_text(r.body.substr(0, 200))));
    }
    if (!s) {
      throw Error(ErrorCode::io, what + ": HTTP " + std::to_string(r.status) + " without a gRPC status: " +
                                     peer_text(r.body.substr(0, 200)));
    }
    return s;
  }

  // A server-streaming call's outcome: the error its status carries if the call failed as a
  // whole, else how its stream ended.
  StreamEnd stream_end(const lightning::HttpResponse& r, const std::string& what) const {
    StreamEnd end;
    if (const std::optional<GrpcStatus> failed_call = check(r, what, false)) {
      end.error = failed_call;
    } else {
      end = read_stream(r.body, what);
    }
    return end;
  }

  json ok_json(const lightning::HttpResponse& r, const std::string& what) const {
    check(r, what, true);
    return lightning::json_object_reply(r, what);
  }

  const LndRestUri& uri() const { return uri_; }

 private:
  const LndRestUri& uri_;
};

std::string failure_text(const std::string& reason) {
  if (reason == "FAILURE_REASON_TIMEOUT") return "LND gave up: timeout (FAILURE_REASON_TIMEOUT)";
  if (reason == "FAILURE_REASON_NO_ROUTE") return "LND found no route (FAILURE_REASON_NO_ROUTE)";
  if (reason == "FAILURE_REASON_ERROR") return "LND hit an unrecoverable error (FAILURE_REASON_ERROR)";
  if (reason == "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS") {
    return "the payee rejected the payment details: unknown hash, wrong amount or expired "
           "(FAILURE_REASON_INCORRECT_PAYMENT_DETAILS)";
  }
  if (reason == "FAILURE_REASON_INSUFFICIENT_BALANCE") {
    return "insufficient balance (FAILURE_REASON_INSUFFICIENT_BALANCE)";
  }
  if (reason == "FAILURE_REASON_CANCELED") return "the payment was canceled (FAILURE_REASON_CANCELED)";
  return "LND reports the payment failed (" + peer_text(reason) + ")";
}

// An lnrpc.Payment (payment_hash and payment_preimage are hex strings there, not bytes).
PaymentResult payment_of(const json& p, const PaymentHash& hash, const std::string& what) {
  if (!p.is_object()) throw Error(ErrorCode::invalid_format, what + ": the payment is not a JSON object");
  std::array<std::uint8_t, 32> reported{};
  try {
    util::from_hex_into(string_field(p, "payment_hash", what), reported.data(), reported.size(), "payment_hash");
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_format, what + ": " + e.what());
  }
  if (reported != hash) throw Error(ErrorCode::invalid_format, what + ": the reply is for another payment hash");
  PaymentResult r;
  r.payment_hash = hash;
  r.amount_msat = u64_field(p, "value_msat", what);
  r.fee_msat = u64_field(p, "fee_msat", what);
  const std::string status = string_field(p, "status", what);
  if (status == "SUCCEEDED") {
    r.status = PaymentStatus::succeeded;
    Preimage preimage{};
    try {
      util::from_hex_into(string_field(p, "payment_preimage", what), preimage.data(), preimage.size(), "payment_preimage");
    } catch (const Error& e) {
      throw Error(ErrorCode::invalid_format, what + ": " + e.what());
    }
    lightning::check_preimage(preimage, hash, what);
    r.preimage = preimage;
  } else if (status == "FAILED") {
    r.status = PaymentStatus::failed;
    r.failure_reason = failure_text(string_field(p, "failure_reason", what));
  } else if (status == "IN_FLIGHT" || status == "INITIATED" || status == "UNKNOWN") {
    r.status = PaymentStatus::pending;
  } else {
    throw Error(ErrorCode::invalid_format, what + ": unknown payment status '" + peer_text(status) + "'");
  }
  return r;
}

}  // namespace

LndRestUri LndRestUri::parse(const std::string& uri) {
  const auto parsed = lightning::parse_rest_uri(uri, "lnd+rest", 8080, {"macaroon", "cert", "timeout"}, kUsage);
  const auto macaroon_file = parsed.get("macaroon");
  if (!macaroon_file) {
    throw Error(ErrorCode::invalid_argument,
                std::string("wallet URI: the macaroon file is missing (expected ") + kUsage + ")");
  }
  LndRestUri out;
  lightning::set_endpoint(out, parsed, kUsage);
  // Binary: read as is (no trimming; any byte may end a macaroon's signature).
  std::string bytes = lightning::read_secret_file(*macaroon_file, kMaxMacaroonBytes, "macaroon", /*trim=*/false);
  out.macaroon_hex = util::to_hex(bytes);
  util::secure_wipe(bytes.data(), bytes.size());
  return out;
}

LndRestWallet::LndRestWallet(LndRestUri uri) : uri_(std::move(uri)) {}

LndRestWallet::~LndRestWallet() { util::secure_wipe(uri_.macaroon_hex.data(), uri_.macaroon_hex.size()); }

std::unique_ptr<LndRestWallet> LndRestWallet::open(const std::string& uri) {
  return std::make_unique<LndRestWallet>(LndRestUri::parse(uri));
}

std::string LndRestWallet::describe() const { return lightning::shown_uri("lnd+rest", uri_.host, uri_.port); }

CreatedInvoice LndRestWallet::create_invoice(const InvoiceRequest& request) {
  lightning::check_invoice_request(request);
  json body = {{"expiry", std::to_string(request.expiry.count())}};
  if (request.amount_msat) body["value_msat"] = std::to_string(*request.amount_msat);
  if (request.description_hash) {
    body["description_hash"] = b64(*request.description_hash, util::Base64Alphabet::standard);
  } else {
    body["memo"] = request.memo;
  }
  const Client client(uri_);
  const std::string what = "LND AddInvoice at " + client.base();
  const json reply = client.ok_json(client.send("POST", "/v1/invoices", body.dump(), uri_.timeout), what);
  CreatedInvoice out;
  out.payment_hash = b64_32(reply, "r_hash", what);
  out.bolt11 = string_field(reply, "payment_request", what);
  lightning::check_created_invoice(out.bolt11, out.payment_hash, request, what);
  if (Bolt11Invoice::decode(out.bolt11).expiry_seconds() != static_cast<std::uint64_t>(request.expiry.count())) {
    throw Error(ErrorCode::invalid_format, what + ": the returned invoice's expiry differs from the requested one");
  }
  return out;
}

PaymentResult LndRestWallet::pay_invoice(const std::string& bolt11, const PayOptions& options) {
  std::string refusal;
  const Bolt11Invoice invoice = lightning::decode_for_payment(bolt11, options, refusal);
  if (!refusal.empty()) return lightning::failed_payment(invoice.payment_hash, refusal);

  const long long timeout_s = std::clamp<long long>((options.timeout.count() + 999) / 1000, 1, 24 * 3600);
  json body = {{"payment_request", bolt11},
               {"timeout_seconds", timeout_s},
               {"fee_limit_msat", std::to_string(options.max_fee_msat)},
               {"no_inflight_updates", true}};
  if (!invoice.amount_msat) body["amt_msat"] = std::to_string(*options.amount_msat);

  const Client client(uri_);
  const std::string what = "LND SendPaymentV2 at " + client.base();
  lightning::HttpResponse reply;
  try {
    // LND stops trying after timeout_seconds; the reply gets the per-request timeout on top.
    reply = client.send("POST", "/v2/router/send", body.dump(), options.timeout + uri_.timeout);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::io) throw;
    // The request may have started the payment: report where it stands if LND knows it.
    std::optional<PaymentResult> known;
    try {
      known = lookup_payment(invoice.payment_hash);
    } catch (const Error&) {
      throw e;
    }
    if (known) return *known;
    throw;
  }
  StreamEnd end = client.stream_end(reply, what);
  if (end.error) {
    if (is_macaroon_refusal(reply.status, end.error)) {
      lightning::throw_credential_refused(what, "macaroon", reply.status, peer_text(end.error->message));
    }
    // AlreadyExists is both "invoice is already paid" and "payment is in transition": only
    // the second has a state worth reporting.
    if (end.error->code == kGrpcAlreadyExists) {
      const auto known = lookup_payment(invoice.payment_hash);
      if (known && known->status == PaymentStatus::pending) return *known;
    }
    return lightning::failed_payment(invoice.payment_hash, "LND refused the payment " + status_text(*end.error));
  }
  if (!end.last_result) throw Error(ErrorCode::invalid_format, what + ": the stream ended without a payment update");
  return payment_of(*end.last_result, invoice.payment_hash, what);
}

InvoiceStatus LndRestWallet::lookup_invoice(const PaymentHash& payment_hash) {
  const Client client(uri_);
  const std::string what = "LND LookupInvoice at " + client.base();
  const auto reply = client.send("GET", "/v1/invoice/" + lightning::hex32(payment_hash), "", uri_.timeout);
  if (reply.status != 200) {
    const auto s = client.check(reply, what, false);
    if (reply.status == 404 || s->code == kGrpcNotFound) {
      throw Error(ErrorCode::not_found, "LND has no invoice with payment hash " + lightning::hex32(payment_hash));
    }
    client.check(reply, what, true);
  }
  const json inv = client.ok_json(reply, what);
  if (b64_32(inv, "r_hash", what) != payment_hash) {
    throw Error(ErrorCode::invalid_format, what + ": the reply is for another payment hash");
  }
  InvoiceStatus s;
  s.payment_hash = payment_hash;
  const std::string state = string_field(inv, "state", what);
  if (state != "OPEN" && state != "SETTLED" && state != "CANCELED" && state != "ACCEPTED") {
    throw Error(ErrorCode::invalid_format, what + ": unknown invoice state '" + peer_text(state) + "'");
  }
  s.settled = state == "SETTLED";
  if (s.settled) {
    s.amount_paid_msat = u64_field(inv, "amt_paid_msat", what);
    s.settled_at = u64_field(inv, "settle_date", what);
    const auto preimage = inv.find("r_preimage");
    if (preimage != inv.end() && preimage->is_string() && !preimage->get_ref<const std::string&>().empty()) {
      s.preimage = b64_32(inv, "r_preimage", what);
      lightning::check_preimage(*s.preimage, payment_hash, what);
    }
  } else {
    const std::uint64_t created = u64_field(inv, "creation_date", what), expiry = u64_field(inv, "expiry", what);
    const auto now = static_cast<std::uint64_t>(std::time(nullptr));
    s.expired = state == "CANCELED" || (expiry <= now && created <= now - expiry);
  }
  return s;
}

std::optional<PaymentResult> LndRestWallet::lookup_payment(const PaymentHash& payment_hash) {
  const Client client(uri_);
  const std::string what = "LND TrackPaymentV2 at " + client.base();
  // The path parameter is bytes: URL-safe base64, its padding percent-encoded.
  std::string hash = b64(payment_hash, util::Base64Alphabet::url_safe);
  const std::size_t pad = hash.find('=');
  if (pad != std::string::npos) hash = hash.substr(0, pad) + std::string("%3D%3D").substr(0, 3 * (hash.size() - pad));
  // The first update is the payment as it stands; an in-flight payment's stream stays open.
  const auto reply = client.send("GET", "/v2/router/track/" + hash + "?no_inflight_updates=false", "", uri_.timeout, true);
  StreamEnd end = client.stream_end(reply, what);
  if (end.error) {
    if (end.error->code == kGrpcNotFound) return std::nullopt;
    throw Error(ErrorCode::io, what + ": LND failed " + status_text(*end.error));
  }
  if (!end.last_result) throw Error(ErrorCode::invalid_format, what + ": the stream ended without a payment update");
  return payment_of(*end.last_result, payment_hash, what);
}

std::uint64_t LndRestWallet::balance_msat() {
  const Client client(uri_);
  const std::string what = "LND ChannelBalance at " + client.base();
  const json reply = client.ok_json(client.send("GET", "/v1/balance/channels", "", uri_.timeout), what);
  const auto local = reply.find("local_balance");
  if (local == reply.end() || !local->is_object()) {
    throw Error(ErrorCode::invalid_format, what + ": the reply has no 'local_balance' object");
  }
  return u64_field(*local, "msat", what);
}

}  // namespace petalsln
