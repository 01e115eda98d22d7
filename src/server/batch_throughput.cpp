#include "server/batch_throughput.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "petalsln/util/error.hpp"

namespace petalsln::rpc {

double measure_batch_throughput(const BlockStack& stack, int sessions) {
  if (sessions < 1) throw Error(ErrorCode::invalid_argument, "a batch needs at least one session");
  using Clock = std::chrono::steady_clock;
  constexpr int kTimedBatches = 6;
  std::vector<KVCache> caches;
  caches.reserve(static_cast<std::size_t>(sessions));  // steps point into it: no reallocation
  std::vector<SessionStep> steps;
  for (int i = 0; i < sessions; ++i) {
    caches.push_back(stack.new_cache(1, kTimedBatches + 1));
    steps.push_back(SessionStep{torch::randn({1, 1, stack.config().hidden_size}) * 0.1, &caches.back()});
  }
  stack.forward_batch(steps);  // warm up allocators
  double best = 1e9;
  for (int i = 0; i < kTimedBatches; ++i) {
    const auto t0 = Clock::now();
    stack.forward_batch(steps);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return static_cast<double>(sessions) * static_cast<double>(stack.end() - stack.begin()) / std::max(best, 1e-6);
}

}  // namespace petalsln::rpc
