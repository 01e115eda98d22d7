#pragma once
// PayoutLedger's private state, shared by payout_ledger.cpp (schema, accruals, report) and
// payout_ledger_pay.cpp (paying and settling).

#include <cstdint>
#include <memory>

#include "petalsln/lightning/payout_ledger.hpp"
#include "util/sqlite_database.hpp"

namespace petalsln {

struct PayoutLedger::Impl {
  PayoutLedgerOptions options;
  std::unique_ptr<util::sqlite::Database> db;

  /// Unix seconds from the options' clock or the system clock.
  std::uint64_t now() const;
};

}  // namespace petalsln
