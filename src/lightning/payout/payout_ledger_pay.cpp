// PayoutLedger: paying payees and settling payments left in flight. The order of events is
// what makes it crash-safe (see payout_ledger.hpp): record, then pay, then mark; and settle
// whatever was recorded but not marked by asking the wallet before paying anything new.

#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <unordered_map>

#include "payout_ledger_store.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/util/error.hpp"
#include "util/private_file.hpp"

namespace petalsln {
namespace {

using util::sqlite::Database;
using util::sqlite::ImmediateTransaction;
using util::sqlite::Statement;

constexpr std::size_t kMaxReasonBytes = 500;

struct InFlight {
  PaymentHash hash{};
  std::string payee;
  std::uint64_t amount_msat = 0;
  std::string bolt11;
};

std::string clipped(std::string s) {
  if (s.size() > kMaxReasonBytes) s = s.substr(0, kMaxReasonBytes) + "...";
  return s;
}

std::uint64_t backoff_s(const PayoutLedgerOptions& o, std::uint64_t failures) {
  const auto initial = static_cast<std::uint64_t>(o.backoff_initial.count());
  const auto most = static_cast<std::uint64_t>(o.backoff_max.count());
  std::uint64_t delay = initial;
  for (std::uint64_t i = 1; i < failures && delay < most; ++i) delay *= 2;
  return std::min(delay, most);
}

// Runs @p st (an UPDATE) and insists it changed one row: a zero would mean the ledger's
// columns and its payments disagree, which must stop the run rather than be papered over.
void update_one(Database& db, Statement& st, const char* what) {
  st.run();
  if (db.changes() != 1) throw Error(ErrorCode::internal, std::string("payout ledger: ") + what + " changed no row");
}

// Counts a failed attempt (of a payment or of getting an invoice) against @p payee.
void note_failure(Database& db, const PayoutLedgerOptions& o, const std::string& payee, const std::string& reason,
                  std::uint64_t now) {
  Statement f(db, "SELECT failures FROM payees WHERE payee = ?1");
  f.bind(1, payee);
  const std::uint64_t failures = f.step() ? f.uint64(0) + 1 : 1;
  Statement up(db, "UPDATE payees SET failures = ?2, next_attempt_at = ?3, last_error = ?4 WHERE payee = ?1");
  up.bind(1, payee).bind(2, failures).bind(3, now + backoff_s(o, failures)).bind(4, clipped(reason));
  update_one(db, up, "counting a failure");
}

// Holds the ledger's pay lock for one pay run: an exclusive flock on "LEDGER.lock", taken
// without waiting. Two runs at once could not pay a hash twice (the ledger's write lock and
// the wallet see to that), but they would race each other to settle the same in-flight
// payments and report each other's work; one run at a time keeps every report true.
// A sibling file, not the ledger itself: closing any descriptor of an SQLite file drops the
// POSIX locks SQLite holds on it in this process. flock is released by the kernel when the
// process ends, however it ends, so a crashed run never leaves a stale lock behind.
class PayRunLock {
 public:
  explicit PayRunLock(const std::string& ledger_path)
      : path_(ledger_path + ".lock"), file_(util::open_or_create_private_file(path_, "payout ledger pay lock")) {
    if (::flock(file_.get(), LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) {
        throw Error(ErrorCode::io, "payout ledger " + ledger_path + ": another pay run holds its lock (" + path_ +
                                       "); only one runs at a time: try again once it has finished");
      }
      throw Error(ErrorCode::io, "payout ledger: cannot lock " + path_ + ": " + std::strerror(err));
    }
  }
  PayRunLock(const PayRunLock&) = delete;
  PayRunLock& operator=(const PayRunLock&) = delete;

 private:
  std::string path_;
  util::FileDescriptor file_;  // closing it releases the lock
};

}  // namespace

// The wallet's verdict on one recorded payment, written in one transaction. Returns false if
// another process had already settled it (then nothing changes).
static bool apply_result(PayoutLedger::Impl& m, const InFlight& p, const PaymentResult& result) {
  if (result.status == PaymentStatus::pending) return true;
  Database& db = *m.db;
  ImmediateTransaction tx(db);
  Statement st(db, "SELECT state FROM payments WHERE payment_hash = ?1");
  st.bind_blob(1, p.hash.data(), p.hash.size());
  if (!st.step() || st.text(0) != "in_flight") return false;
  const std::uint64_t now = m.now();
  if (result.status == PaymentStatus::succeeded) {
    Statement pay(db, "UPDATE payments SET state = 'succeeded', settled_at = ?2, routing_fee_msat = ?3 WHERE payment_hash = ?1");
    pay.bind_blob(1, p.hash.data(), p.hash.size()).bind(2, now).bind(3, result.fee_msat);
    update_one(db, pay, "marking a payment paid");
    Statement up(db,
                 "UPDATE payees SET in_flight_msat = in_flight_msat - ?2, paid_msat = paid_msat + ?2, failures = 0, "
                 "next_attempt_at = 0, last_error = '' WHERE payee = ?1 AND in_flight_msat >= ?2");
    up.bind(1, p.payee).bind(2, p.amount_msat);
    update_one(db, up, "moving an amount from in flight to paid");
  } else {
    Statement fail(db, "UPDATE payments SET state = 'failed', settled_at = ?2, failure_reason = ?3 WHERE payment_hash = ?1");
    fail.bind_blob(1, p.hash.data(), p.hash.size()).bind(2, now).bind(3, clipped(result.failure_reason));
    update_one(db, fail, "marking a payment failed");
    Statement up(db,
                 "UPDATE payees SET in_flight_msat = in_flight_msat - ?2, owed_msat = owed_msat + ?2 "
                 "WHERE payee = ?1 AND in_flight_msat >= ?2");
    up.bind(1, p.payee).bind(2, p.amount_msat);
    update_one(db, up, "moving an amount from in flight back to owed");
    note_failure(db, m.options, p.payee, "payment failed: " + result.failure_reason, now);
  }
  tx.commit();
  return true;
}

// Lists @p p in @p run under the wallet's verdict @p result.
static void report_outcome(PayoutRun& run, const InFlight& p, const PaymentResult& result) {
  switch (result.status) {
    case PaymentStatus::succeeded: run.paid.push_back({p.payee, p.amount_msat, p.hash}); break;
    case PaymentStatus::failed: run.failed.push_back({p.payee, p.amount_msat, result.failure_reason}); break;
    case PaymentStatus::pending: run.pending.push_back({p.payee, p.amount_msat, "payment pending"}); break;
  }
}

// Pays a recorded invoice and writes the outcome into @p run.
static void pay_recorded(PayoutLedger::Impl& m, Wallet& wallet, const InFlight& p, PayoutRun& run) {
  PayOptions opts;
  // floor(amount * bps / 10000) without a product that could overflow 64 bits.
  opts.max_fee_msat = p.amount_msat / 10000 * m.options.max_routing_fee_bps +
                      p.amount_msat % 10000 * m.options.max_routing_fee_bps / 10000 + m.options.max_routing_fee_base_msat;
  PaymentResult result;
  try {
    result = wallet.pay_invoice(p.bolt11, opts);
  } catch (const Error& e) {
    // Unreachable backend: the payment may or may not have left; it stays in flight until
    // the wallet can be asked.
    if (e.code() == ErrorCode::io) {
      run.pending.push_back({p.payee, p.amount_msat, std::string("wallet unreachable: ") + e.what()});
      return;
    }
    result.payment_hash = p.hash;
    result.status = PaymentStatus::failed;
    result.failure_reason = e.what();
  }
  if (m.options.on_step) m.options.on_step(PayoutStep::after_pay, p.payee);
  if (result.status == PaymentStatus::failed) {
    // "Failed" can mean "already paid" (another process paid this very invoice): the wallet's
    // own record of the hash decides, and a success there outranks this attempt.
    try {
      if (auto known = wallet.lookup_payment(p.hash); known && known->status != PaymentStatus::failed) result = *known;
    } catch (const Error&) {
      run.pending.push_back({p.payee, p.amount_msat, "payment failed but the wallet could not confirm it"});
      return;
    }
  }
  apply_result(m, p, result);
  report_outcome(run, p, result);
}

// settle_in_flight() without taking the pay lock (pay_due() holds it already).
static PayoutRun settle(PayoutLedger::Impl& m, Wallet& wallet) {
  std::vector<InFlight> in_flight;
  {
    Statement q(*m.db, "SELECT payment_hash, payee, amount_msat, bolt11 FROM payments WHERE state = 'in_flight' ORDER BY created_at");
    while (q.step()) {
      InFlight p;
      q.blob(0, p.hash.data(), p.hash.size());
      p.payee = q.text(1);
      p.amount_msat = q.uint64(2);
      p.bolt11 = q.text(3);
      in_flight.push_back(std::move(p));
    }
  }
  PayoutRun run;
  for (const auto& p : in_flight) {
    std::optional<PaymentResult> known;
    try {
      known = wallet.lookup_payment(p.hash);
    } catch (const Error& e) {
      run.pending.push_back({p.payee, p.amount_msat, std::string("cannot ask the wallet: ") + e.what()});
      continue;
    }
    if (!known) {
      // Recorded but never handed to the wallet (a crash between the two): pay the same
      // invoice. Its payment hash can be paid at most once, so this cannot pay twice.
      pay_recorded(m, wallet, p, run);
      continue;
    }
    apply_result(m, p, *known);
    report_outcome(run, p, *known);
  }
  return run;
}

PayoutRun PayoutLedger::settle_in_flight(Wallet& wallet) {
  const PayRunLock lock(impl_->db->path());
  return settle(*impl_, wallet);
}

PayoutRun PayoutLedger::pay_due(Wallet& wallet, PayeeResolver& resolver, bool ignore_backoff) {
  Impl& m = *impl_;
  const PayRunLock lock(m.db->path());
  PayoutRun run = settle(m, wallet);
  struct Due {
    std::string payee;
    std::uint64_t owed = 0;
    std::uint64_t next_attempt_at = 0;
  };
  std::vector<Due> due;
  {
    Statement q(*m.db,
                "SELECT payee, owed_msat, next_attempt_at FROM payees WHERE owed_msat >= ?1 AND in_flight_msat = 0 "
                "ORDER BY payee");
    q.bind(1, m.options.threshold_msat);
    while (q.step()) due.push_back({q.text(0), q.uint64(1), q.uint64(2)});
  }
  for (const auto& d : due) {
    const std::uint64_t now = m.now();
    if (!ignore_backoff && d.next_attempt_at > now) {
      run.deferred.push_back({d.payee, d.owed, "backing off after a failure until " + std::to_string(d.next_attempt_at)});
      continue;
    }
    auto fail = [&](std::uint64_t amount, const std::string& reason) {
      ImmediateTransaction tx(*m.db);
      note_failure(*m.db, m.options, d.payee, reason, m.now());
      tx.commit();
      run.failed.push_back({d.payee, amount, reason});
    };
    std::uint64_t amount = d.owed;
    InFlight p;
    p.payee = d.payee;
    try {
      const PayeeTerms terms = resolver.terms(d.payee);
      amount = std::min(d.owed, terms.max_msat);
      if (amount < terms.min_msat) {
        run.deferred.push_back({d.payee, d.owed, "owed " + std::to_string(d.owed) + " msat is below the payee's minimum of " +
                                                     std::to_string(terms.min_msat) + " msat"});
        continue;
      }
      p.bolt11 = resolver.invoice(d.payee, amount);
      // Whatever the resolver checked, the ledger records only an invoice for exactly the
      // amount it moves to in flight.
      const Bolt11Invoice invoice = Bolt11Invoice::decode(p.bolt11);
      if (invoice.amount_msat != amount) {
        throw Error(ErrorCode::invalid_format, "the invoice is not for the " + std::to_string(amount) + " msat asked for");
      }
      p.hash = invoice.payment_hash;
      p.amount_msat = amount;
    } catch (const Error& e) {
      fail(amount, e.what());
      continue;
    }
    if (m.options.on_step) m.options.on_step(PayoutStep::before_record, d.payee);
    {
      Database& db = *m.db;
      ImmediateTransaction tx(db);
      // Re-read under the write lock: another process may have paid or recorded meanwhile.
      Statement cur(db, "SELECT owed_msat, in_flight_msat FROM payees WHERE payee = ?1");
      cur.bind(1, d.payee);
      if (!cur.step() || cur.uint64(0) < amount || cur.uint64(1) != 0) {
        run.deferred.push_back({d.payee, amount, "changed by another payout process; try again"});
        continue;
      }
      Statement seen(db, "SELECT 1 FROM payments WHERE payment_hash = ?1");
      seen.bind_blob(1, p.hash.data(), p.hash.size());
      if (seen.step()) {
        tx.commit();  // nothing written; release the lock before note_failure's own transaction
        fail(amount, "the payee returned an invoice whose payment hash was used before");
        continue;
      }
      Statement ins(db,
                    "INSERT INTO payments(payment_hash, payee, amount_msat, bolt11, state, created_at) "
                    "VALUES (?1, ?2, ?3, ?4, 'in_flight', ?5)");
      ins.bind_blob(1, p.hash.data(), p.hash.size()).bind(2, d.payee).bind(3, amount).bind(4, p.bolt11).bind(5, m.now()).run();
      Statement up(db,
                   "UPDATE payees SET owed_msat = owed_msat - ?2, in_flight_msat = in_flight_msat + ?2 "
                   "WHERE payee = ?1 AND owed_msat >= ?2");
      up.bind(1, d.payee).bind(2, amount);
      update_one(db, up, "moving an amount from owed to in flight");
      tx.commit();
    }
    if (m.options.on_step) m.options.on_step(PayoutStep::after_record, d.payee);
    pay_recorded(m, wallet, p, run);
  }
  return run;
}

namespace {

class LightningAddressResolver final : public PayeeResolver {
 public:
  explicit LightningAddressResolver(const LnurlOptions& options) : options_(options) {}

  PayeeTerms terms(const std::string& payee) override {
    const auto address = LightningAddress::parse(payee, options_.allow_http_loopback);
    LnurlPayRequest request = address.fetch_pay_request(options_);
    PayeeTerms t{request.min_sendable_msat, request.max_sendable_msat};
    requests_[payee] = std::move(request);
    return t;
  }

  std::string invoice(const std::string& payee, std::uint64_t amount_msat) override {
    auto it = requests_.find(payee);
    if (it == requests_.end()) {
      terms(payee);
      it = requests_.find(payee);
    }
    return LightningAddress::fetch_invoice(it->second, amount_msat, options_);
  }

 private:
  LnurlOptions options_;
  std::unordered_map<std::string, LnurlPayRequest> requests_;
};

}  // namespace

std::unique_ptr<PayeeResolver> make_lightning_address_resolver(const LnurlOptions& options) {
  return std::make_unique<LightningAddressResolver>(options);
}

}  // namespace petalsln
