#pragma once
// Reading the work out of a chat receipt (the JSON that `petalsln-chat --json` prints).

#include <cstdint>
#include <string>
#include <vector>

namespace petalsln::payout_cli {

/// One hop's work: its Lightning address ("" when it announced none) and its block-tokens.
struct WorkEntry {
  std::string lightning_address;  ///< Canonical `user@domain`, or "".
  std::uint64_t block_tokens = 0;
};

/// Parses @p json strictly: an object whose "work" member is an array (at most 256 entries)
/// of objects, each with an unsigned integer "block_tokens" and a "lightning_address" that is
/// a valid address string or null. Throws Error(invalid_format) naming the entry and field.
std::vector<WorkEntry> parse_receipt_work(const std::string& json, bool allow_http_loopback);

}  // namespace petalsln::payout_cli
