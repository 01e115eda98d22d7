#pragma once
/// @file devnet_wallet.hpp
/// The devnet wallet (internal: reached through open_wallet("devnet:...") and the faucet in
/// petalsln/lightning/devnet.hpp): a simulated Lightning network kept in one SQLite file that every local
/// process can open. It moves no real money. Its invoices are real BOLT11 payment requests
/// (regtest prefix `lnbcrt`, signed by the issuing account's node key), and paying one moves
/// devnet balances atomically and reveals the invoice's real preimage, so the whole paid flow
/// (paywalls, L402 tokens, payouts) runs with no node and no money.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln {

/// Returns the current time in Unix seconds. Tests pass their own to DevnetWallet to move
/// time forward (invoice expiry) without sleeping.
using DevnetClock = std::function<std::uint64_t()>;

/// A wallet on one account of a devnet file. Thread-safe (one SQLite connection, used under a
/// mutex); any number of processes may open the same file at once, and every payment's checks
/// and transfer happen in one `BEGIN IMMEDIATE` transaction, so concurrent payers can never
/// overdraw an account or pay an invoice twice.
///
/// Payment rules, each refused as a `failed` PaymentResult with a reason (balances untouched):
/// only regtest invoices; only invoices issued by an account of the same file (payment hash
/// known and the invoice's payee equal to the issuing account's node id, signature verified);
/// not to the paying account itself (as LND refuses self-payments); not expired; not already
/// paid; an amount-less invoice only with PayOptions::amount_msat, an invoice with an amount
/// only without one or with the same; only within the payer's balance. Fees are always zero.
/// Every attempt whose invoice decodes is recorded, so lookup_payment() reports failures too.
class DevnetWallet final : public Wallet {
 public:
  /// The largest amount the faucet creates in one account: 21 million bitcoin, in msat.
  static constexpr std::uint64_t kMaxFundMsat = 2'100'000'000'000'000'000ULL;

  /// Opens account @p account of the devnet file at @p path. The file is never created here.
  /// @p clock defaults to the system clock. Throws Error(invalid_argument) for a bad account
  /// name, Error(not_found) if the file or the account does not exist, Error(invalid_format)
  /// if the file is not a devnet file, Error(unsupported) for a newer schema, Error(io) if
  /// SQLite cannot open it.
  DevnetWallet(const std::string& path, const std::string& account, DevnetClock clock = {});
  ~DevnetWallet() override;
  DevnetWallet(const DevnetWallet&) = delete;
  DevnetWallet& operator=(const DevnetWallet&) = delete;

  /// Opens the wallet named by a `devnet:PATH?account=NAME` URI (see DevnetUri::parse()).
  static std::unique_ptr<DevnetWallet> open(const std::string& uri, DevnetClock clock = {});

  /// The devnet faucet: creates account @p name holding @p fund_msat made from nothing (only a
  /// simulation can do that), with a fresh random node key, in the devnet file at @p path,
  /// creating the file (mode 0600) and its schema if absent. Returns the new account.
  /// Throws Error(invalid_argument) for a bad name, a duplicate name or more than
  /// kMaxFundMsat; Error(invalid_format) / Error(unsupported) / Error(io) as for opening.
  static DevnetAccount create_account(const std::string& path, const std::string& name, std::uint64_t fund_msat);

  /// Creates a regtest BOLT11 invoice signed by the account's node key, with the `n` field,
  /// a fresh random preimage and payment secret. Throws Error(invalid_argument) for a zero
  /// amount, a zero expiry or a description BOLT11 cannot carry; Error(io) if the file is
  /// locked for longer than the busy timeout.
  CreatedInvoice create_invoice(const InvoiceRequest& request) override;

  /// Pays @p bolt11 from this account (see the class comment for the rules). Waits at most
  /// options.timeout for other processes' transactions; a payment that could not start in
  /// time is `failed` (nothing moved). Throws Error(invalid_format) for an undecodable or
  /// badly signed invoice, Error(unsupported) for an unknown network or required feature.
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override;

  /// Looks up an invoice issued by this account. Throws Error(not_found) for any other hash.
  InvoiceStatus lookup_invoice(const PaymentHash& payment_hash) override;

  /// Looks up this account's payment of @p payment_hash: the succeeded one if any, else the
  /// latest failed attempt; nullopt if this account never tried to pay that hash.
  std::optional<PaymentResult> lookup_payment(const PaymentHash& payment_hash) override;

  /// The account's devnet balance in millisatoshis.
  std::uint64_t balance_msat() override;

  /// Returns "devnet:PATH?account=NAME" (no keys).
  std::string describe() const override;

  /// The account's name.
  const std::string& account() const noexcept { return account_; }

  /// The account's node id (compressed public key): the payee of its invoices.
  const Bolt11NodeId& node_id() const noexcept { return node_id_; }

 private:
  struct Db;
  std::uint64_t now() const;

  std::string path_;
  std::string account_;
  Bolt11NodeId node_id_{};
  DevnetClock clock_;
  std::mutex mutex_;  // guards db_: a SQLite connection and its transactions are not shareable
  std::unique_ptr<Db> db_;
};

}  // namespace petalsln
