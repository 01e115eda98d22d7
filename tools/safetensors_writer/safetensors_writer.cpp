#include "safetensors_writer/safetensors_writer.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

std::uint64_t element_count(const std::vector<std::int64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw Error(ErrorCode::invalid_argument, "negative dimension in shape");
    n *= static_cast<std::uint64_t>(d);
  }
  return n;
}

std::uint32_t float_bits(float f) {
  std::uint32_t u = 0;
  std::memcpy(&u, &f, 4);
  return u;
}

std::uint16_t to_bf16(float f) {
  std::uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

std::uint16_t to_f16(float f) {
  const std::uint32_t u = float_bits(f);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to infinity
  if (abs < 0x38800000u) {  // subnormal half (or zero)
    const std::uint32_t shift = 126u - (abs >> 23);
    if (shift > 24) return static_cast<std::uint16_t>(sign);
    const std::uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    std::uint32_t h = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  std::uint32_t h = ((abs - 0x38000000u) >> 13);
  const std::uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

template <typename F>
std::string pack16(const std::vector<float>& values, F convert) {
  std::string out(values.size() * 2, '\0');
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::uint16_t h = convert(values[i]);
    std::memcpy(&out[2 * i], &h, 2);
  }
  return out;
}

}  // namespace

void SafetensorsWriter::add(const std::string& name, StorageDType dtype, const std::vector<std::int64_t>& shape, std::string bytes) {
  if (tensors_.count(name) != 0) throw Error(ErrorCode::invalid_argument, "tensor " + name + " added twice");
  const std::uint64_t need = element_count(shape) * (dtype == StorageDType::f32 ? 4u : 2u);
  if (need != bytes.size()) {
    throw Error(ErrorCode::invalid_argument, "tensor " + name + ": " + std::to_string(bytes.size()) + " bytes given, shape needs " +
                                                 std::to_string(need));
  }
  tensors_.emplace(name, Entry{dtype, shape, std::move(bytes)});
}

std::uint64_t SafetensorsWriter::data_bytes() const noexcept {
  std::uint64_t n = 0;
  for (const auto& kv : tensors_) n += kv.second.bytes.size();
  return n;
}

void SafetensorsWriter::write(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, e] : tensors_) {
    header[name] = {{"dtype", to_string(e.dtype)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.bytes.size()}}};
    offset += e.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  const std::uint64_t len = text.size();
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) throw Error(ErrorCode::io, "cannot create " + tmp + ": " + std::strerror(errno));
  bool ok = std::fwrite(&len, 8, 1, f) == 1 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto& kv : tensors_) {
    if (ok && !kv.second.bytes.empty()) ok = std::fwrite(kv.second.bytes.data(), 1, kv.second.bytes.size(), f) == kv.second.bytes.size();
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error(ErrorCode::io, "cannot write " + path + ": " + std::strerror(errno));
  }
}

std::string to_bf16_bytes(const std::vector<float>& values) { return pack16(values, to_bf16); }
std::string to_f16_bytes(const std::vector<float>& values) { return pack16(values, to_f16); }
std::string to_f32_bytes(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

}  // namespace petalsln
