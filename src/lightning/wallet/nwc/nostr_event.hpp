#pragma once
// Nostr events (NIP-01): the canonical serialization their id hashes, signing, and strict
// parsing and verification of events that arrive from a relay.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "lightning/wallet/nwc/nostr_keys.hpp"

namespace petalsln::lightning {

/// Limits on an event a peer sends (a relay relays whatever anyone publishes).
struct NostrEventLimits {
  std::size_t max_tags = 64;               ///< Tags per event.
  std::size_t max_tag_items = 16;          ///< Strings per tag.
  std::size_t max_tag_item_bytes = 1024;   ///< Bytes per tag string.
  std::size_t max_content_bytes = 128 * 1024;  ///< Bytes of content.
};

/// A Nostr event.
struct NostrEvent {
  std::array<std::uint8_t, 32> id{};   ///< SHA-256 of the serialization (see serialize_for_id()).
  XOnlyPublicKey pubkey{};             ///< The author.
  std::uint64_t created_at = 0;        ///< Unix seconds.
  std::uint32_t kind = 0;              ///< 0..65535.
  std::vector<std::vector<std::string>> tags;
  std::string content;
  SchnorrSignature sig{};              ///< BIP-340 signature of id by pubkey.

  /// Returns the value of the first tag named @p name (its second item), or nullopt.
  std::optional<std::string> tag_value(std::string_view name) const;

  /// Returns the event as the JSON object relays carry (hex id, pubkey and sig).
  nlohmann::json to_json() const;
};

/// Returns NIP-01's serialization `[0,<pubkey hex>,<created_at>,<kind>,<tags>,<content>]`:
/// no whitespace, strings escaped exactly as NIP-01 says (\n \" \\ \r \t \b \f, every other
/// character verbatim). Throws Error(invalid_argument) if a string is not valid UTF-8.
std::string serialize_for_id(const NostrEvent& event);

/// Returns the id @p event should have: SHA-256 of serialize_for_id().
std::array<std::uint8_t, 32> compute_event_id(const NostrEvent& event);

/// Sets @p event's pubkey from @p secret, then its id, then signs it. Throws
/// Error(invalid_argument) for an invalid secret or a string that is not UTF-8.
void sign_event(NostrEvent& event, const NostrSecretKey& secret);

/// Returns true if @p event's id matches its contents and its signature is valid.
bool verify_event(const NostrEvent& event) noexcept;

/// Parses @p json as an event: exactly the NIP-01 fields with their types (lower-case hex of
/// the right lengths, integers in range, tags an array of arrays of strings), within
/// @p limits. Does not verify (see verify_event()). Throws Error(invalid_format) naming the
/// field that is wrong.
NostrEvent parse_event(const nlohmann::json& json, const NostrEventLimits& limits = {});

}  // namespace petalsln::lightning
