#pragma once
/// @file lnbits_wallet.hpp
/// A wallet on an LNbits server (one LNbits wallet, addressed by its API key), through the
/// LNbits REST API: `POST /api/v1/payments` (`"out": false` creates an invoice, `"out": true`
/// pays one), `GET /api/v1/payments/{payment_hash}`, `GET /api/v1/payments/fee-reserve` and
/// `GET /api/v1/wallet`, with the key in the `X-Api-Key` header. Errors come back as
/// `{"detail": ...}` (payment and invoice errors with HTTP 520 and a `"status"`).
///
/// URI: `lnbits://HOST[:PORT]?key=KEY[&cert=FILE][&timeout=SECONDS]` (PORT defaults to 443;
/// `key_file=FILE` may stand instead of `key=`; `cert=FILE` trusts that certificate instead
/// of the system store, the host name must match it: see rest_endpoint.hpp). Only https is spoken. Paying needs
/// the wallet's admin key; an invoice key can create and look up invoices only.
///
/// What LNbits cannot do, and what this backend therefore refuses:
///  - amount-less invoices: LNbits refuses to create them ("Amountless invoices not
///    supported"), and refuses to pay them; create_invoice() and pay_invoice() with
///    PayOptions::amount_msat throw Error(unsupported) saying so.
///  - amounts that are not whole satoshis: LNbits invoices are in whole sats. Rather than round
///    (and ask for a different amount than the caller named), create_invoice() throws
///    Error(unsupported) for an amount that is not a multiple of 1000 msat.
///  - a per-payment fee limit: the API takes none; LNbits caps routing fees at its own fee
///    reserve. pay_invoice() asks `fee-reserve` first and refuses (as `failed`) when that
///    reserve exceeds PayOptions::max_fee_msat, so the limit is never exceeded.

#include <memory>
#include <optional>
#include <string>

#include "lightning/wallet/rest_endpoint.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln {

/// The parts of an `lnbits://` URI: the server (port 443 unless given) and the key.
struct LnbitsUri : RestEndpoint {
  std::string key;  ///< The wallet's admin (or invoice) key: a secret.

  /// Parses @p uri (see the file comment). Throws Error(invalid_argument) naming what is
  /// wrong (never the key), Error(not_found) for a missing key or certificate file.
  static LnbitsUri parse(const std::string& uri);
};

/// One LNbits wallet as a Wallet. Thread-safe (every call is an independent request).
///
/// Mapping: a payment error with `"status": "failed"` (HTTP 520: insufficient balance, already
/// paid, payment failed at the funding source) and a refused request (HTTP 400) become a
/// `failed` result carrying LNbits' `detail`; `"status": "pending"` becomes a pending result.
/// A rejected key (HTTP 401/403, e.g. an invoice key used to pay) is Error(invalid_argument)
/// "... refused the API key (HTTP N): REASON", as LND and CLN report their credentials; an
/// unreachable server, a TLS failure, a timeout, an oversized reply or an
/// unexpected status is Error(io); a reply that is not what the API documents is
/// Error(invalid_format).
class LnbitsWallet final : public Wallet {
 public:
  /// Opens a wallet on the server @p uri describes. Makes no request.
  explicit LnbitsWallet(LnbitsUri uri);
  ~LnbitsWallet() override;
  LnbitsWallet(const LnbitsWallet&) = delete;
  LnbitsWallet& operator=(const LnbitsWallet&) = delete;

  /// Parses @p uri (LnbitsUri::parse()) and opens the wallet.
  static std::unique_ptr<LnbitsWallet> open(const std::string& uri);

  /// See Wallet::create_invoice(). LNbits: whole sats only, never amount-less
  /// (Error(unsupported), see the file comment); a request LNbits refuses (HTTP 400) is
  /// Error(invalid_argument).
  CreatedInvoice create_invoice(const InvoiceRequest& request) override;

  /// See Wallet::pay_invoice(). LNbits: `fee-reserve` first, then `POST /api/v1/payments`; an
  /// amount-less invoice is Error(unsupported).
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;

  /// See Wallet::lookup_invoice(). LNbits: `GET /api/v1/payments/{hash}`; another wallet's
  /// payment or an outgoing one is not_found too.
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;

  /// See Wallet::lookup_payment(). LNbits: `GET /api/v1/payments/{hash}`, outgoing only;
  /// nullopt also for a payment LNbits refused before trying (it keeps no record of those).
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;

  /// See Wallet::balance_msat(). LNbits: `GET /api/v1/wallet`.
  std::uint64_t balance_msat() override;

  /// See Wallet::describe(). LNbits: "lnbits://HOST:PORT".
  std::string describe() const override;

 private:
  LnbitsUri uri_;
};

}  // namespace petalsln
