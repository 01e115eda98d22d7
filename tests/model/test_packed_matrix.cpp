// Packed weight matrices (src/model/packed_matrix.*) and their kernels: each format keeps the
// values it promises, products equal a float32 matmul of those values, and a row's result does
// not depend on how many rows are multiplied with it, on the thread count, or on the tile.

#include "torch_doctest.hpp"

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "model/dot_kernels.hpp"
#include "model/packed_matrix.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;
using model::PackedMatrix;

namespace {

const WeightFormat kFormats[] = {WeightFormat::f32, WeightFormat::bf16, WeightFormat::f16, WeightFormat::int8};

// Sets the engine's thread count for a scope.
struct ThreadsScope {
  int saved = compute_threads();
  explicit ThreadsScope(int n) { set_compute_threads(n); }
  ~ThreadsScope() { set_compute_threads(saved); }
};

at::Tensor product(const PackedMatrix& w, const at::Tensor& x, const float* bias = nullptr) {
  auto out = at::empty({x.size(0), w.rows()}, at::kFloat);
  w.multiply(x.contiguous().data_ptr<float>(), x.size(0), out.data_ptr<float>(), w.rows(), bias);
  return out;
}

double max_rel_diff(const at::Tensor& got, const at::Tensor& want) {
  return ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item<double>();
}

}  // namespace

TEST_CASE("packed matrix: each format keeps the values it promises") {
  c10::InferenceMode guard;
  torch::manual_seed(1);
  const auto w = torch::randn({37, 75});  // a tail of 3 columns and a partial int8 block
  CHECK(torch::equal(PackedMatrix::pack(w, WeightFormat::f32).unpack(), w));
  CHECK(torch::equal(PackedMatrix::pack(w, WeightFormat::bf16).unpack(), w.to(at::kBFloat16).to(at::kFloat)));
  CHECK(torch::equal(PackedMatrix::pack(w, WeightFormat::f16).unpack(), w.to(at::kHalf).to(at::kFloat)));

  const auto q = PackedMatrix::pack(w, WeightFormat::int8).unpack();
  for (std::int64_t b = 0; b * 32 < 75; ++b) {
    const auto cols = std::min<std::int64_t>(32, 75 - b * 32);
    const auto block = w.narrow(1, b * 32, cols), got = q.narrow(1, b * 32, cols);
    const auto scale = block.abs().amax(1, true) / 127.0;
    // Every weight within half a step of its block's scale; the largest kept to rounding.
    CHECK(((got - block).abs() <= scale * 0.5 + 1e-6).all().item<bool>());
    CHECK(torch::allclose(got.abs().amax(1), block.abs().amax(1), 1e-6, 0));
  }
  CHECK(PackedMatrix::pack(w, WeightFormat::int8).bytes() == 37 * 75 + 37 * 3 * 4);
  CHECK(PackedMatrix::pack(w, WeightFormat::bf16).bytes() == 37 * 75 * 2);
}

TEST_CASE("packed matrix: an all-zero int8 block stays zero, and extreme values survive") {
  c10::InferenceMode guard;
  auto w = torch::zeros({2, 64});
  w[1][40] = 3e38f;
  w[1][41] = -1e-30f;
  const auto q = PackedMatrix::pack(w, WeightFormat::int8).unpack();
  CHECK(torch::equal(q[0], torch::zeros({64})));
  CHECK(q[1][40].item<float>() == doctest::Approx(3e38).epsilon(1e-6));
  CHECK(std::isfinite(q.abs().max().item<float>()));
}

TEST_CASE("packed matrix: products equal a float32 matmul of the stored values, with and without bias") {
  c10::InferenceMode guard;
  torch::manual_seed(2);
  for (auto format : kFormats) {
    for (std::int64_t cols : {1, 7, 8, 33, 576}) {
      for (std::int64_t m : {1, 2, 3, 4, 5, 9, 16}) {
        CAPTURE(to_string(format));
        CAPTURE(cols);
        CAPTURE(m);
        const auto w = torch::randn({45, cols}), x = torch::randn({m, cols}), bias = torch::randn({45});
        const auto packed = PackedMatrix::pack(w, format);
        const auto want = torch::matmul(x.to(at::kDouble), packed.unpack().to(at::kDouble).t()).to(at::kFloat);
        CHECK(max_rel_diff(product(packed, x), want) < 1e-5);
        CHECK(max_rel_diff(product(packed, x, bias.data_ptr<float>()), want + bias) < 1e-5);
      }
    }
  }
}

TEST_CASE("packed matrix: a row's result is the same bits alone, in a batch of any size, on 1 or 2 threads") {
  c10::InferenceMode guard;
  torch::manual_seed(3);
  // 1000 rows split between threads into parts that are not multiples of a tile; 5500 columns
  // are too long for a batch to buffer converted rows (the kernels' other batch path).
  const std::int64_t shapes[][2] = {{1000, 100}, {40, 5500}};
  for (auto format : kFormats) {
    for (const auto& shape : shapes) {
      CAPTURE(to_string(format));
      CAPTURE(shape[1]);
      const auto packed = PackedMatrix::pack(torch::randn({shape[0], shape[1]}), format);
      const auto x = torch::randn({21, shape[1]});
      at::Tensor alone;
      {
        ThreadsScope one(1);
        alone = product(packed, x.narrow(0, 5, 1));
      }
      for (int threads : {1, 2}) {
        ThreadsScope scope(threads);
        for (std::int64_t m : {1, 2, 3, 4, 5, 6, 7, 8, 11, 16, 21}) {
          CAPTURE(threads);
          CAPTURE(m);
          const auto start = std::min<std::int64_t>(5, 21 - m);
          const auto batch = product(packed, x.narrow(0, start, m));
          CHECK(torch::equal(batch[5 - start], alone[0]));
        }
      }
    }
  }
}

TEST_CASE("packed matrix: the portable kernels agree with the AVX2 ones") {
  c10::InferenceMode guard;
  torch::manual_seed(4);
  for (auto format : kFormats) {
    CAPTURE(to_string(format));
    const auto packed = PackedMatrix::pack(torch::randn({21, 77}), format);
    const auto x = torch::randn({3, 77});
    auto got = at::empty({3, 21}, at::kFloat);
    model::kernels::Product p{x.data_ptr<float>(), 3, 77, got.data_ptr<float>(), 21, nullptr};
    model::kernels::multiply_rows_portable(packed.view(), p, 0, 21);
    CHECK(max_rel_diff(got, product(packed, x)) < 1e-5);
  }
  std::vector<float> a(19), b(19);
  for (int i = 0; i < 19; ++i) a[i] = 0.5f * static_cast<float>(i), b[i] = 1.0f - 0.1f * static_cast<float>(i);
  CHECK(model::kernels::dot(a.data(), b.data(), 19) == doctest::Approx(model::kernels::dot_portable(a.data(), b.data(), 19)));
  // SiLU(gate) * up: the chosen build agrees with the portable one, an element's bits do not
  // depend on whether it falls in the vector body or the tail, and the extremes stay finite.
  std::vector<float> gate(19), up(19), got(19), want(19), part(8);
  for (int i = 0; i < 19; ++i) gate[i] = -9.0f + 1.1f * static_cast<float>(i), up[i] = 0.5f - 0.07f * static_cast<float>(i);
  gate[0] = -200.0f, gate[18] = 200.0f;
  model::kernels::silu_times(gate.data(), up.data(), got.data(), 19);
  model::kernels::silu_times_portable(gate.data(), up.data(), want.data(), 19);
  for (int i = 0; i < 19; ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
  CHECK(got[0] == 0.0f);
  CHECK(got[18] == 200.0f * up[18]);
  model::kernels::silu_times(gate.data() + 16, up.data() + 16, part.data(), 3);  // all three in a tail
  for (int i = 0; i < 3; ++i) CHECK(part[i] == got[16 + i]);
  model::kernels::silu_times(gate.data() + 11, up.data() + 11, part.data(), 8);  // the body of this call
  for (int i = 0; i < 8; ++i) CHECK(part[i] == got[11 + i]);
  for (std::uint16_t bits : {0x0000, 0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00}) {
    CHECK(model::kernels::f16_to_float(bits) == at::Half(bits, at::Half::from_bits()).operator float());
  }
}

TEST_CASE("packed matrix: refuses what is not a 2-D floating matrix") {
  c10::InferenceMode guard;
  CHECK_THROWS_AS(PackedMatrix::pack(torch::randn({4}), WeightFormat::f32), Error);
  CHECK_THROWS_AS(PackedMatrix::pack(torch::zeros({0, 4}), WeightFormat::int8), Error);
  CHECK_THROWS_AS(PackedMatrix::pack(torch::ones({2, 2}, at::kLong), WeightFormat::f16), Error);
  CHECK_THROWS_AS(PackedMatrix::pack(at::Tensor(), WeightFormat::bf16), Error);
}

TEST_CASE("weight formats: names, flags and sizes") {
  for (auto format : kFormats) CHECK(parse_weight_format(to_string(format)) == format);
  CHECK_FALSE(parse_weight_format("F16").has_value());
  CHECK_FALSE(parse_weight_format("").has_value());
  CHECK(weight_format_from_flags("", "") == WeightFormat::f32);
  CHECK(weight_format_from_flags("bf16", "none") == WeightFormat::bf16);
  CHECK(weight_format_from_flags("f16", "int8") == WeightFormat::int8);
  CHECK_THROWS_WITH_AS(weight_format_from_flags("int8", ""), doctest::Contains("--dtype"), Error);
  CHECK_THROWS_WITH_AS(weight_format_from_flags("f64", ""), doctest::Contains("--dtype"), Error);
  CHECK_THROWS_WITH_AS(weight_format_from_flags("", "int4"), doctest::Contains("--quant"), Error);
  CHECK(weight_matrix_bytes(WeightFormat::int8, 10, 33) == 10 * 33 + 10 * 2 * 4);
  CHECK(weight_matrix_bytes(WeightFormat::f16, 10, 33) == 10 * 33 * 2);
}
