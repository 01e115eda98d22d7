#include "lightning/wallet/nwc/nostr_event.hpp"

#include <nlohmann/json.hpp>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/sha256.hpp"
#include "util/utf8.hpp"

namespace petalsln::lightning {
namespace {

void append_string(std::string& out, std::string_view s, const char* what) {
  if (util::find_invalid_utf8(s) != std::string_view::npos) {
    throw Error(ErrorCode::invalid_argument, std::string("Nostr event ") + what + " is not valid UTF-8");
  }
  out.push_back('"');
  for (const char c : s) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: out.push_back(c);  // NIP-01: every other character verbatim
    }
  }
  out.push_back('"');
}

// Lower-case hex of exactly @p size bytes: NIP-01 ids, keys and signatures are written so.
template <std::size_t N>
std::array<std::uint8_t, N> strict_hex(const nlohmann::json& j, const char* field) {
  if (!j.is_string()) throw Error(ErrorCode::invalid_format, std::string("Nostr event field '") + field + "' must be a string");
  const auto& s = j.get_ref<const std::string&>();
  for (const char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      throw Error(ErrorCode::invalid_format,
                  std::string("Nostr event field '") + field + "' must be lower-case hex");
    }
  }
  if (s.size() != 2 * N) {
    throw Error(ErrorCode::invalid_format, std::string("Nostr event field '") + field + "' must be " +
                                               std::to_string(2 * N) + " hex digits, got " + std::to_string(s.size()));
  }
  std::array<std::uint8_t, N> out{};
  util::from_hex_into(s, out.data(), N, field);
  return out;
}

std::uint64_t unsigned_field(const nlohmann::json& j, const char* field, std::uint64_t max) {
  if (!j.is_number_integer() || (j.is_number_integer() && !j.is_number_unsigned() && j.get<std::int64_t>() < 0) ||
      j.get<std::uint64_t>() > max) {
    throw Error(ErrorCode::invalid_format, std::string("Nostr event field '") + field + "' must be an integer from 0 to " +
                                               std::to_string(max));
  }
  return j.get<std::uint64_t>();
}

}  // namespace

std::optional<std::string> NostrEvent::tag_value(std::string_view name) const {
  for (const auto& tag : tags) {
    if (tag.size() >= 2 && tag[0] == name) return tag[1];
  }
  return std::nullopt;
}

nlohmann::json NostrEvent::to_json() const {
  return nlohmann::json{{"id", util::to_hex(id.data(), id.size())},
                        {"pubkey", util::to_hex(pubkey.data(), pubkey.size())},
                        {"created_at", created_at},
                        {"kind", kind},
                        {"tags", tags},
                        {"content", content},
                        {"sig", util::to_hex(sig.data(), sig.size())}};
}

std::string serialize_for_id(const NostrEvent& event) {
  std::string out = "[0,\"" + util::to_hex(event.pubkey.data(), event.pubkey.size()) + "\"," +
                    std::to_string(event.created_at) + "," + std::to_string(event.kind) + ",[";
  for (std::size_t i = 0; i < event.tags.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('[');
    for (std::size_t k = 0; k < event.tags[i].size(); ++k) {
      if (k > 0) out.push_back(',');
      append_string(out, event.tags[i][k], "tag");
    }
    out.push_back(']');
  }
  out += "],";
  append_string(out, event.content, "content");
  out.push_back(']');
  return out;
}

std::array<std::uint8_t, 32> compute_event_id(const NostrEvent& event) { return util::sha256(serialize_for_id(event)); }

void sign_event(NostrEvent& event, const NostrSecretKey& secret) {
  event.pubkey = xonly_public_key(secret);
  event.id = compute_event_id(event);
  event.sig = schnorr_sign(secret, std::string_view(reinterpret_cast<const char*>(event.id.data()), event.id.size()));
}

bool verify_event(const NostrEvent& event) noexcept {
  try {
    const auto id = compute_event_id(event);
    if (id != event.id) return false;  // ids are public: no need for a constant-time compare
    return schnorr_verify(event.pubkey, std::string_view(reinterpret_cast<const char*>(id.data()), id.size()), event.sig);
  } catch (...) {
    return false;
  }
}

NostrEvent parse_event(const nlohmann::json& json, const NostrEventLimits& limits) {
  if (!json.is_object()) throw Error(ErrorCode::invalid_format, "Nostr event must be a JSON object");
  static const char* const kFields[] = {"id", "pubkey", "created_at", "kind", "tags", "content", "sig"};
  for (const char* f : kFields) {
    if (!json.contains(f)) throw Error(ErrorCode::invalid_format, std::string("Nostr event lacks field '") + f + "'");
  }
  NostrEvent e;
  e.id = strict_hex<32>(json["id"], "id");
  e.pubkey = strict_hex<32>(json["pubkey"], "pubkey");
  e.sig = strict_hex<64>(json["sig"], "sig");
  // created_at: any time a 64-bit signed integer holds (JavaScript peers stay far below).
  e.created_at = unsigned_field(json["created_at"], "created_at", static_cast<std::uint64_t>(INT64_MAX));
  e.kind = static_cast<std::uint32_t>(unsigned_field(json["kind"], "kind", 65535));
  const auto& content = json["content"];
  if (!content.is_string()) throw Error(ErrorCode::invalid_format, "Nostr event field 'content' must be a string");
  if (content.get_ref<const std::string&>().size() > limits.max_content_bytes) {
    throw Error(ErrorCode::invalid_format, "Nostr event content is longer than " +
                                               std::to_string(limits.max_content_bytes) + " bytes");
  }
  e.content = content.get<std::string>();
  const auto& tags = json["tags"];
  if (!tags.is_array()) throw Error(ErrorCode::invalid_format, "Nostr event field 'tags' must be an array");
  if (tags.size() > limits.max_tags) {
    throw Error(ErrorCode::invalid_format, "Nostr event has more than " + std::to_string(limits.max_tags) + " tags");
  }
  for (const auto& tag : tags) {
    if (!tag.is_array()) throw Error(ErrorCode::invalid_format, "Nostr event tag must be an array of strings");
    if (tag.size() > limits.max_tag_items) {
      throw Error(ErrorCode::invalid_format, "Nostr event tag has more than " + std::to_string(limits.max_tag_items) + " items");
    }
    std::vector<std::string> items;
    for (const auto& item : tag) {
      if (!item.is_string()) throw Error(ErrorCode::invalid_format, "Nostr event tag must be an array of strings");
      if (item.get_ref<const std::string&>().size() > limits.max_tag_item_bytes) {
        throw Error(ErrorCode::invalid_format, "Nostr event tag item is longer than " +
                                                   std::to_string(limits.max_tag_item_bytes) + " bytes");
      }
      items.push_back(item.get<std::string>());
    }
    e.tags.push_back(std::move(items));
  }
  return e;
}

}  // namespace petalsln::lightning
