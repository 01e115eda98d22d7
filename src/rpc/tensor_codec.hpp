#pragma once
// Hidden states on the wire: raw little-endian f32/f16/bf16 with a shape. Decoding trusts
// nothing: dtype, rank, hidden size, element count and byte count are checked before any
// allocation, and non-finite values are refused.

#include <torch/torch.h>

#include <cstdint>

#include "petalsln/v1/blocks.pb.h"

namespace petalsln::rpc {

/// Limits a decoder enforces on a peer's tensor.
struct TensorLimits {
  std::int64_t hidden_size = 0;    ///< Required size of the last dimension.
  std::int64_t max_batch = 1;      ///< Largest first dimension.
  std::int64_t max_seq = 1;        ///< Largest second dimension.
};

/// Writes @p t ([batch, seq, hidden], any float dtype) into @p out as @p dtype.
void encode_tensor(const at::Tensor& t, v1::DType dtype, v1::Tensor* out);

/// Reads a [batch, seq, hidden] tensor as float32. Throws Error(invalid_argument) naming the
/// problem: unknown dtype, wrong rank, a zero or oversized dimension, wrong hidden size, a
/// byte count that does not match the shape, or NaN/Inf values.
at::Tensor decode_tensor(const v1::Tensor& msg, const TensorLimits& limits);

/// Bytes per element of a wire dtype (0 for DTYPE_UNSPECIFIED or unknown values).
std::size_t wire_element_size(v1::DType dtype) noexcept;

}  // namespace petalsln::rpc
