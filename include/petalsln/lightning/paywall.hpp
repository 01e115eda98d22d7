#pragma once
/// @file paywall.hpp
/// A server's L402 paywall: prices block-tokens, issues challenges (an invoice plus a macaroon
/// bound to it), verifies tokens, and meters their credit in a durable store.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {

/// What a paywall sells and where it keeps its books.
struct PaywallOptions {
  std::uint64_t price_msat = 0;              ///< Millisatoshis per 1000 block-tokens (> 0).
  std::uint64_t credit_block_tokens = 20000; ///< Block-tokens sold per invoice.
  std::string model;                         ///< Model name bound into every macaroon.
  std::string peer_hex;                      ///< The server's peer id (64 hex digits).
  std::uint32_t block_begin = 0;             ///< The server's blocks, bound into every macaroon.
  std::uint32_t block_end = 0;
  std::chrono::seconds token_lifetime{86400};  ///< How long bought credit stays usable.
  std::chrono::seconds invoice_expiry{600};    ///< Expiry of each challenge's invoice.
  /// Distinct unpaid challenges one requester may hold at once (> 0). Each costs an invoice in
  /// the operator's wallet, so a stranger who never pays must not be able to mint more.
  std::uint32_t max_unpaid_per_requester = 4;
  /// Unpaid challenges held over all requesters at once (> 0): bounds the paywall's memory
  /// and the wallet's open invoices whatever the number of addresses asking.
  std::uint32_t max_unpaid_total = 4096;
  std::string store_path;                    ///< SQLite file for the root key and credit (created 0600).
  std::function<std::int64_t()> clock;       ///< Unix seconds; system clock when empty (tests inject).
  /// The service bound into every macaroon (`service=`): a server sells block-tokens under
  /// "petalsln", a gateway tokens under its own name, so one's token is never the other's.
  std::string service{"petalsln"};
  /// What one unit of credit is, for invoice memos ("block-tokens" on a server, "tokens" on a
  /// gateway, where every count above is in tokens).
  std::string unit_name{"block-tokens"};
  /// The macaroons' root key (32 bytes) when the operator keeps it in a key file of its own;
  /// empty: the key the store mints and keeps. Wiped once copied in.
  std::string root_key;
};

/// Thrown by Paywall::authorize() for a genuine token whose credit is all spent: the caller
/// should sell fresh credit (a new challenge) rather than call the token bad.
class CreditUsedUp : public Error {
 public:
  /// Creates the error with a message saying the credit is used up.
  explicit CreditUsedUp(const std::string& message) : Error(ErrorCode::invalid_argument, message) {}
};

/// Thrown by Paywall::challenge() when the requester (or everyone together) already holds the
/// limit of unpaid challenges: the caller should answer "too many requests", not retry.
class ChallengeLimitReached : public Error {
 public:
  /// Creates the error with a message naming the limit.
  explicit ChallengeLimitReached(const std::string& message) : Error(ErrorCode::out_of_range, message) {}
};

/// A verified token's standing.
struct PaywallGrant {
  std::string token_id;            ///< Hex token id (from the macaroon identifier).
  std::uint64_t credit_remaining;  ///< Block-tokens still unspent.
};

/// Thread-safe; several processes must not share one store (each server has its own).
class Paywall {
 public:
  /// Opens (or creates, with a fresh random root key) the store. Throws Error(invalid_argument)
  /// for a zero price or credit, a bad peer id or an empty range; Error(io) if the store cannot
  /// be opened.
  Paywall(PaywallOptions options, std::shared_ptr<Wallet> wallet);
  ~Paywall();
  Paywall(const Paywall&) = delete;
  Paywall& operator=(const Paywall&) = delete;

  /// The amount of an invoice for @p block_tokens of credit: block_tokens × price / 1000,
  /// rounded up.
  std::uint64_t invoice_amount_msat(std::uint64_t block_tokens) const noexcept;

  /// Returns the `WWW-Authenticate` value `L402 macaroon="...", invoice="..."` that sells
  /// max(credit unit, @p min_block_tokens) block-tokens on blocks [@p begin, @p end).
  ///
  /// With a non-empty @p requester (the server passes the peer's address), a challenge for
  /// the same requester and terms is reused while its invoice is unpaid and has more than half
  /// its life left, so repeated unpaid calls cost the wallet nothing; a new one is minted only
  /// when the requester holds fewer than max_unpaid_per_requester unexpired unpaid challenges
  /// (and everyone fewer than max_unpaid_total), else ChallengeLimitReached is thrown. An empty
  /// requester always mints a fresh challenge. Throws the wallet's errors when it cannot
  /// create an invoice.
  std::string challenge(std::uint32_t begin, std::uint32_t end, std::uint64_t min_block_tokens = 0,
                        const std::string& requester = {});

  /// Verifies an `Authorization` value (`L402 <macaroon>:<preimage>` or `LSAT ...`) for blocks
  /// [@p begin, @p end): the HMAC chain under this server's root key, the preimage against the
  /// payment hash, and every caveat (service, model, peer, blocks, credit, expiry). Registers
  /// the token's credit on first use. Throws Error(invalid_argument) with the reason when the
  /// token is not acceptable, CreditUsedUp when it is genuine but its credit is all spent;
  /// never grants credit that was not paid for. credit_remaining leaves out credit held by
  /// reserve().
  PaywallGrant authorize(std::string_view authorization, std::uint32_t begin, std::uint32_t end);

  /// Checks that @p macaroon_base64, the macaroon of a challenge, is one this paywall minted
  /// and that it still covers blocks [@p begin, @p end): its signature chains from the root key
  /// (compared in constant time) and every caveat passes (service, model, peer, blocks, credit,
  /// expiry). Returns the payment hash its identifier binds, naming the invoice it was sold
  /// with, so a caller can ask the wallet whether that invoice was paid without the preimage.
  /// Throws Error(invalid_argument) with the reason (never the macaroon) otherwise.
  PaymentHash challenge_payment_hash(std::string_view macaroon_base64, std::uint32_t begin, std::uint32_t end);

  /// Debits @p block_tokens from @p token_id if that much credit is left (atomically, durably).
  /// Returns false, debiting nothing, when it is not. @p remaining receives what is left.
  bool debit(const std::string& token_id, std::uint64_t block_tokens, std::uint64_t* remaining = nullptr);

  /// Holds @p units of @p token_id's credit for work whose cost is known only when it ends (a
  /// gateway's message reserves its worst case), if that much is neither spent nor held.
  /// Returns false, holding nothing, when it is not. @p available receives the credit neither
  /// spent nor held (before this reservation). Reservations live in memory only: a process
  /// that dies mid-work restarts with the held credit free again (nothing was debited).
  bool reserve(const std::string& token_id, std::uint64_t units, std::uint64_t* available = nullptr);

  /// As reserve(), but never waits: returns std::nullopt, holding nothing, when another thread
  /// is using the store (its durable writes take an fsync), so a caller that must not block can
  /// hand the reservation to a thread that may.
  std::optional<bool> try_reserve(const std::string& token_id, std::uint64_t units, std::uint64_t* available = nullptr);

  /// Ends a reservation of @p reserved units made by reserve(): debits min(@p used, @p reserved)
  /// durably and frees the rest. @p remaining receives the credit neither spent nor held
  /// afterwards. Throws Error(io) when the store cannot be written (the reservation is freed
  /// all the same).
  void settle(const std::string& token_id, std::uint64_t reserved, std::uint64_t used, std::uint64_t* remaining = nullptr);

  /// Returns the credit of @p token_id neither spent nor held (0 for a token never authorized).
  std::uint64_t available(const std::string& token_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
