#pragma once
// Runs the waiting steps of many sessions as one batch through the server's blocks, on the one
// compute thread. Decoding is memory-bound: one pass over the weights costs about the same for
// one row as for sixteen, so sixteen sessions that each wait for one token share a pass instead
// of taking sixteen turns. Fairness is kept the way FairScheduler keeps it: a batch is filled
// round-robin across peers, one step per peer per pass, at most one step per session (cache),
// and peers whose step did not fit go first next time; its size is bounded in sessions and in
// block-rows, so a long prefill (cut into chunks by the caller) delays others' decode steps by
// about one chunk, and those decode steps ride along in the same batch.
//
// Sessions answered by one batch send their next steps a network round trip later. Starting
// the next batch with whichever arrived first would split the sessions into two alternating
// halves, each paying for its own pass over the weights; so when steps of the last batch's
// sessions are still missing, the compute thread waits for them, at most an eighth of the last
// batch's compute time (and never over kMaxGatherWait): a bounded delay that buys back a pass.
// It waits only for sessions whose last step came back within that window: a session whose
// next step first goes through other servers (its next token needs the whole route) is not
// worth waiting for, and is not waited for.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <set>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "petalsln/model/block_stack.hpp"  // KVCache, and at::Tensor through it (no libtorch here directly)

namespace petalsln::rpc {

/// Block-rows (blocks × batch × positions) one batch may hold: room for one prefill chunk of
/// kBlockRowsPerChunk plus the decode steps waiting beside it (a decode step that does not fit
/// is first in line for the next batch).
constexpr std::int64_t kBlockRowsPerBatch = 2048;

/// The longest the compute thread waits for the last batch's sessions to send their next steps.
constexpr std::chrono::microseconds kMaxGatherWait{5000};

/// How one submitted step ended. Exactly one of: output defined, error set, cancelled.
struct StepOutcome {
  at::Tensor output;         ///< The blocks' output for the step, when it ran.
  std::exception_ptr error;  ///< Why it failed (as forward() threw it), when it failed.
  bool cancelled = false;    ///< Dropped unrun: its cancelled() said so when it was picked.
  /// Compute time charged to this step: the batch's wall time times the step's share of the
  /// batch's block-rows (a step run alone gets its own time). The shares add up to (within
  /// rounding) the batch's time, so receipts never count the server's compute seconds twice.
  std::int64_t micros = 0;
};

/// A step waiting for the compute thread: its input, its session's cache and what to do next.
struct PendingStep {
  at::Tensor hidden;                 ///< [cache batch, positions, hidden_size].
  KVCache* cache = nullptr;          ///< Its session's cache; must outlive the step.
  std::function<bool()> cancelled;   ///< Polled when the step is picked (may be empty).
  /// Called once on the compute thread with the outcome; may submit the next step. Must not throw.
  std::function<void(StepOutcome)> done;
};

/// Limits on what one batch holds.
struct BatchLimits {
  int max_sessions = 16;                          ///< Steps per batch (1 = every step alone).
  std::int64_t max_block_rows = kBlockRowsPerBatch;  ///< Block-rows per batch (the first step always fits).
};

/// The compute thread and its queue of steps, keyed by peer. Thread-safe.
class StepBatcher {
 public:
  /// Starts the compute thread over @p stack (which must outlive this). @p on_batch, if set, is
  /// called on the compute thread after each batch with its step count and block-rows; it must
  /// not throw. Throws Error(invalid_argument) for limits below 1.
  StepBatcher(const BlockStack& stack, BatchLimits limits, std::function<void(int steps, std::int64_t block_rows)> on_batch = {});
  /// Runs every step already submitted (and those their callbacks submit), then joins.
  ~StepBatcher();
  StepBatcher(const StepBatcher&) = delete;
  StepBatcher& operator=(const StepBatcher&) = delete;

  /// Queues @p step for @p peer. A session must not submit its next step before the previous
  /// one's done() ran (the steps of one cache are never reordered or batched together).
  void submit(const std::string& peer, PendingStep step);

  /// Steps waiting right now (not counting the batch running).
  std::size_t pending() const;

 private:
  void await_last_sessions(std::unique_lock<std::mutex>& lock);
  std::vector<PendingStep> take_batch();
  void run_batch(std::vector<PendingStep> batch);
  void expect_back(const std::vector<PendingStep>& batch, std::chrono::microseconds took);
  std::vector<StepOutcome> compute(const std::vector<PendingStep>& steps);
  void run();

  const BlockStack& stack_;
  const BatchLimits limits_;
  const std::function<void(int, std::int64_t)> on_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<PendingStep>> queues_;
  std::deque<std::string> turns_;  // peers with waiting steps, in serving order
  std::size_t pending_ = 0;
  // When each recent session was last answered (reset once its next step came) and how long
  // its last next step took to come: whether it is worth waiting for.
  struct Pace {
    std::chrono::steady_clock::time_point answered{};
    std::chrono::steady_clock::duration comes_back = std::chrono::steady_clock::duration::max();
  };
  std::map<const KVCache*, Pace> pace_;
  std::set<const KVCache*> expected_;  // sessions of the last batch worth waiting for, not back yet
  std::chrono::microseconds gather_wait_{0};  // how long to wait for them
  bool stopping_ = false;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace petalsln::rpc
