#pragma once
// Who may hold what on a contributor server. Every call from a peer holds a Ticket for as long
// as it runs: the ticket counts its stream against the server's and its address's limits,
// marks it as a session once a valid `open` (and payment) has been accepted, holds its KV-cache
// reservation, and carries the deadline by which it must do something. Everything is given
// back when the ticket is destroyed, on every exit path, so nothing a peer took can outlive
// its call. No gRPC types here: the limits are plain bookkeeping, tested on their own.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace petalsln::rpc {

/// A call that can be told its deadline has passed (an Inference stream).
class DeadlineListener {
 public:
  virtual ~DeadlineListener() = default;
  /// Called at most once per deadline, on the reaper's thread, outside the Admission's lock
  /// (so it may end its call at once); must not block.
  virtual void deadline_passed() = 0;
};

/// The limits an Admission enforces. Every count is > 0.
struct AdmissionLimits {
  int max_streams = 80;           ///< Calls in progress from all addresses.
  int max_sessions = 16;          ///< Opened sessions from all addresses.
  int max_streams_per_peer = 16;  ///< Calls in progress from one address.
  int max_sessions_per_peer = 12; ///< Opened sessions from one address.
  std::int64_t cache_budget_bytes = 512LL << 20;  ///< KV-cache bytes over all calls.
};

/// Thread-safe bookkeeping of calls, sessions and cache bytes per peer address.
class Admission {
 public:
  using Clock = std::chrono::steady_clock;

  /// Starts with nothing admitted. Throws Error(invalid_argument) for a non-positive limit.
  explicit Admission(AdmissionLimits limits);
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  /// What one call holds; releases all of it when destroyed. Movable, not copyable.
  class Ticket {
   public:
    Ticket() = default;
    ~Ticket();
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&& other) noexcept;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;

    /// True if this ticket was admitted (and not yet released).
    bool valid() const noexcept { return owner_ != nullptr; }
    /// The peer address key the ticket counts against.
    const std::string& peer() const noexcept { return peer_; }

    /// Turns the call into a session. Returns "" on success, else a refusal naming the limit.
    std::string open_session();
    /// Reserves @p bytes of KV cache for this call (added to what it holds). Returns "" on
    /// success, else a refusal saying how much is free.
    std::string reserve_cache(std::int64_t bytes);
    /// Sets the time by which the call must next act; a time_point of max() means none.
    void set_deadline(Clock::time_point deadline);

   private:
    friend class Admission;
    Admission* owner_ = nullptr;
    std::uint64_t id_ = 0;
    std::string peer_;
    void release() noexcept;
  };

  /// Admits a call from @p peer (an address key, see peer_address_key()) with deadline
  /// @p deadline, reported to @p listener (may be empty: no deadline; held weakly, so a call
  /// that ended is never told). Returns "" and fills
  /// @p out, or returns a refusal naming the limit that was reached (a server that is
  /// stopping refuses everything).
  std::string admit(const std::string& peer, std::weak_ptr<DeadlineListener> listener, Clock::time_point deadline, Ticket* out);

  /// Calls deadline_passed() on every call whose deadline is before @p now, once each.
  void expire_overdue(Clock::time_point now);
  /// Refuses every later admit().
  void stop();

  /// Opened sessions right now.
  int sessions() const;
  /// Calls in progress right now.
  int streams() const;
  /// KV-cache bytes reserved right now.
  std::int64_t cache_used() const;
  /// The configured limits.
  const AdmissionLimits& limits() const noexcept { return limits_; }

 private:
  struct Call {
    std::string peer;
    std::weak_ptr<DeadlineListener> listener;
    Clock::time_point deadline;
    bool session = false;
    std::int64_t cache_bytes = 0;
  };
  struct PeerCounts {
    int streams = 0;
    int sessions = 0;
  };
  void release(std::uint64_t id) noexcept;
  std::string open_session(std::uint64_t id);
  std::string reserve_cache(std::uint64_t id, std::int64_t bytes);
  void set_deadline(std::uint64_t id, Clock::time_point deadline);

  const AdmissionLimits limits_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, Call> calls_;
  std::map<std::string, PeerCounts> peers_;
  std::uint64_t next_id_ = 1;
  int sessions_ = 0;
  std::int64_t cache_used_ = 0;
  bool stopping_ = false;
};

/// Returns the key a peer's limits are counted under, from gRPC's peer string: the IPv4
/// address ("ipv4:1.2.3.4:5" → "1.2.3.4"), an IPv4-mapped IPv6 address as IPv4, and the /64
/// prefix of any other IPv6 address (one host usually owns a whole /64), e.g. "2001:db8:0:1::/64".
/// Anything else (unix sockets, unknown forms) is returned as given.
std::string peer_address_key(const std::string& grpc_peer);

}  // namespace petalsln::rpc
