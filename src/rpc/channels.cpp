#include "rpc/channels.hpp"

#include <map>
#include <mutex>

namespace petalsln::rpc {

std::shared_ptr<grpc::Channel> channel_for(const std::string& endpoint) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  std::lock_guard<std::mutex> lock(mu);
  auto& ch = channels[endpoint];
  if (!ch) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(1 << 30);
    args.SetMaxSendMessageSize(1 << 30);
    // Reconnect fast: a restarted server must be found again within a step timeout.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    // Despite its name, gRPC uses this as the minimum time it lets one connection attempt
    // (TCP connect and HTTP/2 handshake) take. It was 100 ms: with 30 chats starting at once
    // on two cores, handshakes took longer, gRPC cut them off ("tcp handshaker shutdown")
    // and failed every call on that channel as UNAVAILABLE, so a healthy server was reported
    // missing. A refused connection still fails at once; calls are bounded by their deadlines.
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20000);
    ch = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
  }
  return ch;
}

}  // namespace petalsln::rpc
