#pragma once
/// @file server_info.hpp
/// Asking a server who it is: the `Info` call, as a ping and as static-peer discovery.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/swarm/discovery.hpp"
#include "petalsln/swarm/server_record.hpp"

namespace petalsln {

/// What one Info call learned.
struct ServerInfo {
  ServerRecord record;      ///< The server's verified, unexpired record.
  std::chrono::microseconds round_trip{0};  ///< Wall time of the call (a latency estimate).
  int active_sessions = 0;  ///< Sessions open on it.
  int max_sessions = 0;     ///< Its session limit.
};

/// The outcome of asking one server for its Info: the answer, or why there is none.
struct InfoOutcome {
  std::string endpoint;             ///< The server asked ("host:port").
  std::optional<ServerInfo> info;   ///< Its verified answer, when the call succeeded.
  std::optional<Exclusion> failure; ///< Why there is no answer (unreachable, timed out, refused, bad record).
};

/// Calls Info on @p endpoint ("host:port"), waiting up to @p timeout for the answer, and
/// verifies the signed record it returns. A server that refuses connections fails at once
/// (unreachable, "connection refused"): retrying is the caller's decision, so that one dead
/// server in a list never delays the others. Never throws for a server's failure: the outcome
/// says what happened.
InfoOutcome try_fetch_server_info(const std::string& endpoint, std::chrono::milliseconds timeout);

/// Calls try_fetch_server_info() on every endpoint at once (so a lookup over N servers takes
/// as long as the slowest, not the sum) and returns the outcomes in the order of @p endpoints.
std::vector<InfoOutcome> fetch_server_infos(const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout);

/// Calls Info on @p endpoint ("host:port") within @p timeout and verifies the signed record
/// it returns. Throws Error(io) when the server cannot be reached in time or refuses (the
/// message names the endpoint and the reason, e.g. "unreachable (connection refused)"), and
/// Error(invalid_format) when its record does not verify (the message says why).
ServerInfo fetch_server_info(const std::string& endpoint, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

/// Discovery over a fixed list of endpoints (`--peers`), for setups without a DHT: lookup()
/// calls Info on all of them at once and keeps the records that verify and match the model.
/// Every other endpoint is listed in LookupResult::excluded with its reason (unreachable,
/// timed out, refused, full when it has no free session, wrong model, bad record) and counted
/// in the drop counts (unreachable, timed_out, refused, full, wrong_fingerprint, malformed).
/// announce()/withdraw() do nothing.
class StaticDiscovery final : public Discovery {
 public:
  /// @p endpoints are "host:port" strings; @p timeout bounds each lookup (all servers are
  /// asked at once). Throws Error(invalid_argument) for an empty list or a non-positive
  /// timeout.
  explicit StaticDiscovery(std::vector<std::string> endpoints, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  /// Does nothing: a static list has nowhere to announce to.
  void announce(const ServerRecord& record, const NodeIdentity& identity) override;
  /// Does nothing: a static list has nowhere to announce to.
  void withdraw(const std::string& model, const NodeIdentity& identity) override;
  /// See the class comment. Waits at most the timeout given at construction.
  LookupResult lookup(const std::string& model, const ModelFingerprint& fingerprint) override;

 private:
  std::vector<std::string> endpoints_;
  std::chrono::milliseconds timeout_;
};

/// Splits "host:port,host:port" into endpoints, checking each has a host and a port in
/// 1..65535. Throws Error(invalid_argument) naming the bad entry.
std::vector<std::string> parse_endpoint_list(const std::string& list);

}  // namespace petalsln
