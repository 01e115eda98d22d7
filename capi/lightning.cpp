// BOLT11 invoices, macaroons and L402 headers, payouts, wallets. No libtorch here.
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "capi_internal.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/devnet_wallet.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/lightning/macaroon.hpp"
#include "petalsln/lightning/payout_splitter.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/hex.hpp"
#include "util/clock.hpp"

using namespace petalsln;
using namespace petalsln::capi;
using json = nlohmann::ordered_json;

struct pln_wallet {
  std::unique_ptr<Wallet> wallet;
  std::chrono::seconds pay_timeout{60};
};

namespace {

// Most payees one split takes: far above any route, and it bounds the work a caller asks for.
constexpr std::size_t kMaxPayees = 100000;
// Longest C string read as a header, macaroon, invoice or predicate before parsing (each
// parser has its own, smaller limit; this one only keeps strlen() bounded for garbage).
constexpr std::size_t kMaxInputBytes = 1u << 20;

std::string_view bounded(const char* s, const char* name) {
  require(s, name);
  const void* nul = std::memchr(s, '\0', kMaxInputBytes + 1);
  if (nul == nullptr) throw Error(ErrorCode::invalid_argument, std::string(name) + " is longer than 1 MiB");
  return std::string_view(s, static_cast<std::size_t>(static_cast<const char*>(nul) - s));
}

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& bytes) {
  return util::to_hex(bytes.data(), bytes.size());
}

std::string_view root_key_view(const uint8_t* root_key, size_t len) {
  require(root_key, "root_key");
  if (len == 0) throw Error(ErrorCode::invalid_argument, "root_key_len must be above 0");
  return std::string_view(reinterpret_cast<const char*>(root_key), len);
}

// A 32-byte hash given as 64 hex digits by the caller: a bad one is a bad argument.
std::array<std::uint8_t, 32> hash_from_hex(const char* hex_text, const char* name) {
  const auto text = bounded(hex_text, name);
  std::array<std::uint8_t, 32> out{};
  try {
    util::from_hex_into(text, out.data(), out.size(), name);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_argument, e.what());
  }
  return out;
}

void dump_to(char** out, const json& j) { put_string(out, j.dump(-1, ' ', false, json::error_handler_t::replace)); }

json terms_json(const L402Terms& t) {
  return json{{"service", t.service}, {"model", t.model}, {"peer", t.peer}, {"blocks", {t.block_begin, t.block_end}},
              {"credit", t.credit}, {"expires", t.expires}};
}

L402Request request_from(const pln_l402_terms* r) {
  require(r, "request");
  L402Request req;
  req.service = r->service != nullptr ? r->service : std::string(kL402Service);
  req.model = str_or_empty(r->model);
  req.peer = str_or_empty(r->peer);
  req.block_begin = r->block_begin;
  req.block_end = r->block_end;
  if (r->expires < 0) throw Error(ErrorCode::invalid_argument, "the request's time must not be negative");
  req.now = r->expires != 0 ? r->expires : static_cast<std::int64_t>(util::unix_seconds());
  return req;
}

void deny_unless(const Verdict& v) {
  if (!v.ok) throw Denied{"not authorized: " + v.reason};
}

// The payment hash of an L402 identifier, or null when the identifier is something else.
json payment_hash_of(const Macaroon& m) {
  try {
    return hex(L402Identifier::decode(m.identifier()).payment_hash);
  } catch (const Error&) {
    return nullptr;
  }
}

}  // namespace

extern "C" {

PLN_API int pln_bolt11_decode(const char* invoice, char** out_json) {
  return guard([&] {
    const auto text = bounded(invoice, "invoice");
    require(out_json, "out_json");
    const Bolt11Invoice inv = Bolt11Invoice::decode(text);
    json j;
    j["network"] = to_string(inv.network);
    j["amount_msat"] = inv.amount_msat ? json(*inv.amount_msat) : json(nullptr);
    j["timestamp"] = inv.timestamp;
    j["expiry"] = inv.expiry_seconds();
    j["expires_at"] = inv.expires_at();
    j["payment_hash"] = hex(inv.payment_hash);
    j["payment_secret"] = hex(inv.payment_secret);
    j["description"] = inv.description ? json(*inv.description) : json(nullptr);
    j["description_hash"] = inv.description_hash ? json(hex(*inv.description_hash)) : json(nullptr);
    j["payee"] = inv.payee ? json(hex(*inv.payee)) : json(nullptr);
    j["min_final_cltv_expiry"] = inv.min_final_cltv_expiry_delta();
    j["features"] = inv.features;
    j["route_hints"] = inv.route_hints.size();
    j["signature_valid"] = inv.signature_valid;
    dump_to(out_json, j);
  });
}

PLN_API pln_l402_terms pln_l402_default_terms(void) {
  pln_l402_terms t{};
  t.service = "petalsln";
  t.model = nullptr;
  t.peer = nullptr;
  t.block_begin = 0;
  t.block_end = 0;
  t.credit = 0;
  t.expires = 0;
  return t;
}

PLN_API pln_macaroon_params pln_macaroon_default_params(void) {
  pln_macaroon_params p{};
  p.root_key = nullptr;
  p.root_key_len = 0;
  p.payment_hash_hex = nullptr;
  p.location = nullptr;
  p.terms = pln_l402_default_terms();
  return p;
}

PLN_API int pln_macaroon_mint(const pln_macaroon_params* params, char** out_base64) {
  return guard([&] {
    require(params, "params");
    require(out_base64, "out_base64");
    const auto root_key = root_key_view(params->root_key, params->root_key_len);
    const L402Identifier::Bytes32 payment_hash = hash_from_hex(params->payment_hash_hex, "payment_hash_hex");
    L402Terms terms;
    const pln_l402_terms& t = params->terms;
    if (t.service != nullptr) terms.service = t.service;
    terms.model = str_or_empty(t.model);
    terms.peer = str_or_empty(t.peer);
    terms.block_begin = t.block_begin;
    terms.block_end = t.block_end;
    terms.credit = t.credit;
    terms.expires = t.expires;
    const Macaroon m = mint_l402_macaroon(root_key, L402Identifier::random_for(payment_hash), terms, str_or_empty(params->location));
    *out_base64 = dup_string(m.to_base64());
  });
}

PLN_API int pln_macaroon_add_caveat(const char* macaroon, const char* predicate, char** out_base64) {
  return guard([&] {
    const auto text = bounded(macaroon, "macaroon");
    const auto pred = bounded(predicate, "predicate");
    require(out_base64, "out_base64");
    Macaroon m = Macaroon::from_base64(text);
    m.add_first_party_caveat(pred);
    *out_base64 = dup_string(m.to_base64());
  });
}

PLN_API int pln_macaroon_inspect(const char* macaroon, char** out_json) {
  return guard([&] {
    const auto text = bounded(macaroon, "macaroon");
    require(out_json, "out_json");
    const Macaroon m = Macaroon::from_base64(text);
    json j;
    j["location"] = m.location();
    j["identifier"] = util::to_hex(m.identifier());
    // Caveats are arbitrary bytes; petalsln's are text. Non-UTF-8 bytes are replaced on output.
    j["caveats"] = m.caveats();
    j["payment_hash"] = payment_hash_of(m);
    try {
      j["token_id"] = hex(L402Identifier::decode(m.identifier()).token_id);
    } catch (const Error&) {
      j["token_id"] = nullptr;
    }
    dump_to(out_json, j);
  });
}

PLN_API int pln_macaroon_verify(const char* macaroon, const uint8_t* root_key, size_t root_key_len,
                                const pln_l402_terms* request, char** out_granted_json) {
  return guard([&] {
    const auto text = bounded(macaroon, "macaroon");
    const auto key = root_key_view(root_key, root_key_len);
    const L402Request req = request_from(request);
    const Macaroon m = Macaroon::from_base64(text);
    L402Terms granted;
    deny_unless(verify_l402_caveats(m, key, req, &granted));
    if (out_granted_json != nullptr) dump_to(out_granted_json, terms_json(granted));
  });
}

PLN_API int pln_l402_parse_challenge(const char* header, char** out_json) {
  return guard([&] {
    const auto text = bounded(header, "header");
    require(out_json, "out_json");
    const L402Challenge c = L402Challenge::parse(text);
    dump_to(out_json, json{{"macaroon", c.macaroon.to_base64()}, {"invoice", c.invoice}, {"payment_hash", payment_hash_of(c.macaroon)}});
  });
}

PLN_API int pln_l402_parse_token(const char* header, char** out_json) {
  return guard([&] {
    const auto text = bounded(header, "header");
    require(out_json, "out_json");
    const L402Token t = L402Token::parse(text);
    dump_to(out_json, json{{"macaroon", t.macaroon.to_base64()},
                           {"preimage", hex(t.preimage)},
                           {"payment_hash", payment_hash_of(t.macaroon)},
                           {"preimage_matches", t.preimage_matches()}});
  });
}

PLN_API int pln_l402_verify_token(const char* header, const uint8_t* root_key, size_t root_key_len,
                                  const pln_l402_terms* request, char** out_granted_json) {
  return guard([&] {
    const auto text = bounded(header, "header");
    const auto key = root_key_view(root_key, root_key_len);
    const L402Request req = request_from(request);
    const L402Token t = L402Token::parse(text);
    L402Terms granted;
    deny_unless(t.verify(key, req, &granted));
    if (out_granted_json != nullptr) dump_to(out_granted_json, terms_json(granted));
  });
}

PLN_API int pln_payout_split(const pln_payout_fee* fee, uint64_t amount_msat, const pln_payout_weight* weights, size_t n_weights,
                             char** out_json) {
  return guard([&] {
    require(weights, "weights");
    require(out_json, "out_json");
    if (n_weights > kMaxPayees) throw Error(ErrorCode::invalid_argument, "more than 100000 payees");
    PayoutFee f;
    if (fee != nullptr) {
      f.basis_points = fee->basis_points;
      f.fixed_msat = fee->fixed_msat;
    }
    std::vector<PayoutWeight> w;
    w.reserve(n_weights);
    for (std::size_t i = 0; i < n_weights; ++i) {
      if (weights[i].payee == nullptr) throw Error(ErrorCode::invalid_argument, "weights[" + std::to_string(i) + "].payee must not be NULL");
      w.push_back({std::string(bounded(weights[i].payee, "payee")), weights[i].weight});
    }
    const PayoutSplit split = PayoutSplitter(f).split(amount_msat, w);
    auto payees = json::array();
    for (const auto& p : split.payees) payees.push_back({{"payee", p.payee}, {"amount_msat", p.amount_msat}});
    dump_to(out_json, json{{"fee_msat", split.fee_msat}, {"payees", payees}});
  });
}

PLN_API pln_wallet_params pln_wallet_default_params(void) {
  pln_wallet_params p{};
  p.pay_timeout_s = 60;
  return p;
}

PLN_API int pln_wallet_open(const char* uri, const pln_wallet_params* params, pln_wallet** out) {
  return guard([&] {
    const auto text = bounded(uri, "uri");
    require(out, "out");
    const pln_wallet_params p = params != nullptr ? *params : pln_wallet_default_params();
    if (p.pay_timeout_s == 0) throw Error(ErrorCode::invalid_argument, "pay_timeout_s must be above 0");
    auto w = std::make_unique<pln_wallet>();
    w->pay_timeout = std::chrono::seconds(p.pay_timeout_s);
    w->wallet = open_wallet(std::string(text));
    *out = w.release();
  });
}

PLN_API void pln_wallet_free(pln_wallet* wallet) { delete wallet; }

PLN_API int pln_wallet_balance(pln_wallet* wallet, uint64_t* out_msat) {
  return guard([&] {
    require(wallet, "wallet");
    require(out_msat, "out_msat");
    *out_msat = wallet->wallet->balance_msat();
  });
}

PLN_API int pln_wallet_describe(const pln_wallet* wallet, char** out) {
  return guard([&] {
    require(wallet, "wallet");
    require(out, "out");
    *out = dup_string(wallet->wallet->describe());
  });
}

PLN_API pln_invoice_params pln_invoice_default_params(void) {
  pln_invoice_params p{};
  p.amount_msat = 0;
  p.memo = "";
  p.expiry_s = 3600;
  return p;
}

PLN_API int pln_wallet_create_invoice(pln_wallet* wallet, const pln_invoice_params* params, char** out_json) {
  return guard([&] {
    require(wallet, "wallet");
    require(params, "params");
    require(out_json, "out_json");
    InvoiceRequest r;
    if (params->amount_msat > 0) r.amount_msat = params->amount_msat;
    r.memo = str_or_empty(params->memo);
    r.expiry_s = params->expiry_s;
    const CreatedInvoice inv = wallet->wallet->create_invoice(r);
    dump_to(out_json, json{{"bolt11", inv.bolt11}, {"payment_hash", hex(inv.payment_hash)}});
  });
}

PLN_API int pln_wallet_pay(pln_wallet* wallet, const char* bolt11, uint64_t max_fee_msat, uint64_t amount_msat, char** out_json) {
  return guard([&] {
    require(wallet, "wallet");
    const auto text = bounded(bolt11, "bolt11");
    require(out_json, "out_json");
    PayOptions o;
    o.max_fee_msat = max_fee_msat;
    o.timeout = wallet->pay_timeout;
    if (amount_msat > 0) o.amount_msat = amount_msat;
    const PaymentResult r = wallet->wallet->pay_invoice(std::string(text), o);
    dump_to(out_json, json{{"payment_hash", hex(r.payment_hash)},
                           {"status", to_string(r.status)},
                           {"preimage", r.preimage ? json(hex(*r.preimage)) : json(nullptr)},
                           {"amount_msat", r.amount_msat},
                           {"fee_msat", r.fee_msat},
                           {"failure_reason", r.failure_reason}});
  });
}

PLN_API int pln_wallet_lookup_invoice(pln_wallet* wallet, const char* payment_hash_hex, char** out_json) {
  return guard([&] {
    require(wallet, "wallet");
    const PaymentHash h = hash_from_hex(payment_hash_hex, "payment_hash_hex");
    require(out_json, "out_json");
    const InvoiceStatus s = wallet->wallet->lookup_invoice(h);
    dump_to(out_json, json{{"payment_hash", hex(s.payment_hash)},
                           {"settled", s.settled},
                           {"expired", s.expired},
                           {"amount_paid_msat", s.amount_paid_msat},
                           {"settled_at", s.settled_at}});
  });
}

PLN_API int pln_devnet_create_account(const char* path, const char* name, uint64_t fund_msat, char** out_json) {
  return guard([&] {
    const std::string p(bounded(path, "path"));
    const std::string n(bounded(name, "name"));
    const DevnetAccount a = DevnetWallet::create_account(p, n, fund_msat);
    DevnetUri uri{p, a.name};
    if (out_json != nullptr) {
      dump_to(out_json, json{{"name", a.name}, {"node_id", hex(a.node_id)}, {"balance_msat", a.balance_msat}, {"uri", uri.to_string()}});
    }
  });
}

}  // extern "C"
