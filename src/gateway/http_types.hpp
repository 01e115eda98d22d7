#pragma once
// The HTTP and WebSocket shapes the API handlers see, with no Beast in sight: a parsed
// request, a response, a writer that can also stream (SSE), and a text-message channel for
// WebSocket sessions. The Beast side (connection.cpp) implements the writer and the channel.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace petalsln::gateway {

/// A request as received (its body within the gateway's limit).
struct HttpRequest {
  std::string method;   ///< "GET", "POST", ...
  std::string path;     ///< The target before '?'.
  std::string query;    ///< The target after '?' ("" = none).
  std::map<std::string, std::string> headers;  ///< Names in lower case.
  std::string remote;   ///< The client's IP address ("" when unknown).
  std::string body;

  /// Returns the header @p lower_case_name, or "" when absent.
  std::string header(const std::string& lower_case_name) const {
    const auto it = headers.find(lower_case_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// A whole response.
struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< Extra headers.
};

/// What a request did, for its log line: filled by the handler.
struct RequestAccount {
  int status = 0;
  std::int64_t tokens = 0;  ///< Prompt plus generated tokens.
  std::uint64_t msat = 0;   ///< What the client was charged.
};

/// Sends the answer to one request: either respond() once, or begin_stream(), any number of
/// write_chunk() and end_stream(). A write that fails (client gone, too slow) returns false
/// and the connection is closed afterwards.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  /// Sends @p response whole.
  virtual bool respond(const HttpResponse& response) = 0;
  /// Sends the head of a chunked response with @p status and @p content_type.
  virtual bool begin_stream(int status, const std::string& content_type) = 0;
  /// Sends @p data as one chunk (nothing for empty data).
  virtual bool write_chunk(const std::string& data) = 0;
  /// Ends a chunked response.
  virtual bool end_stream() = 0;
  /// True when the gateway is stopping past its grace: a running message should end.
  virtual bool cancelled() const = 0;
  /// The request's log entry.
  RequestAccount account;
};

/// One WebSocket message received.
struct ChannelMessage {
  enum class Kind { text, binary, closed } kind = Kind::closed;  ///< closed: the socket ended.
  std::string data;
};

/// A WebSocket session's messages, one at a time.
class MessageChannel {
 public:
  virtual ~MessageChannel() = default;
  /// Waits for the next message (at most the idle timeout; then Kind::closed).
  virtual ChannelMessage receive() = 0;
  /// Sends @p text as one text message; false when the socket is gone or too slow.
  virtual bool send(const std::string& text) = 0;
  /// True when the gateway is stopping past its grace: a running message should end.
  virtual bool cancelled() const = 0;
  /// Writes one log line for a message of this session.
  virtual void log(const std::string& what, const RequestAccount& account, std::int64_t ms) = 0;
};

}  // namespace petalsln::gateway
