#include "petalsln/server_info.hpp"

#include <grpcpp/grpcpp.h>

#include "petalsln/error.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/channels.hpp"
#include "util/clock.hpp"

namespace petalsln {

ServerInfo fetch_server_info(const std::string& endpoint, std::chrono::milliseconds timeout) {
  auto stub = v1::Blocks::NewStub(rpc::channel_for(endpoint));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::InfoRequest req;
  v1::InfoResponse resp;
  const auto t0 = std::chrono::steady_clock::now();
  const auto status = stub->Info(&ctx, req, &resp);
  const double rtt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!status.ok()) throw Error(ErrorCode::io, "server " + endpoint + " did not answer Info: " + status.error_message());
  std::string bytes;
  resp.record().SerializeToString(&bytes);
  ServerInfo info;
  try {
    info.record = ServerRecord::verify_signed(bytes, util::unix_seconds());
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_format, "server " + endpoint + " sent an invalid record: " + e.what());
  }
  info.round_trip_s = rtt;
  info.active_sessions = static_cast<int>(resp.active_sessions());
  info.max_sessions = static_cast<int>(resp.max_sessions());
  return info;
}

std::vector<std::string> parse_endpoint_list(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const auto comma = list.find(',', start);
    const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const auto colon = item.rfind(':');
    bool ok = colon != std::string::npos && colon > 0 && colon + 1 < item.size() && item.size() <= 255;
    if (ok) {
      const std::string port = item.substr(colon + 1);
      ok = port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5 && std::stoi(port) >= 1 && std::stoi(port) <= 65535;
    }
    if (!ok) throw Error(ErrorCode::invalid_argument, "\"" + item + "\" is not a host:port endpoint");
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

StaticDiscovery::StaticDiscovery(std::vector<std::string> endpoints, std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)), timeout_(timeout) {
  if (endpoints_.empty()) throw Error(ErrorCode::invalid_argument, "a static peer list needs at least one endpoint");
}

void StaticDiscovery::announce(const ServerRecord&, const NodeIdentity&) {}
void StaticDiscovery::withdraw(const std::string&, const NodeIdentity&) {}

LookupResult StaticDiscovery::lookup(const std::string& model, const ModelFingerprint& fingerprint) {
  LookupResult result;
  for (const auto& endpoint : endpoints_) {
    try {
      auto info = fetch_server_info(endpoint, timeout_);
      if (info.record.model != model || info.record.model_fingerprint != fingerprint) {
        ++result.dropped.wrong_fingerprint;
        continue;
      }
      result.records.push_back(std::move(info.record));
    } catch (const Error&) {
      ++result.dropped.malformed;
    }
  }
  return result;
}

}  // namespace petalsln
