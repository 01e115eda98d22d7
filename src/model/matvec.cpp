#include "model/matvec.hpp"

#include <ATen/Parallel.h>
#include <omp.h>

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace petalsln::model {
namespace {

using Clock = std::chrono::steady_clock;

// Below this many weights a product is too short to be worth a hand-off to another thread.
constexpr std::int64_t kMinSplitElements = 1 << 15;
// How long an idle thread polls before it sleeps: decode steps issue products every few tens of
// microseconds, and a futex wake-up costs about as much as a small product.
constexpr auto kSpin = std::chrono::microseconds(1000);

void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// One matrix-vector product, cut into `parts` slices of rows.
struct Job {
  const at::Tensor* weight = nullptr;
  const at::Tensor* x = nullptr;
  at::Tensor* out = nullptr;
  int parts = 1;
};

// First row of slice @p part; slices start on multiples of 16 rows so that every row is
// computed by the same kernel path whatever the split (identical rounding).
std::int64_t slice_start(std::int64_t rows, int part, int parts) {
  if (part >= parts) return rows;
  const auto r = (rows * part / parts + 15) / 16 * 16;
  return r < rows ? r : rows;
}

void run_slice(const Job& job, int part) {
  const auto rows = job.weight->size(0);
  const auto lo = slice_start(rows, part, job.parts), hi = slice_start(rows, part + 1, job.parts);
  if (hi <= lo) return;
  auto out = job.out->narrow(0, lo, hi - lo);
  at::mv_out(out, job.weight->narrow(0, lo, hi - lo), *job.x);
}

// Sets this thread's OpenMP team size for its scope, so OpenBLAS runs one slice single-threaded
// (OpenBLAS's OpenMP build asks omp_get_max_threads() on every call).
class OmpThreadsScope {
 public:
  explicit OmpThreadsScope(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~OmpThreadsScope() { omp_set_num_threads(saved_); }
  OmpThreadsScope(const OmpThreadsScope&) = delete;
  OmpThreadsScope& operator=(const OmpThreadsScope&) = delete;

 private:
  int saved_;
};

// Persistent workers that take slices 1..parts-1 of one job at a time while the caller does
// slice 0. Workers poll for kSpin after their last job, then sleep on the generation counter.
class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  // Runs @p job across the workers; false (nothing done) when another thread holds the pool.
  bool try_run(const Job& job) {
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    ensure_workers(job.parts - 1);
    job_ = job;
    error_ = nullptr;
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    generation_.fetch_add(1);
    if (sleeping_.load() > 0) wake_all();
    std::exception_ptr mine;
    try {
      OmpThreadsScope single(1);
      run_slice(job, 0);
    } catch (...) {
      mine = std::current_exception();
    }
    wait_done();
    if (mine) std::rethrow_exception(mine);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  ~Pool() {
    stop_.store(true);
    generation_.fetch_add(1);
    wake_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void ensure_workers(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      const int index = static_cast<int>(workers_.size());
      // A new worker starts from the current generation, so it does not take an old job.
      const auto seen = generation_.load();
      workers_.emplace_back([this, index, seen] { worker_loop(index, seen); });
    }
  }

  void worker_loop(int index, std::uint64_t seen) {
    omp_set_num_threads(1);
    c10::InferenceMode guard;  // the caller's tensors are inference tensors
    for (;;) {
      seen = wait_for_job(seen);
      if (stop_.load()) return;
      if (index + 1 < job_.parts) {
        try {
          run_slice(job_, index + 1);
        } catch (...) {
          std::lock_guard<std::mutex> g(error_mutex_);
          if (!error_) error_ = std::current_exception();
        }
      }
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::uint64_t wait_for_job(std::uint64_t seen) {
    auto deadline = Clock::now() + kSpin;
    for (unsigned i = 1;; ++i) {
      const auto g = generation_.load(std::memory_order_acquire);
      if (g != seen) return g;
      if (i % 256 == 0 && Clock::now() > deadline) {
        // seq_cst on both sides: either the poster sees sleeping_ > 0 and notifies, or this
        // wait's predicate sees the new generation and returns at once.
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleeping_.fetch_add(1);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        sleeping_.fetch_sub(1);
        deadline = Clock::now() + kSpin;
      } else {
        relax();
      }
    }
  }

  void wake_all() {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    wake_.notify_all();
  }

  void wait_done() {
    const auto deadline = Clock::now() + kSpin;
    for (unsigned i = 1; pending_.load(std::memory_order_acquire) != 0; ++i) {
      // A worker descheduled by another process: stop burning the core it needs.
      if (i % 256 == 0 && Clock::now() > deadline) std::this_thread::yield();
      else relax();
    }
  }

  std::mutex mutex_;  // one job at a time
  std::vector<std::thread> workers_;
  Job job_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mutex_;  // with wake_: sleeping workers
  std::condition_variable wake_;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace

void matvec_out(at::Tensor& out, const at::Tensor& weight, const at::Tensor& x, const at::Tensor& bias) {
  const int threads = at::get_num_threads();
  const bool split = threads > 1 && weight.numel() >= kMinSplitElements && weight.size(0) >= 32 && !at::in_parallel_region();
  if (!split || !Pool::instance().try_run(Job{&weight, &x, &out, threads})) at::mv_out(out, weight, x);
  if (bias.defined()) out.add_(bias);
}

at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  const bool one_row = x.dim() >= 1 && x.numel() == x.size(-1);
  const bool plain = weight.dim() == 2 && weight.is_contiguous() && weight.device().is_cpu() &&
                     weight.scalar_type() == at::kFloat && x.scalar_type() == at::kFloat && x.device().is_cpu();
  if (!one_row || !plain) return at::linear(x, weight, bias);
  auto sizes = x.sizes().vec();
  sizes.back() = weight.size(0);
  auto out = at::empty(sizes, weight.options());
  auto flat = out.view({weight.size(0)});
  matvec_out(flat, weight, x.reshape({x.size(-1)}), bias);
  return out;
}

}  // namespace petalsln::model
