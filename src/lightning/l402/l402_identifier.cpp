// The L402 macaroon identifier: version || payment hash || token id.
#include "petalsln/lightning/l402_identifier.hpp"

#include "petalsln/util/error.hpp"
#include "util/random.hpp"

namespace petalsln {

std::string L402Identifier::encode() const {
  if (version != current_version) {
    throw Error(ErrorCode::unsupported, "L402 identifier version " + std::to_string(version) + " is not supported");
  }
  std::string out;
  out.reserve(encoded_size);
  out += static_cast<char>(version >> 8);
  out += static_cast<char>(version & 0xff);
  out.append(reinterpret_cast<const char*>(payment_hash.data()), payment_hash.size());
  out.append(reinterpret_cast<const char*>(token_id.data()), token_id.size());
  return out;
}

L402Identifier L402Identifier::decode(std::string_view bytes) {
  if (bytes.size() < 2) {
    throw Error(ErrorCode::invalid_format,
                "L402 identifier: " + std::to_string(bytes.size()) + " bytes is too short for its version");
  }
  L402Identifier id;
  id.version = static_cast<std::uint16_t>((static_cast<unsigned char>(bytes[0]) << 8) | static_cast<unsigned char>(bytes[1]));
  if (id.version != current_version) {
    throw Error(ErrorCode::unsupported, "L402 identifier version " + std::to_string(id.version) + " is not supported");
  }
  if (bytes.size() != encoded_size) {
    throw Error(ErrorCode::invalid_format, "L402 identifier: " + std::to_string(bytes.size()) + " bytes, expected " +
                                               std::to_string(encoded_size) + " for version 0");
  }
  for (std::size_t i = 0; i < 32; ++i) {
    id.payment_hash[i] = static_cast<std::uint8_t>(bytes[2 + i]);
    id.token_id[i] = static_cast<std::uint8_t>(bytes[34 + i]);
  }
  return id;
}

L402Identifier L402Identifier::random_for(const Bytes32& payment_hash) {
  L402Identifier id;
  id.payment_hash = payment_hash;
  util::random_bytes(id.token_id.data(), id.token_id.size());
  return id;
}

}  // namespace petalsln
