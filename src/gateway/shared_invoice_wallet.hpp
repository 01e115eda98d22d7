#pragma once
// The gateway's wallet as its many sessions see it. Sessions that open at once on the same
// priced server can be handed the same invoice; the first pays it and the second would fail
// with "already paid". Paying that invoice again is not needed: this wallet already holds the
// proof of payment, so the second session gets the same successful result (the server meters
// the credit on its one token).

#include <memory>
#include <mutex>

#include "petalsln/lightning/wallet.hpp"

namespace petalsln::gateway {

/// Forwards to another wallet; pay_invoice() answers an invoice this wallet already paid with
/// that payment's result. Thread-safe (payments are made one at a time).
class SharedInvoiceWallet final : public Wallet {
 public:
  /// Wraps @p inner (not null).
  explicit SharedInvoiceWallet(std::shared_ptr<Wallet> inner) : inner_(std::move(inner)) {}
  CreatedInvoice create_invoice(const InvoiceRequest& request) override { return inner_->create_invoice(request); }
  /// Pays @p bolt11, or returns the earlier successful payment of the same invoice.
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override { return inner_->lookup_invoice(payment_hash); }
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override { return inner_->lookup_payment(payment_hash); }
  std::uint64_t balance_msat() override { return inner_->balance_msat(); }
  std::string describe() const override { return inner_->describe(); }

 private:
  std::shared_ptr<Wallet> inner_;
  std::mutex pay_mutex_;
};

}  // namespace petalsln::gateway
