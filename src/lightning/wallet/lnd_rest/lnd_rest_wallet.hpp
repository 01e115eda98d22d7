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
/// instead of the system store, the host name must match it: see rest_endpoint.hpp; `timeout` bounds each request,
/// default 30 s). Only https is spoken.
///
/// Calls used: AddInvoice (`POST /v1/invoices`), LookupInvoice (`GET /v1/invoice/{r_hash_str}`),
/// the v2 router's SendPaymentV2 (`POST /v2/router/send`) and TrackPaymentV2
/// (`GET /v2/router/track/{payment_hash}`), ChannelBalance (`GET /v1/balance/channels`).

#include <memory>
#include <optional>
#include <string>

#include "lightning/wallet/rest_endpoint.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln {

/// The parts of an `lnd+rest://` URI: the node (port 8080 unless given) and the macaroon.
struct LndRestUri : RestEndpoint {
  std::string macaroon_hex;  ///< The macaroon file's bytes in hex, as the header carries them (a secret).

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
/// macaroon" / "permission denied" errors) is Error(invalid_argument) "... refused the
/// macaroon (HTTP N): REASON", as CLN and LNbits report their credentials; an
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

  /// See Wallet::create_invoice(). LND: AddInvoice; the returned invoice's expiry is checked
  /// too. A request LND calls invalid is Error(invalid_argument).
  CreatedInvoice create_invoice(const InvoiceRequest& request) override;

  /// See Wallet::pay_invoice(). LND: SendPaymentV2, then TrackPaymentV2 (see the class comment).
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;

  /// See Wallet::lookup_invoice(). LND: LookupInvoice; CANCELED counts as expired (LND cancels
  /// expired invoices).
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;

  /// See Wallet::lookup_payment(). LND: TrackPaymentV2's first update (the stream is not
  /// waited on); nullopt when LND says the payment was never initiated.
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;

  /// See Wallet::balance_msat(). LND: ChannelBalance's local_balance.msat.
  std::uint64_t balance_msat() override;

  /// See Wallet::describe(). LND: "lnd+rest://HOST:PORT".
  std::string describe() const override;

 private:
  LndRestUri uri_;
};

}  // namespace petalsln
