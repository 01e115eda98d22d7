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
/// of the system store, the host name is still checked). Only https is spoken. Paying needs
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

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "petalsln/wallet.hpp"

namespace petalsln {

/// The parts of an `lnbits://` URI.
struct LnbitsUri {
  std::string host;           ///< Host name or IP literal (IPv6 in brackets).
  std::uint16_t port = 443;   ///< HTTPS port.
  std::string key;            ///< The wallet's admin (or invoice) key: a secret.
  std::string cert_file;      ///< Certificate PEM to trust; empty: the system store.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  ///< Per request.

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
/// saying so; an unreachable server, a TLS failure, a timeout, an oversized reply or an
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

  /// Creates an invoice in whole sats (see the file comment for what is refused), then checks
  /// the returned BOLT11 (decodes, same hash, amount and description or description hash).
  /// Throws Error(invalid_argument) for a zero amount or expiry or when LNbits refuses the
  /// request, Error(unsupported) as the file comment says.
  CreatedInvoice create_invoice(const InvoiceRequest& request) override;

  /// Pays @p bolt11 (see the class comment). Throws Error(invalid_format) for an undecodable
  /// invoice (checked locally, before any request), Error(unsupported) for an amount-less one
  /// with PayOptions::amount_msat.
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;

  /// `GET /api/v1/payments/{hash}` for an incoming payment of this wallet. Throws
  /// Error(not_found) if LNbits does not know it, or it belongs to another wallet, or it is
  /// an outgoing payment.
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;

  /// `GET /api/v1/payments/{hash}` for an outgoing payment of this wallet; nullopt if there is
  /// none. (LNbits keeps no record of a payment it refused before trying, e.g. for an
  /// insufficient balance.)
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;

  /// `GET /api/v1/wallet`: the wallet's balance (LNbits reports millisatoshis).
  std::uint64_t balance_msat() override;

  /// Returns "lnbits://HOST:PORT" (never the key).
  std::string describe() const override;

 private:
  LnbitsUri uri_;
};

}  // namespace petalsln
