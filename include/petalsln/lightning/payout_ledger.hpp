#pragma once
/// @file payout_ledger.hpp
/// A durable record of what each payee (a Lightning address) is owed and has been paid, and
/// the loop that pays them: accrue shares of income (with the receipts that justify them),
/// pay each payee once it is owed at least a threshold, and never pay twice or forget a debt,
/// whatever point a crash interrupts. The rules are in docs/PAYOUTS.md.
///
/// Crash safety rests on one order of events: the invoice and its payment hash are written
/// (with the amount moved from "owed" to "in flight") and committed BEFORE the wallet is asked
/// to pay, and every in-flight payment is settled by asking the wallet about its hash
/// (Wallet::lookup_payment) before anything new is paid. A payment hash is paid at most once,
/// so paying the recorded invoice again can never pay twice.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/lightning/payout_splitter.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln {

/// What a payee accepts, from its pay request.
struct PayeeTerms {
  std::uint64_t min_msat = 1;           ///< Smallest payment accepted.
  std::uint64_t max_msat = UINT64_MAX;  ///< Largest payment accepted.
};

/// Turns a payee into invoices. The real one is LightningAddressResolver; tests inject their own.
class PayeeResolver {
 public:
  virtual ~PayeeResolver() = default;
  /// Returns what @p payee accepts. Throws Error on any failure (the ledger backs off and retries).
  virtual PayeeTerms terms(const std::string& payee) = 0;
  /// Returns a BOLT11 invoice for exactly @p amount_msat payable to @p payee, already checked
  /// as its protocol requires. Throws Error on any failure.
  virtual std::string invoice(const std::string& payee, std::uint64_t amount_msat) = 0;
};

/// Resolves Lightning addresses over LNURL-pay (LightningAddress), remembering each payee's
/// last pay request between terms() and invoice().
std::unique_ptr<PayeeResolver> make_lightning_address_resolver(const LnurlOptions& options);

/// The points of a payment where PayoutLedgerOptions::on_step is called.
enum class PayoutStep {
  before_record,  ///< Invoice fetched and checked, nothing written yet.
  after_record,   ///< Invoice and payment hash committed as in flight, wallet not yet asked.
  after_pay,      ///< The wallet answered, its answer not yet written.
};

/// Returns "before_record", "after_record" or "after_pay".
const char* to_string(PayoutStep step) noexcept;

/// How the ledger pays.
struct PayoutLedgerOptions {
  std::uint64_t threshold_msat = 1000;  ///< Pay a payee only once it is owed at least this.
  std::chrono::seconds backoff_initial{60};  ///< Wait after a first failure; doubles with each further one...
  std::chrono::seconds backoff_max{3600};    ///< ...up to this.
  std::uint32_t max_routing_fee_bps = 100;     ///< Routing fee limit: this share of the amount...
  std::uint64_t max_routing_fee_base_msat = 1000;  ///< ...plus this.
  std::function<std::uint64_t()> clock;  ///< Unix seconds; empty: the system clock.
  /// Called at each PayoutStep of every payment, for fault-injection tests (a crash test makes
  /// it end the process). Empty: nothing.
  std::function<void(PayoutStep, const std::string& payee)> on_step;
};

/// One payee's standing.
struct PayeeBalance {
  std::uint64_t owed_msat = 0;       ///< Accrued, not yet paid or in flight.
  std::uint64_t paid_msat = 0;       ///< Paid (the wallet confirmed it).
  std::uint64_t in_flight_msat = 0;  ///< Recorded and handed to the wallet, outcome unknown.
  std::uint32_t failures = 0;        ///< Failed attempts since the last success.
  std::uint64_t next_attempt_at = 0; ///< Unix seconds before which no new attempt is made.
  std::string last_error;            ///< Why the last attempt failed ("" if none).
};

/// The whole ledger at a glance.
struct PayoutReport {
  std::map<std::string, PayeeBalance> payees;  ///< By payee.
  std::uint64_t accrued_msat = 0;              ///< Every amount ever accrued.
  std::uint64_t fees_msat = 0;                 ///< The operator's part of it.
  std::uint64_t routing_fees_msat = 0;         ///< Lightning routing fees paid on top (by the operator).
};

/// One payment made (or settled) by pay_due().
struct PayoutPayment {
  std::string payee;
  std::uint64_t amount_msat = 0;
  PaymentHash payment_hash{};
};

/// A payee that could not be paid this time, and why.
struct PayoutFailure {
  std::string payee;
  std::uint64_t amount_msat = 0;
  std::string reason;
};

/// What pay_due() did.
struct PayoutRun {
  std::vector<PayoutPayment> paid;      ///< Succeeded now (including in-flight payments settled now).
  std::vector<PayoutFailure> failed;    ///< Failed now (back to owed, with backoff).
  std::vector<PayoutFailure> pending;   ///< Still in flight (the wallet has not decided).
  std::vector<PayoutFailure> deferred;  ///< Due but not attempted (backoff, below the payee's minimum).
};

/// The payout ledger, in one SQLite file (WAL). Several processes may open one file and accrue
/// or report at once; paying (pay_due(), settle_in_flight()) is one run at a time per ledger,
/// across processes and objects, guarded by an exclusive flock on the sibling file
/// "PATH.lock" (created 0600, left in place; the kernel releases the lock when its process
/// ends, however it ends). Not thread-safe within a process: use one object per thread.
class PayoutLedger {
 public:
  /// Opens (creating with mode 0600 if absent) the ledger at @p path. Throws Error(invalid_format)
  /// for a file that is not a payout ledger, Error(unsupported) for another schema version,
  /// Error(invalid_argument) for bad options, Error(io) when SQLite fails.
  PayoutLedger(const std::string& path, PayoutLedgerOptions options = {});
  ~PayoutLedger();
  PayoutLedger(const PayoutLedger&) = delete;
  PayoutLedger& operator=(const PayoutLedger&) = delete;

  /// Records income: @p split's fee for the operator and each payee's amount as owed, with
  /// @p receipt (any text, e.g. the chat receipt JSON, at most 1 MiB) as its justification, in
  /// one transaction. Zero amounts are skipped. Returns the accrual's id. Throws
  /// Error(invalid_argument) if fee + amounts overflow or a payee name is empty or too long
  /// (over 512 bytes), or the receipt is too large.
  std::int64_t accrue(const PayoutSplit& split, std::string_view receipt);

  /// Settles every in-flight payment with the wallet (see the file comment), then pays every
  /// payee that is due: owed >= threshold, past its backoff, nothing in flight, and the amount
  /// (owed, capped at the payee's maximum) at least the payee's minimum. Failures are
  /// recorded with backoff, never thrown; Error is thrown only when the ledger itself fails.
  /// With @p ignore_backoff, payees in backoff are tried too. Holds the pay lock (see the class
  /// comment) for the whole run; throws Error(io) at once, having done nothing, when another
  /// run holds it.
  PayoutRun pay_due(Wallet& wallet, PayeeResolver& resolver, bool ignore_backoff = false);

  /// Settles in-flight payments only (what pay_due does first), under the pay lock as pay_due()
  /// does. Returns what it settled.
  PayoutRun settle_in_flight(Wallet& wallet);

  /// Returns every payee's standing and the totals.
  PayoutReport report();

  /// The ledger's private state (defined in src/lightning; named here only so the
  /// implementation's helper functions can take it).
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
