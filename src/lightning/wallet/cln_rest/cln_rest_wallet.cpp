// A Core Lightning node as a Wallet, over the clnrest plugin's REST interface.

#include "lightning/wallet/cln_rest/cln_rest_wallet.hpp"

#include <algorithm>
#include <limits>

#include "lightning/wallet/rest_wallet_common.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"
#include "util/sha256.hpp"

namespace petalsln {
namespace {

using lightning::json_hex32;
using lightning::json_opt_string;
using lightning::json_opt_u64;
using lightning::json_string;
using lightning::json_u64;
using lightning::peer_text;
using nlohmann::json;

constexpr const char* kUsage = "cln+rest://HOST[:PORT]?rune=RUNE[&cert=FILE][&timeout=SECONDS]";
constexpr std::size_t kMaxRuneBytes = 4096;
// listpays/listinvoices answers filtered by one hash hold a handful of entries; more than this
// is a node (or something posing as one) trying to make us work.
constexpr std::size_t kMaxListEntries = 1000;

// What one clnrest call returned: the result, or the JSON-RPC error the node reported.
struct RpcReply {
  bool ok = false;
  json result;
  long long code = 0;
  std::string message;
};

std::string rpc_error_text(const std::string& method, const RpcReply& r) {
  return "Core Lightning " + method + " failed (code " + std::to_string(r.code) + "): " + peer_text(r.message);
}

RpcReply call(const ClnRestUri& uri, const std::string& method, const json& params,
              std::chrono::milliseconds timeout) {
  lightning::HttpRequest request;
  request.method = "POST";
  const std::string base = lightning::https_base(uri.host, uri.port);
  request.url = base + "/v1/" + method;
  request.headers = {{"Rune", uri.rune}, {"Content-Type", "application/json"}, {"Accept", "application/json"}};
  request.body = params.dump();
  const auto response = lightning::http_request(request, lightning::endpoint_options(uri, timeout));

  const std::string where = "Core Lightning REST at " + base + " (" + method + ")";
  RpcReply reply;
  if (response.status == 200 || response.status == 201) {
    reply.ok = true;
    reply.result = lightning::json_object_reply(response, where);
    return reply;
  }
  // Error bodies are the JSON-RPC error object {"code", "message"} (code may be absent).
  const json body = json::parse(response.body, nullptr, false);
  std::string message = body.is_object() && body.contains("message") && body["message"].is_string()
                            ? body["message"].get<std::string>()
                            : response.body.substr(0, 200);
  if (response.status == 401 || response.status == 403) {
    lightning::throw_credential_refused(where, "rune", response.status, peer_text(message));
  }
  if (response.status == 404) {
    throw Error(ErrorCode::unsupported, where + ": no such method (HTTP 404): " + peer_text(message));
  }
  if (response.status == 500 && body.is_object() && body.contains("code") && body["code"].is_number_integer()) {
    reply.code = body["code"].get<long long>();
    reply.message = std::move(message);
    return reply;
  }
  throw Error(ErrorCode::io, where + ": unexpected HTTP status " + std::to_string(response.status) + ": " +
                                 peer_text(message));
}

// A call whose JSON-RPC errors are exceptions (everything but pay).
json call_or_throw(const ClnRestUri& uri, const std::string& method, const json& params) {
  RpcReply r = call(uri, method, params, uri.timeout);
  if (r.ok) return std::move(r.result);
  // -32602: JSON-RPC "invalid params", i.e. the node refused what we asked for.
  throw Error(r.code == -32602 ? ErrorCode::invalid_argument : ErrorCode::io, rpc_error_text(method, r));
}

const json& list_member(const json& result, const char* key, const std::string& what) {
  const auto it = result.find(key);
  if (it == result.end() || !it->is_array()) {
    throw Error(ErrorCode::invalid_format, what + ": the reply has no '" + key + "' array");
  }
  if (it->size() > kMaxListEntries) {
    throw Error(ErrorCode::invalid_format, what + ": the reply lists more than " + std::to_string(kMaxListEntries) +
                                               " entries for one payment hash");
  }
  return *it;
}

std::string random_label() {
  std::uint8_t bytes[16];
  util::random_bytes(bytes, sizeof bytes);
  return "petalsln-" + util::to_hex(bytes, sizeof bytes);
}

// One entry of listpays, as a PaymentResult.
PaymentResult pay_entry(const json& pay, const PaymentHash& hash, const std::string& what) {
  PaymentResult r;
  r.payment_hash = hash;
  const std::string status = json_string(pay, "status", what);
  if (status == "complete") {
    r.status = PaymentStatus::succeeded;
    r.preimage = json_hex32(pay, "preimage", what);
    lightning::check_preimage(*r.preimage, hash, what);
  } else if (status == "pending") {
    r.status = PaymentStatus::pending;
  } else if (status == "failed") {
    r.status = PaymentStatus::failed;
    r.failure_reason = "Core Lightning reports the payment failed";
  } else {
    throw Error(ErrorCode::invalid_format, what + ": unknown payment status '" + peer_text(status) + "'");
  }
  r.amount_msat = json_opt_u64(pay, "amount_msat", what).value_or(0);
  // Only a completed payment's amount_sent_msat is what it cost; a failed one's may be 0.
  const auto sent = json_opt_u64(pay, "amount_sent_msat", what);
  if (sent && r.amount_msat != 0 && r.status == PaymentStatus::succeeded) {
    if (*sent < r.amount_msat) throw Error(ErrorCode::invalid_format, what + ": amount_sent_msat is below amount_msat");
    r.fee_msat = *sent - r.amount_msat;
  }
  return r;
}

int status_rank(PaymentStatus s) {
  switch (s) {
    case PaymentStatus::succeeded: return 2;
    case PaymentStatus::pending: return 1;
    case PaymentStatus::failed: return 0;
  }
  return 0;
}

std::optional<PaymentResult> find_payment(const ClnRestUri& uri, const PaymentHash& hash) {
  const std::string what = "Core Lightning listpays";
  const json result = call_or_throw(uri, "listpays", {{"payment_hash", lightning::hex32(hash)}});
  std::optional<PaymentResult> best;
  std::uint64_t best_time = 0;
  for (const json& pay : list_member(result, "pays", what)) {
    // A node that ignores the filter must not make us report another payment as this one.
    if (json_hex32(pay, "payment_hash", what) != hash) continue;
    PaymentResult r = pay_entry(pay, hash, what);
    const std::uint64_t created = json_opt_u64(pay, "created_at", what).value_or(0);
    if (!best || status_rank(r.status) > status_rank(best->status) ||
        (status_rank(r.status) == status_rank(best->status) && created >= best_time)) {
      best = std::move(r);
      best_time = created;
    }
  }
  return best;
}

}  // namespace

ClnRestUri ClnRestUri::parse(const std::string& uri) {
  const auto parsed = lightning::parse_rest_uri(uri, "cln+rest", 3010, {"rune", "rune_file", "cert", "timeout"}, kUsage);
  ClnRestUri out;
  lightning::set_endpoint(out, parsed, kUsage);
  out.rune = lightning::secret_param(parsed, "rune", "rune_file", kMaxRuneBytes, "rune", kUsage);
  return out;
}

ClnRestWallet::ClnRestWallet(ClnRestUri uri) : uri_(std::move(uri)) {}

ClnRestWallet::~ClnRestWallet() { util::secure_wipe(uri_.rune.data(), uri_.rune.size()); }

std::unique_ptr<ClnRestWallet> ClnRestWallet::open(const std::string& uri) {
  return std::make_unique<ClnRestWallet>(ClnRestUri::parse(uri));
}

std::string ClnRestWallet::describe() const { return lightning::shown_uri("cln+rest", uri_.host, uri_.port); }

CreatedInvoice ClnRestWallet::create_invoice(const InvoiceRequest& request) {
  lightning::check_invoice_request(request);
  json params = {{"label", random_label()}, {"description", request.memo}, {"expiry", request.expiry.count()}};
  params["amount_msat"] = request.amount_msat ? json(*request.amount_msat) : json("any");
  if (request.description_hash) {
    // Core Lightning hashes the description it is given (deschashonly); it cannot put an
    // arbitrary hash in an invoice.
    const auto digest = util::sha256(request.memo);
    if (request.memo.empty() || digest != *request.description_hash) {
      throw Error(ErrorCode::unsupported,
                  "Core Lightning cannot create an invoice with only a description hash: its invoice command takes the "
                  "description and hashes it itself (deschashonly); pass the description whose SHA-256 is the hash as memo");
    }
    params["deschashonly"] = true;
  }
  const std::string what = "Core Lightning invoice";
  const json result = call_or_throw(uri_, "invoice", params);
  CreatedInvoice out;
  out.bolt11 = json_string(result, "bolt11", what);
  out.payment_hash = json_hex32(result, "payment_hash", what);
  lightning::check_created_invoice(out.bolt11, out.payment_hash, request, what);
  return out;
}

PaymentResult ClnRestWallet::pay_invoice(const std::string& bolt11, const PayOptions& options) {
  std::string refusal;
  const Bolt11Invoice invoice = lightning::decode_for_payment(bolt11, options, refusal);
  if (!refusal.empty()) return lightning::failed_payment(invoice.payment_hash, refusal);

  if (const auto earlier = find_payment(uri_, invoice.payment_hash)) {
    if (earlier->status == PaymentStatus::succeeded) {
      return lightning::failed_payment(invoice.payment_hash, "this node already paid this invoice");
    }
    if (earlier->status == PaymentStatus::pending) return *earlier;  // never start a second attempt
  }

  const auto timeout_s = std::max<long long>(
      1, static_cast<long long>((options.timeout.count() + 999) / 1000));
  json params = {{"bolt11", bolt11}, {"maxfee", options.max_fee_msat}, {"retry_for", timeout_s}};
  if (!invoice.amount_msat) params["amount_msat"] = *options.amount_msat;
  // The node stops retrying after retry_for; give the reply time to arrive after that.
  const auto http_timeout = std::max(uri_.timeout, options.timeout + std::chrono::milliseconds(30000));
  const RpcReply reply = call(uri_, "pay", params, http_timeout);
  if (!reply.ok) return lightning::failed_payment(invoice.payment_hash, rpc_error_text("pay", reply));

  const std::string what = "Core Lightning pay";
  if (json_hex32(reply.result, "payment_hash", what) != invoice.payment_hash) {
    throw Error(ErrorCode::invalid_format, what + ": the reply is for another payment hash");
  }
  PaymentResult r;
  r.payment_hash = invoice.payment_hash;
  const std::string status = json_string(reply.result, "status", what);
  if (status == "complete") {
    r.status = PaymentStatus::succeeded;
    r.preimage = json_hex32(reply.result, "payment_preimage", what);
    lightning::check_preimage(*r.preimage, r.payment_hash, what);
    r.amount_msat = json_u64(reply.result, "amount_msat", what);
    const std::uint64_t sent = json_u64(reply.result, "amount_sent_msat", what);
    if (sent < r.amount_msat) throw Error(ErrorCode::invalid_format, what + ": amount_sent_msat is below amount_msat");
    r.fee_msat = sent - r.amount_msat;
  } else if (status == "pending") {
    r.status = PaymentStatus::pending;
    r.amount_msat = json_opt_u64(reply.result, "amount_msat", what).value_or(0);
  } else if (status == "failed") {
    r.status = PaymentStatus::failed;
    r.failure_reason = "Core Lightning reports the payment failed";
  } else {
    throw Error(ErrorCode::invalid_format, what + ": unknown status '" + peer_text(status) + "'");
  }
  return r;
}

InvoiceStatus ClnRestWallet::lookup_invoice(const PaymentHash& payment_hash) {
  const std::string what = "Core Lightning listinvoices";
  const json result = call_or_throw(uri_, "listinvoices", {{"payment_hash", lightning::hex32(payment_hash)}});
  for (const json& inv : list_member(result, "invoices", what)) {
    if (json_hex32(inv, "payment_hash", what) != payment_hash) continue;
    InvoiceStatus s;
    s.payment_hash = payment_hash;
    const std::string status = json_string(inv, "status", what);
    if (status == "paid") {
      s.settled = true;
      s.amount_paid_msat = json_u64(inv, "amount_received_msat", what);
      s.settled_at = json_u64(inv, "paid_at", what);
      if (inv.contains("payment_preimage")) {
        s.preimage = json_hex32(inv, "payment_preimage", what);
        lightning::check_preimage(*s.preimage, payment_hash, what);
      }
    } else if (status == "expired") {
      s.expired = true;
    } else if (status != "unpaid") {
      throw Error(ErrorCode::invalid_format, what + ": unknown invoice status '" + peer_text(status) + "'");
    }
    return s;
  }
  throw Error(ErrorCode::not_found, "Core Lightning has no invoice with payment hash " + lightning::hex32(payment_hash));
}

std::optional<PaymentResult> ClnRestWallet::lookup_payment(const PaymentHash& payment_hash) {
  return find_payment(uri_, payment_hash);
}

std::uint64_t ClnRestWallet::balance_msat() {
  const std::string what = "Core Lightning listfunds";
  const json result = call_or_throw(uri_, "listfunds", json::object());
  const auto it = result.find("channels");
  if (it == result.end() || !it->is_array()) throw Error(ErrorCode::invalid_format, what + ": the reply has no 'channels' array");
  std::uint64_t total = 0;
  for (const json& channel : *it) {
    if (json_string(channel, "state", what) != "CHANNELD_NORMAL") continue;
    const std::uint64_t ours = json_u64(channel, "our_amount_msat", what);
    if (ours > std::numeric_limits<std::uint64_t>::max() - total) {
      throw Error(ErrorCode::invalid_format, what + ": channel balances overflow 64 bits");
    }
    total += ours;
  }
  return total;
}

}  // namespace petalsln
