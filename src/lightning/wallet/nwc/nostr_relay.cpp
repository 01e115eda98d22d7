#include "lightning/wallet/nwc/nostr_relay.hpp"

#include <array>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/random.hpp"
#include "util/utf8.hpp"

namespace petalsln::lightning {

std::string sanitized_peer_text(const std::string& text, std::size_t max) {
  std::string out = text.substr(0, max);
  // Do not cut a UTF-8 sequence in half.
  out.resize(util::complete_utf8_prefix(out));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (text.size() > out.size()) out += "...";
  return out;
}

RelayMessage parse_relay_message(std::string_view text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  RelayMessage out;
  if (!j.is_array() || j.empty() || !j[0].is_string()) return out;
  const std::string& type = j[0].get_ref<const std::string&>();
  const auto str = [&](std::size_t i) -> std::string {
    return j.size() > i && j[i].is_string() ? j[i].get<std::string>() : std::string();
  };
  if (type == "EVENT" && j.size() == 3 && j[1].is_string() && j[2].is_object()) {
    out.type = RelayMessage::Type::event;
    out.subscription = str(1);
    out.event = j[2];
  } else if (type == "EOSE" && j.size() >= 2) {
    out.type = RelayMessage::Type::eose;
    out.subscription = str(1);
  } else if (type == "OK" && j.size() >= 3 && j[2].is_boolean()) {
    out.type = RelayMessage::Type::ok;
    out.event_id = str(1);
    out.accepted = j[2].get<bool>();
    out.text = sanitized_peer_text(str(3));
  } else if (type == "CLOSED" && j.size() >= 2) {
    out.type = RelayMessage::Type::closed;
    out.subscription = str(1);
    out.text = sanitized_peer_text(str(2));
  } else if (type == "NOTICE") {
    out.type = RelayMessage::Type::notice;
    out.text = sanitized_peer_text(str(1));
  }
  return out;
}

NostrRelay::NostrRelay(const std::string& url, const WebSocketOptions& options) : ws_(url, options) {}

void NostrRelay::publish(const NostrEvent& event) {
  ws_.send_text(nlohmann::json::array({"EVENT", event.to_json()}).dump());
}

std::string NostrRelay::subscribe(const nlohmann::json& filter) {
  std::array<std::uint8_t, 8> raw{};
  util::random_bytes(raw.data(), raw.size());
  const std::string id = "petalsln-" + util::to_hex(raw.data(), raw.size());
  ws_.send_text(nlohmann::json::array({"REQ", id, filter}).dump());
  return id;
}

void NostrRelay::unsubscribe(const std::string& id) noexcept {
  try {
    if (ws_.is_open()) ws_.send_text(nlohmann::json::array({"CLOSE", id}).dump());
  } catch (...) {
    // Nothing to undo on a connection that failed.
  }
}

std::optional<RelayMessage> NostrRelay::next(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = ws_.receive(left);
    if (!m) return std::nullopt;
    if (m->binary) continue;  // NIP-01 speaks text frames only
    return parse_relay_message(m->data);
  }
}

}  // namespace petalsln::lightning
