#pragma once
/// @file nwc_wallet.hpp
/// A wallet reached through Nostr Wallet Connect (NIP-47): requests go, encrypted and signed,
/// through a Nostr relay to a wallet service that holds the money (Alby Hub, Mutiny, LNbits,
/// or anything else speaking NIP-47). Selected by the URI the service hands out:
/// `nostr+walletconnect://<service pubkey hex>?relay=<ws:// or wss:// URL>&secret=<hex>[&lud16=...]`.
///
/// How the Wallet interface maps onto NIP-47:
///  - create_invoice -> make_invoice (an amount is required: NIP-47 has no amount-less invoices);
///  - pay_invoice -> pay_invoice; every NIP-47 error code is a `failed` result naming the code;
///    no response before PayOptions::timeout (or a connection lost after sending) is `pending`,
///    since the service may still be paying; a preimage that does not hash to the invoice's
///    payment hash is `failed`; PayOptions::max_fee_msat cannot be passed on (NIP-47's
///    pay_invoice has no fee limit, so the wallet service's own limits apply) and the fee the
///    service reports (`fees_paid`) is returned as fee_msat;
///  - lookup_invoice / lookup_payment -> lookup_invoice by payment_hash, which NIP-47 answers
///    for incoming and outgoing payments alike: a result of type "incoming" is an invoice, of
///    type "outgoing" a payment; NOT_FOUND (or the other type) is Error(not_found) /
///    nullopt respectively;
///  - balance_msat -> get_balance.
/// For the other methods, NIP-47 error codes become: NOT_FOUND -> Error(not_found),
/// NOT_IMPLEMENTED -> Error(unsupported), every other code -> Error(io) naming the code and the
/// service's message. An unreachable relay, or no answer within the request timeout, is
/// Error(io).
///
/// Every event accepted is checked: its id and BIP-340 signature, its author (the service's
/// key), its kind, and its "e" tag (the request it answers) and "p" tag (this client);
/// anything else is ignored. Encryption is NIP-44 v2 when the service's info event (kind
/// 13194) lists "nip44_v2" in its `encryption` tag, NIP-04 otherwise (as NIP-47 says for
/// services that publish no such tag).

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/lightning/wallet.hpp"

namespace petalsln {

/// The parts of a `nostr+walletconnect://` URI. The secret is wiped when this is destroyed.
struct NwcUri {
  std::array<std::uint8_t, 32> wallet_pubkey{};  ///< The wallet service's x-only public key.
  std::vector<std::string> relays;               ///< Relay URLs (percent-decoded), tried in order.
  std::array<std::uint8_t, 32> secret{};         ///< This client's secret key.
  std::string lud16;                             ///< Lightning address, if given (informational).

  NwcUri() = default;
  NwcUri(const NwcUri&) = default;
  NwcUri& operator=(const NwcUri&) = default;
  ~NwcUri();

  /// Parses @p uri: scheme `nostr+walletconnect` (with or without "//"), a 64-hex-digit
  /// service public key that is a curve point, one or more `relay` parameters (ws:// or wss://
  /// URLs, percent-encoded or not), exactly one `secret` of 64 hex digits that is a valid
  /// secp256k1 secret key, optionally `lud16`; other parameters are ignored. Throws
  /// Error(invalid_argument) naming what is wrong; the secret is never shown.
  static NwcUri parse(const std::string& uri);

  /// Returns the URI without its secret: `nostr+walletconnect://PUBKEY?relay=URL...`.
  std::string describe() const;
};

/// Timeouts and limits of an NwcWallet.
struct NwcOptions {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};  ///< Relay connection and handshake.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};  ///< Every request but pay_invoice (PayOptions::timeout).
  std::chrono::milliseconds info_timeout{std::chrono::seconds(5)};      ///< Waiting for the service's info event.
  std::size_t max_message_bytes = 512 * 1024;  ///< Longest relay message accepted.
  std::string ca_file;  ///< PEM CAs trusted for wss:// relays instead of the system store (tests).
};

/// Which NIP-47 encryption a connection uses.
enum class NwcEncryption { nip44_v2, nip04 };

/// A NIP-47 wallet. Thread-safe: requests are serialized over one relay connection, opened on
/// first use and reopened after it fails.
class NwcWallet final : public Wallet {
 public:
  /// Opens the wallet named by @p uri (see NwcUri::parse()); connects lazily, so this throws
  /// only Error(invalid_argument) for a malformed URI.
  static std::unique_ptr<NwcWallet> open(const std::string& uri, const NwcOptions& options = {});

  NwcWallet(NwcUri uri, NwcOptions options);
  ~NwcWallet() override;
  NwcWallet(const NwcWallet&) = delete;
  NwcWallet& operator=(const NwcWallet&) = delete;

  CreatedInvoice create_invoice(const InvoiceRequest& request) override;
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;
  std::uint64_t balance_msat() override;
  std::string describe() const override;

  /// Connects if needed and returns the methods the service's info event lists (empty if it
  /// published none). Throws Error(io) if the relay cannot be reached.
  std::vector<std::string> supported_methods();

  /// Connects if needed and returns the encryption chosen from the info event.
  NwcEncryption encryption();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
