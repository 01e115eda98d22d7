#include "gateway/budget_wallet.hpp"

#include <algorithm>

#include "petalsln/lightning/bolt11.hpp"

namespace petalsln::gateway {

PaymentResult BudgetWallet::pay_invoice(const std::string& bolt11, const PayOptions& options) {
  const Bolt11Invoice invoice = Bolt11Invoice::decode(bolt11);
  const std::uint64_t amount = invoice.amount_msat.value_or(options.amount_msat.value_or(0));
  // One at a time, so that two payments can never both fit in the same remainder.
  std::lock_guard<std::mutex> lock(mutex_);
  const std::uint64_t left = budget_msat_ - std::min(spent_msat_, budget_msat_);
  if (amount > left) {
    PaymentResult refused;
    refused.payment_hash = invoice.payment_hash;
    refused.status = PaymentStatus::failed;
    refused.failure_reason = "the gateway's budget for the swarm is spent (" + std::to_string(spent_msat_) + " of " +
                             std::to_string(budget_msat_) + " msat paid; this payment needs " + std::to_string(amount) + " msat)";
    return refused;
  }
  // Fees may take only what is left after the amount, whatever the pipeline's own limit.
  PayOptions bounded = options;
  bounded.max_fee_msat = std::min(options.max_fee_msat, left - amount);
  PaymentResult result = inner_->pay_invoice(bolt11, bounded);
  if (result.status == PaymentStatus::succeeded) {
    spent_msat_ += result.amount_msat + result.fee_msat;
  } else if (result.status == PaymentStatus::pending) {
    spent_msat_ += amount + bounded.max_fee_msat;  // it may still go through: count the most it can cost
  }
  return result;
}

std::uint64_t BudgetWallet::spent_msat() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return spent_msat_;
}

}  // namespace petalsln::gateway
