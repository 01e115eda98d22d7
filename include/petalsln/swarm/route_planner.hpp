#pragma once
/// @file route_planner.hpp
/// Choosing a chain of servers that together run blocks [0, L) of a model, from the records a
/// lookup returned: fastest per token, highest sustained rate, or cheapest among equals.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "petalsln/swarm/discovery.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/server_record.hpp"
#include "petalsln/util/duration.hpp"

namespace petalsln {

/// What a route optimises.
enum class RouteMode {
  /// Lowest estimated seconds per token: the sum over hops of (latency + blocks / throughput),
  /// found by a shortest-path search over block boundaries (as Petals' sequence manager does).
  min_latency,
  /// Highest sustained tokens per second: a server announcing throughput T (block-tokens/s)
  /// that runs k blocks of the route (over all its hops) passes at most T / k tokens/s, and a
  /// chain is as fast as its slowest server, so the route maximises min over servers of T / k
  /// (found exactly). Among routes with that bottleneck, the lowest estimated seconds per token
  /// wins (exactly, except in rare swarms where only a route through one server twice reaches
  /// the bottleneck; a valid route with that bottleneck is then returned).
  max_throughput,
};

/// A half-open range of blocks [begin, end).
struct BlockRange {
  std::uint32_t begin = 0;  ///< First block.
  std::uint32_t end = 0;    ///< One past the last block.
};

/// How to plan a route.
struct RouteOptions {
  /// The objective (see RouteMode).
  RouteMode mode = RouteMode::min_latency;
  /// Servers whose price_msat (per 1000 block-tokens) exceeds this are not used; nullopt means
  /// no limit, 0 means free servers only. Whatever the limit, ties in the objective go to the
  /// route whose total price (sum over hops of price_msat x blocks) is lowest.
  std::optional<std::uint64_t> max_price_msat;
  /// Peers never to use (e.g. one that just failed).
  std::set<PeerId> excluded_peers;
  /// Measured round-trip latency to a peer (e.g. from Info pings).
  std::map<PeerId, FractionalSeconds> latency;
  /// Latency assumed for a peer missing from latency.
  FractionalSeconds default_latency{0.1};
  /// Candidates the caller already left out (its lookup, a ping or a failed session found
  /// them unreachable, full, ...). Not used for planning; named with their reasons in the
  /// error when no route exists, so that the user sees why, e.g. "127.0.0.1:5000 unreachable
  /// (connection refused)". An excluded peer whose endpoint is listed here is not counted
  /// again as "excluded".
  std::vector<Exclusion> known_exclusions;
};

/// One hop of a route: blocks [begin, end) run on one server.
struct RouteHop {
  PeerId peer_id{};          ///< The server.
  std::string endpoint;      ///< Where to reach it.
  std::uint32_t begin = 0;   ///< First block this hop runs.
  std::uint32_t end = 0;     ///< One past the last block this hop runs.
  double throughput = 0.0;   ///< The server's announced throughput, block-tokens/s.
  FractionalSeconds latency{0.0};  ///< The latency used for it.
  std::uint64_t price_msat = 0;  ///< The server's price per 1000 block-tokens.
  /// How the server keeps its weights ("f32", "bf16", "f16", "int8"; see ServerRecord::weights).
  std::string weights = "f32";
};

/// A chain of hops covering a block range in order, with its estimates.
struct Route {
  std::vector<RouteHop> hops;  ///< Consecutive hops: hops[i].end == hops[i + 1].begin.
  /// Estimated time per token: sum over hops of latency + blocks / throughput.
  FractionalSeconds time_per_token{0.0};
  /// Estimated sustained rate: min over the route's servers of throughput / blocks it runs
  /// (tokens/s; infinite for no hops, 0 if a server announced throughput 0).
  double tokens_per_second = 0.0;
  /// Price of one token through the route, per 1000 tokens: sum of price_msat x blocks (msat).
  std::uint64_t price_msat_per_1000_tokens = 0;
};

/// Plans routes over a fixed set of candidate servers. No route runs two consecutive hops on
/// one server (they would be one hop). Ties are broken by total price, then
/// deterministically by the candidates' order after sorting by (peer id, begin, end), so the
/// same records give the same route whatever order they arrive in. Thread-safe for concurrent
/// planning (all methods are const). Cost: O(L^2 x S) time and O(L x S) memory for L blocks
/// and S candidates (max_throughput: a few times more).
class RoutePlanner {
 public:
  /// Keeps a copy of @p candidates (normally a lookup's records).
  explicit RoutePlanner(std::vector<ServerRecord> candidates);

  /// Returns the best route over blocks [0, @p num_blocks). A server may serve only part of
  /// its range in a hop. Throws Error(invalid_argument) if @p num_blocks is 0, and
  /// Error(not_found) naming every uncovered block if the usable servers (after price and
  /// exclusion filters) leave a gap, followed by options.known_exclusions, e.g. "no server
  /// covers blocks 0-7 (of 0-7): 127.0.0.1:5000 unreachable (connection refused)".
  Route plan(std::uint32_t num_blocks, const RouteOptions& options = {}) const;

  /// Returns the best route over blocks [@p begin, @p end) only: the replacement for one
  /// failed hop (put the failed peer in options.excluded_peers). Throws
  /// Error(invalid_argument) if begin >= end, Error(not_found) like plan() (the message names
  /// the range asked for, e.g. "(of 2-5)").
  Route plan_range(std::uint32_t begin, std::uint32_t end, const RouteOptions& options = {}) const;

  /// Returns the candidates, sorted by (peer id, begin, end).
  const std::vector<ServerRecord>& candidates() const noexcept { return candidates_; }

 private:
  std::vector<ServerRecord> candidates_;
};

/// Returns the @p n consecutive blocks of [0, @p num_blocks) that the swarm in @p records
/// serves least, for a new server choosing what to load (as Petals does for --num-blocks):
/// each block's coverage is the sum of the throughput of the records serving it, and the
/// window whose coverages, sorted ascending, are lexicographically smallest wins (so a
/// window with an uncovered or weaker block beats one without); ties go to the lowest start.
/// Records' ranges are clipped to [0, num_blocks). Throws Error(invalid_argument) unless
/// 0 < n <= num_blocks.
BlockRange choose_blocks_to_serve(const std::vector<ServerRecord>& records, std::uint32_t num_blocks,
                                  std::uint32_t n);

}  // namespace petalsln
