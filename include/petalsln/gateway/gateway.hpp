#pragma once
/// @file gateway.hpp
/// The gateway role: a swarm client for one model that serves chat over HTTP/1.1 and
/// WebSocket in three dialects — OpenAI's (`/v1/chat/completions`, `/v1/completions`,
/// `/v1/models`), chat.petals.dev's (`/api/v1/generate`, the WebSocket `/api/v2/generate`)
/// and the swarm's view (`/api/v1/swarm`). Each request and each WebSocket gets its own
/// generation session; they run concurrently.

#include <chrono>
#include <memory>
#include <string>

#include "petalsln/gateway/gateway_options.hpp"

namespace petalsln {

/// A running gateway: listening from construction until stop().
class Gateway {
 public:
  /// Loads the model's client side, joins the swarm (or loads the blocks when options.local),
  /// binds the listening socket and starts serving. Throws Error(invalid_argument) for
  /// options that contradict each other or are out of range, Error(io) when the address
  /// cannot be bound or no DHT node answers, and whatever LocalModel::open() throws.
  explicit Gateway(GatewayOptions options);
  /// Stops at once (as stop() with no grace) if still running.
  ~Gateway();
  Gateway(const Gateway&) = delete;             ///< Owns sockets and threads.
  Gateway& operator=(const Gateway&) = delete;  ///< Owns sockets and threads.

  /// Returns the base URL it serves, "http://HOST:PORT" with the bound port.
  std::string url() const;

  /// Returns the model name clients must ask for.
  const std::string& model_name() const noexcept;

  /// Stops accepting connections, closes idle ones, lets messages being generated finish for
  /// at most @p grace, then cancels what is left and closes every connection. Returns when
  /// every connection's thread has ended. Safe to call more than once and from any thread
  /// except a connection's own.
  void stop(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
