#pragma once
/// @file token.hpp
/// The integer type of a vocabulary entry, shared by the tokenizer, sampler and model.

#include <cstdint>

namespace petalsln {

/// A token id: an index into a model's vocabulary (embedding row / logit column).
using TokenId = std::int32_t;

}  // namespace petalsln
