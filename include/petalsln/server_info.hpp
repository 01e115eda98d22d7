#pragma once
/// @file server_info.hpp
/// Asking a server who it is: the `Info` call, as a ping and as static-peer discovery.

#include <chrono>
#include <string>
#include <vector>

#include "petalsln/discovery.hpp"
#include "petalsln/server_record.hpp"

namespace petalsln {

/// What one Info call learned.
struct ServerInfo {
  ServerRecord record;      ///< The server's verified, unexpired record.
  double round_trip_s = 0;  ///< Wall time of the call (a latency estimate).
  int active_sessions = 0;  ///< Sessions open on it.
  int max_sessions = 0;     ///< Its session limit.
};

/// Calls Info on @p endpoint ("host:port") within @p timeout and verifies the signed record
/// it returns. Throws Error(io) when the server cannot be reached in time, and
/// Error(invalid_format) when its record does not verify (the message says why).
ServerInfo fetch_server_info(const std::string& endpoint, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));

/// Discovery over a fixed list of endpoints (`--peers`), for setups without a DHT: lookup()
/// calls Info on each and keeps the records that verify and match the model; unreachable or
/// invalid peers are counted in the drop counts (malformed), never returned.
/// announce()/withdraw() do nothing.
class StaticDiscovery final : public Discovery {
 public:
  /// @p endpoints are "host:port" strings; throws Error(invalid_argument) for an empty list
  /// or a malformed entry.
  explicit StaticDiscovery(std::vector<std::string> endpoints, std::chrono::milliseconds timeout = std::chrono::milliseconds(3000));
  void announce(const ServerRecord& record, const NodeIdentity& identity) override;
  void withdraw(const std::string& model, const NodeIdentity& identity) override;
  LookupResult lookup(const std::string& model, const ModelFingerprint& fingerprint) override;

 private:
  std::vector<std::string> endpoints_;
  std::chrono::milliseconds timeout_;
};

/// Splits "host:port,host:port" into endpoints, checking each has a host and a port in
/// 1..65535. Throws Error(invalid_argument) naming the bad entry.
std::vector<std::string> parse_endpoint_list(const std::string& list);

}  // namespace petalsln
