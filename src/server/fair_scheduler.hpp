#pragma once
// Runs work for many peers on a fixed set of threads, taking turns between peers: each peer's
// jobs run one at a time in the order it submitted them, and a peer with a long queue waits its
// turn behind every other peer's next job. One at a time matters on a pool of several threads:
// a peer whose jobs block (on a wallet that is down) occupies one thread, never all of them. Long work is submitted as a chain of short jobs (the next one
// submitted when the previous ends), so a peer flooding large requests delays an honest peer
// by one job at most per round, never by its whole backlog.

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace petalsln::rpc {

/// A round-robin work queue keyed by peer. Thread-safe.
class FairScheduler {
 public:
  /// Starts @p threads worker threads (> 0). Throws Error(invalid_argument) otherwise.
  explicit FairScheduler(int threads);
  /// Runs every job already submitted, then joins the threads.
  ~FairScheduler();
  FairScheduler(const FairScheduler&) = delete;
  FairScheduler& operator=(const FairScheduler&) = delete;

  /// Queues @p job for @p peer. Jobs must not throw (an escaping exception is logged and
  /// dropped) and should be short: split long work into a chain.
  void submit(const std::string& peer, std::function<void()> job);

  /// Jobs waiting right now (not counting those running).
  std::size_t pending() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<std::function<void()>>> queues_;
  std::deque<std::string> turns_;  // peers with queued jobs and none running, in serving order
  std::set<std::string> running_;  // peers with a job running now
  std::size_t pending_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace petalsln::rpc
