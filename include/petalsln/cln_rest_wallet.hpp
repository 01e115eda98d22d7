#pragma once
/// @file cln_rest_wallet.hpp
/// A wallet on a Core Lightning node, through its built-in REST plugin (clnrest): every call
/// is `POST /v1/<method>` with the JSON-RPC parameters as a JSON body and the rune in the
/// `Rune` header; results come back as JSON (HTTP 201), JSON-RPC errors as `{"code",
/// "message"}` with HTTP 500, authorisation failures with 401/403.
///
/// URI: `cln+rest://HOST[:PORT]?rune=RUNE[&cert=FILE][&timeout=SECONDS]` (PORT defaults to
/// 3010; `rune_file=FILE` may stand instead of `rune=`, so the rune stays out of command lines;
/// `cert=FILE` trusts the node's own CA or certificate, e.g. clnrest's ca.pem, instead of the
/// system store; the host name is checked against it). Only https is spoken.
///
/// Methods used: invoice, pay, listinvoices, listpays, listfunds. The rune needs at least
/// those methods.
///
/// What Core Lightning cannot do, and what this backend therefore refuses:
///  - an invoice carrying a description hash for a description it is not given: `invoice`
///    takes the description itself and can only hash it (`deschashonly`). An InvoiceRequest
///    with description_hash works only when memo holds the description whose SHA-256 is that
///    hash; otherwise create_invoice() throws Error(unsupported) saying so.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "petalsln/wallet.hpp"

namespace petalsln {

/// The parts of a `cln+rest://` URI.
struct ClnRestUri {
  std::string host;            ///< Host name or IP literal (IPv6 in brackets).
  std::uint16_t port = 3010;   ///< clnrest-port.
  std::string rune;            ///< The rune (a secret), from `rune=` or read from `rune_file=`.
  std::string cert_file;       ///< CA/certificate PEM to trust; empty: the system store.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  ///< Per request (pay: see pay_invoice()).

  /// Parses @p uri (see the file comment). Throws Error(invalid_argument) naming what is
  /// wrong (never the rune), Error(not_found) for a missing rune or certificate file.
  static ClnRestUri parse(const std::string& uri);
};

/// A Core Lightning node as a Wallet. Thread-safe (every call is an independent request).
///
/// Mapping: balance_msat() is the sum of `our_amount_msat` over channels in state
/// CHANNELD_NORMAL (what the node can spend over Lightning, before channel reserves), not
/// on-chain funds. pay_invoice() first asks `listpays` whether this node already completed a
/// payment of that hash (Core Lightning's `pay` would return the old success; the Wallet
/// contract calls that a refused `failed` payment), then calls `pay` with `maxfee`
/// = PayOptions::max_fee_msat and `retry_for` = PayOptions::timeout; every JSON-RPC error of
/// `pay` (201 already paid elsewhere, 203 permanent failure at the destination, 205 no
/// route, 206 too expensive, 207 expired, 210 timed out, -32602 bad parameters, ...) becomes a
/// `failed` result whose reason carries the code and the node's message.
///
/// Errors: a refused rune (HTTP 401/403) is Error(invalid_argument) saying so; an unreachable
/// node, a TLS failure, a timeout, an oversized reply or an unexpected HTTP status is
/// Error(io); a reply that is not what the API documents is Error(invalid_format).
class ClnRestWallet final : public Wallet {
 public:
  /// Opens a wallet on the node @p uri describes. Makes no request.
  explicit ClnRestWallet(ClnRestUri uri);
  ~ClnRestWallet() override;
  ClnRestWallet(const ClnRestWallet&) = delete;
  ClnRestWallet& operator=(const ClnRestWallet&) = delete;

  /// Parses @p uri (ClnRestUri::parse()) and opens the wallet.
  static std::unique_ptr<ClnRestWallet> open(const std::string& uri);

  /// Calls `invoice` with a fresh random label, then checks the returned BOLT11 (decodes,
  /// same hash, amount and description). Throws Error(invalid_argument) for a zero amount or
  /// expiry, Error(unsupported) for a description hash without its description (see the
  /// file comment), Error(invalid_argument) when the node refuses the parameters.
  CreatedInvoice create_invoice(const InvoiceRequest& request) override;

  /// Pays @p bolt11 (see the class comment). Throws Error(invalid_format) for an undecodable
  /// invoice (checked locally, before any request).
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;

  /// `listinvoices` by payment hash. Throws Error(not_found) if the node has no such invoice.
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;

  /// `listpays` by payment hash: the completed payment if any, else a pending one, else the
  /// latest failed one; nullopt if the node never tried to pay that hash.
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;

  /// `listfunds`: the sum of our_amount_msat over CHANNELD_NORMAL channels.
  std::uint64_t balance_msat() override;

  /// Returns "cln+rest://HOST:PORT" (never the rune).
  std::string describe() const override;

 private:
  ClnRestUri uri_;
};

}  // namespace petalsln
