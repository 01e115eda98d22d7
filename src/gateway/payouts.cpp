#include "gateway/payouts.hpp"

#include <exception>

#include "petalsln/util/error.hpp"

namespace petalsln::gateway {

PayoutWorker::PayoutWorker(std::string ledger_path, PayoutLedgerOptions ledger_options, std::shared_ptr<Wallet> wallet, LnurlOptions lnurl,
                           std::chrono::seconds interval, PayoutLog log)
    : path_(std::move(ledger_path)),
      ledger_options_(std::move(ledger_options)),
      wallet_(std::move(wallet)),
      lnurl_(lnurl),
      interval_(interval),
      log_(std::move(log)) {
  if (!wallet_) throw Error(ErrorCode::invalid_argument, "paying servers from income needs a wallet");
  if (interval_.count() <= 0) throw Error(ErrorCode::invalid_argument, "the payout interval must be positive");
  thread_ = std::thread([this] { loop(); });
}

PayoutWorker::~PayoutWorker() { stop(); }

void PayoutWorker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PayoutWorker::loop() {
  // The thread's own connection: PayoutLedger objects are not shared between threads.
  std::unique_ptr<PayoutLedger> ledger;
  std::unique_ptr<PayeeResolver> resolver;
  try {
    ledger = std::make_unique<PayoutLedger>(path_, ledger_options_);
    resolver = make_lightning_address_resolver(lnurl_);
  } catch (const std::exception& e) {
    if (log_) log_(std::string("payouts: cannot open the ledger, nobody will be paid until a restart: ") + e.what());
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    run_once(*ledger, *resolver);
    lock.lock();
    wake_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

void PayoutWorker::run_once(PayoutLedger& ledger, PayeeResolver& resolver) {
  PayoutRun run;
  try {
    run = ledger.pay_due(*wallet_, resolver);
  } catch (const std::exception& e) {
    // Another process paying from this ledger, or SQLite failing: the next run tries again.
    if (log_) log_(std::string("payouts: run skipped: ") + e.what());
    return;
  }
  if (!log_) return;
  for (const auto& p : run.paid) log_("payouts: paid " + std::to_string(p.amount_msat) + " msat to " + p.payee);
  for (const auto& f : run.failed) {
    log_("payouts: paying " + std::to_string(f.amount_msat) + " msat to " + f.payee + " failed (retried later): " + f.reason);
  }
  for (const auto& f : run.pending) log_("payouts: " + std::to_string(f.amount_msat) + " msat to " + f.payee + " still in flight");
}

}  // namespace petalsln::gateway
