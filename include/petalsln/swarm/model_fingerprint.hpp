#pragma once
/// @file model_fingerprint.hpp
/// The model fingerprint a server record carries, so servers and clients that share a model
/// name but not the same checkpoint never end up in one route. The model layer computes it
/// (compute_model_fingerprint() in petalsln/model/model_fingerprint.hpp); the swarm only
/// carries and compares it.

#include <array>
#include <cstdint>

namespace petalsln {

/// A 32-byte model fingerprint (SHA-256 over the checkpoint's config and weight layout).
using ModelFingerprint = std::array<std::uint8_t, 32>;

}  // namespace petalsln
