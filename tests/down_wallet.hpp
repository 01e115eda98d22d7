#pragma once
// A Wallet whose every call fails the way a real backend does when its node is down: with an
// Error(io) whose message names the node's host and URL, which a server must never pass on.

#include <optional>
#include <string>

#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::test {

/// The host that DownWallet's errors name, for checking that it does not leak.
inline constexpr const char* kDownWalletHost = "node.operator.example";

/// A wallet that cannot create invoices, pay, or look anything up.
struct DownWallet final : Wallet {
  CreatedInvoice create_invoice(const InvoiceRequest&) override {
    throw Error(ErrorCode::io, std::string("HTTP POST https://") + kDownWalletHost + ":8080/v1/invoices failed: connection refused");
  }
  PaymentResult pay_invoice(const std::string&, const PayOptions&) override { throw Error(ErrorCode::io, "down"); }
  InvoiceStatus lookup_invoice(const PaymentHash&) override { throw Error(ErrorCode::io, "down"); }
  std::optional<PaymentResult> lookup_payment(const PaymentHash&) override { return std::nullopt; }
  std::uint64_t balance_msat() override { return 0; }
  std::string describe() const override { return "down"; }
};

}  // namespace petalsln::test
