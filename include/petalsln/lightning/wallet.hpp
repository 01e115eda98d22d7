#pragma once
/// @file wallet.hpp
/// The one interface petalsln moves money through: create invoices, pay them, look them up.
/// Backends are chosen by URI (`devnet:PATH?account=NAME` is the embedded default; real
/// nodes and services follow the same interface).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace petalsln {

/// A 32-byte payment hash (SHA-256 of the preimage).
using PaymentHash = std::array<std::uint8_t, 32>;
/// A 32-byte payment preimage: proof of payment, and a secret until paid.
using Preimage = std::array<std::uint8_t, 32>;

/// What invoice to create.
struct InvoiceRequest {
  std::optional<std::uint64_t> amount_msat;         ///< Amount; nullopt = any amount (payer chooses).
  std::string memo;                                 ///< Description ('d' field); ignored with description_hash.
  std::optional<std::array<std::uint8_t, 32>> description_hash;  ///< 'h' field instead of a memo (LNURL-pay).
  std::chrono::seconds expiry{3600};                ///< Until the invoice expires (1 s to 2^32 s).
};

/// A freshly created invoice.
struct CreatedInvoice {
  std::string bolt11;         ///< The payment request to hand to the payer.
  PaymentHash payment_hash{}; ///< Its payment hash.
};

/// Where a payment stands.
enum class PaymentStatus { pending, succeeded, failed };

/// Returns "pending", "succeeded" or "failed".
const char* to_string(PaymentStatus status) noexcept;

/// The outcome of paying (or looking up) a payment.
struct PaymentResult {
  PaymentHash payment_hash{};
  PaymentStatus status = PaymentStatus::pending;
  std::optional<Preimage> preimage;  ///< Set once succeeded.
  std::uint64_t amount_msat = 0;     ///< Amount delivered to the payee.
  std::uint64_t fee_msat = 0;        ///< Routing fees paid on top.
  std::string failure_reason;        ///< Why it failed, when it did.
};

/// Where an invoice this wallet issued stands.
struct InvoiceStatus {
  PaymentHash payment_hash{};
  bool settled = false;               ///< Paid.
  bool expired = false;               ///< Past its expiry and unpaid.
  std::uint64_t amount_paid_msat = 0; ///< What was received (for settled invoices).
  std::uint64_t settled_at = 0;       ///< Unix seconds (0 if unsettled).
  /// The preimage the payer learnt, for a settled invoice whose backend reports it (the
  /// devnet, LND, Core Lightning and Nostr Wallet Connect do; checked against the payment
  /// hash); nullopt otherwise. A gateway hands it to the requester who proves it holds
  /// the invoice's macaroon, so a payment made from another device completes its L402 token.
  std::optional<Preimage> preimage;
};

/// Limits on one payment.
struct PayOptions {
  std::uint64_t max_fee_msat = 0;                     ///< Refuse routes costing more in fees.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};  ///< Give up (as failed or pending) after this.
  std::optional<std::uint64_t> amount_msat;           ///< Required for amount-less invoices, refused otherwise unless equal.
};

/// A Lightning wallet. Implementations are thread-safe.
class Wallet {
 public:
  virtual ~Wallet() = default;

  /// Creates an invoice. Throws Error(invalid_argument) for a bad request, Error(io) when the
  /// backend cannot be reached.
  virtual CreatedInvoice create_invoice(const InvoiceRequest& request) = 0;

  /// Pays @p bolt11 and returns the outcome; a refused payment (expired, already paid,
  /// insufficient balance, wrong network, amount missing) is a `failed` result with a reason,
  /// not an exception. Throws Error(invalid_format) for an undecodable invoice and Error(io)
  /// when the backend cannot be reached.
  virtual PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) = 0;

  /// Looks up an invoice this wallet created. Throws Error(not_found) if unknown.
  virtual InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) = 0;

  /// Looks up a payment this wallet made; nullopt if it never tried to pay that hash.
  virtual std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) = 0;

  /// Spendable balance in millisatoshis.
  virtual std::uint64_t balance_msat() = 0;

  /// A description safe to log (no keys, tokens or passwords), e.g. "devnet:/tmp/x.db?account=alice".
  virtual std::string describe() const = 0;
};

/// Opens the wallet named by @p uri. Supported: `devnet:PATH?account=NAME` (the embedded
/// simulated network in one SQLite file; the account must exist),
/// `cln+rest://HOST[:PORT]?rune=RUNE` (Core Lightning, cln_rest_wallet.hpp),
/// `lnbits://HOST[:PORT]?key=KEY` (LNbits, lnbits_wallet.hpp),
/// `lnd+rest://HOST[:PORT]?macaroon=FILE[&cert=FILE]` (LND, lnd_rest_wallet.hpp). Throws
/// Error(invalid_argument) for a malformed URI, Error(unsupported) for an unknown scheme,
/// Error(not_found) for an unknown account.
std::unique_ptr<Wallet> open_wallet(const std::string& uri);

}  // namespace petalsln
