#pragma once
/// @file safetensors_writer.hpp
/// Writes safetensors files (used to make checkpoints for tests and benchmarks).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "petalsln/model/checkpoint.hpp"

namespace petalsln {

/// Collects named tensors and writes them as one safetensors file: an 8-byte little-endian
/// header length, a JSON header with dtype/shape/data_offsets, then the raw data, tensors
/// in name order. Not thread-safe.
class SafetensorsWriter {
 public:
  /// Adds tensor @p name with raw little-endian @p bytes. Throws Error(invalid_argument)
  /// if the name repeats or the byte count does not match dtype and shape.
  void add(const std::string& name, StorageDType dtype, const std::vector<std::int64_t>& shape, std::string bytes);

  /// Bytes of tensor data added so far.
  std::uint64_t data_bytes() const noexcept;

  /// Writes the file to @p path (mode 0644, replaced atomically). Throws Error(io) on failure.
  void write(const std::string& path, const std::map<std::string, std::string>& metadata = {}) const;

 private:
  struct Entry {
    StorageDType dtype;
    std::vector<std::int64_t> shape;
    std::string bytes;
  };
  std::map<std::string, Entry> tensors_;
};

/// Converts float32 values to bfloat16 bytes (round to nearest even, like torch).
std::string to_bf16_bytes(const std::vector<float>& values);
/// Converts float32 values to IEEE half bytes (round to nearest even).
std::string to_f16_bytes(const std::vector<float>& values);
/// Returns the raw bytes of float32 values.
std::string to_f32_bytes(const std::vector<float>& values);

}  // namespace petalsln
