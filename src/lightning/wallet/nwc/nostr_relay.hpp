#pragma once
// A connection to one Nostr relay (NIP-01 client messages over a WebSocket): publish events,
// open and close subscriptions, and read what the relay sends back.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lightning/wallet/nwc/nostr_event.hpp"
#include "net/websocket_client.hpp"

namespace petalsln::lightning {

/// One message from a relay, checked for shape (not for meaning).
struct RelayMessage {
  enum class Type { event, eose, ok, closed, notice, other };
  Type type = Type::other;
  std::string subscription;  ///< EVENT, EOSE, CLOSED.
  nlohmann::json event;      ///< EVENT: the event object as sent (parse and verify it yourself).
  std::string event_id;      ///< OK: the event id (hex) it answers.
  bool accepted = false;     ///< OK: true if the relay stored the event.
  std::string text;          ///< OK, CLOSED, NOTICE: the relay's message, sanitized and cut to 200 characters.
};

/// A relay connection. Not thread-safe.
class NostrRelay {
 public:
  /// Connects to @p url. Throws like WebSocketClient's constructor.
  NostrRelay(const std::string& url, const WebSocketOptions& options);

  /// Sends ["EVENT", event]. Throws Error(io) if the connection fails.
  void publish(const NostrEvent& event);

  /// Sends ["REQ", id, filter] with a fresh random subscription id, and returns that id.
  std::string subscribe(const nlohmann::json& filter);

  /// Sends ["CLOSE", id]. Never throws (a dead connection has no subscriptions left).
  void unsubscribe(const std::string& id) noexcept;

  /// Waits until @p deadline for the next relay message. Returns nullopt at the deadline.
  /// Messages that are not JSON arrays starting with a known string come back as `other`.
  /// Throws Error(io) if the connection closes or fails.
  std::optional<RelayMessage> next(std::chrono::steady_clock::time_point deadline);

  /// True while connected.
  bool is_open() const noexcept { return ws_.is_open(); }

 private:
  WebSocketClient ws_;
};

/// Parses one text message a relay sent. Never throws: anything that is not a JSON array
/// starting with a known string, with that type's fields, comes back as `other`. (NostrRelay
/// reads its messages through this; it is separate so it can be fuzzed without a socket.)
RelayMessage parse_relay_message(std::string_view text);

/// Returns @p text cut to @p max characters with control characters replaced by '?': safe to
/// put in an error message or log line even when a peer chose it.
std::string sanitized_peer_text(const std::string& text, std::size_t max = 200);

}  // namespace petalsln::lightning
