#pragma once
// The Beast side of one client connection: its socket (HTTP, then perhaps WebSocket), run on
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
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "gateway/api_handlers.hpp"

namespace petalsln::gateway {

/// One connection's socket: plain HTTP, or WebSocket after an upgrade. Its executor is a
/// strand, so close() never races the connection's own operations.
struct ConnectionIo : std::enable_shared_from_this<ConnectionIo> {
  /// Takes @p socket (accepted on a strand).
  explicit ConnectionIo(boost::asio::ip::tcp::socket socket) : executor(socket.get_executor()), tcp(std::move(socket)) {}
  /// The strand every operation on the socket runs on (the move into ws included).
  boost::asio::ip::tcp::socket::executor_type executor;
  boost::beast::tcp_stream tcp;  ///< Moved into ws on upgrade.
  std::optional<boost::beast::websocket::stream<boost::beast::tcp_stream>> ws;  ///< After an upgrade.
  bool idle = false;  ///< Waiting for a request or message (guarded by the hub's mutex).

  /// Closes the socket from its strand: any pending operation ends with an error.
  void post_close();
};

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

/// Serves @p io until it closes: HTTP requests (keep-alive) or one WebSocket session.
/// Runs on the connection's own thread; never throws.
void run_connection(const std::shared_ptr<ConnectionIo>& io, ConnectionHub& hub, ApiContext& api);

}  // namespace petalsln::gateway
