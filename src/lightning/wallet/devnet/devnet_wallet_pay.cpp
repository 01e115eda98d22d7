// Paying a devnet invoice. Every check and the transfer run inside one BEGIN IMMEDIATE
// transaction: no other process can change a balance or settle an invoice between the moment
// a check passes and the moment the money moves, so concurrent payers cannot overdraw an
// account or pay one invoice twice.

#include <chrono>
#include <limits>
#include <string>
#include <variant>

#include "lightning/wallet/devnet/devnet_wallet_store.hpp"
#include "lightning/wallet/devnet/devnet_wallet.hpp"
#include "petalsln/util/error.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln {
namespace devnet = lightning::devnet;

namespace {

// What the devnet file knows about the invoice a payment hash names.
struct IssuedInvoice {
  std::string account;                    // the issuing (payee) account
  Bolt11NodeId node_id{};                 // its node id
  std::uint64_t payee_balance_msat = 0;
  std::optional<std::uint64_t> amount_msat;
  bool settled = false;
  Preimage preimage{};

  ~IssuedInvoice() { util::secure_wipe(preimage.data(), preimage.size()); }
};

std::optional<IssuedInvoice> load_issued(devnet::Database& db, const PaymentHash& hash) {
  devnet::Statement q(db,
                      "SELECT i.account, a.node_id, a.balance_msat, i.amount_msat, i.state, i.preimage "
                      "FROM invoices i JOIN accounts a ON a.name = i.account WHERE i.payment_hash = ?1");
  q.bind_blob(1, hash.data(), hash.size());
  if (!q.step()) return std::nullopt;
  std::optional<IssuedInvoice> row(std::in_place);
  row->account = q.text(0);
  q.blob(1, row->node_id.data(), row->node_id.size());
  row->payee_balance_msat = q.uint64(2);
  if (!q.is_null(3)) row->amount_msat = q.uint64(3);
  row->settled = q.text(4) == "settled";
  q.blob(5, row->preimage.data(), row->preimage.size());
  return row;
}

// The amount to deliver, or the reason there is none.
std::variant<std::uint64_t, std::string> payment_amount(const Bolt11Invoice& invoice, const PayOptions& options) {
  if (!invoice.amount_msat) {
    if (!options.amount_msat || *options.amount_msat == 0) {
      return std::string("invoice has no amount; give PayOptions::amount_msat to pay it");
    }
    if (*options.amount_msat > DevnetWallet::kMaxFundMsat) return std::string("amount exceeds 21 million bitcoin");
    return *options.amount_msat;
  }
  if (options.amount_msat && *options.amount_msat != *invoice.amount_msat) {
    return "invoice asks for " + std::to_string(*invoice.amount_msat) + " msat, not the " +
           std::to_string(*options.amount_msat) + " msat given";
  }
  return *invoice.amount_msat;
}

// Everything that decides whether the payer may pay; returns the refusal, if any.
std::optional<std::string> refusal(const Bolt11Invoice& invoice, const std::optional<IssuedInvoice>& issued,
                                   const std::string& payer, std::uint64_t now) {
  if (invoice.network != Bolt11Network::regtest) {
    return std::string("the devnet pays regtest (lnbcrt) invoices only, this one is for ") + to_string(invoice.network);
  }
  if (!issued) return std::string("no account of this devnet file issued an invoice with this payment hash");
  if (invoice.payee != issued->node_id) {
    return "invoice is not signed by devnet account '" + issued->account + "', which issued this payment hash";
  }
  if (invoice.amount_msat != issued->amount_msat) {
    return std::string("invoice amount differs from the one devnet account '") + issued->account + "' issued";
  }
  if (issued->account == payer) return std::string("an account cannot pay its own invoice");
  if (issued->settled) return std::string("invoice already paid");
  if (invoice.is_expired(now)) return std::string("invoice expired");
  return std::nullopt;
}

void record_failure(devnet::Database& db, const std::string& payer, const PaymentResult& r, std::uint64_t now) {
  devnet::Statement ins(db,
                        "INSERT INTO payments(payer, payment_hash, status, amount_msat, fee_msat, failure_reason, "
                        "created_at) VALUES (?1, ?2, 'failed', ?3, 0, ?4, ?5)");
  ins.bind(1, payer).bind_blob(2, r.payment_hash.data(), r.payment_hash.size());
  ins.bind(3, r.amount_msat).bind(4, r.failure_reason).bind(5, now).run();
}

// Runs @p st (an UPDATE) and insists it changed exactly one row: the WHERE clauses restate
// the checks already made, so a zero here would mean the checks and the data disagree.
void update_one(devnet::Database& db, devnet::Statement& st, const char* what) {
  st.run();
  if (db.changes() != 1) throw Error(ErrorCode::internal, std::string("devnet: ") + what + " changed no row");
}

// Moves the money, settles the invoice and records the payment; the caller commits.
void transfer(devnet::Database& db, const std::string& payer, const std::string& payee, const PaymentResult& r,
              std::uint64_t now) {
  devnet::Statement debit(db,
                          "UPDATE accounts SET balance_msat = balance_msat - ?2 WHERE name = ?1 AND balance_msat >= ?2");
  debit.bind(1, payer).bind(2, r.amount_msat);
  update_one(db, debit, "debiting the payer");
  devnet::Statement credit(db, "UPDATE accounts SET balance_msat = balance_msat + ?2 WHERE name = ?1");
  credit.bind(1, payee).bind(2, r.amount_msat);
  update_one(db, credit, "crediting the payee");
  devnet::Statement settle(db,
                           "UPDATE invoices SET state = 'settled', amount_paid_msat = ?2, settled_at = ?3, paid_by = ?4 "
                           "WHERE payment_hash = ?1 AND state = 'open'");
  settle.bind_blob(1, r.payment_hash.data(), r.payment_hash.size()).bind(2, r.amount_msat).bind(3, now).bind(4, payer);
  update_one(db, settle, "settling the invoice");
  devnet::Statement ins(db,
                        "INSERT INTO payments(payer, payment_hash, status, amount_msat, fee_msat, preimage, created_at) "
                        "VALUES (?1, ?2, 'succeeded', ?3, 0, ?4, ?5)");
  ins.bind(1, payer).bind_blob(2, r.payment_hash.data(), r.payment_hash.size()).bind(3, r.amount_msat);
  ins.bind_blob(4, r.preimage->data(), r.preimage->size()).bind(5, now).run();
}

// Returns why the payment is refused, or nullopt with result.amount_msat set to what to pay.
std::optional<std::string> decide(devnet::Database& db, const Bolt11Invoice& invoice,
                                  const std::optional<IssuedInvoice>& issued, const PayOptions& options,
                                  const std::string& payer, std::uint64_t now, PaymentResult& result) {
  if (auto why = refusal(invoice, issued, payer, now)) return why;
  auto amount = payment_amount(invoice, options);
  if (auto* why = std::get_if<std::string>(&amount)) return *why;
  result.amount_msat = std::get<std::uint64_t>(amount);
  const std::uint64_t balance = devnet::load_balance(db, payer);
  if (balance < result.amount_msat) {
    return "insufficient balance: " + std::to_string(balance) + " msat for a payment of " +
           std::to_string(result.amount_msat) + " msat";
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (issued->payee_balance_msat > kMax - result.amount_msat) return std::string("the payee's balance would overflow");
  return std::nullopt;
}

PaymentResult failed(PaymentResult r, std::string reason) {
  r.status = PaymentStatus::failed;
  r.preimage.reset();
  r.failure_reason = "devnet: " + std::move(reason);
  return r;
}

// Restores the connection's usual busy timeout when a payment with its own timeout ends.
struct BusyTimeoutScope {
  BusyTimeoutScope(devnet::Database& db, std::chrono::milliseconds timeout) : db_(db), usual_(db.busy_timeout()) {
    db_.set_busy_timeout(timeout);
  }
  ~BusyTimeoutScope() { db_.set_busy_timeout(usual_); }
  BusyTimeoutScope(const BusyTimeoutScope&) = delete;
  BusyTimeoutScope& operator=(const BusyTimeoutScope&) = delete;
  devnet::Database& db_;
  std::chrono::milliseconds usual_;
};

}  // namespace

PaymentResult DevnetWallet::pay_invoice(const std::string& bolt11, const PayOptions& options) {
  const Bolt11Invoice invoice = Bolt11Invoice::decode(bolt11);
  PaymentResult result;
  result.payment_hash = invoice.payment_hash;
  std::lock_guard<std::mutex> lock(mutex_);
  devnet::Database& db = db_->database;
  BusyTimeoutScope busy(db, options.timeout);
  devnet::ImmediateTransaction tx(db, std::nothrow);
  if (!tx.began()) {
    return failed(result, "the devnet file stayed locked by other processes past the payment timeout; nothing was paid");
  }
  const std::uint64_t at = now();
  const std::optional<IssuedInvoice> issued = load_issued(db, invoice.payment_hash);
  if (std::optional<std::string> why = decide(db, invoice, issued, options, account_, at, result)) {
    result = failed(result, *why);
    record_failure(db, account_, result, at);
  } else {
    result.status = PaymentStatus::succeeded;
    result.preimage = issued->preimage;
    transfer(db, account_, issued->account, result, at);
  }
  tx.commit();
  return result;
}

}  // namespace petalsln
