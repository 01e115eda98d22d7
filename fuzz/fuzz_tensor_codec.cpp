// Fuzzes the hidden-state wire codec: protobuf bytes of a petalsln.v1.Tensor (what every
// Forward and Inference step carries) decoded under a server's limits.
// Property: a decoded tensor respects the limits and encodes back to an equal tensor.
#include <torch/torch.h>

#include "fuzz_common.hpp"
#include "rpc/tensor_codec.hpp"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  at::set_num_threads(1);  // the fuzzer is single-threaded; spare it libtorch's thread pool
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  if (size < 3) return 0;
  // The first bytes pick the limits, so small shapes reach every check.
  rpc::TensorLimits limits;
  limits.hidden_size = 1 + data[0] % 16;
  limits.max_batch = 1 + (data[1] & 3);
  limits.max_seq = 1 + (data[1] >> 2);
  v1::Tensor msg;
  if (!msg.ParseFromArray(data + 2, static_cast<int>(size - 2))) return 0;
  fuzz::expect_rejection([&] {
    const at::Tensor t = rpc::decode_tensor(msg, limits);
    fuzz::require(t.dim() == 3 && t.size(2) == limits.hidden_size && t.size(0) <= limits.max_batch &&
                      t.size(1) <= limits.max_seq && t.scalar_type() == at::kFloat,
                  "decoded tensor outside its limits");
    v1::Tensor again;
    rpc::encode_tensor(t, v1::DTYPE_F32, &again);
    fuzz::require(rpc::decode_tensor(again, limits).equal(t), "tensor does not round-trip through f32");
  });
  return 0;
}
