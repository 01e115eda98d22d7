#include "petalsln/rpc/server_info.hpp"

#include <grpcpp/grpcpp.h>

#include <future>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/call_failure.hpp"
#include "rpc/channels.hpp"
#include "util/clock.hpp"

namespace petalsln {
namespace {

std::string short_hex(const ModelFingerprint& f) { return util::to_hex(f.data(), 4) + "…"; }

// The reason a verified record is not a usable server for @p model, or nothing.
std::optional<Exclusion> unusable(const InfoOutcome& o, const std::string& model, const ModelFingerprint& fingerprint) {
  const ServerInfo& info = *o.info;
  if (info.record.model != model || info.record.model_fingerprint != fingerprint) {
    return Exclusion{o.endpoint, ExclusionReason::wrong_model,
                     "serves \"" + info.record.model + "\" (fingerprint " + short_hex(info.record.model_fingerprint) + "), not \"" +
                         model + "\" (" + short_hex(fingerprint) + ")"};
  }
  if (info.max_sessions > 0 && info.active_sessions >= info.max_sessions) {
    return Exclusion{o.endpoint, ExclusionReason::full,
                     std::to_string(info.active_sessions) + " of " + std::to_string(info.max_sessions) + " sessions in use"};
  }
  return std::nullopt;
}

void count(DropCounts& d, ExclusionReason reason) {
  switch (reason) {
    case ExclusionReason::unreachable: ++d.unreachable; break;
    case ExclusionReason::timed_out: ++d.timed_out; break;
    case ExclusionReason::refused: ++d.refused; break;
    case ExclusionReason::full: ++d.full; break;
    case ExclusionReason::wrong_model: ++d.wrong_fingerprint; break;
    case ExclusionReason::bad_record: ++d.malformed; break;
  }
}

}  // namespace

InfoOutcome try_fetch_server_info(const std::string& endpoint, std::chrono::milliseconds timeout) {
  InfoOutcome out;
  out.endpoint = endpoint;
  auto stub = v1::Blocks::NewStub(rpc::channel_for(endpoint));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::InfoRequest req;
  v1::InfoResponse resp;
  const auto t0 = std::chrono::steady_clock::now();
  const auto status = stub->Info(&ctx, req, &resp);
  const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  if (!status.ok()) {
    out.failure = rpc::exclusion_from_status(endpoint, status, std::chrono::duration<double>(rtt).count());
    return out;
  }
  std::string bytes;
  resp.record().SerializeToString(&bytes);
  ServerInfo info;
  try {
    info.record = ServerRecord::verify_signed(bytes, util::unix_seconds());
  } catch (const Error& e) {
    out.failure = Exclusion{endpoint, ExclusionReason::bad_record, e.what()};
    return out;
  }
  info.round_trip = rtt;
  info.active_sessions = static_cast<int>(resp.active_sessions());
  info.max_sessions = static_cast<int>(resp.max_sessions());
  out.info = std::move(info);
  return out;
}

std::vector<InfoOutcome> fetch_server_infos(const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout) {
  // One thread per endpoint: lists are short (a --peers flag), and gRPC's blocking calls
  // are the simplest correct way to bound every call by the same deadline.
  std::vector<std::future<InfoOutcome>> pending;
  pending.reserve(endpoints.size());
  for (const auto& e : endpoints) pending.push_back(std::async(std::launch::async, try_fetch_server_info, e, timeout));
  std::vector<InfoOutcome> out;
  out.reserve(endpoints.size());
  for (auto& p : pending) out.push_back(p.get());
  return out;
}

ServerInfo fetch_server_info(const std::string& endpoint, std::chrono::milliseconds timeout) {
  InfoOutcome o = try_fetch_server_info(endpoint, timeout);
  if (o.info) return std::move(*o.info);
  const ErrorCode code = o.failure->reason == ExclusionReason::bad_record ? ErrorCode::invalid_format : ErrorCode::io;
  throw Error(code, "server " + o.failure->describe());
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
  if (timeout_.count() <= 0) throw Error(ErrorCode::invalid_argument, "a static peer list needs a positive Info timeout");
}

void StaticDiscovery::announce(const ServerRecord&, const NodeIdentity&) {}
void StaticDiscovery::withdraw(const std::string&, const NodeIdentity&) {}

LookupResult StaticDiscovery::lookup(const std::string& model, const ModelFingerprint& fingerprint) {
  LookupResult result;
  for (auto& o : fetch_server_infos(endpoints_, timeout_)) {
    std::optional<Exclusion> why = o.failure ? o.failure : unusable(o, model, fingerprint);
    if (why) {
      count(result.dropped, why->reason);
      result.excluded.push_back(std::move(*why));
      continue;
    }
    result.round_trip[o.info->record.peer_id] = o.info->round_trip;
    result.records.push_back(std::move(o.info->record));
  }
  return result;
}

}  // namespace petalsln
