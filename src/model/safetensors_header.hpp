#pragma once
// Parsing and validating the header of one safetensors file, apart from mapping and loading,
// so that every rule about what a well-formed file is lives in one place (and needs no
// tensor library to test or fuzz).

#include <cstdint>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "petalsln/model/checkpoint.hpp"

namespace petalsln::model {

/// The safetensors format's own header size limit (the reference implementation's
/// MAX_HEADER_SIZE): real headers are kilobytes to a few megabytes; anything larger is a
/// corrupt length field, not a model.
constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

/// Reads and checks the 8-byte little-endian header length at the start of the safetensors
/// file @p file_bytes[0, @p file_size), named @p file in messages. Returns the length of the
/// JSON header that follows it. Throws Error(invalid_format) if the file is shorter than 8
/// bytes or the length exceeds the file or kMaxSafetensorsHeaderBytes.
std::uint64_t safetensors_header_length(const std::uint8_t* file_bytes, std::uint64_t file_size, const std::string& file);

/// A validated safetensors header: where the data section starts and what it holds.
struct SafetensorsHeader {
  std::uint64_t data_offset = 0;  ///< File offset of the data section (8 + header length).
  std::unordered_map<std::string, TensorInfo> tensors;  ///< By name; offsets relative to the data section.
};

/// Parses and validates the header of the safetensors file @p file_bytes[0, @p file_size),
/// named @p file in messages. Requires: an 8-byte little-endian length no larger than the file
/// or kMaxSafetensorsHeaderBytes; a JSON object starting with '{' with no repeated keys; a
/// string-to-string "__metadata__" if present; for each tensor a supported dtype, a shape of
/// at most 8 non-negative dimensions, and data_offsets exactly dtype size × elements long; and
/// tensors that tile the data section exactly (see the .cpp for why). Returns the header.
/// Throws Error(invalid_format) naming the file, the tensor and the rule broken, or
/// Error(unsupported) for a known dtype petalsln does not read.
SafetensorsHeader parse_safetensors_header(const std::uint8_t* file_bytes, std::uint64_t file_size, const std::string& file);

/// Parses JSON text @p [begin, end) that must be an object, rejecting repeated keys at any
/// depth (nlohmann would silently keep the last, so two readers could see two different
/// files). Returns the object. Throws Error(invalid_format) naming @p what.
nlohmann::json parse_json_object_without_duplicates(const char* begin, const char* end, const std::string& what);

}  // namespace petalsln::model
