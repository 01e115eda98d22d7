#include "model/matvec.hpp"

#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
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
// From this many weights on, a product is cut into two slices per thread.
constexpr std::int64_t kManySlicesElements = 1 << 20;
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
  int threads = 1;  // the caller and threads - 1 workers share the slices
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

// Persistent workers that share the slices of one job at a time with the caller. Slices are
// claimed from one atomic word (generation, next slice, slice count), so a worker that is late
// (asleep, or descheduled by another process on a shared machine) costs nothing: the caller
// claims the slices nobody took. Idle workers poll for kSpin, then sleep on a condition variable.
class Pool {
 public:
  static Pool& instance() {
    static Pool pool;
    return pool;
  }

  // Runs @p job; false (nothing done) when another thread holds the pool.
  bool try_run(const Job& job) {
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    // One worker per extra thread, however many slices: more would outnumber the cores.
    ensure_workers(job.threads - 1);
    job_ = job;
    error_ = nullptr;
    remaining_.store(job.parts, std::memory_order_relaxed);
    generation_ = (generation_ + 1) & 0xffffffffu;
    state_.store(generation_ << 32 | static_cast<std::uint64_t>(job.parts));
    if (sleeping_.load() > 0) wake_all();
    {
      OmpThreadsScope single(1);
      work(generation_);
    }
    wait_done();
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  ~Pool() {
    stop_.store(true);
    state_.store(((generation_ + 1) & 0xffffffffu) << 32);
    wake_all();
    for (auto& t : workers_) t.join();
  }

 private:
  static std::uint64_t gen_of(std::uint64_t state) { return state >> 32; }
  static int next_of(std::uint64_t state) { return static_cast<int>(state >> 16 & 0xffffu); }
  static int parts_of(std::uint64_t state) { return static_cast<int>(state & 0xffffu); }

  void ensure_workers(int n) {
    while (static_cast<int>(workers_.size()) < n) {
      // A new worker starts from the current generation, so it does not look for an old job.
      const auto seen = gen_of(state_.load());
      workers_.emplace_back([this, seen] { worker_loop(seen); });
    }
  }

  // Claims and runs slices of generation @p gen until none is left. A successful claim keeps
  // job_ valid: the caller does not post another job before every claimed slice is done.
  void work(std::uint64_t gen) {
    auto s = state_.load();
    while (gen_of(s) == gen && next_of(s) < parts_of(s)) {
      if (!state_.compare_exchange_weak(s, s + (1u << 16))) continue;
      try {
        run_slice(job_, next_of(s));
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      remaining_.fetch_sub(1, std::memory_order_acq_rel);
      s = state_.load();
    }
  }

  void worker_loop(std::uint64_t seen) {
    omp_set_num_threads(1);
    c10::InferenceMode guard;  // the caller's tensors are inference tensors
    for (;;) {
      seen = wait_for_job(seen);
      if (stop_.load()) return;
      work(seen);
    }
  }

  std::uint64_t wait_for_job(std::uint64_t seen) {
    auto deadline = Clock::now() + kSpin;
    for (unsigned i = 1;; ++i) {
      const auto g = gen_of(state_.load(std::memory_order_acquire));
      if (g != seen) return g;
      if (i % 256 == 0 && Clock::now() > deadline) {
        // seq_cst on both sides: either the poster sees sleeping_ > 0 and notifies, or this
        // wait's predicate sees the new generation and returns at once.
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleeping_.fetch_add(1);
        wake_.wait(lock, [&] { return gen_of(state_.load()) != seen; });
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

  // Waits for slices that workers claimed and are still running.
  void wait_done() {
    for (unsigned i = 1; remaining_.load(std::memory_order_acquire) != 0; ++i) {
      // A worker descheduled mid-slice: give it the core rather than spin against it.
      if (i % 64 == 0) std::this_thread::yield();
      else relax();
    }
  }

  std::mutex mutex_;  // one job at a time
  std::vector<std::thread> workers_;
  Job job_;
  std::uint64_t generation_ = 0;  // written by the pool's holder only
  std::atomic<std::uint64_t> state_{0};  // generation << 32 | next slice << 16 | slices
  std::atomic<int> remaining_{0};  // slices not yet finished
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
  // Large products get two slices per thread, so a worker that starts late still gets a share.
  const int parts = std::min<std::int64_t>(weight.numel() >= kManySlicesElements ? 2 * threads : threads, 256);
  if (!split || !Pool::instance().try_run(Job{&weight, &x, &out, parts, threads})) at::mv_out(out, weight, x);
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
