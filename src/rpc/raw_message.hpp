#pragma once
// Protobuf messages to and from the raw byte buffers of gRPC's callback API. The server takes
// its requests raw so that bytes which are not a valid message get INVALID_ARGUMENT from
// petalsln, instead of gRPC's own INTERNAL (unary) or a silent end of stream (streams).

#include <google/protobuf/message_lite.h>
#include <grpcpp/support/byte_buffer.h>

#include <string>
#include <vector>

namespace petalsln::rpc {

/// Parses @p buffer into @p message; returns false if the bytes are not a valid message.
inline bool parse_raw(const grpc::ByteBuffer& buffer, google::protobuf::MessageLite* message) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return false;
  std::string bytes;
  bytes.reserve(buffer.Length());
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return message->ParseFromString(bytes);
}

/// Serializes @p message into @p buffer (replacing its contents).
inline void serialize_raw(const google::protobuf::MessageLite& message, grpc::ByteBuffer* buffer) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  *buffer = grpc::ByteBuffer(&slice, 1);
}

}  // namespace petalsln::rpc
