#include "petalsln/model/block_throughput.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

namespace petalsln {

double measure_block_throughput(const BlockStack& stack) {
  using Clock = std::chrono::steady_clock;
  auto cache = stack.new_cache(1, 16);
  auto x = torch::randn({1, 1, stack.config().hidden_size}) * 0.1;
  stack.forward(x, cache);  // warm up allocators
  double best = 1e9;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = Clock::now();
    stack.forward(x, cache);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return static_cast<double>(stack.end() - stack.begin()) / std::max(best, 1e-6);
}

}  // namespace petalsln
