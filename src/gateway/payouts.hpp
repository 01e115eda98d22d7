#pragma once
// The gateway's payout loop: a thread that, at start and then every interval, settles
// payments a crash left in flight and pays every Lightning address owed at least the threshold
// (PayoutLedger::pay_due over LNURL-pay), on its own connection to the ledger file. The
// ledger records each invoice before paying it, so a gateway killed mid-payout pays nobody
// twice when it restarts.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/lightning/payout_ledger.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln::gateway {

/// Receives one line per payment made or failed (addresses and amounts, never a secret).
using PayoutLog = std::function<void(const std::string& line)>;

/// Pays the ledger's debts on a background thread. Thread-safe.
class PayoutWorker {
 public:
  /// Starts the thread: a first run at once, then one every @p interval. @p ledger_options
  /// are those of the ledger at @p ledger_path (its threshold, fault-injection hook);
  /// @p wallet pays; @p lnurl bounds each LNURL request. Throws Error(invalid_argument) for a
  /// null wallet or a non-positive interval.
  PayoutWorker(std::string ledger_path, PayoutLedgerOptions ledger_options, std::shared_ptr<Wallet> wallet, LnurlOptions lnurl,
               std::chrono::seconds interval, PayoutLog log);
  /// Stops the thread (see stop()).
  ~PayoutWorker();
  PayoutWorker(const PayoutWorker&) = delete;             ///< Owns a thread.
  PayoutWorker& operator=(const PayoutWorker&) = delete;  ///< Owns a thread.

  /// Asks the thread to end and waits for it; a run in progress ends first. Safe to call more
  /// than once.
  void stop();

 private:
  void loop();
  void run_once(PayoutLedger& ledger, PayeeResolver& resolver);

  std::string path_;
  PayoutLedgerOptions ledger_options_;
  std::shared_ptr<Wallet> wallet_;
  LnurlOptions lnurl_;
  std::chrono::seconds interval_;
  PayoutLog log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace petalsln::gateway
