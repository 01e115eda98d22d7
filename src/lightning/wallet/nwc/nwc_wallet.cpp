// NwcWallet: the Wallet interface over Nostr Wallet Connect (NIP-47). See nwc_wallet.hpp for
// how each call and error code maps.

#include "lightning/wallet/nwc/nwc_wallet.hpp"

#include <nlohmann/json.hpp>

#include "lightning/wallet/nwc/nip04.hpp"
#include "lightning/wallet/nwc/nip44.hpp"
#include "lightning/wallet/nwc/nostr_event.hpp"
#include "lightning/wallet/nwc/nostr_relay.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"
#include "util/secure_wipe.hpp"
#include "util/sha256.hpp"

namespace petalsln {
namespace {

using nlohmann::json;
using lightning::NostrEvent;
using lightning::RelayMessage;
using SteadyClock = std::chrono::steady_clock;

constexpr std::uint32_t kInfoKind = 13194;
constexpr std::uint32_t kRequestKind = 23194;
constexpr std::uint32_t kResponseKind = 23195;
constexpr std::size_t kMaxInvoiceChars = 8192;
// Events that do not answer us (other clients' traffic, forgeries) are skipped, but only so
// many: a relay flooding us ends the wait as a timeout would.
constexpr std::size_t kMaxIgnoredMessages = 10000;

std::string hex32(const std::array<std::uint8_t, 32>& a) { return util::to_hex(a.data(), a.size()); }

// A NIP-47 error response: the code and the service's (sanitized) message.
struct ServiceError {
  std::string code;
  std::string message;
  std::string text() const { return code + (message.empty() ? "" : ": " + message); }
};

// The outcome of one request: a result object, an error, or nothing in time.
struct Reply {
  enum class Kind { result, error, timeout, lost } kind = Kind::timeout;
  json result;
  ServiceError error;
  std::string why;  // for timeout / lost
};

std::uint64_t uint_field(const json& obj, const char* name, const char* method) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return 0;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
    throw Error(ErrorCode::invalid_format,
                std::string("wallet service's ") + method + " result: '" + name + "' is not a non-negative integer");
  }
  return it->get<std::uint64_t>();
}

std::optional<std::string> string_field(const json& obj, const char* name, const char* method, std::size_t max) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_string() || it->get_ref<const std::string&>().size() > max) {
    throw Error(ErrorCode::invalid_format, std::string("wallet service's ") + method + " result: '" + name +
                                               "' is not a string of at most " + std::to_string(max) + " characters");
  }
  return it->get<std::string>();
}

std::optional<Preimage> preimage_field(const json& obj, const char* method) {
  const auto text = string_field(obj, "preimage", method, 64);
  if (!text || text->empty()) return std::nullopt;
  Preimage p{};
  util::from_hex_into(*text, p.data(), p.size(), "preimage in the wallet service's result");
  return p;
}

bool preimage_matches(const Preimage& preimage, const PaymentHash& hash) {
  const auto digest = util::sha256(std::string_view(reinterpret_cast<const char*>(preimage.data()), preimage.size()));
  return digest == hash;
}

}  // namespace

struct NwcWallet::Impl {
  NwcUri uri;
  NwcOptions options;
  lightning::XOnlyPublicKey client_pubkey{};
  std::string client_hex;
  std::string service_hex;

  std::mutex mutex;  // one request at a time over the one connection
  std::unique_ptr<lightning::NostrRelay> relay;
  bool info_loaded = false;
  NwcEncryption encryption = NwcEncryption::nip04;
  std::vector<std::string> methods;
  std::optional<lightning::nip44::ConversationKey> conversation_key;

  ~Impl() {
    if (conversation_key) util::secure_wipe(conversation_key->data(), conversation_key->size());
  }

  // Connects to the first relay that answers. Throws Error(io) naming each failure.
  void connect() {
    relay.reset();
    lightning::WebSocketOptions ws;
    ws.connect_timeout = options.connect_timeout;
    ws.max_message_bytes = options.max_message_bytes;
    ws.ca_file = options.ca_file;
    std::string failures;
    for (const auto& url : uri.relays) {
      try {
        relay = std::make_unique<lightning::NostrRelay>(url, ws);
        break;
      } catch (const Error& e) {
        failures += (failures.empty() ? "" : "; ") + std::string(e.what());
      }
    }
    if (!relay) throw Error(ErrorCode::io, "Nostr Wallet Connect: no relay reachable: " + failures);
    if (!info_loaded) load_info();
  }

  // Reads the service's info event (kind 13194): its methods and encryptions.
  void load_info() {
    const std::string sub = relay->subscribe(json{{"kinds", {kInfoKind}}, {"authors", {service_hex}}, {"limit", 1}});
    const auto deadline = SteadyClock::now() + options.info_timeout;
    std::optional<NostrEvent> newest;
    for (std::size_t n = 0; n < kMaxIgnoredMessages; ++n) {
      auto m = relay->next(deadline);
      if (!m || (m->type == RelayMessage::Type::eose && m->subscription == sub)) break;
      if (m->type == RelayMessage::Type::closed && m->subscription == sub) break;
      if (m->type != RelayMessage::Type::event || m->subscription != sub) continue;
      try {
        NostrEvent e = lightning::parse_event(m->event);
        if (e.kind != kInfoKind || e.pubkey != uri.wallet_pubkey || !lightning::verify_event(e)) continue;
        if (!newest || e.created_at > newest->created_at) newest = std::move(e);
      } catch (const Error&) {
        continue;  // not a well-formed event: not the service's
      }
    }
    relay->unsubscribe(sub);
    methods.clear();
    encryption = NwcEncryption::nip04;  // NIP-47: no encryption tag means NIP-04 only
    if (newest) {
      std::string word;
      for (const char c : newest->content + " ") {
        if (c == ' ' || c == '\n' || c == '\t') {
          if (!word.empty() && methods.size() < 64) methods.push_back(word.substr(0, 64));
          word.clear();
        } else {
          word.push_back(c);
        }
      }
      if (const auto enc = newest->tag_value("encryption")) {
        if ((" " + *enc + " ").find(" nip44_v2 ") != std::string::npos) encryption = NwcEncryption::nip44_v2;
      }
    } else {
      util::log(util::LogLevel::warn, "Nostr Wallet Connect: the wallet service published no info event (kind 13194) on " +
                                          uri.relays.front() + "; assuming NIP-04 encryption");
    }
    if (encryption == NwcEncryption::nip44_v2 && !conversation_key) {
      conversation_key = lightning::nip44::conversation_key(uri.secret, uri.wallet_pubkey);
    }
    info_loaded = true;
  }

  void ensure_connected() {
    if (!relay || !relay->is_open()) connect();
  }

  std::string encrypt(const std::string& plaintext) {
    if (encryption == NwcEncryption::nip44_v2) return lightning::nip44::encrypt(plaintext, *conversation_key);
    return lightning::nip04::encrypt(plaintext, uri.secret, uri.wallet_pubkey);
  }

  std::string decrypt(const std::string& content) {
    if (encryption == NwcEncryption::nip44_v2) return lightning::nip44::decrypt(content, *conversation_key);
    return lightning::nip04::decrypt(content, uri.secret, uri.wallet_pubkey);
  }

  // If @p m is the service's answer to request @p request_id, returns its decrypted JSON.
  std::optional<json> answer_in(const RelayMessage& m, const std::string& sub, const std::string& request_id) {
    if (m.type != RelayMessage::Type::event || m.subscription != sub) return std::nullopt;
    try {
      const NostrEvent e = lightning::parse_event(m.event);
      if (e.kind != kResponseKind) return std::nullopt;
      if (e.pubkey != uri.wallet_pubkey) {
        util::log(util::LogLevel::info, "Nostr Wallet Connect: ignoring a response not written by the wallet service");
        return std::nullopt;
      }
      if (e.tag_value("e") != request_id || e.tag_value("p") != client_hex) {
        util::log(util::LogLevel::info, "Nostr Wallet Connect: ignoring a response to another request or client");
        return std::nullopt;
      }
      if (!lightning::verify_event(e)) {
        util::log(util::LogLevel::warn, "Nostr Wallet Connect: ignoring a response whose id or signature is invalid");
        return std::nullopt;
      }
      json body = json::parse(decrypt(e.content), nullptr, false);
      if (!body.is_object()) {
        util::log(util::LogLevel::warn, "Nostr Wallet Connect: ignoring a response that is not a JSON object");
        return std::nullopt;
      }
      return body;
    } catch (const Error& err) {
      util::log(util::LogLevel::warn, std::string("Nostr Wallet Connect: ignoring a response: ") + err.what());
      return std::nullopt;
    }
  }

  // Sends @p method with @p params and waits for the answer until @p timeout. Throws Error(io)
  // if the request could not be sent; a loss after sending is a `lost` reply (the service may
  // have acted on it).
  Reply call(const std::string& method, const json& params, std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> lock(mutex);
    ensure_connected();
    if (!methods.empty() && std::find(methods.begin(), methods.end(), method) == methods.end()) {
      throw Error(ErrorCode::unsupported, "Nostr Wallet Connect: the wallet service does not offer '" + method + "'");
    }
    NostrEvent request;
    request.kind = kRequestKind;
    request.created_at = util::unix_seconds();
    request.tags = {{"p", service_hex}};
    if (encryption == NwcEncryption::nip44_v2) request.tags.push_back({"encryption", "nip44_v2"});
    std::string body = json{{"method", method}, {"params", params}}.dump();
    request.content = encrypt(body);
    util::secure_wipe(body.data(), body.size());  // may hold an invoice we are about to pay
    lightning::sign_event(request, uri.secret);
    const std::string request_id = hex32(request.id);
    std::string sub;
    try {
      // Subscribe before publishing, so an answer cannot slip by before we listen.
      sub = relay->subscribe(json{{"kinds", {kResponseKind}},
                                  {"authors", {service_hex}},
                                  {"#e", {request_id}},
                                  {"#p", {client_hex}}});
      relay->publish(request);
    } catch (const Error& e) {
      relay.reset();
      throw Error(ErrorCode::io, std::string("Nostr Wallet Connect: cannot send the request: ") + e.what());
    }
    Reply reply;
    const auto deadline = SteadyClock::now() + timeout;
    try {
      for (std::size_t n = 0; n < kMaxIgnoredMessages; ++n) {
        auto m = relay->next(deadline);
        if (!m) break;
        if (m->type == RelayMessage::Type::ok && m->event_id == request_id && !m->accepted) {
          relay->unsubscribe(sub);
          throw Error(ErrorCode::io, "Nostr Wallet Connect: the relay refused the request: " + m->text);
        }
        if (m->type == RelayMessage::Type::closed && m->subscription == sub) {
          reply.kind = Reply::Kind::lost;
          reply.why = "the relay closed the subscription: " + m->text;
          relay->unsubscribe(sub);
          return reply;
        }
        auto answer = answer_in(*m, sub, request_id);
        if (!answer) continue;
        relay->unsubscribe(sub);
        const json& err = (*answer)["error"];
        if (err.is_object()) {
          reply.kind = Reply::Kind::error;
          reply.error.code = err.contains("code") && err["code"].is_string()
                                 ? lightning::sanitized_peer_text(err["code"].get<std::string>(), 40)
                                 : "OTHER";
          reply.error.message = err.contains("message") && err["message"].is_string()
                                    ? lightning::sanitized_peer_text(err["message"].get<std::string>())
                                    : "";
          return reply;
        }
        const json& result = (*answer)["result"];
        if (!result.is_object()) {
          throw Error(ErrorCode::invalid_format, "Nostr Wallet Connect: the " + method + " response has neither a result object nor an error");
        }
        if (answer->contains("result_type") && (*answer)["result_type"] != method) {
          throw Error(ErrorCode::invalid_format, "Nostr Wallet Connect: asked for " + method + ", got a response of another result_type");
        }
        reply.kind = Reply::Kind::result;
        reply.result = result;
        return reply;
      }
    } catch (const Error& e) {
      if (e.code() != ErrorCode::io) throw;
      relay.reset();
      reply.kind = Reply::Kind::lost;
      reply.why = e.what();
      return reply;
    }
    relay->unsubscribe(sub);
    reply.kind = Reply::Kind::timeout;
    reply.why = "no answer from the wallet service within " + std::to_string(timeout.count()) + " ms";
    return reply;
  }

  // call() for requests that change nothing: errors and silence become exceptions.
  json query(const std::string& method, const json& params) {
    Reply r = call(method, params, options.request_timeout);
    switch (r.kind) {
      case Reply::Kind::result: return r.result;
      case Reply::Kind::error:
        if (r.error.code == "NOT_FOUND") throw Error(ErrorCode::not_found, "Nostr Wallet Connect " + method + ": " + r.error.text());
        if (r.error.code == "NOT_IMPLEMENTED") {
          throw Error(ErrorCode::unsupported, "Nostr Wallet Connect " + method + ": " + r.error.text());
        }
        throw Error(ErrorCode::io, "Nostr Wallet Connect " + method + ": the wallet service refused: " + r.error.text());
      case Reply::Kind::timeout:
      case Reply::Kind::lost: break;
    }
    throw Error(ErrorCode::io, "Nostr Wallet Connect " + method + ": " + r.why);
  }
};

NwcWallet::NwcWallet(NwcUri uri, NwcOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->uri = std::move(uri);
  impl_->options = std::move(options);
  impl_->client_pubkey = lightning::xonly_public_key(impl_->uri.secret);
  impl_->client_hex = hex32(impl_->client_pubkey);
  impl_->service_hex = hex32(impl_->uri.wallet_pubkey);
}

NwcWallet::~NwcWallet() = default;

std::unique_ptr<NwcWallet> NwcWallet::open(const std::string& uri, const NwcOptions& options) {
  return std::make_unique<NwcWallet>(NwcUri::parse(uri), options);
}

std::string NwcWallet::describe() const { return impl_->uri.describe(); }

std::vector<std::string> NwcWallet::supported_methods() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->ensure_connected();
  return impl_->methods;
}

NwcEncryption NwcWallet::encryption() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->ensure_connected();
  return impl_->encryption;
}

CreatedInvoice NwcWallet::create_invoice(const InvoiceRequest& request) {
  if (!request.amount_msat) {
    throw Error(ErrorCode::unsupported, "Nostr Wallet Connect make_invoice needs an amount (NIP-47 has no amount-less invoices)");
  }
  // An explicit zero is a caller's mistake, not something NIP-47 lacks (Wallet's contract).
  if (*request.amount_msat == 0) throw Error(ErrorCode::invalid_argument, "invoice amount must be at least 1 msat");
  json params{{"amount", *request.amount_msat}, {"expiry", request.expiry.count()}};
  if (request.description_hash) {
    params["description_hash"] = hex32(*request.description_hash);
  } else if (!request.memo.empty()) {
    params["description"] = request.memo;
  }
  const json result = impl_->query("make_invoice", params);
  const auto bolt11 = string_field(result, "invoice", "make_invoice", kMaxInvoiceChars);
  if (!bolt11) throw Error(ErrorCode::invalid_format, "wallet service's make_invoice result has no 'invoice'");
  // Check that the invoice is what we asked for before anyone is told to pay it.
  const Bolt11Invoice inv = Bolt11Invoice::decode(*bolt11);
  if (inv.amount_msat != request.amount_msat) {
    throw Error(ErrorCode::invalid_format, "wallet service's invoice is for another amount than requested");
  }
  if (request.description_hash && inv.description_hash != request.description_hash) {
    throw Error(ErrorCode::invalid_format, "wallet service's invoice has another description hash than requested");
  }
  if (const auto hash = string_field(result, "payment_hash", "make_invoice", 64)) {
    PaymentHash stated{};
    util::from_hex_into(*hash, stated.data(), stated.size(), "payment_hash in the wallet service's result");
    if (stated != inv.payment_hash) {
      throw Error(ErrorCode::invalid_format, "wallet service's payment_hash does not match its invoice");
    }
  }
  return CreatedInvoice{*bolt11, inv.payment_hash};
}

PaymentResult NwcWallet::pay_invoice(const std::string& bolt11, const PayOptions& options) {
  if (bolt11.size() > kMaxInvoiceChars) throw Error(ErrorCode::invalid_format, "invoice is longer than 8192 characters");
  const Bolt11Invoice inv = Bolt11Invoice::decode(bolt11);
  PaymentResult out;
  out.payment_hash = inv.payment_hash;
  out.amount_msat = inv.amount_msat.value_or(options.amount_msat.value_or(0));
  if (inv.amount_msat && options.amount_msat && *options.amount_msat != *inv.amount_msat) {
    out.status = PaymentStatus::failed;
    out.failure_reason = "amount given differs from the invoice's amount";
    return out;
  }
  if (!inv.amount_msat && !options.amount_msat) {
    out.status = PaymentStatus::failed;
    out.failure_reason = "invoice has no amount: PayOptions::amount_msat is required";
    return out;
  }
  json params{{"invoice", bolt11}};
  if (!inv.amount_msat) params["amount"] = *options.amount_msat;
  Reply r = impl_->call("pay_invoice", params, options.timeout);
  switch (r.kind) {
    case Reply::Kind::error:
      out.status = PaymentStatus::failed;
      out.failure_reason = "wallet service refused the payment: " + r.error.text();
      return out;
    case Reply::Kind::timeout:
    case Reply::Kind::lost:
      // The request left: the service may be paying it still. Only a lookup can tell.
      out.status = PaymentStatus::pending;
      out.failure_reason = r.why;
      return out;
    case Reply::Kind::result: break;
  }
  const auto preimage = preimage_field(r.result, "pay_invoice");
  if (!preimage || !preimage_matches(*preimage, inv.payment_hash)) {
    out.status = PaymentStatus::failed;
    out.failure_reason = preimage ? "wallet service returned a preimage that does not match the payment hash"
                                  : "wallet service returned no preimage";
    return out;
  }
  out.status = PaymentStatus::succeeded;
  out.preimage = preimage;
  out.fee_msat = uint_field(r.result, "fees_paid", "pay_invoice");
  return out;
}

InvoiceStatus NwcWallet::lookup_invoice(const PaymentHash& payment_hash) {
  const json result = impl_->query("lookup_invoice", json{{"payment_hash", hex32(payment_hash)}});
  const auto type = string_field(result, "type", "lookup_invoice", 16);
  if (type && *type != "incoming") {
    throw Error(ErrorCode::not_found, "Nostr Wallet Connect lookup_invoice: " + hex32(payment_hash) +
                                          " is a payment this wallet made, not an invoice it issued");
  }
  if (const auto hash = string_field(result, "payment_hash", "lookup_invoice", 64)) {
    if (*hash != hex32(payment_hash)) throw Error(ErrorCode::invalid_format, "wallet service answered about another payment hash");
  }
  InvoiceStatus st;
  st.payment_hash = payment_hash;
  const auto state = string_field(result, "state", "lookup_invoice", 16);
  st.settled_at = uint_field(result, "settled_at", "lookup_invoice");
  st.settled = (state && *state == "settled") || (!state && st.settled_at != 0);
  if (st.settled) {
    st.amount_paid_msat = uint_field(result, "amount", "lookup_invoice");
    st.preimage = preimage_field(result, "lookup_invoice");
    if (st.preimage && !preimage_matches(*st.preimage, payment_hash)) {
      throw Error(ErrorCode::invalid_format, "wallet service answered lookup_invoice with a preimage that does not match the payment hash");
    }
  }
  const std::uint64_t expires_at = uint_field(result, "expires_at", "lookup_invoice");
  st.expired = !st.settled && ((state && *state == "expired") || (expires_at != 0 && expires_at <= util::unix_seconds()));
  return st;
}

std::optional<PaymentResult> NwcWallet::lookup_payment(const PaymentHash& payment_hash) {
  json result;
  try {
    result = impl_->query("lookup_invoice", json{{"payment_hash", hex32(payment_hash)}});
  } catch (const Error& e) {
    if (e.code() == ErrorCode::not_found) return std::nullopt;
    throw;
  }
  const auto type = string_field(result, "type", "lookup_invoice", 16);
  if (type && *type != "outgoing") return std::nullopt;  // an invoice we issued, not a payment we made
  if (const auto hash = string_field(result, "payment_hash", "lookup_invoice", 64)) {
    if (*hash != hex32(payment_hash)) throw Error(ErrorCode::invalid_format, "wallet service answered about another payment hash");
  }
  PaymentResult out;
  out.payment_hash = payment_hash;
  out.amount_msat = uint_field(result, "amount", "lookup_invoice");
  out.fee_msat = uint_field(result, "fees_paid", "lookup_invoice");
  const auto state = string_field(result, "state", "lookup_invoice", 16);
  const auto preimage = preimage_field(result, "lookup_invoice");
  const bool proven = preimage && preimage_matches(*preimage, payment_hash);
  if (state && *state == "failed") {
    out.status = PaymentStatus::failed;
    out.failure_reason = "the wallet service reports the payment failed";
  } else if (proven && (!state || *state == "settled")) {
    out.status = PaymentStatus::succeeded;
    out.preimage = preimage;
  } else if (state && *state == "settled") {
    out.status = PaymentStatus::failed;
    out.failure_reason = "the wallet service reports the payment settled without a matching preimage";
  } else {
    out.status = PaymentStatus::pending;
  }
  return out;
}

std::uint64_t NwcWallet::balance_msat() {
  const json result = impl_->query("get_balance", json::object());
  if (!result.contains("balance")) throw Error(ErrorCode::invalid_format, "wallet service's get_balance result has no 'balance'");
  return uint_field(result, "balance", "get_balance");
}

}  // namespace petalsln
