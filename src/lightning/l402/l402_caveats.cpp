// petalsln's L402 caveats: writing them, and checking them so that added caveats only narrow.
#include "petalsln/lightning/l402_caveats.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <utility>

#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

enum Key : unsigned { kService, kModel, kPeer, kBlocks, kCredit, kExpires, kKeyCount };
constexpr std::array<std::string_view, kKeyCount> kKeyNames = {"service", "model", "peer", "blocks", "credit", "expires"};

std::optional<Key> key_of(std::string_view name) {
  for (unsigned k = 0; k < kKeyCount; ++k) {
    if (kKeyNames[k] == name) return static_cast<Key>(k);
  }
  return std::nullopt;
}

// A value must survive being one "key=value" line in any macaroon library's inspector.
bool printable_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u != 0x7f;
  });
}

bool is_peer_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

bool same_peer(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'F') ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// Strict unsigned decimal: digits only, no sign, no leading zeros, no overflow past @p max.
std::optional<std::uint64_t> parse_decimal(std::string_view s, std::uint64_t max) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (max - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::optional<std::pair<std::uint32_t, std::uint32_t>> parse_blocks(std::string_view s) {
  const std::size_t dash = s.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto a = parse_decimal(s.substr(0, dash), std::numeric_limits<std::uint32_t>::max());
  const auto b = parse_decimal(s.substr(dash + 1), std::numeric_limits<std::uint32_t>::max());
  if (!a || !b || *a >= *b) return std::nullopt;
  return std::make_pair(static_cast<std::uint32_t>(*a), static_cast<std::uint32_t>(*b));
}

std::string range_text(std::uint32_t a, std::uint32_t b) { return std::to_string(a) + "-" + std::to_string(b); }

// Why @p r cannot be authorised at all, or nullopt.
std::optional<std::string> request_problem(const L402Request& r) {
  if (r.service.empty() || r.model.empty()) return "the request names no service or model";
  if (!is_peer_hex(r.peer)) return "the request's peer id is not 64 hex digits";
  if (r.block_begin >= r.block_end) return "the request's block range " + range_text(r.block_begin, r.block_end) + " is empty";
  return std::nullopt;
}

void validate_terms(const L402Terms& t) {
  auto bad = [](const std::string& why) { throw Error(ErrorCode::invalid_argument, "L402 caveats: " + why); };
  if (!printable_token(t.service)) bad("service must be non-empty printable text without spaces");
  if (!printable_token(t.model)) bad("model must be non-empty printable text without spaces");
  if (!is_peer_hex(t.peer)) bad("peer must be 64 hex digits");
  if (t.block_begin >= t.block_end) bad("block range " + range_text(t.block_begin, t.block_end) + " is empty");
  if (t.expires < 0) bad("expires must not be negative");
}

}  // namespace

void add_l402_caveats(Macaroon& macaroon, const L402Terms& terms) {
  validate_terms(terms);
  if (macaroon.caveats().size() + kKeyCount > Macaroon::max_caveats) {
    throw Error(ErrorCode::invalid_argument, "L402 caveats: the macaroon has no room for six more caveats");
  }
  macaroon.add_first_party_caveat("service=" + terms.service);
  macaroon.add_first_party_caveat("model=" + terms.model);
  macaroon.add_first_party_caveat("peer=" + terms.peer);
  macaroon.add_first_party_caveat("blocks=" + range_text(terms.block_begin, terms.block_end));
  macaroon.add_first_party_caveat("credit=" + std::to_string(terms.credit));
  macaroon.add_first_party_caveat("expires=" + std::to_string(terms.expires));
}

Macaroon mint_l402_macaroon(std::string_view root_key, const L402Identifier& identifier, const L402Terms& terms,
                            std::string_view location) {
  validate_terms(terms);
  Macaroon m = Macaroon::mint(root_key, identifier.encode(), location);
  add_l402_caveats(m, terms);
  return m;
}

L402CaveatChecker::L402CaveatChecker(L402Request request) : request_(std::move(request)) {
  granted_.service = request_.service;
  granted_.model = request_.model;
  granted_.peer = request_.peer;
  granted_.block_begin = 0;
  granted_.block_end = std::numeric_limits<std::uint32_t>::max();
  granted_.credit = std::numeric_limits<std::uint64_t>::max();
  granted_.expires = std::numeric_limits<std::int64_t>::max();
}

Verdict L402CaveatChecker::check(std::string_view predicate) {
  if (auto problem = request_problem(request_)) return Verdict::fail(*problem);
  const std::size_t eq = predicate.find('=');
  const auto key = key_of(predicate.substr(0, eq));
  if (eq == std::string_view::npos || !key) {
    return Verdict::fail("unknown caveat \"" + std::string(predicate.substr(0, 64)) + "\"");
  }
  seen_ |= 1u << *key;
  return check_value(kKeyNames[*key], predicate.substr(eq + 1));
}

Verdict L402CaveatChecker::check_value(std::string_view key, std::string_view value) {
  const std::string shown = std::string(key) + "=" + std::string(value.substr(0, 128));
  if (!printable_token(value)) return Verdict::fail("malformed caveat " + shown);
  if (key == "service" || key == "model") {
    const std::string& wanted = key == "service" ? request_.service : request_.model;
    if (value != wanted) return Verdict::fail(shown + " does not cover the requested " + std::string(key) + " " + wanted);
  } else if (key == "peer") {
    if (!is_peer_hex(value)) return Verdict::fail("malformed caveat " + shown);
    if (!same_peer(value, request_.peer)) return Verdict::fail(shown + " is a token for another server");
  } else if (key == "blocks") {
    const auto range = parse_blocks(value);
    if (!range) return Verdict::fail("malformed caveat " + shown + " (expected <a>-<b> with a < b)");
    if (request_.block_begin < range->first || request_.block_end > range->second) {
      return Verdict::fail(shown + " does not cover the requested blocks " +
                           range_text(request_.block_begin, request_.block_end));
    }
    granted_.block_begin = std::max(granted_.block_begin, range->first);
    granted_.block_end = std::min(granted_.block_end, range->second);
  } else if (key == "credit") {
    const auto credit = parse_decimal(value, std::numeric_limits<std::uint64_t>::max());
    if (!credit) return Verdict::fail("malformed caveat " + shown);
    granted_.credit = std::min(granted_.credit, *credit);
  } else {  // expires
    const auto expires = parse_decimal(value, static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()));
    if (!expires) return Verdict::fail("malformed caveat " + shown);
    const auto at = static_cast<std::int64_t>(*expires);
    if (request_.now >= at) return Verdict::fail("token expired (" + shown + ", now " + std::to_string(request_.now) + ")");
    granted_.expires = std::min(granted_.expires, at);
  }
  return Verdict::pass();
}

Macaroon::CaveatChecker L402CaveatChecker::as_checker() {
  return [this](std::string_view predicate) { return check(predicate); };
}

Verdict L402CaveatChecker::finish() const {
  if (auto problem = request_problem(request_)) return Verdict::fail(*problem);
  for (unsigned k = 0; k < kKeyCount; ++k) {
    if ((seen_ & (1u << k)) == 0) {
      return Verdict::fail("token lacks a \"" + std::string(kKeyNames[k]) + "=\" caveat");
    }
  }
  return Verdict::pass();
}

Verdict verify_l402_caveats(const Macaroon& macaroon, std::string_view root_key, const L402Request& request,
                            L402Terms* granted) {
  L402CaveatChecker checker(request);
  Verdict v = macaroon.verify(root_key, checker.as_checker());
  if (v.ok) v = checker.finish();
  if (v.ok && granted != nullptr) *granted = checker.granted();
  return v;
}

}  // namespace petalsln
