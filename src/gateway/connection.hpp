#pragma once
// The Beast side of one client connection: its socket (HTTP or HTTPS, then perhaps WebSocket), run on
// a thread of its own from the first request to the close, with every read and write bounded
// by a timeout. The hub that knows every connection lets the gateway stop them.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "gateway/api_handlers.hpp"

namespace boost::asio::ssl {
class context;
}

namespace petalsln::gateway {

class ConnectionHub;

/// One connection's socket: HTTP over plain TCP or TLS, or a WebSocket after an upgrade. The
/// hub holds connections by this base; the stream itself (plain or TLS) lives in the
/// connection.cpp template that serves both with one implementation. Its executor is a
/// strand, so post_close() never races the connection's own operations.
struct ConnectionIo : std::enable_shared_from_this<ConnectionIo> {
  /// The strand executor every operation on the socket runs on.
  using Executor = boost::asio::ip::tcp::socket::executor_type;
  /// Takes the strand of the accepted socket.
  explicit ConnectionIo(Executor strand) : executor(std::move(strand)) {}
  virtual ~ConnectionIo() = default;
  ConnectionIo(const ConnectionIo&) = delete;             ///< Owns a socket.
  ConnectionIo& operator=(const ConnectionIo&) = delete;  ///< Owns a socket.

  Executor executor;  ///< See Executor (the move into a WebSocket included).
  bool idle = false;  ///< Waiting for a request, a message or a TLS handshake (guarded by the hub's mutex).

  /// Closes the socket from its strand: any pending operation ends with an error.
  virtual void post_close() = 0;
  /// See run_connection().
  virtual void serve(ConnectionHub& hub, ApiContext& api) noexcept = 0;
  /// See refuse_busy().
  virtual void refuse_busy(std::chrono::milliseconds timeout) = 0;
};

/// Returns a connection over @p socket (accepted on a strand): plain HTTP when @p tls is null,
/// else HTTPS/WSS with @p tls (which must outlive the connection; the handshake happens in
/// run_connection()).
std::shared_ptr<ConnectionIo> make_connection(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context* tls);

/// Answers a connection the gateway has no room for with 503 and closes it, asynchronously and
/// without a thread (over TLS after a handshake; the whole exchange is bounded by @p timeout).
void refuse_busy(const std::shared_ptr<ConnectionIo>& io, std::chrono::milliseconds timeout);

/// Every open connection, so that stop() can close idle ones and cancel busy ones.
class ConnectionHub {
 public:
  /// Admits a new connection unless stopping or at @p max_connections; true when admitted.
  bool admit(const std::shared_ptr<ConnectionIo>& io, std::size_t max_connections);
  /// Forgets @p io (its thread is ending); wakes wait_empty().
  void leave(const std::shared_ptr<ConnectionIo>& io);
  /// Marks @p io idle (waiting for input) or busy. Returns false when the gateway is stopping
  /// and an idle connection should end instead of waiting.
  bool set_idle(const std::shared_ptr<ConnectionIo>& io, bool idle);
  /// Stops admitting and closes every idle connection.
  void begin_stop();
  /// Marks every running message cancelled and closes every connection.
  void cancel_all();
  /// True after cancel_all().
  bool cancelled() const noexcept { return cancelled_.load(); }
  /// Waits until no connection is left or @p timeout passes; true when none is left.
  bool wait_empty(std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mutex_;
  std::condition_variable empty_;
  std::set<std::shared_ptr<ConnectionIo>> all_;
  bool stopping_ = false;
  std::atomic<bool> cancelled_{false};
};

/// Serves @p io until it closes: the TLS handshake on a TLS connection (within the options'
/// tls_handshake_timeout; a failed one closes only this socket), then HTTP requests
/// (keep-alive) or one WebSocket session. Runs on the connection's own thread; never throws.
void run_connection(const std::shared_ptr<ConnectionIo>& io, ConnectionHub& hub, ApiContext& api);

}  // namespace petalsln::gateway
