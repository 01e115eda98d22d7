#pragma once
// The gateway's wallet as its pipelines see it when paying servers. Each pipeline (one per
// message running at once, and kept in a pool) holds its own tokens and would spend up to
// the whole budget by itself; this wrapper holds every payment, whichever pipeline makes it,
// to the one budget the operator set (--budget-sats), so the gateway never spends more.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "petalsln/lightning/wallet.hpp"

namespace petalsln::gateway {

/// Forwards to another wallet; pay_invoice() refuses (a failed result, nothing paid) a
/// payment whose amount would take what was paid through it past the budget, and lets fees
/// take at most what is left after the amount.
/// Thread-safe: payments are made one at a time.
class BudgetWallet final : public Wallet {
 public:
  /// Wraps @p inner (not null) with a budget of @p budget_msat, fees included.
  BudgetWallet(std::shared_ptr<Wallet> inner, std::uint64_t budget_msat) : inner_(std::move(inner)), budget_msat_(budget_msat) {}
  /// Forwards.
  CreatedInvoice create_invoice(const InvoiceRequest& request) override { return inner_->create_invoice(request); }
  /// Pays @p bolt11 if its amount fits in what is left of the budget (its fees bounded by
  /// the rest); otherwise returns a failed result naming the budget. Throws as the inner wallet
  /// (and Error(invalid_format) for an undecodable invoice).
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;
  /// Forwards.
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override { return inner_->lookup_invoice(payment_hash); }
  /// Forwards.
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override { return inner_->lookup_payment(payment_hash); }
  /// Forwards.
  std::uint64_t balance_msat() override { return inner_->balance_msat(); }
  /// Forwards.
  std::string describe() const override { return inner_->describe(); }
  /// What was paid through this wallet so far, fees included.
  std::uint64_t spent_msat() const;

 private:
  std::shared_ptr<Wallet> inner_;
  std::uint64_t budget_msat_;
  mutable std::mutex mutex_;
  std::uint64_t spent_msat_ = 0;
};

}  // namespace petalsln::gateway
