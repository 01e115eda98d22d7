#pragma once
/// @file model_fingerprint.hpp
/// A short hash that identifies a checkpoint's architecture and weight layout, so servers and
/// clients that share a model name but not the same checkpoint never end up in one route. The
/// swarm carries it in server records as a ModelFingerprint (petalsln/swarm/model_fingerprint.hpp).

#include <array>
#include <cstdint>
#include <string>

namespace petalsln {

/// Returns the 32-byte fingerprint of the checkpoint in @p model_dir:
///
///   SHA-256( "petalsln/v1/fingerprint" || 0x00
///            || u64le(len(C)) || C
///            || u64le(len(W)) || W )
///
/// where C is the exact bytes of config.json, and W is the exact bytes of
/// model.safetensors.index.json when that file exists, else the header of model.safetensors
/// (its 8-byte little-endian length prefix followed by the JSON header, as stored). Length
/// prefixes keep the two parts from running into each other.
///
/// The fingerprint covers the configuration, tensor names, dtypes, shapes, offsets and
/// sharding, not the weight values themselves: two checkpoints that differ only in weight
/// values (e.g. two fine-tunes with the same layout) share a fingerprint, and are told apart by
/// their model names.
///
/// Throws Error(not_found) if config.json or both weight files are missing,
/// Error(invalid_format) if the safetensors header is truncated or implausibly large (over
/// 100 MB), Error(io) if a file cannot be read.
std::array<std::uint8_t, 32> compute_model_fingerprint(const std::string& model_dir);

/// Returns @p fingerprint (as compute_model_fingerprint() returns it) as 64 lower-case hex digits.
std::string fingerprint_hex(const std::array<std::uint8_t, 32>& fingerprint);

}  // namespace petalsln
