#include "rpc/tensor_codec.hpp"

#include <cmath>
#include <cstring>
#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln::rpc {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire format is little-endian; add byte swapping");

at::ScalarType scalar_type(v1::DType d) {
  switch (d) {
    case v1::DTYPE_F32: return at::kFloat;
    case v1::DTYPE_F16: return at::kHalf;
    case v1::DTYPE_BF16: return at::kBFloat16;
    default: break;
  }
  throw Error(ErrorCode::invalid_argument, "tensor dtype " + std::to_string(static_cast<int>(d)) + " is not f32, f16 or bf16");
}

[[noreturn]] void bad(const std::string& why) { throw Error(ErrorCode::invalid_argument, "hidden states: " + why); }

}  // namespace

std::size_t wire_element_size(v1::DType dtype) noexcept {
  switch (dtype) {
    case v1::DTYPE_F32: return 4;
    case v1::DTYPE_F16:
    case v1::DTYPE_BF16: return 2;
    default: return 0;
  }
}

void encode_tensor(const at::Tensor& t, v1::DType dtype, v1::Tensor* out) {
  const auto type = scalar_type(dtype);
  // The common case (f32 on the CPU, contiguous) is copied straight out: each torch op costs
  // microseconds, and this runs twice per hop per token.
  const bool ready = t.device().is_cpu() && t.scalar_type() == type && t.is_contiguous();
  auto c = ready ? t : t.to(at::kCPU, type).contiguous();
  out->set_dtype(dtype);
  out->clear_shape();
  for (auto d : c.sizes()) out->add_shape(static_cast<std::uint64_t>(d));
  out->set_data(c.data_ptr(), c.nbytes());
}

at::Tensor decode_tensor(const v1::Tensor& msg, const TensorLimits& limits) {
  const auto type = scalar_type(msg.dtype());
  if (msg.shape_size() != 3) bad("expected shape [batch, seq, hidden], got rank " + std::to_string(msg.shape_size()));
  const std::uint64_t batch = msg.shape(0), seq = msg.shape(1), hidden = msg.shape(2);
  const std::string shape = "[" + std::to_string(batch) + ", " + std::to_string(seq) + ", " + std::to_string(hidden) + "]";
  if (batch == 0 || seq == 0) bad("shape " + shape + " is empty");
  if (hidden != static_cast<std::uint64_t>(limits.hidden_size)) {
    bad("hidden size " + std::to_string(hidden) + " does not match the model's " + std::to_string(limits.hidden_size));
  }
  // Check each dimension before multiplying, so a huge declared shape cannot overflow.
  if (batch > static_cast<std::uint64_t>(limits.max_batch)) bad("batch " + std::to_string(batch) + " exceeds the limit of " + std::to_string(limits.max_batch));
  if (seq > static_cast<std::uint64_t>(limits.max_seq)) bad("sequence length " + std::to_string(seq) + " exceeds the limit of " + std::to_string(limits.max_seq));
  const std::uint64_t expected = batch * seq * hidden * wire_element_size(msg.dtype());
  if (msg.data().size() != expected) {
    bad("shape " + shape + " needs " + std::to_string(expected) + " bytes, message carries " + std::to_string(msg.data().size()));
  }
  auto raw = torch::empty({static_cast<std::int64_t>(batch), static_cast<std::int64_t>(seq), static_cast<std::int64_t>(hidden)},
                          torch::TensorOptions().dtype(type));
  std::memcpy(raw.data_ptr(), msg.data().data(), expected);
  auto f = type == at::kFloat ? raw : raw.to(at::kFloat);
  // A plain loop: far cheaper than isfinite().all().item() for the small tensors of decoding.
  const float* p = f.data_ptr<float>();
  const auto n = static_cast<std::size_t>(f.numel());
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) bad("values must be finite (found NaN or Inf at element " + std::to_string(i) + ")");
  }
  return f;
}

}  // namespace petalsln::rpc
