#pragma once
// Helpers shared by the swarm tests: well-formed records, fixed clocks.

#include <cstdint>
#include <string>

#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/server_record.hpp"

namespace petalsln::test {

/// A fixed "now" for record tests (2023-11-14, unix seconds).
inline constexpr std::uint64_t kNow = 1700000000;

/// Returns a valid record of @p identity for model "tiny" with fingerprint bytes all @p fp,
/// serving [begin, end), issued at kNow and valid for 300 s.
inline ServerRecord sample_record(const NodeIdentity& identity, std::uint32_t begin = 0, std::uint32_t end = 4,
                                  std::uint8_t fp = 0xab) {
  ServerRecord r;
  r.peer_id = identity.peer_id();
  r.endpoint = "127.0.0.1:31337";
  r.model = "tiny";
  r.model_fingerprint.fill(fp);
  r.block_begin = begin;
  r.block_end = end;
  r.throughput = 250.5;
  r.free_cache_tokens = 8192;
  r.price_msat = 12;
  r.lightning_address = "node@example.com";
  r.public_name = "test node \xc3\xa9";  // UTF-8 é
  r.version = "0.1.0";
  r.issued_at = kNow;
  r.expires_at = kNow + 300;
  return r;
}

/// Returns @p bytes with every occurrence of @p from replaced by @p to (same length).
inline std::string replace_bytes(std::string bytes, const std::string& from, const std::string& to) {
  for (std::size_t pos = bytes.find(from); pos != std::string::npos; pos = bytes.find(from, pos + to.size())) {
    bytes.replace(pos, from.size(), to);
  }
  return bytes;
}

/// The bytes of a 32-byte array as a string.
template <std::size_t N>
std::string as_string(const std::array<std::uint8_t, N>& a) {
  return std::string(reinterpret_cast<const char*>(a.data()), N);
}

}  // namespace petalsln::test
