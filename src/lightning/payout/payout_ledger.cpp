// PayoutLedger: the schema, accruals and the report. Paying is in payout_ledger_pay.cpp.
//
// Every amount lives in exactly one of: the operator's fees, a payee's owed, in_flight or
// paid column. Money only moves between those columns inside one write transaction, so at any
// commit  sum(accrued) == sum(fees) + sum(owed + in_flight + paid)  holds.

#include "payout_ledger_store.hpp"

#include <string>

#include "petalsln/util/error.hpp"
#include "util/clock.hpp"

namespace petalsln {
namespace {

using util::sqlite::Database;
using util::sqlite::has_table;
using util::sqlite::ImmediateTransaction;
using util::sqlite::Statement;

constexpr int kSchemaVersion = 1;
constexpr const char* kKind = "petalsln-payout-ledger";
constexpr std::size_t kMaxReceiptBytes = 1 << 20;
constexpr std::size_t kMaxPayeeBytes = 512;
// Every bitcoin there will ever be, in msat: no real ledger total comes near it, and keeping
// totals below it keeps every sum far inside SQLite's signed 64-bit integers.
constexpr std::uint64_t kMaxTotalMsat = 2'100'000'000'000'000'000ULL;

constexpr const char* kSchemaSql = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accruals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  created_at INTEGER NOT NULL,
  amount_msat INTEGER NOT NULL CHECK (amount_msat >= 0),
  fee_msat INTEGER NOT NULL CHECK (fee_msat >= 0),
  receipt TEXT NOT NULL);
CREATE TABLE shares (
  accrual_id INTEGER NOT NULL REFERENCES accruals(id),
  payee TEXT NOT NULL,
  amount_msat INTEGER NOT NULL CHECK (amount_msat > 0),
  PRIMARY KEY (accrual_id, payee));
CREATE TABLE payees (
  payee TEXT PRIMARY KEY,
  owed_msat INTEGER NOT NULL DEFAULT 0 CHECK (owed_msat >= 0),
  in_flight_msat INTEGER NOT NULL DEFAULT 0 CHECK (in_flight_msat >= 0),
  paid_msat INTEGER NOT NULL DEFAULT 0 CHECK (paid_msat >= 0),
  failures INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  last_error TEXT NOT NULL DEFAULT '');
CREATE TABLE payments (
  payment_hash BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
  payee TEXT NOT NULL REFERENCES payees(payee),
  amount_msat INTEGER NOT NULL CHECK (amount_msat > 0),
  bolt11 TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('in_flight', 'succeeded', 'failed')),
  created_at INTEGER NOT NULL,
  settled_at INTEGER,
  routing_fee_msat INTEGER NOT NULL DEFAULT 0,
  failure_reason TEXT NOT NULL DEFAULT '');
CREATE INDEX payments_in_flight ON payments(state) WHERE state = 'in_flight';
)sql";

std::string meta(Database& db, const char* key) {
  Statement q(db, "SELECT value FROM meta WHERE key = ?1");
  q.bind(1, key);
  return q.step() ? q.text(0) : std::string();
}

void check_schema(Database& db) {
  if (!has_table(db, "meta") || !has_table(db, "payees") || meta(db, "kind") != kKind) {
    throw Error(ErrorCode::invalid_format, db.path() + " is an SQLite file but not a petalsln payout ledger");
  }
  const std::string version = meta(db, "schema_version");
  if (version != std::to_string(kSchemaVersion)) {
    throw Error(ErrorCode::unsupported, "payout ledger " + db.path() + " has schema version '" + version +
                                            "'; this build reads version " + std::to_string(kSchemaVersion));
  }
}

}  // namespace

const char* to_string(PayoutStep step) noexcept {
  switch (step) {
    case PayoutStep::before_record: return "before_record";
    case PayoutStep::after_record: return "after_record";
    case PayoutStep::after_pay: return "after_pay";
  }
  return "unknown";
}

std::uint64_t PayoutLedger::Impl::now() const { return options.clock ? options.clock() : util::unix_seconds(); }

PayoutLedger::PayoutLedger(const std::string& path, PayoutLedgerOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.backoff_initial.count() <= 0 || options.backoff_max < options.backoff_initial) {
    throw Error(ErrorCode::invalid_argument, "payout ledger: the backoff must be positive and its maximum at least its start");
  }
  if (options.max_routing_fee_bps > 10000) {
    throw Error(ErrorCode::invalid_argument, "payout ledger: max_routing_fee_bps must be at most 10000");
  }
  if (options.threshold_msat == 0) options.threshold_msat = 1;  // nothing is paid for 0 msat
  impl_->options = std::move(options);
  // The ledger names payees and amounts: it is created 0600 before SQLite opens it, and SQLite
  // gives the -wal and -shm files the main file's mode.
  util::sqlite::OpenOptions open;
  open.label = "payout ledger";
  open.create = true;
  impl_->db = std::make_unique<Database>(path, open);
  Database& db = *impl_->db;
  db.exec("PRAGMA synchronous=FULL");  // a committed record must survive a power cut, not only a crash
  util::sqlite::create_or_check_schema(db, check_schema, [](Database& d) {
    d.exec(kSchemaSql);
    Statement ins(d, "INSERT INTO meta(key, value) VALUES ('kind', ?1), ('schema_version', ?2)");
    ins.bind(1, kKind).bind(2, std::to_string(kSchemaVersion)).run();
  });
}

PayoutLedger::~PayoutLedger() = default;

std::int64_t PayoutLedger::accrue(const PayoutSplit& split, std::string_view receipt) {
  if (receipt.size() > kMaxReceiptBytes) {
    throw Error(ErrorCode::invalid_argument, "payout ledger: the receipt is larger than 1 MiB");
  }
  std::uint64_t total = split.fee_msat;
  for (const auto& p : split.payees) {
    if (p.payee.empty() || p.payee.size() > kMaxPayeeBytes) {
      throw Error(ErrorCode::invalid_argument, "payout ledger: a payee name must be 1 to 512 bytes");
    }
    if (p.amount_msat > kMaxTotalMsat - total) {
      throw Error(ErrorCode::invalid_argument, "payout ledger: the accrual adds up to more than 21 million bitcoin");
    }
    total += p.amount_msat;
  }
  Database& db = *impl_->db;
  ImmediateTransaction tx(db);
  Statement sum(db, "SELECT COALESCE(SUM(amount_msat), 0) FROM accruals");
  sum.step();
  if (total > kMaxTotalMsat - sum.uint64(0)) {
    throw Error(ErrorCode::invalid_argument, "payout ledger: its total would exceed 21 million bitcoin");
  }
  Statement ins(db, "INSERT INTO accruals(created_at, amount_msat, fee_msat, receipt) VALUES (?1, ?2, ?3, ?4)");
  ins.bind(1, impl_->now()).bind(2, total).bind(3, split.fee_msat).bind(4, receipt).run();
  const std::int64_t id = db.last_insert_rowid();
  for (const auto& p : split.payees) {
    if (p.amount_msat == 0) continue;
    // A payee named twice in one split: the primary key refuses it, and the transaction rolls back.
    Statement share(db, "INSERT INTO shares(accrual_id, payee, amount_msat) VALUES (?1, ?2, ?3)");
    share.bind(1, id).bind(2, p.payee).bind(3, p.amount_msat).run();
    Statement up(db,
                 "INSERT INTO payees(payee, owed_msat) VALUES (?1, ?2) "
                 "ON CONFLICT(payee) DO UPDATE SET owed_msat = owed_msat + excluded.owed_msat");
    up.bind(1, p.payee).bind(2, p.amount_msat).run();
  }
  tx.commit();
  return id;
}

PayoutReport PayoutLedger::report() {
  Database& db = *impl_->db;
  PayoutReport r;
  // One read transaction, so the totals and the payees are one consistent snapshot.
  {
    const util::sqlite::ReadTransaction snapshot(db);
    Statement q(db, "SELECT payee, owed_msat, in_flight_msat, paid_msat, failures, next_attempt_at, last_error FROM payees");
    while (q.step()) {
      PayeeBalance b;
      b.owed_msat = q.uint64(1);
      b.in_flight_msat = q.uint64(2);
      b.paid_msat = q.uint64(3);
      b.failures = static_cast<std::uint32_t>(q.uint64(4));
      b.next_attempt_at = q.uint64(5);
      b.last_error = q.text(6);
      r.payees.emplace(q.text(0), b);
    }
    Statement a(db, "SELECT COALESCE(SUM(amount_msat), 0), COALESCE(SUM(fee_msat), 0) FROM accruals");
    a.step();
    r.accrued_msat = a.uint64(0);
    r.fees_msat = a.uint64(1);
    Statement f(db, "SELECT COALESCE(SUM(routing_fee_msat), 0) FROM payments WHERE state = 'succeeded'");
    f.step();
    r.routing_fees_msat = f.uint64(0);
  }
  return r;
}

}  // namespace petalsln
