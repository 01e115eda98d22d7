#pragma once
/// @file lnd_rest_wallet.hpp
/// A wallet on an LND node, through its REST proxy (grpc-gateway): JSON bodies in which bytes
/// fields are base64 and 64-bit integers are strings, the macaroon in hex in the
/// `Grpc-Metadata-macaroon` header, errors as `{"code", "message", "details"}` (gRPC status
/// code and text), and server-streaming calls as newline-delimited `{"result": ...}` /
/// `{"error": ...}` objects.
///
/// URI: `lnd+rest://HOST[:PORT]?macaroon=FILE[&cert=FILE][&timeout=SECONDS]` (PORT defaults
/// to 8080, LND's restlisten; `macaroon` is the binary macaroon file, e.g. admin.macaroon or
/// one baked with invoices and offchain permissions; `cert` is the node's tls.cert, trusted
/// instead of the system store, and the host name is checked against it; `timeout` bounds
/// each request, default 30 s). Only https is spoken.
///
/// Calls used: AddInvoice (`POST /v1/invoices`), LookupInvoice (`GET /v1/invoice/{r_hash_str}`),
/// the v2 router's SendPaymentV2 (`POST /v2/router/send`) and TrackPaymentV2
/// (`GET /v2/router/track/{payment_hash}`), ChannelBalance (`GET /v1/balance/channels`).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "petalsln/wallet.hpp"

namespace petalsln {

/// The parts of an `lnd+rest://` URI.
struct LndRestUri {
  std::string host;           ///< Host name or IP literal (IPv6 in brackets).
  std::uint16_t port = 8080;  ///< LND's REST port.
  std::string macaroon_hex;   ///< The macaroon file's bytes in hex, as the header carries them (a secret).
  std::string cert_file;      ///< The node's TLS certificate to trust; empty: the system store.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  ///< Per request (pay: see pay_invoice()).

  /// Parses @p uri (see the file comment) and reads the macaroon file (at most 64 KiB).
  /// Throws Error(invalid_argument) naming what is wrong (never the macaroon), Error(not_found)
  /// for a missing macaroon or certificate file, Error(io) for an unreadable one.
  static LndRestUri parse(const std::string& uri);
};

/// An LND node as a Wallet. Thread-safe (every call is an independent request).
///
/// Mapping: balance_msat() is ChannelBalance's local_balance.msat (spendable over Lightning,
/// before channel reserves). pay_invoice() checks the invoice locally first (decodes; an
/// amount-less invoice needs PayOptions::amount_msat), then calls SendPaymentV2 with
/// fee_limit_msat = max_fee_msat, timeout_seconds = PayOptions::timeout and
/// no_inflight_updates, and reads the final Payment from the stream: SUCCEEDED (the preimage
/// is checked against the hash), FAILED (failure_reason, e.g. FAILURE_REASON_NO_ROUTE or
/// FAILURE_REASON_INSUFFICIENT_BALANCE, is the reason), or still IN_FLIGHT (pending). Errors
/// LND reports for the call (the invoice is already paid, expired, or refused) are `failed`
/// results carrying LND's code and message; a payment LND says is already in flight is
/// looked up and returned as it stands. If the reply does not come in time the payment is
/// looked up with TrackPaymentV2 and returned as pending or as it ended; only when LND knows
/// nothing of it is the timeout thrown as Error(io).
///
/// Errors: a refused macaroon (HTTP 401/403, or LND's "verification failed" / "expected 1
/// macaroon" / "permission denied" errors) is Error(invalid_argument) saying so; an
/// unreachable node, a TLS failure, a timeout, an oversized reply or an unexpected status is
/// Error(io); a reply that is not what the API documents is Error(invalid_format).
class LndRestWallet final : public Wallet {
 public:
  /// Opens a wallet on the node @p uri describes. Makes no request.
  explicit LndRestWallet(LndRestUri uri);
  ~LndRestWallet() override;
  LndRestWallet(const LndRestWallet&) = delete;
  LndRestWallet& operator=(const LndRestWallet&) = delete;

  /// Parses @p uri (LndRestUri::parse()) and opens the wallet.
  static std::unique_ptr<LndRestWallet> open(const std::string& uri);

  /// AddInvoice, then checks the returned payment request (decodes, same hash, amount,
  /// memo or description hash, expiry). Throws Error(invalid_argument) for a zero amount or
  /// expiry or when LND refuses the request as invalid.
  CreatedInvoice create_invoice(const InvoiceRequest& request) override;

  /// Pays @p bolt11 (see the class comment). Throws Error(invalid_format) for an undecodable
  /// invoice (checked locally, before any request).
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;

  /// LookupInvoice by hash. `expired` is set for an unsettled invoice past its expiry or
  /// CANCELED (LND cancels expired invoices). Throws Error(not_found) if LND has no such invoice.
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;

  /// TrackPaymentV2's first update (the payment as it stands now; the stream is not waited
  /// on); nullopt if LND says the payment was never initiated.
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;

  /// ChannelBalance's local_balance.msat.
  std::uint64_t balance_msat() override;

  /// Returns "lnd+rest://HOST:PORT" (never the macaroon).
  std::string describe() const override;

 private:
  LndRestUri uri_;
};

}  // namespace petalsln
