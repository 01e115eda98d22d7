#include "petalsln/model/compute_threads.hpp"

#include <ATen/Parallel.h>

#include <atomic>
#include <mutex>
#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

std::atomic<int> engine_threads{0};  // 0: not chosen yet
std::mutex choose_mutex;

// libtorch's own ops run on one thread once the engine owns the cores: its OpenMP team spins
// after every parallel op (argmax over a vocabulary is one) and took a quarter of the two
// cores from the engine's workers in a decode profile.
void leave_libtorch_one_thread() { at::set_num_threads(1); }

}  // namespace

void set_compute_threads(int threads) {
  if (threads < 1 || threads > 1024) {
    throw Error(ErrorCode::invalid_argument,
                "compute threads must be in [1, 1024], got " + std::to_string(threads));
  }
  std::lock_guard<std::mutex> lock(choose_mutex);
  engine_threads.store(threads);
  leave_libtorch_one_thread();
}

int compute_threads() noexcept {
  int n = engine_threads.load();
  if (n > 0) return n;
  std::lock_guard<std::mutex> lock(choose_mutex);
  n = engine_threads.load();
  if (n > 0) return n;
  // Not chosen: libtorch's count (one per physical core, or what at::set_num_threads set).
  n = at::get_num_threads();
  engine_threads.store(n > 0 ? n : 1);
  try {
    leave_libtorch_one_thread();
  } catch (...) {  // keeps noexcept; libtorch only logs for a bad count
  }
  return engine_threads.load();
}

}  // namespace petalsln
