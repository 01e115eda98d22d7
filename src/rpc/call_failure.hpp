#pragma once
// Turns the status of a failed client call into the reason a client shows and acts on
// (retry or give up), so discovery, pings and session opening all classify alike.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <string>

#include "petalsln/swarm/discovery.hpp"
#include "rpc/tcp_probe.hpp"

namespace petalsln::rpc {

/// Returns @p seconds as "2.5 s".
inline std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g s", seconds);
  return buf;
}

/// Returns the reason and detail for a call to @p endpoint that ended with @p status (not OK)
/// after @p waited_s seconds. UNAVAILABLE is "unreachable", with the cause from a TCP
/// connection attempt when gRPC's message does not name it (so a stopped server reads
/// "connection refused", the case users meet most), DEADLINE_EXCEEDED "timed
/// out", RESOURCE_EXHAUSTED "full", anything else "refused" with the code and message.
inline Exclusion exclusion_from_status(const std::string& endpoint, const grpc::Status& status, double waited_s) {
  Exclusion e;
  e.candidate = endpoint;
  std::string message = status.error_message();
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE: {
      e.reason = ExclusionReason::unreachable;
      // gRPC's text is that of its last connection attempt, not always the cause; the kernel
      // knows the cause (a second at most: a black-holed host would take longer).
      const std::string tcp = lower.find("connection refused") != std::string::npos
                                  ? "connection refused"
                                  : tcp_connect_error(endpoint, std::chrono::milliseconds(1000));
      e.detail = tcp.empty() ? message : tcp;
      break;
    }
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      e.reason = ExclusionReason::timed_out;
      e.detail = "no answer within " + seconds_text(waited_s);
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      e.reason = ExclusionReason::full;
      e.detail = message;
      break;
    default:
      e.reason = ExclusionReason::refused;
      e.detail = "status " + std::to_string(static_cast<int>(status.error_code())) + ": " + message;
  }
  return e;
}

}  // namespace petalsln::rpc
