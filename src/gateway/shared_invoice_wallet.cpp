#include "gateway/shared_invoice_wallet.hpp"

namespace petalsln::gateway {

PaymentResult SharedInvoiceWallet::pay_invoice(const std::string& bolt11, const PayOptions& options) {
  // One at a time, so that a second session sees the first one's finished payment.
  std::lock_guard<std::mutex> lock(pay_mutex_);
  PaymentResult result = inner_->pay_invoice(bolt11, options);
  if (result.status == PaymentStatus::failed && result.payment_hash != PaymentHash{}) {
    if (auto earlier = inner_->lookup_payment(result.payment_hash); earlier && earlier->status == PaymentStatus::succeeded && earlier->preimage) {
      return *earlier;
    }
  }
  return result;
}

}  // namespace petalsln::gateway
