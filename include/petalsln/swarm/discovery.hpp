#pragma once
/// @file discovery.hpp
/// Finding the servers of a model: announcing a signed ServerRecord, withdrawing it, and
/// looking up the live, verified records of a model. DhtDiscovery does it over OpenDHT.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "petalsln/swarm/model_fingerprint.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/server_record.hpp"

namespace petalsln {

/// How many values a lookup dropped, by reason. A record counts once, under the first check
/// it failed (size, parse and fields, signature, model, time). Lookups that ask servers
/// directly (StaticDiscovery) also count the servers that gave no usable answer.
struct DropCounts {
  std::size_t oversized = 0;          ///< Larger than the record size limit.
  std::size_t malformed = 0;          ///< Unparseable, or a field out of its domain.
  std::size_t bad_signature = 0;      ///< Forged, tampered, or signed by a key other than its peer id.
  std::size_t wrong_fingerprint = 0;  ///< Authentic, but for another model (name or fingerprint).
  std::size_t expired = 0;            ///< Authentic, but the newest record of its peer has expired.
  std::size_t issued_in_future = 0;   ///< Authentic, but issued beyond the clock-skew tolerance.
  std::size_t unreachable = 0;        ///< No connection (refused, reset, no route): see ExclusionReason.
  std::size_t timed_out = 0;          ///< Connected or connecting, but no answer in time.
  std::size_t refused = 0;            ///< Answered the request with an error status.
  std::size_t full = 0;               ///< Answered, but has no free session (RESOURCE_EXHAUSTED).

  /// Returns the sum of all counts.
  std::size_t total() const noexcept {
    return oversized + malformed + bad_signature + wrong_fingerprint + expired + issued_in_future + unreachable + timed_out +
           refused + full;
  }
};

/// Why a candidate server was left out of a lookup or a route.
enum class ExclusionReason {
  unreachable,  ///< No connection could be made (refused, reset, no route to host).
  timed_out,    ///< No answer before the deadline.
  refused,      ///< The server answered with an error status other than the ones below.
  full,         ///< The server is at its session or cache limit (RESOURCE_EXHAUSTED).
  wrong_model,  ///< A valid record for another model name or fingerprint.
  bad_record,   ///< A record that does not verify (malformed, forged, expired).
};

/// Returns the reason as it appears in messages: "unreachable", "timed out", "refused",
/// "full", "wrong model" or "bad record".
inline const char* to_string(ExclusionReason reason) noexcept {
  switch (reason) {
    case ExclusionReason::unreachable: return "unreachable";
    case ExclusionReason::timed_out: return "timed out";
    case ExclusionReason::refused: return "refused";
    case ExclusionReason::full: return "full";
    case ExclusionReason::wrong_model: return "wrong model";
    case ExclusionReason::bad_record: return "bad record";
  }
  return "excluded";
}

/// Returns true for reasons that can clear by themselves within seconds (a server starting,
/// restarting, overloaded or full), so a client may retry: unreachable, timed_out, full.
/// A wrong model, a bad record or an explicit refusal stays as it is until an operator acts.
inline bool is_transient(ExclusionReason reason) noexcept {
  return reason == ExclusionReason::unreachable || reason == ExclusionReason::timed_out || reason == ExclusionReason::full;
}

/// One candidate a lookup (or a client) left out, and why.
struct Exclusion {
  std::string candidate;  ///< The server as the user knows it: "host:port", or a peer id when there is no endpoint.
  ExclusionReason reason = ExclusionReason::unreachable;  ///< The class of failure.
  std::string detail;     ///< What exactly happened, e.g. "connection refused".

  /// Returns "<candidate> <reason> (<detail>)", e.g. "127.0.0.1:5000 unreachable (connection
  /// refused)"; without the parenthesis when detail is empty.
  std::string describe() const { return candidate + " " + to_string(reason) + (detail.empty() ? "" : " (" + detail + ")"); }
};

/// The outcome of a lookup.
struct LookupResult {
  /// Valid, unexpired records of the model with the asked fingerprint: the newest (highest
  /// issued_at) per peer, peers that withdrew left out, sorted by peer id.
  std::vector<ServerRecord> records;
  /// Values that were refused, by reason. Older records of a peer superseded by a newer one
  /// and tombstones are not counted: they are the protocol working, not an attack.
  DropCounts dropped;
  /// The candidates left out and why, one entry each, where a lookup knows which candidate
  /// it asked (StaticDiscovery: every endpoint that gave no usable record). DHT lookups
  /// report anonymous values in `dropped` only.
  std::vector<Exclusion> excluded;
  /// Round-trip time of the lookup's own call to each returned peer, where the lookup asked
  /// the servers directly (StaticDiscovery); empty for DHT lookups. Lets a client plan by
  /// latency without pinging the same servers again.
  std::map<PeerId, std::chrono::microseconds> round_trip;
  /// True if the lookup stopped at its value-count limit or its time limit before the DHT
  /// search finished; the records are then what had arrived by then.
  bool truncated = false;
};

/// Where servers announce themselves and clients find them.
class Discovery {
 public:
  /// Destroys the discovery (implementations document what they withdraw).
  virtual ~Discovery() = default;

  /// Publishes @p record, signed by @p identity, and keeps it published until withdraw() or
  /// destruction. Replaces an earlier announcement of the same model by the same identity.
  /// The implementation stamps issued_at and expires_at itself (see its documentation).
  /// Throws Error(invalid_argument) if record.peer_id is not @p identity's peer id or a field
  /// is out of its domain.
  virtual void announce(const ServerRecord& record, const NodeIdentity& identity) = 0;

  /// Withdraws @p identity's announcement for @p model, so lookups stop returning it at once.
  /// Does nothing if there is none.
  virtual void withdraw(const std::string& model, const NodeIdentity& identity) = 0;

  /// Returns the live records of @p model whose fingerprint is @p fingerprint (see
  /// LookupResult). Bounded in time and in the number of values examined.
  virtual LookupResult lookup(const std::string& model, const ModelFingerprint& fingerprint) = 0;
};

/// Returns true if @p a, an authentic record of some peer, replaces @p b, an authentic record
/// of the same peer: a later issued_at wins; at an equal issued_at a tombstone wins (a
/// withdrawal is never undone by a record of the same age), then the later expires_at.
bool supersedes(const ServerRecord& a, const ServerRecord& b) noexcept;

/// Returns a lookup's result over raw signed values found for @p model: each is checked with
/// ServerRecord::check_signed() at time @p now, the current authentic record per peer wins (see
/// supersedes(); a tombstone removes its peer), and only records of @p model with
/// @p fingerprint are kept. The building block of every Discovery.
LookupResult select_records(const std::vector<std::string>& values, const std::string& model,
                            const ModelFingerprint& fingerprint, std::uint64_t now,
                            std::size_t max_record_bytes = kMaxSignedRecordBytes);

/// Settings of a DhtDiscovery node.
struct DhtDiscoveryOptions {
  /// UDP port to listen on; 0 picks a free one (see DhtDiscovery::bound_port()).
  std::uint16_t port = 0;
  /// Address to bind: an IPv4 or IPv6 literal ("127.0.0.1" keeps the node on loopback,
  /// "0.0.0.0" or "::" listens everywhere). The node speaks that address family only.
  std::string bind_address = "0.0.0.0";
  /// DHT nodes to join, each "host:port" (an IPv6 host in brackets: "[::1]:4222"); empty
  /// starts a new swarm that others join through this node.
  std::vector<std::string> bootstrap_nodes;
  /// OpenDHT network id: nodes only talk to nodes with the same id. The default keeps
  /// petalsln swarms apart from OpenDHT's public network and from other applications.
  std::uint32_t network_id = 0x504c4e31;  // "PLN1"
  /// Lifetime of each announced record (expires_at - issued_at): how long a crashed server
  /// stays listed. At most 600 s, the time DHT nodes keep a value nobody refreshes.
  std::chrono::seconds record_ttl{180};
  /// How often the background thread re-signs and re-publishes each announcement with a
  /// fresh issued_at/expires_at; must be below record_ttl (a third of it survives two misses).
  std::chrono::milliseconds reannounce_interval{60000};
  /// Longest a lookup waits for the DHT search to finish.
  std::chrono::milliseconds lookup_timeout{3000};
  /// Most values a lookup examines; the rest are ignored (LookupResult::truncated).
  std::size_t max_lookup_values = 1024;
  /// Size limit for one signed record.
  std::size_t max_record_bytes = kMaxSignedRecordBytes;
  /// Longest the destructor waits for its withdrawals to be stored before leaving the DHT.
  std::chrono::milliseconds shutdown_timeout{2000};
  /// Current time in unix seconds; the system clock if empty (tests substitute their own).
  std::function<std::uint64_t()> clock;
};

/// A Discovery over OpenDHT (a Kademlia DHT over UDP). Records live under the key
/// InfoHash::get("petalsln/v1/" + model) as values of a petalsln value type whose value id is
/// derived from the peer id, so each peer has one value per model. Every petalsln node
/// registers that type with a store policy (keep only authentic records, under the key of
/// their model) and an edit policy (a value is replaced only by an authentic record of the same
/// peer that is not older), so honest nodes never relay junk and nobody but a peer can replace
/// or roll back its record. Readers check everything again (select_records()): a hostile node
/// can withhold records, never forge them.
///
/// Announcing stamps issued_at = now (never decreasing per peer and model; a record after a
/// withdrawal is strictly newer than its tombstone) and
/// expires_at = issued_at + record_ttl; a background thread re-signs and re-publishes every
/// announcement each reannounce_interval, so a live server never expires and a crashed one
/// disappears within record_ttl. Withdrawing publishes a signed tombstone (same peer, newer
/// issued_at, expires_at == issued_at) that replaces the record, so lookups drop the peer at
/// once; the destructor withdraws everything still announced, waits up to shutdown_timeout for
/// the tombstones to be stored, and leaves the DHT. All methods are thread-safe.
class DhtDiscovery : public Discovery {
 public:
  /// Starts a DHT node with @p options and begins joining the bootstrap nodes (joining goes
  /// on in the background; see wait_until_connected()). Throws Error(invalid_argument) for a
  /// bad option (address, bootstrap entry, ttl, interval) and Error(io) if the socket cannot
  /// be bound.
  explicit DhtDiscovery(DhtDiscoveryOptions options);
  /// Withdraws every announcement (bounded by shutdown_timeout) and stops the node.
  ~DhtDiscovery() override;
  DhtDiscovery(const DhtDiscovery&) = delete;             ///< A node owns its socket and threads.
  DhtDiscovery& operator=(const DhtDiscovery&) = delete;  ///< A node owns its socket and threads.

  /// Returns the UDP port the node is bound to (useful with port 0).
  std::uint16_t bound_port() const;

  /// Returns "address:port" that other nodes can bootstrap from when they share the bind
  /// address's network ("127.0.0.1:PORT" when bound to the wildcard address).
  std::string bootstrap_address() const;

  /// Waits up to @p timeout until the node knows at least @p min_nodes other DHT nodes that
  /// answered it recently; returns whether it does. A node that starts a new swarm returns
  /// false until someone joins it.
  bool wait_until_connected(std::chrono::milliseconds timeout, std::size_t min_nodes = 1) const;

  /// Returns how many other DHT nodes this node knows and has heard from recently.
  std::size_t known_nodes() const;

  /// See Discovery::announce(). Signs and publishes at once (without waiting for storage
  /// acknowledgements) and keeps a copy of @p identity's key for re-announcing; the copy is
  /// wiped on withdraw() and destruction.
  void announce(const ServerRecord& record, const NodeIdentity& identity) override;

  /// See Discovery::withdraw(). Publishes the tombstone and waits up to shutdown_timeout for
  /// it to be stored.
  void withdraw(const std::string& model, const NodeIdentity& identity) override;

  /// See Discovery::lookup(). Waits at most lookup_timeout.
  LookupResult lookup(const std::string& model, const ModelFingerprint& fingerprint) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
