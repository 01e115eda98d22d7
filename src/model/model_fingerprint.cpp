#include "petalsln/model/model_fingerprint.hpp"

#include <string_view>

#include "model/safetensors_header.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/util/hex.hpp"
#include "util/sha256.hpp"

namespace petalsln {
namespace {

constexpr char kDomain[] = "petalsln/v1/fingerprint";  // hashed with its terminating NUL

void update_framed(util::Sha256& h, std::string_view part) {
  std::uint8_t len[8];
  std::uint64_t n = part.size();
  for (std::uint8_t& b : len) {  // little-endian, independent of the host
    b = static_cast<std::uint8_t>(n & 0xff);
    n >>= 8;
  }
  h.update(len, sizeof len);
  h.update(part);
}

// Returns the 8-byte length prefix and the JSON header of a safetensors file, as stored. Only
// the header's length is checked here: its bytes are hashed as they are, and the checkpoint
// reader, which every server runs before announcing, validates what they say.
std::string stored_safetensors_header(const std::string& path) {
  const util::MappedFile file(path);
  const std::uint64_t length = model::safetensors_header_length(file.data(), file.size(), path);
  return std::string(reinterpret_cast<const char*>(file.data()), static_cast<std::size_t>(8 + length));
}

std::string weight_layout(const std::string& dir) {
  const std::string index = util::join_path(dir, "model.safetensors.index.json");
  if (util::is_regular_file(index)) return util::read_file(index);
  const std::string single = util::join_path(dir, "model.safetensors");
  if (util::is_regular_file(single)) return stored_safetensors_header(single);
  throw Error(ErrorCode::not_found, dir + " holds neither model.safetensors.index.json nor model.safetensors");
}

}  // namespace

std::array<std::uint8_t, 32> compute_model_fingerprint(const std::string& model_dir) {
  const std::string config = util::read_file(util::join_path(model_dir, "config.json"));
  const std::string layout = weight_layout(model_dir);
  util::Sha256 h;
  h.update(kDomain, sizeof kDomain);
  update_framed(h, config);
  update_framed(h, layout);
  return h.finish();
}

std::string fingerprint_hex(const std::array<std::uint8_t, 32>& fingerprint) {
  return util::to_hex(fingerprint.data(), fingerprint.size());
}

}  // namespace petalsln
