#include "petalsln/lightning/paywall.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"
#include "util/sqlite_database.hpp"

namespace petalsln {
namespace {

using util::sqlite::Statement;

// Version 1 of the store: its tables and a fresh root key. It is also the layout of every
// store made before versions were recorded (version 0 with the tables and a key), which it
// leaves unchanged: each statement is idempotent, and a key already there is kept.
void create_store_v1(util::sqlite::Database& db) {
  db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
          "CREATE TABLE IF NOT EXISTS tokens (token_id TEXT PRIMARY KEY, payment_hash TEXT NOT NULL,"
          " credit INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0, expires INTEGER NOT NULL);");
  std::string key(32, '\0');
  util::random_bytes(reinterpret_cast<std::uint8_t*>(key.data()), key.size());
  // Stored as TEXT holding the raw bytes, as the first stores did.
  Statement put(db, "INSERT OR IGNORE INTO meta (key, value) VALUES ('root_key', ?)");
  put.bind(1, std::string_view(key));
  util::secure_wipe(key.data(), key.size());
  put.run();
}

// The store's schema versions (PRAGMA user_version), in order.
const std::vector<util::sqlite::Migration>& store_migrations() {
  static const std::vector<util::sqlite::Migration> migrations = {create_store_v1};
  return migrations;
}

}  // namespace

// A challenge handed to a requester and not yet paid. `header` is empty while its invoice is
// being created (the entry already counts against the limits, so concurrent calls cannot all
// slip under them).
struct HeldChallenge {
  std::uint32_t begin = 0, end = 0;
  std::uint64_t credit = 0;
  std::string header;
  PaymentHash payment_hash{};
  std::int64_t minted_at = 0, expires_at = 0;
  std::uint64_t serial = 0;
};

struct Paywall::Impl {
  PaywallOptions options;
  std::shared_ptr<Wallet> wallet;
  std::unique_ptr<util::sqlite::Database> db;
  std::string root_key;  // 32 bytes
  std::mutex mu;
  std::map<std::string, std::uint64_t> reserved;  // credit held by reserve(), by token id (under mu)
  // Unpaid challenges by requester; never held across a wallet call.
  std::mutex held_mu;
  std::map<std::string, std::vector<HeldChallenge>> held;
  std::size_t held_total = 0;
  std::uint64_t next_serial = 1;

  std::string mint(std::uint32_t begin, std::uint32_t end, std::uint64_t credit, PaymentHash* hash);
  std::optional<std::string> reusable(const std::string& requester, std::uint32_t begin, std::uint32_t end, std::uint64_t credit);
  std::uint64_t hold(const std::string& requester, std::uint32_t begin, std::uint32_t end, std::uint64_t credit);
  void settle_hold(const std::string& requester, std::uint64_t serial, const std::string* header, const PaymentHash* hash);
  void forget_paid(const PaymentHash& hash);
  bool reserve_locked(const std::string& token_id, std::uint64_t units, std::uint64_t* available);

  ~Impl() {
    util::secure_wipe(root_key.data(), root_key.size());
  }

  // What a token or macaroon must allow to be accepted here for blocks [begin, end), now.
  L402Request request_for(std::uint32_t begin, std::uint32_t end) const {
    L402Request request;
    request.service = options.service;
    request.model = options.model;
    request.peer = options.peer_hex;
    request.block_begin = begin;
    request.block_end = end;
    request.now = now();
    return request;
  }

  std::int64_t now() const {
    if (options.clock) return options.clock();
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  // Opens (or creates, 0600: it holds the root key) the store, brings its schema up to date
  // (which mints the root key of a new store), and loads its root key.
  void open_store() {
    util::sqlite::OpenOptions open;
    open.label = "paywall store";
    open.create = true;
    open.serialized = true;
    db = std::make_unique<util::sqlite::Database>(options.store_path, open);
    db->enable_wal();
    db->exec("PRAGMA synchronous=FULL");
    util::sqlite::migrate(*db, store_migrations());
    Statement get(*db, "SELECT value FROM meta WHERE key = 'root_key'");
    if (!options.root_key.empty()) {
      root_key.swap(options.root_key);  // the operator's own key file holds the key
    } else if (get.step()) {
      root_key = get.bytes(0);
    }
    if (root_key.size() != 32) throw Error(ErrorCode::io, "paywall store " + options.store_path + " holds a malformed root key");
  }
};

Paywall::Paywall(PaywallOptions options, std::shared_ptr<Wallet> wallet) : impl_(std::make_unique<Impl>()) {
  if (!options.root_key.empty() && options.root_key.size() != 32) {
    util::secure_wipe(options.root_key.data(), options.root_key.size());
    throw Error(ErrorCode::invalid_argument, "a paywall's root key must be 32 bytes");
  }
  if (options.price_msat == 0 || options.credit_block_tokens == 0) {
    throw Error(ErrorCode::invalid_argument, "a paywall needs a positive price and credit unit");
  }
  if (options.peer_hex.size() != 64 || options.block_begin >= options.block_end || options.model.empty()) {
    throw Error(ErrorCode::invalid_argument, "a paywall needs a model, a 64-hex-digit peer id and a block range");
  }
  if (!wallet) throw Error(ErrorCode::invalid_argument, "a paywall needs a wallet to issue invoices");
  if (options.store_path.empty()) throw Error(ErrorCode::invalid_argument, "a paywall needs a store path");
  if (options.max_unpaid_per_requester == 0 || options.max_unpaid_total == 0 || options.invoice_expiry.count() <= 0 ||
      options.token_lifetime.count() <= 0) {
    throw Error(ErrorCode::invalid_argument, "a paywall needs positive unpaid-challenge limits, invoice expiry and token lifetime");
  }
  impl_->options = std::move(options);
  impl_->wallet = std::move(wallet);
  impl_->open_store();
}

Paywall::~Paywall() = default;

std::uint64_t Paywall::invoice_amount_msat(std::uint64_t block_tokens) const noexcept {
  return (block_tokens * impl_->options.price_msat + 999) / 1000;
}

std::string Paywall::Impl::mint(std::uint32_t begin, std::uint32_t end, std::uint64_t credit, PaymentHash* hash) {
  InvoiceRequest req;
  req.amount_msat = (credit * options.price_msat + 999) / 1000;
  req.memo = "petalsln: " + std::to_string(credit) + " " + options.unit_name + " of " + options.model;
  req.expiry = options.invoice_expiry;
  const auto invoice = wallet->create_invoice(req);
  L402Terms terms;
  terms.service = options.service;
  terms.model = options.model;
  terms.peer = options.peer_hex;
  terms.block_begin = std::max(begin, options.block_begin);
  terms.block_end = std::min(end, options.block_end);
  if (terms.block_begin >= terms.block_end) {
    terms.block_begin = options.block_begin;
    terms.block_end = options.block_end;
  }
  terms.credit = credit;
  terms.expires = now() + static_cast<std::int64_t>(options.token_lifetime.count());
  *hash = invoice.payment_hash;
  const L402Challenge c{mint_l402_macaroon(root_key, L402Identifier::random_for(invoice.payment_hash), terms), invoice.bolt11};
  return c.to_header();
}

// A held challenge for these terms whose invoice is still open with more than half its life
// left, or nothing. Asks the wallet, so an invoice paid in the meantime is never handed out
// again (paying it twice would fail).
std::optional<std::string> Paywall::Impl::reusable(const std::string& requester, std::uint32_t begin, std::uint32_t end,
                                                   std::uint64_t credit) {
  HeldChallenge found;
  {
    std::lock_guard<std::mutex> lock(held_mu);
    auto it = held.find(requester);
    if (it == held.end()) return std::nullopt;
    const std::int64_t t = now();
    auto& list = it->second;
    const auto before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(), [&](const HeldChallenge& h) { return !h.header.empty() && h.expires_at <= t; }),
               list.end());
    held_total -= before - list.size();
    auto match = std::find_if(list.begin(), list.end(), [&](const HeldChallenge& h) {
      return !h.header.empty() && h.begin == begin && h.end == end && h.credit == credit;
    });
    if (match == list.end()) {
      if (list.empty()) held.erase(it);
      return std::nullopt;
    }
    const bool fresh = (match->expires_at - t) * 2 > match->expires_at - match->minted_at;
    if (fresh) found = *match;
    list.erase(match);  // re-inserted below if still good; replaced by a new one otherwise
    --held_total;
    if (!fresh) {
      if (list.empty()) held.erase(it);
      return std::nullopt;
    }
  }
  try {
    const InvoiceStatus status = wallet->lookup_invoice(found.payment_hash);
    if (status.settled || status.expired) return std::nullopt;
  } catch (const Error&) {
    return std::nullopt;  // cannot tell: mint anew rather than hand out a paid invoice
  }
  std::lock_guard<std::mutex> lock(held_mu);
  held[requester].push_back(found);
  ++held_total;
  return found.header;
}

// Reserves a place for a new challenge, or throws ChallengeLimitReached.
std::uint64_t Paywall::Impl::hold(const std::string& requester, std::uint32_t begin, std::uint32_t end, std::uint64_t credit) {
  std::lock_guard<std::mutex> lock(held_mu);
  auto& list = held[requester];
  if (list.size() >= options.max_unpaid_per_requester) {
    throw ChallengeLimitReached("this address already holds the maximum of " + std::to_string(options.max_unpaid_per_requester) +
                                " unpaid challenges per address; pay one of them or wait for it to expire");
  }
  if (held_total >= options.max_unpaid_total) {
    if (list.empty()) held.erase(requester);
    throw ChallengeLimitReached("the server already holds its maximum of " + std::to_string(options.max_unpaid_total) +
                                " unpaid challenges");
  }
  HeldChallenge h;
  h.begin = begin;
  h.end = end;
  h.credit = credit;
  h.serial = next_serial++;
  list.push_back(h);
  ++held_total;
  return h.serial;
}

// Completes a place taken by hold() with its challenge, or gives it back (null header).
void Paywall::Impl::settle_hold(const std::string& requester, std::uint64_t serial, const std::string* header, const PaymentHash* hash) {
  std::lock_guard<std::mutex> lock(held_mu);
  auto it = held.find(requester);
  if (it == held.end()) return;
  auto& list = it->second;
  auto h = std::find_if(list.begin(), list.end(), [&](const HeldChallenge& x) { return x.serial == serial; });
  if (h == list.end()) return;
  if (header == nullptr) {
    list.erase(h);
    --held_total;
    if (list.empty()) held.erase(it);
    return;
  }
  h->header = *header;
  h->payment_hash = *hash;
  h->minted_at = now();
  h->expires_at = h->minted_at + static_cast<std::int64_t>(options.invoice_expiry.count());
}

void Paywall::Impl::forget_paid(const PaymentHash& hash) {
  std::lock_guard<std::mutex> lock(held_mu);
  for (auto it = held.begin(); it != held.end();) {
    auto& list = it->second;
    const auto before = list.size();
    list.erase(std::remove_if(list.begin(), list.end(), [&](const HeldChallenge& h) { return !h.header.empty() && h.payment_hash == hash; }),
               list.end());
    held_total -= before - list.size();
    it = list.empty() ? held.erase(it) : std::next(it);
  }
}

std::string Paywall::challenge(std::uint32_t begin, std::uint32_t end, std::uint64_t min_block_tokens, const std::string& requester) {
  auto& m = *impl_;
  // A step larger than the credit unit (a long prompt) is sold in one piece, or it could never run.
  const std::uint64_t credit = std::max(m.options.credit_block_tokens, min_block_tokens);
  PaymentHash hash{};
  if (requester.empty()) return m.mint(begin, end, credit, &hash);
  if (auto reused = m.reusable(requester, begin, end, credit)) return *reused;
  const std::uint64_t serial = m.hold(requester, begin, end, credit);
  std::string header;
  try {
    header = m.mint(begin, end, credit, &hash);
  } catch (...) {
    m.settle_hold(requester, serial, nullptr, nullptr);
    throw;
  }
  m.settle_hold(requester, serial, &header, &hash);
  return header;
}

PaywallGrant Paywall::authorize(std::string_view authorization, std::uint32_t begin, std::uint32_t end) {
  auto& m = *impl_;
  const L402Token token = [&] {
    try {
      return L402Token::parse(authorization);
    } catch (const Error& e) {
      throw Error(ErrorCode::invalid_argument, std::string("malformed L402 token: ") + e.what());
    }
  }();
  const L402Request request = m.request_for(begin, end);
  L402Terms granted;
  const Verdict verdict = token.verify(m.root_key, request, &granted);
  if (!verdict.ok) throw Error(ErrorCode::invalid_argument, "L402 token refused: " + verdict.reason);
  const auto id = token.identifier();
  m.forget_paid(id.payment_hash);  // its invoice is paid: never hand that challenge out again
  PaywallGrant grant;
  grant.token_id = util::to_hex(id.token_id.data(), id.token_id.size());
  std::lock_guard<std::mutex> lock(m.mu);
  // First use registers the credit the (verified) macaroon grants; later uses find it.
  Statement insert(*m.db, "INSERT OR IGNORE INTO tokens (token_id, payment_hash, credit, used, expires) VALUES (?, ?, ?, 0, ?)");
  insert.bind(1, grant.token_id)
      .bind(2, util::to_hex(id.payment_hash.data(), id.payment_hash.size()))
      .bind(3, static_cast<std::int64_t>(granted.credit))
      .bind(4, granted.expires)
      .step();
  Statement get(*m.db, "SELECT credit - used FROM tokens WHERE token_id = ?");
  get.bind(1, grant.token_id);
  if (!get.step()) throw Error(ErrorCode::internal, "paywall store lost a token");
  grant.credit_remaining = static_cast<std::uint64_t>(std::max<std::int64_t>(0, get.int64(0)));
  if (grant.credit_remaining == 0) throw CreditUsedUp("L402 token refused: its credit is used up");
  const auto held = m.reserved.find(grant.token_id);
  if (held != m.reserved.end()) grant.credit_remaining -= std::min(grant.credit_remaining, held->second);
  return grant;
}

PaymentHash Paywall::challenge_payment_hash(std::string_view macaroon_base64, std::uint32_t begin, std::uint32_t end) {
  auto& m = *impl_;
  const Macaroon macaroon = [&] {
    try {
      return Macaroon::from_base64(macaroon_base64);
    } catch (const Error& e) {
      throw Error(ErrorCode::invalid_argument, std::string("malformed macaroon: ") + e.what());
    }
  }();
  const L402Request request = m.request_for(begin, end);
  const Verdict verdict = verify_l402_caveats(macaroon, m.root_key, request);
  if (!verdict.ok) throw Error(ErrorCode::invalid_argument, "macaroon refused: " + verdict.reason);
  try {
    return L402Identifier::decode(macaroon.identifier()).payment_hash;
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_argument, std::string("macaroon refused: ") + e.what());
  }
}

bool Paywall::debit(const std::string& token_id, std::uint64_t block_tokens, std::uint64_t* remaining) {
  auto& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  Statement update(*m.db, "UPDATE tokens SET used = used + ?1 WHERE token_id = ?2 AND used + ?1 <= credit");
  update.bind(1, static_cast<std::int64_t>(block_tokens)).bind(2, token_id).step();
  const bool ok = m.db->changes() == 1;
  if (remaining != nullptr) {
    Statement get(*m.db, "SELECT credit - used FROM tokens WHERE token_id = ?");
    get.bind(1, token_id);
    *remaining = get.step() ? static_cast<std::uint64_t>(std::max<std::int64_t>(0, get.int64(0))) : 0;
  }
  return ok;
}

namespace {

// The credit of @p token_id not yet debited, or 0 for a token never authorized (caller holds mu).
std::uint64_t unspent(util::sqlite::Database& db, const std::string& token_id) {
  Statement get(db, "SELECT credit - used FROM tokens WHERE token_id = ?");
  get.bind(1, token_id);
  return get.step() ? static_cast<std::uint64_t>(std::max<std::int64_t>(0, get.int64(0))) : 0;
}

}  // namespace

// reserve()'s work; the caller holds mu.
bool Paywall::Impl::reserve_locked(const std::string& token_id, std::uint64_t units, std::uint64_t* available) {
  std::uint64_t& on_hold = reserved[token_id];
  const std::uint64_t left = unspent(*db, token_id);
  const std::uint64_t spare = left - std::min(left, on_hold);
  if (available != nullptr) *available = spare;
  if (units > spare) {
    if (on_hold == 0) reserved.erase(token_id);
    return false;
  }
  on_hold += units;
  return true;
}

bool Paywall::reserve(const std::string& token_id, std::uint64_t units, std::uint64_t* available) {
  auto& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  return m.reserve_locked(token_id, units, available);
}

std::optional<bool> Paywall::try_reserve(const std::string& token_id, std::uint64_t units, std::uint64_t* available) {
  auto& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mu, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  return m.reserve_locked(token_id, units, available);
}

void Paywall::settle(const std::string& token_id, std::uint64_t reserved, std::uint64_t used, std::uint64_t* remaining) {
  auto& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  // Freed first, so that a failed write below never leaves credit held for ever.
  auto it = m.reserved.find(token_id);
  if (it != m.reserved.end()) {
    it->second -= std::min(it->second, reserved);
    if (it->second == 0) m.reserved.erase(it);
  }
  const std::int64_t debit = static_cast<std::int64_t>(std::min(used, reserved));
  if (debit > 0) {
    Statement update(*m.db, "UPDATE tokens SET used = MIN(credit, used + ?1) WHERE token_id = ?2");
    update.bind(1, debit).bind(2, token_id).step();
  }
  if (remaining != nullptr) {
    const std::uint64_t left = unspent(*m.db, token_id);
    const auto held = m.reserved.find(token_id);
    *remaining = left - std::min(left, held == m.reserved.end() ? 0 : held->second);
  }
}

std::uint64_t Paywall::available(const std::string& token_id) {
  auto& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mu);
  const std::uint64_t left = unspent(*m.db, token_id);
  const auto held = m.reserved.find(token_id);
  return left - std::min(left, held == m.reserved.end() ? 0 : held->second);
}

}  // namespace petalsln
