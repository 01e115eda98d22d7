#pragma once
/// @file weight_format.hpp
/// How a block's weight matrices are kept in memory: float32, 16-bit floats, or weight-only
/// int8 with one float32 scale per 32 weights. Products always accumulate in float32.

#include <optional>
#include <string>
#include <string_view>

namespace petalsln {

/// The in-memory format of weight matrices (norm weights stay float32 in every format).
enum class WeightFormat {
  f32,   ///< float32, as computed: the exact reference.
  bf16,  ///< bfloat16 (round to nearest even), half the memory of float32.
  f16,   ///< IEEE half (round to nearest even), half the memory of float32.
  int8,  ///< int8 with a float32 scale per 32 consecutive weights of a row (absmax / 127).
};

/// "f32", "bf16", "f16" or "int8": the name used on command lines and in server records.
std::string_view to_string(WeightFormat format) noexcept;

/// The format named @p name (as to_string() writes it), or nullopt for any other string.
std::optional<WeightFormat> parse_weight_format(std::string_view name) noexcept;

/// The format chosen by the command-line pair `--dtype f32|bf16|f16` and `--quant none|int8`
/// (empty strings mean the defaults, f32 and none). int8 is stored whatever the dtype says.
/// Throws Error(invalid_argument) naming the flag and its accepted values for anything else.
WeightFormat weight_format_from_flags(std::string_view dtype, std::string_view quant);

/// Bytes one weight matrix of @p rows x @p cols takes in @p format (scales included).
long long weight_matrix_bytes(WeightFormat format, long long rows, long long cols) noexcept;

}  // namespace petalsln
