#include "petalsln/model/weight_format.hpp"

#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln {

std::string_view to_string(WeightFormat format) noexcept {
  switch (format) {
    case WeightFormat::f32: return "f32";
    case WeightFormat::bf16: return "bf16";
    case WeightFormat::f16: return "f16";
    case WeightFormat::int8: return "int8";
  }
  return "f32";
}

std::optional<WeightFormat> parse_weight_format(std::string_view name) noexcept {
  for (auto f : {WeightFormat::f32, WeightFormat::bf16, WeightFormat::f16, WeightFormat::int8}) {
    if (name == to_string(f)) return f;
  }
  return std::nullopt;
}

WeightFormat weight_format_from_flags(std::string_view dtype, std::string_view quant) {
  WeightFormat format = WeightFormat::f32;
  if (!dtype.empty()) {
    const auto parsed = parse_weight_format(dtype);
    if (!parsed || *parsed == WeightFormat::int8) {
      throw Error(ErrorCode::invalid_argument, "--dtype must be f32, bf16 or f16; got '" + std::string(dtype) + "'");
    }
    format = *parsed;
  }
  if (quant.empty() || quant == "none") return format;
  if (quant == "int8") return WeightFormat::int8;
  throw Error(ErrorCode::invalid_argument, "--quant must be none or int8; got '" + std::string(quant) + "'");
}

long long weight_matrix_bytes(WeightFormat format, long long rows, long long cols) noexcept {
  switch (format) {
    case WeightFormat::f32: return rows * cols * 4;
    case WeightFormat::bf16:
    case WeightFormat::f16: return rows * cols * 2;
    case WeightFormat::int8: return rows * cols + rows * ((cols + 31) / 32) * 4;
  }
  return rows * cols * 4;
}

}  // namespace petalsln
