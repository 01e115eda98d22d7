#pragma once
/// @file receipt.hpp
/// What a client's use of the swarm cost and who did the work: the route, each payment made
/// and each server's block-tokens. No libtorch here, so anything that prices or shows work
/// (a gateway, a payout) can include it cheaply.

#include <cstdint>
#include <string>
#include <vector>

#include "petalsln/lightning/wallet.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/route_planner.hpp"

namespace petalsln {

/// One payment made to a server's paywall.
struct RemotePayment {
  PeerId peer{};                 ///< The server paid.
  std::uint64_t amount_msat = 0; ///< The invoice's amount.
  std::uint64_t fee_msat = 0;    ///< Routing fees on top of it.
  PaymentHash payment_hash{};    ///< The invoice's payment hash.
  Preimage preimage{};           ///< The proof of payment the wallet returned.
};

/// Work one server did for this client (over all sequences of a RemoteSequence).
struct RemoteWork {
  PeerId peer{};
  std::uint32_t block_begin = 0;   ///< Blocks it ran (the last range used).
  std::uint32_t block_end = 0;
  std::uint64_t block_tokens = 0;  ///< Blocks × tokens it processed, replays included.
  std::string lightning_address;   ///< As announced ("" when none).
};

/// The receipt of a chat on the swarm so far: where its blocks ran, what it paid, and what
/// work each server did. Empty in local mode.
struct Receipt {
  std::vector<RouteHop> route;          ///< The current route, in block order.
  std::vector<RemotePayment> payments;  ///< Every payment, in the order made.
  std::vector<RemoteWork> work;         ///< Work per server, in first-use order.

  /// Returns the millisatoshis paid, fees included (saturating; never wraps).
  std::uint64_t spent_msat() const noexcept;

  /// Returns the receipt as one JSON object with members "route"
  /// (`[{"peer", "endpoint", "blocks": [a, b], "weights"}]`, weights as the server announced
  /// them: "f32", "bf16", "f16" or "int8"), "payments" (`[{"peer", "amount_msat",
  /// "fee_msat", "payment_hash", "preimage"}]`) and "work" (`[{"peer", "blocks",
  /// "block_tokens", "lightning_address"}]`, the address null when none); peers, hashes and
  /// preimages in lower-case hex. Does not throw for any content.
  std::string to_json() const;
};

}  // namespace petalsln
