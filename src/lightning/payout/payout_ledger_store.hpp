#pragma once
// PayoutLedger's private state, shared by payout_ledger.cpp (schema, accruals, report) and
// payout_ledger_pay.cpp (paying and settling).

#include <sqlite3.h>

#include <cstdint>
#include <memory>

#include "lightning/wallet/devnet/devnet_wallet_sqlite.hpp"
#include "petalsln/lightning/payout_ledger.hpp"

namespace petalsln {

struct PayoutLedger::Impl {
  PayoutLedgerOptions options;
  std::unique_ptr<lightning::devnet::Database> db;

  /// Unix seconds from the options' clock or the system clock.
  std::uint64_t now() const;
};

}  // namespace petalsln
