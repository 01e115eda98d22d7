#pragma once
// What a paid gateway sells and how it meters it: credit in tokens, sold as L402 macaroons
// bound to this gateway (its id), the model and an expiry, and metered by the servers' own
// Paywall (one meter, two services). A message reserves its worst case before it starts and
// is debited what it used when it ends. A free gateway (price 0) asks for nothing.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "petalsln/gateway/gateway_options.hpp"
#include "petalsln/lightning/wallet.hpp"

namespace petalsln {
class Paywall;
}

namespace petalsln::gateway {

/// The service name a gateway's macaroons are bound to (a server's say "petalsln").
inline constexpr const char* kGatewayService = "petalsln-gateway";

/// One message's hold on a token's credit. Ending without finish() (the message failed)
/// frees the hold and charges nothing.
class Charge {
 public:
  Charge() = default;  ///< A free message's charge: holds nothing, costs nothing.
  ~Charge();
  Charge(Charge&& other) noexcept;             ///< Takes over the hold.
  Charge& operator=(Charge&& other) = delete;  ///< One hold per object for its life.
  Charge(const Charge&) = delete;              ///< A hold is released once.
  Charge& operator=(const Charge&) = delete;   ///< A hold is released once.

  /// Debits @p tokens (at most the reserved worst case) and frees the rest of the hold.
  /// Returns the millisatoshis those tokens cost. Throws Error(io) when the store cannot be
  /// written (the hold is freed all the same). Later calls do nothing and return 0.
  std::uint64_t finish(std::int64_t tokens);

  /// The token this message is charged to ("" for a free one); the WebSocket session reuses it.
  const std::string& authorization() const noexcept { return authorization_; }

 private:
  friend class Billing;
  Paywall* paywall_ = nullptr;
  std::string token_id_;
  std::string authorization_;
  std::uint64_t reserved_ = 0;
  std::uint64_t price_ = 0;
};

/// The gateway's till. Thread-safe.
class Billing {
 public:
  /// Opens the credit store and the key file (each created 0600 on first run) when
  /// options.price_msat_per_1k_tokens > 0. Throws Error(invalid_argument) for a price without
  /// a wallet or key file, a zero credit size, or a key file whose credit store is missing
  /// (credit already sold would be granted again); Error(io) when a file cannot be opened.
  Billing(const GatewayOptions& options, const std::string& model_name, std::int64_t num_blocks);
  ~Billing();
  Billing(const Billing&) = delete;             ///< Owns the meter.
  Billing& operator=(const Billing&) = delete;  ///< Owns the meter.

  /// True when the gateway asks for nothing.
  bool free() const noexcept { return !paywall_; }

  /// Holds @p worst_tokens of the credit of the L402 token in @p authorization (the
  /// `Authorization` value, L402 or LSAT, a comma-separated macaroon list read by its first).
  /// A free gateway returns an empty charge. Throws ApiError 402 with a fresh challenge when no
  /// L402 token is given or the token holds too little credit (saying how much is left and how
  /// much is needed), 401 when the token is bad (forged, another gateway's or model's,
  /// expired, a wrong preimage), 503 when no invoice can be made. @p requester (the client's
  /// address) bounds the unpaid invoices one client can make the gateway hold.
  Charge reserve(const std::string& authorization, std::int64_t worst_tokens, const std::string& requester);

  /// Returns the credit (tokens) of the token in @p authorization neither spent nor held.
  /// Throws as reserve() for a bad token, ApiError 400 on a free gateway.
  std::uint64_t credit_left(const std::string& authorization);

  /// Returns the payment hash of the invoice the challenge macaroon @p macaroon_base64 was sold
  /// with, once it is shown to be this gateway's own and unexpired (see
  /// Paywall::challenge_payment_hash()): holding it proves the caller is the requester the
  /// invoice was made for. Throws ApiError 401 for any other macaroon, 400 on a free gateway.
  PaymentHash challenge_payment_hash(const std::string& macaroon_base64);

  /// The most a server on the route may charge per 1000 block-tokens so that no route costs
  /// the gateway more than it sells (price / number of blocks), or nullopt on a free gateway.
  std::optional<std::uint64_t> max_server_price_msat() const noexcept;

 private:
  std::string verified_token_id(const std::string& authorization);
  [[noreturn]] void demand_payment(std::uint64_t needed, std::optional<std::uint64_t> left, const std::string& requester);

  std::uint64_t price_ = 0;
  std::uint64_t credit_tokens_ = 0;
  std::uint32_t num_blocks_ = 0;
  std::unique_ptr<Paywall> paywall_;
};

}  // namespace petalsln::gateway
