// The decode path's matrix-vector products (src/model/matvec.cpp) against at::linear: same
// numbers for one row whatever the thread count, the split across worker threads, callers on
// several threads at once, and everything else still going through at::linear.

#include "torch_doctest.hpp"

#include <ATen/Parallel.h>

#include <thread>
#include <vector>

#include "model/matvec.hpp"

using namespace petalsln;

namespace {

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Sets libtorch's thread count for a scope (the pool splits by at::get_num_threads()).
struct ThreadsScope {
  int saved = at::get_num_threads();
  explicit ThreadsScope(int n) { at::set_num_threads(n); }
  ~ThreadsScope() { at::set_num_threads(saved); }
};

}  // namespace

TEST_CASE("project: one row equals at::linear for every shape of x, with and without bias, 1 to 3 threads") {
  c10::InferenceMode guard;
  torch::manual_seed(7);
  // 1003 rows: slices do not fall on the 16-row grid; 40 rows: below the split threshold.
  for (const auto& [rows, cols] : std::vector<std::pair<std::int64_t, std::int64_t>>{{1003, 320}, {40, 64}, {4096, 96}}) {
    auto w = torch::randn({rows, cols});
    auto b = torch::randn({rows});
    auto x = torch::randn({cols});
    const auto expected = at::linear(x.view({1, cols}), w, b).view({rows});
    for (int threads : {1, 2, 3}) {
      ThreadsScope scope(threads);
      CAPTURE(rows);
      CAPTURE(threads);
      CHECK(max_abs_diff(model::project(x, w, b), expected) < 1e-4);
      auto y3 = model::project(x.view({1, 1, cols}), w, b);
      CHECK(y3.sizes() == at::IntArrayRef{1, 1, rows});
      CHECK(max_abs_diff(y3.view({rows}), expected) < 1e-4);
      CHECK(max_abs_diff(model::project(x.view({1, cols}), w), expected - b) < 1e-4);
      at::Tensor out = torch::empty({rows});
      model::matvec_out(out, w, x, b);
      CHECK(max_abs_diff(out, expected) < 1e-4);
    }
  }
}

TEST_CASE("project: several rows, non-float weights and transposed weights go through at::linear") {
  c10::InferenceMode guard;
  torch::manual_seed(8);
  auto w = torch::randn({300, 200});
  auto x = torch::randn({2, 3, 200});
  CHECK(torch::equal(model::project(x, w), at::linear(x, w)));
  auto wt = torch::randn({200, 300}).t();
  auto x1 = torch::randn({1, 1, 200});
  CHECK(max_abs_diff(model::project(x1, wt), at::linear(x1, wt)) < 1e-4);
  auto wd = w.to(at::kDouble);
  auto xd = x1.to(at::kDouble);
  CHECK(torch::equal(model::project(xd, wd), at::linear(xd, wd)));
}

TEST_CASE("project: callers on several threads at once get their own right answers") {
  c10::InferenceMode guard;
  ThreadsScope scope(2);
  torch::manual_seed(9);
  auto w = torch::randn({2048, 256});
  std::vector<at::Tensor> xs, expected;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(torch::randn({256}));
    expected.push_back(at::mv(w, xs.back()));
  }
  std::vector<double> worst(4, 0.0);
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      c10::InferenceMode g;
      for (int r = 0; r < 200; ++r) worst[i] = std::max(worst[i], max_abs_diff(model::project(xs[i], w), expected[i]));
    });
  }
  for (auto& t : callers) t.join();
  for (double d : worst) CHECK(d < 1e-4);
}
