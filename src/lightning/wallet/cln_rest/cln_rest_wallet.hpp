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
/// system store, the host name must match it: see rest_endpoint.hpp). Only https is spoken.
///
/// Methods used: invoice, pay, listinvoices, listpays, listfunds. The rune needs at least
/// those methods.
///
/// What Core Lightning cannot do, and what this backend therefore refuses:
///  - an invoice carrying a description hash for a description it is not given: `invoice`
///    takes the description itself and can only hash it (`deschashonly`). An InvoiceRequest
///    with description_hash works only when memo holds the description whose SHA-256 is that
///    hash; otherwise create_invoice() throws Error(unsupported) saying so.

#include <memory>
#include <optional>
#include <string>

#include "lightning/wallet/rest_endpoint.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln {

/// The parts of a `cln+rest://` URI: the node (port 3010, clnrest-port, unless given) and the rune.
struct ClnRestUri : RestEndpoint {
  std::string rune;  ///< The rune (a secret), from `rune=` or read from `rune_file=`.

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
/// Errors: a refused rune (HTTP 401/403) is Error(invalid_argument) "... refused the rune
/// (HTTP N): REASON", as LND and LNbits report their credentials; an unreachable
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

  /// See Wallet::create_invoice(). CLN: `invoice` with a fresh random label; a description
  /// hash without its description is Error(unsupported) (see the file comment); parameters
  /// the node refuses (JSON-RPC -32602) are Error(invalid_argument).
  CreatedInvoice create_invoice(const InvoiceRequest& request) override;

  /// See Wallet::pay_invoice(). CLN: `listpays` first, then `pay` (see the class comment).
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;

  /// See Wallet::lookup_invoice(). CLN: `listinvoices` by payment hash.
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;

  /// See Wallet::lookup_payment(). CLN: `listpays` by payment hash; the completed attempt if
  /// any, else a pending one, else the latest failed one.
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;

  /// See Wallet::balance_msat(). CLN: `listfunds`, our_amount_msat over CHANNELD_NORMAL channels.
  std::uint64_t balance_msat() override;

  /// See Wallet::describe(). CLN: "cln+rest://HOST:PORT".
  std::string describe() const override;

 private:
  ClnRestUri uri_;
};

}  // namespace petalsln
