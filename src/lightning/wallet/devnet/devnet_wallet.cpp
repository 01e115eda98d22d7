// The devnet wallet's accounts, invoices and lookups (paying lives in devnet_wallet_pay.cpp).

#include "lightning/wallet/devnet/devnet_wallet.hpp"

#include <chrono>

#include "lightning/wallet/devnet/devnet_wallet_store.hpp"
#include "petalsln/util/error.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"
#include "util/sha256.hpp"

namespace petalsln {
namespace devnet = lightning::devnet;

namespace {

std::uint64_t system_now() {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return static_cast<std::uint64_t>(s.count());
}

void check_account_name(const std::string& name) {
  if (!is_valid_devnet_account_name(name)) {
    throw Error(ErrorCode::invalid_argument,
                "devnet account name '" + name + "' must be 1 to 64 characters of a-z, 0-9, '_' and '-'");
  }
}

void check_request(const InvoiceRequest& request) {
  if (request.amount_msat && *request.amount_msat == 0) {
    throw Error(ErrorCode::invalid_argument, "devnet invoice: amount must be above zero (or absent for any amount)");
  }
  if (request.amount_msat && *request.amount_msat > DevnetWallet::kMaxFundMsat) {
    throw Error(ErrorCode::invalid_argument, "devnet invoice: amount exceeds 21 million bitcoin");
  }
  if (request.expiry.count() <= 0) throw Error(ErrorCode::invalid_argument, "devnet invoice: expiry must be above zero");
  // Keeps created_at + expiry (and the BOLT11 timestamp arithmetic) far from overflow.
  if (request.expiry.count() > (std::int64_t{1} << 32)) {
    throw Error(ErrorCode::invalid_argument, "devnet invoice: expiry of more than 2^32 seconds");
  }
}

Bolt11Params invoice_params(const InvoiceRequest& request, const PaymentHash& hash, std::uint64_t now) {
  Bolt11Params p;
  p.network = Bolt11Network::regtest;
  p.amount_msat = request.amount_msat;
  p.timestamp = now;
  p.payment_hash = hash;
  if (request.description_hash) {
    p.description_hash = request.description_hash;
  } else {
    p.description = request.memo;
  }
  p.expiry = static_cast<std::uint64_t>(request.expiry.count());
  p.include_payee_node_id = true;
  return p;
}

// Draws a preimage whose hash is not yet in the file: with 256 random bits a repeat never
// happens, but the check costs one lookup and makes the invariant local.
Preimage fresh_preimage(devnet::Database& db, PaymentHash& hash) {
  Preimage preimage{};
  for (;;) {
    util::random_bytes(preimage.data(), preimage.size());
    hash = util::sha256(std::string_view(reinterpret_cast<const char*>(preimage.data()), preimage.size()));
    devnet::Statement q(db, "SELECT 1 FROM invoices WHERE payment_hash = ?1");
    if (!q.bind_blob(1, hash.data(), hash.size()).step()) return preimage;
  }
}

void insert_invoice(devnet::Database& db, const std::string& account, const Preimage& preimage,
                    const Bolt11Invoice& invoice, const std::string& bolt11) {
  devnet::Statement ins(db,
                        "INSERT INTO invoices(payment_hash, account, preimage, bolt11, amount_msat, created_at, "
                        "expires_at, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'open')");
  ins.bind_blob(1, invoice.payment_hash.data(), invoice.payment_hash.size()).bind(2, account);
  ins.bind_blob(3, preimage.data(), preimage.size()).bind(4, bolt11).bind(5, invoice.amount_msat);
  ins.bind(6, invoice.timestamp).bind(7, invoice.expires_at()).run();
}

// How long an expired, unpaid invoice is kept (so a lookup can still say "expired") before
// the next invoice created in the file deletes it. Without pruning, every challenge a server
// ever issued to a client who never paid would stay in the file forever.
constexpr std::uint64_t kExpiredInvoiceRetentionS = 3600;

void prune_expired_invoices(devnet::Database& db, std::uint64_t now) {
  if (now <= kExpiredInvoiceRetentionS) return;
  devnet::Statement del(db, "DELETE FROM invoices WHERE state = 'open' AND expires_at < ?1");
  del.bind(1, now - kExpiredInvoiceRetentionS).run();
}

}  // namespace

DevnetWallet::DevnetWallet(const std::string& path, const std::string& account, DevnetClock clock)
    : path_(path), account_(account), clock_(std::move(clock)) {
  check_account_name(account);
  db_ = std::make_unique<Db>(path);
  devnet::open_schema(db_->database);
  auto id = devnet::find_account_node_id(db_->database, account);
  if (!id) throw Error(ErrorCode::not_found, "devnet account '" + account + "' not found in " + path);
  node_id_ = *id;
}

DevnetWallet::~DevnetWallet() = default;

std::unique_ptr<DevnetWallet> DevnetWallet::open(const std::string& uri, DevnetClock clock) {
  const DevnetUri parsed = DevnetUri::parse(uri);
  return std::make_unique<DevnetWallet>(parsed.path, parsed.account, std::move(clock));
}

DevnetAccount DevnetWallet::create_account(const std::string& path, const std::string& name, std::uint64_t fund_msat) {
  check_account_name(name);
  if (fund_msat > kMaxFundMsat) {
    throw Error(ErrorCode::invalid_argument, "devnet faucet: at most 21 million bitcoin per account");
  }
  devnet::Database db(path, devnet::file_options(/*create=*/true));
  devnet::ensure_schema(db);
  devnet::ImmediateTransaction tx(db);
  DevnetAccount account = devnet::insert_account(db, name, fund_msat, system_now());
  tx.commit();
  return account;
}

DevnetAccount create_devnet_account(const std::string& path, const std::string& name, std::uint64_t fund_msat) {
  return DevnetWallet::create_account(path, name, fund_msat);
}

std::uint64_t DevnetWallet::now() const { return clock_ ? clock_() : system_now(); }

CreatedInvoice DevnetWallet::create_invoice(const InvoiceRequest& request) {
  check_request(request);
  std::lock_guard<std::mutex> lock(mutex_);
  devnet::Database& db = db_->database;
  devnet::ImmediateTransaction tx(db);
  prune_expired_invoices(db, now());
  PaymentHash hash{};
  Preimage preimage = fresh_preimage(db, hash);
  Bolt11SecretKey key = devnet::load_node_secret(db, account_);
  Bolt11Invoice invoice;
  try {
    invoice = Bolt11Invoice::create(invoice_params(request, hash, now()), key);
  } catch (...) {
    util::secure_wipe(key.data(), key.size());
    util::secure_wipe(preimage.data(), preimage.size());
    throw;
  }
  util::secure_wipe(key.data(), key.size());
  CreatedInvoice out{invoice.encode(), hash};
  insert_invoice(db, account_, preimage, invoice, out.bolt11);
  util::secure_wipe(preimage.data(), preimage.size());
  tx.commit();
  return out;
}

InvoiceStatus DevnetWallet::lookup_invoice(const PaymentHash& payment_hash) {
  std::lock_guard<std::mutex> lock(mutex_);
  devnet::Statement q(db_->database,
                      "SELECT state, expires_at, amount_paid_msat, settled_at, preimage FROM invoices "
                      "WHERE payment_hash = ?1 AND account = ?2");
  q.bind_blob(1, payment_hash.data(), payment_hash.size()).bind(2, account_);
  if (!q.step()) {
    throw Error(ErrorCode::not_found, "devnet account '" + account_ + "' issued no invoice with that payment hash");
  }
  InvoiceStatus status;
  status.payment_hash = payment_hash;
  status.settled = q.text(0) == "settled";
  status.expired = !status.settled && now() >= q.uint64(1);
  if (status.settled) {
    status.amount_paid_msat = q.uint64(2);
    status.settled_at = q.uint64(3);
    status.preimage.emplace();
    q.blob(4, status.preimage->data(), status.preimage->size());
  }
  return status;
}

std::optional<PaymentResult> DevnetWallet::lookup_payment(const PaymentHash& payment_hash) {
  std::lock_guard<std::mutex> lock(mutex_);
  // A success outranks any failed attempt; among failures the latest says the most.
  devnet::Statement q(db_->database,
                      "SELECT status, amount_msat, fee_msat, preimage, failure_reason FROM payments "
                      "WHERE payer = ?1 AND payment_hash = ?2 ORDER BY status = 'succeeded' DESC, id DESC LIMIT 1");
  q.bind(1, account_).bind_blob(2, payment_hash.data(), payment_hash.size());
  if (!q.step()) return std::nullopt;
  PaymentResult r;
  r.payment_hash = payment_hash;
  r.status = q.text(0) == "succeeded" ? PaymentStatus::succeeded : PaymentStatus::failed;
  r.amount_msat = q.uint64(1);
  r.fee_msat = q.uint64(2);
  if (!q.is_null(3)) {
    r.preimage.emplace();
    q.blob(3, r.preimage->data(), r.preimage->size());
  }
  if (!q.is_null(4)) r.failure_reason = q.text(4);
  return r;
}

std::uint64_t DevnetWallet::balance_msat() {
  std::lock_guard<std::mutex> lock(mutex_);
  return devnet::load_balance(db_->database, account_);
}

std::string DevnetWallet::describe() const { return DevnetUri{path_, account_}.to_string(); }

}  // namespace petalsln
