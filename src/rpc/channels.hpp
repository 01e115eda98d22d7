#pragma once
// One gRPC channel per endpoint, shared by every stub in the process (channels multiplex
// streams; making one per call would redo the TCP handshake every time).

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

namespace petalsln::rpc {

/// Returns the process-wide channel to @p endpoint ("host:port"), creating it on first use.
std::shared_ptr<grpc::Channel> channel_for(const std::string& endpoint);

}  // namespace petalsln::rpc
