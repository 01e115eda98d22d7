// BOLT11 invoices, macaroons and L402 headers, payouts. No libtorch here.
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "capi_internal.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/lightning/macaroon.hpp"
#include "petalsln/lightning/payout_splitter.hpp"
#include "petalsln/util/hex.hpp"
#include "util/clock.hpp"

using namespace petalsln;
using namespace petalsln::capi;
using json = nlohmann::ordered_json;

namespace {

// Most payees one split takes: far above any route, and it bounds the work a caller asks for.
constexpr std::size_t kMaxPayees = 100000;

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& bytes) {
  return util::to_hex(bytes.data(), bytes.size());
}

std::string_view root_key_view(const uint8_t* root_key, size_t len) {
  require(root_key, "root_key");
  if (len == 0) throw Error(ErrorCode::invalid_argument, "root_key_len must be above 0");
  return std::string_view(reinterpret_cast<const char*>(root_key), len);
}

std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) noexcept {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::numeric_limits<std::uint64_t>::max();
  return a * b;
}

// Unix seconds as the C++ layers keep them (int64); a C value above that is out of its domain.
std::int64_t unix_seconds_arg(std::uint64_t seconds, const char* name) {
  if (seconds > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorCode::invalid_argument, std::string(name) + " is too large");
  }
  return static_cast<std::int64_t>(seconds);
}

L402Request request_from(const pln_l402_request* r) {
  require(r, "request");
  L402Request req;
  req.service = r->service != nullptr ? std::string(bounded(r->service, "request->service")) : std::string(kL402Service);
  req.model = optional_string(r->model, "request->model");
  req.peer = optional_string(r->peer, "request->peer");
  req.block_begin = r->block_begin;
  req.block_end = r->block_end;
  req.now = r->now != 0 ? unix_seconds_arg(r->now, "request->now") : static_cast<std::int64_t>(util::unix_seconds());
  return req;
}

L402Terms terms_from(const pln_l402_terms* t) {
  require(t, "terms");
  L402Terms terms;
  if (t->service != nullptr) terms.service = std::string(bounded(t->service, "terms->service"));
  terms.model = optional_string(t->model, "terms->model");
  terms.peer = optional_string(t->peer, "terms->peer");
  terms.block_begin = t->block_begin;
  terms.block_end = t->block_end;
  terms.credit = t->credit;
  terms.expires = unix_seconds_arg(t->expires, "terms->expires");
  return terms;
}

void grant_to(const L402Terms& granted, pln_l402_grant* out) {
  pln_l402_grant g{};
  g.block_begin = granted.block_begin;
  g.block_end = granted.block_end;
  g.credit = granted.credit;
  g.expires = granted.expires > 0 ? static_cast<std::uint64_t>(granted.expires) : 0;
  *out = g;
}

void deny_unless(const Verdict& v) {
  if (!v.ok) throw Denied{"not authorized: " + v.reason};
}

// The identifier of @p m decoded, or nullopt when it is not an L402 identifier.
std::optional<L402Identifier> l402_identifier_of(const Macaroon& m) {
  try {
    return L402Identifier::decode(m.identifier());
  } catch (const Error&) {
    return std::nullopt;
  }
}

void store_payment_hash(const Macaroon& m, bool* has, std::uint8_t* out) {
  const auto id = l402_identifier_of(m);
  *has = id.has_value();
  if (id) copy_bytes(id->payment_hash, out);
}

const char* network_name(Bolt11Network network) noexcept {
  switch (network) {
    case Bolt11Network::mainnet: return "mainnet";
    case Bolt11Network::testnet: return "testnet";
    case Bolt11Network::signet: return "signet";
    case Bolt11Network::regtest: return "regtest";
    case Bolt11Network::simnet: return "simnet";
  }
  return "unknown";
}

// The description and description hash of @p inv into @p out.
void describe_invoice(const Bolt11Invoice& inv, pln_bolt11_invoice& out) {
  out.has_description = inv.description.has_value();
  if (inv.description) {
    // BOLT11 caps a field at 639 bytes; a longer one cannot have decoded.
    if (inv.description->size() >= sizeof out.description) throw Error(ErrorCode::internal, "a description above 639 bytes decoded");
    std::memcpy(out.description, inv.description->data(), inv.description->size());
    out.description[inv.description->size()] = '\0';
    out.description_len = inv.description->size();
  }
  out.has_description_hash = inv.description_hash.has_value();
  if (inv.description_hash) copy_bytes(*inv.description_hash, out.description_hash);
}

pln_bolt11_invoice invoice_struct(const Bolt11Invoice& inv) {
  pln_bolt11_invoice out{};
  out.network = network_name(inv.network);
  out.has_amount = inv.amount_msat.has_value();
  out.amount_msat = inv.amount_msat.value_or(0);
  out.timestamp = inv.timestamp;
  out.expiry_ms = saturating_mul(inv.expiry_seconds(), 1000);
  out.expires_at = inv.expires_at();
  copy_bytes(inv.payment_hash, out.payment_hash);
  copy_bytes(inv.payment_secret, out.payment_secret);
  describe_invoice(inv, out);
  if (!inv.payee) throw Error(ErrorCode::internal, "a verified invoice without a payee");
  copy_bytes(*inv.payee, out.payee);
  out.min_final_cltv_expiry = inv.min_final_cltv_expiry_delta();
  out.n_route_hints = inv.route_hints.size();
  out.n_features = inv.features.size();
  for (std::size_t i = 0; i < inv.features.size() && i < PLN_BOLT11_MAX_FEATURES; ++i) out.features[i] = inv.features[i];
  return out;
}

std::vector<PayoutWeight> payout_weights(const pln_payout_weight* weights, size_t n_weights) {
  require(weights, "weights");
  if (n_weights > kMaxPayees) throw Error(ErrorCode::invalid_argument, "more than 100000 payees");
  std::vector<PayoutWeight> w;
  w.reserve(n_weights);
  for (std::size_t i = 0; i < n_weights; ++i) {
    const std::string name = "weights[" + std::to_string(i) + "].payee";
    w.push_back({std::string(bounded(weights[i].payee, name.c_str())), weights[i].weight});
  }
  return w;
}

}  // namespace

extern "C" {

PLN_API pln_status pln_bolt11_decode(const char* invoice, pln_bolt11_invoice* out) {
  return guard([&] {
    const auto text = bounded(invoice, "invoice");
    require(out, "out");
    *out = invoice_struct(Bolt11Invoice::decode(text));
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

PLN_API pln_l402_request pln_l402_default_request(void) {
  pln_l402_request r{};
  r.service = "petalsln";
  r.model = nullptr;
  r.peer = nullptr;
  r.block_begin = 0;
  r.block_end = 0;
  r.now = 0;
  return r;
}

PLN_API pln_macaroon_params pln_macaroon_default_params(void) {
  pln_macaroon_params p{};
  p.location = nullptr;
  return p;
}

PLN_API pln_status pln_macaroon_mint(const uint8_t* root_key, size_t root_key_len, const uint8_t* payment_hash,
                                     const pln_l402_terms* terms, const pln_macaroon_params* params, char** out_macaroon) {
  return guard([&] {
    const auto key = root_key_view(root_key, root_key_len);
    const auto hash = read_bytes<32>(payment_hash, "payment_hash");
    const L402Terms t = terms_from(terms);
    require(out_macaroon, "out_macaroon");
    const pln_macaroon_params p = params != nullptr ? *params : pln_macaroon_default_params();
    const std::string location = optional_string(p.location, "location");
    const Macaroon m = mint_l402_macaroon(key, L402Identifier::random_for(hash), t, location);
    *out_macaroon = dup_string(m.to_base64());
  });
}

PLN_API pln_status pln_macaroon_add_caveat(const char* macaroon, const char* predicate, char** out_macaroon) {
  return guard([&] {
    const auto text = bounded(macaroon, "macaroon");
    const auto pred = bounded(predicate, "predicate");
    require(out_macaroon, "out_macaroon");
    Macaroon m = Macaroon::from_base64(text);
    m.add_first_party_caveat(pred);
    *out_macaroon = dup_string(m.to_base64());
  });
}

PLN_API pln_status pln_macaroon_inspect(const char* macaroon, char** out_json) {
  return guard([&] {
    const auto text = bounded(macaroon, "macaroon");
    require(out_json, "out_json");
    const Macaroon m = Macaroon::from_base64(text);
    const auto id = l402_identifier_of(m);
    json j;
    j["location"] = m.location();
    j["identifier"] = util::to_hex(m.identifier());
    // Caveats are arbitrary bytes; petalsln's are text. Non-UTF-8 bytes are replaced on output.
    j["caveats"] = m.caveats();
    j["payment_hash"] = id ? json(hex(id->payment_hash)) : json(nullptr);
    j["token_id"] = id ? json(hex(id->token_id)) : json(nullptr);
    *out_json = dup_string(j.dump(-1, ' ', false, json::error_handler_t::replace));
  });
}

PLN_API pln_status pln_macaroon_verify(const char* macaroon, const uint8_t* root_key, size_t root_key_len,
                                       const pln_l402_request* request, pln_l402_grant* out) {
  return guard([&] {
    const auto text = bounded(macaroon, "macaroon");
    const auto key = root_key_view(root_key, root_key_len);
    const L402Request req = request_from(request);
    require(out, "out");
    const Macaroon m = Macaroon::from_base64(text);
    L402Terms granted;
    deny_unless(verify_l402_caveats(m, key, req, &granted));
    grant_to(granted, out);
  });
}

PLN_API void pln_l402_challenge_clear(pln_l402_challenge* challenge) {
  if (challenge == nullptr) return;
  std::free(challenge->macaroon);
  std::free(challenge->invoice);
  *challenge = pln_l402_challenge{};
}

PLN_API pln_status pln_l402_parse_challenge(const char* header, pln_l402_challenge* out) {
  return guard([&] {
    const auto text = bounded(header, "header");
    require(out, "out");
    const L402Challenge c = L402Challenge::parse(text);
    pln_l402_challenge result{};
    store_payment_hash(c.macaroon, &result.has_payment_hash, result.payment_hash);
    std::unique_ptr<char, decltype(&std::free)> mac(dup_string(c.macaroon.to_base64()), &std::free);
    result.invoice = dup_string(c.invoice);
    result.macaroon = mac.release();
    *out = result;
  });
}

PLN_API void pln_l402_token_clear(pln_l402_token* token) {
  if (token == nullptr) return;
  std::free(token->macaroon);
  *token = pln_l402_token{};
}

PLN_API pln_status pln_l402_parse_token(const char* header, pln_l402_token* out) {
  return guard([&] {
    const auto text = bounded(header, "header");
    require(out, "out");
    const L402Token t = L402Token::parse(text);
    pln_l402_token result{};
    copy_bytes(t.preimage, result.preimage);
    store_payment_hash(t.macaroon, &result.has_payment_hash, result.payment_hash);
    result.preimage_matches = t.preimage_matches();
    result.macaroon = dup_string(t.macaroon.to_base64());
    *out = result;
  });
}

PLN_API pln_status pln_l402_verify_token(const char* header, const uint8_t* root_key, size_t root_key_len,
                                         const pln_l402_request* request, pln_l402_grant* out) {
  return guard([&] {
    const auto text = bounded(header, "header");
    const auto key = root_key_view(root_key, root_key_len);
    const L402Request req = request_from(request);
    require(out, "out");
    const L402Token t = L402Token::parse(text);
    L402Terms granted;
    deny_unless(t.verify(key, req, &granted));
    grant_to(granted, out);
  });
}

PLN_API pln_payout_params pln_payout_default_params(void) {
  pln_payout_params p{};
  p.fee_basis_points = 0;
  p.fee_fixed_msat = 0;
  return p;
}

PLN_API pln_status pln_payout_split(uint64_t amount_msat, const pln_payout_weight* weights, size_t n_weights,
                                    const pln_payout_params* params, pln_payout_share* out_shares, size_t* out_n_shares,
                                    uint64_t* out_fee_msat) {
  return guard([&] {
    const std::vector<PayoutWeight> w = payout_weights(weights, n_weights);
    require(out_shares, "out_shares");
    require(out_n_shares, "out_n_shares");
    require(out_fee_msat, "out_fee_msat");
    const pln_payout_params p = params != nullptr ? *params : pln_payout_default_params();
    const PayoutSplit split = PayoutSplitter(PayoutFee{p.fee_basis_points, p.fee_fixed_msat}).split(amount_msat, w);
    // Each share names its payee with the caller's own string: the first weight with that name.
    std::unordered_map<std::string_view, const char*> first;
    for (std::size_t i = 0; i < n_weights; ++i) first.emplace(w[i].payee, weights[i].payee);
    if (split.payees.size() > n_weights) throw Error(ErrorCode::internal, "a split with more payees than weights");
    std::vector<pln_payout_share> shares;
    shares.reserve(split.payees.size());
    for (const auto& payee : split.payees) shares.push_back({first.at(payee.payee), payee.amount_msat});
    std::copy(shares.begin(), shares.end(), out_shares);
    *out_n_shares = shares.size();
    *out_fee_msat = split.fee_msat;
  });
}

}  // extern "C"
