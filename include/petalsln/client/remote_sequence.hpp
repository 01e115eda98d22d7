#pragma once
/// @file remote_sequence.hpp
/// The client side of the swarm: a BlockPipeline whose blocks run on a chain of servers,
/// with failover that replays a dead hop's inputs on a replacement.


#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "petalsln/client/receipt.hpp"
#include "petalsln/client/server_tokens.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/block_pipeline.hpp"
#include "petalsln/swarm/discovery.hpp"
#include "petalsln/swarm/route_planner.hpp"
#include "petalsln/swarm/server_record.hpp"

namespace petalsln {

/// Returns the servers currently known for the model (a DHT or static lookup). Called when
/// a route is planned and again for each failover, so it should return fresh records.
using CandidateSource = std::function<std::vector<ServerRecord>()>;

/// Like CandidateSource, but returns the whole lookup: the records, and the candidates it
/// left out with their reasons (named in errors, and deciding whether a retry can help) and
/// the round trips it measured (used instead of pinging again).
using CandidateLookup = std::function<LookupResult()>;

/// How a RemoteSequence plans, waits and recovers.
struct RemoteSequenceOptions {
  RouteOptions route;              ///< Planner mode, price limit, excluded peers.
  /// A hop that takes longer than this for one step (or to open its session) has failed.
  std::chrono::milliseconds step_timeout{30000};
  /// Info timeout when measuring latency before planning (candidates the lookup already
  /// asked are not pinged again). A server slower than this is left out as "timed out".
  std::chrono::milliseconds ping_timeout{2000};
  /// How long begin_sequence() (and each failover) keeps retrying when no route exists only
  /// because candidates are unreachable, timed out or full: it looks up, pings and plans
  /// again after exponential backoff with jitter (0.1 s doubling to 2 s) until this much time
  /// has passed, then fails naming every excluded candidate and its reason. Permanent
  /// reasons (a wrong model, a bad record, missing blocks) fail at once. 0: never retry.
  std::chrono::milliseconds route_timeout{30000};
  /// Replacements of failed hops allowed per sequence before giving up. Waiting for a full or
  /// unreachable server to accept a session is not a failover: route_timeout bounds it.
  int max_failovers = 8;
  bool ping_servers = true;        ///< Measure each candidate's latency with Info first.
  /// Pays priced servers' L402 challenges (null: only free servers can be used).
  std::shared_ptr<Wallet> wallet;
  std::uint64_t budget_msat = 0;   ///< Most this sequence object may spend, fees included.
  /// The tokens presented to servers, shared with other sequences so that credit one bought
  /// serves them all (null: this sequence's own).
  std::shared_ptr<ServerTokens> tokens;
  std::string model_name;          ///< Checked against challenges' `model=` caveat ("" = not checked).
};

/// What happened on the way (for interactive display and logs).
struct RemoteEvent {
  std::string message;  ///< e.g. "hop 1 (peer ab12…) failed: UNAVAILABLE; replanned blocks 3-5"
};

/// Timing of one step on one hop, as the client saw it.
struct HopTiming {
  std::size_t hop = 0;       ///< Index of the hop in the route at the time.
  std::int64_t tokens = 0;   ///< Positions in the step.
  std::chrono::microseconds round_trip{0};  ///< From sending the step to reading the reply.
  std::chrono::microseconds compute{0};     ///< What the server reported spending on compute.
};

/// Runs blocks [0, num_blocks) on remote servers, one Inference stream per hop. Keeps every
/// hidden state sent to each hop so that, when a hop fails (connection lost, error status,
/// timeout), it can plan a replacement for exactly that hop's blocks without the failed peer,
/// replay the inputs to rebuild the cache, and continue: the outputs are the same.
/// Not thread-safe.
class RemoteSequence final : public BlockPipeline {
 public:
  /// @p hidden_size is the model's width (checked on every reply). Throws
  /// Error(invalid_argument) for an empty source, no blocks, or a non-positive timeout.
  RemoteSequence(CandidateSource source, std::uint32_t num_blocks, std::int64_t hidden_size, RemoteSequenceOptions options = {});
  /// As above, with a source that reports why candidates were left out (see CandidateLookup).
  RemoteSequence(CandidateLookup lookup, std::uint32_t num_blocks, std::int64_t hidden_size, RemoteSequenceOptions options = {});
  ~RemoteSequence() override;

  /// Plans a route over the candidates and opens a session on every hop, paying priced
  /// servers' challenges through the wallet (a token is reused until its credit runs out).
  /// Unreachable, slow or full servers, and a lookup that finds no server at all, are retried
  /// until route_timeout (see there).
  /// Throws Error(not_found) naming uncovered blocks and each excluded candidate with its
  /// reason when no route exists (e.g. "no server covers blocks 0-7 (of 0-7): 127.0.0.1:5000
  /// unreachable (connection refused); still so after 12 attempts in 3 s"), Error(io) when
  /// sessions cannot be opened even after failover, Error(out_of_range) when paying would
  /// exceed the budget (nothing is paid then), Error(invalid_argument) for a challenge that
  /// does not match what the server announced.
  void begin_sequence(std::int64_t max_length) override;

  /// Closes the session on every hop, so that the servers free its caches and its place now
  /// rather than after their idle timeout. Bought credit, payments and work are kept; the
  /// next begin_sequence() plans a fresh route. Never throws.
  void end_sequence() noexcept;

  /// Sends @p hidden ([1, seq, hidden]) through every hop, failing over as needed (a failed
  /// hop whose blocks have no other server is retried as in begin_sequence()). Throws
  /// Error(io) after max_failovers, Error(not_found) when a failed hop's blocks have no other
  /// server within route_timeout.
  at::Tensor step(const at::Tensor& hidden) override;

  /// The current route (after any failover).
  std::vector<RouteHop> route() const;

  /// Failovers performed in this sequence.
  int failovers() const noexcept;

  /// Every successful hop step of this sequence, in order (replays included).
  const std::vector<HopTiming>& timings() const noexcept;

  /// Payments made so far (over all sequences), in order.
  const std::vector<RemotePayment>& payments() const noexcept;

  /// Work per server so far (over all sequences), in first-use order.
  std::vector<RemoteWork> work() const;

  /// Millisatoshis spent so far, fees included.
  std::uint64_t spent_msat() const noexcept;

  /// Called for each notable event (failover, replan). May be empty.
  std::function<void(const RemoteEvent&)> on_event;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
