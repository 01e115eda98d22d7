#pragma once
// Waiting between retries of a transient failure: exponential backoff with jitter, bounded
// by a deadline. Jitter matters here: many clients that failed together (a server restarting
// under load) must not all come back in the same millisecond.

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

namespace petalsln::rpc {

/// Exponential backoff with "equal jitter" (each wait is uniform in [d/2, d], d doubling from
/// @p first up to @p cap) that never sleeps past a deadline. Not thread-safe.
class RetryBackoff {
 public:
  using Clock = std::chrono::steady_clock;

  /// Backs off from @p first, doubling up to @p cap, until @p deadline.
  RetryBackoff(Clock::time_point deadline, std::chrono::milliseconds first = std::chrono::milliseconds(100),
               std::chrono::milliseconds cap = std::chrono::milliseconds(2000))
      : deadline_(deadline), next_(first), cap_(cap), rng_(std::random_device{}()) {}

  /// Sleeps for the next wait, cut short at the deadline, and returns true; returns false at
  /// once (without sleeping) when the deadline has already passed, so the caller gives up.
  bool wait() {
    const auto now = Clock::now();
    if (now >= deadline_) return false;
    const auto d = next_.count();
    std::uniform_int_distribution<long long> jitter(d / 2, d);
    const auto pause = std::min<Clock::duration>(std::chrono::milliseconds(jitter(rng_)), deadline_ - now);
    next_ = std::min(next_ * 2, cap_);
    std::this_thread::sleep_for(pause);
    return true;
  }

  /// Seconds until the deadline (negative once it has passed).
  double seconds_left() const { return std::chrono::duration<double>(deadline_ - Clock::now()).count(); }

 private:
  Clock::time_point deadline_;
  std::chrono::milliseconds next_;
  std::chrono::milliseconds cap_;
  std::mt19937_64 rng_;
};

}  // namespace petalsln::rpc
