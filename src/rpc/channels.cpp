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
    // Fail fast and reconnect fast: a dead server must be noticed within a step timeout.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    ch = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
  }
  return ch;
}

}  // namespace petalsln::rpc
