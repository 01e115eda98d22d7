#include "model/work_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace petalsln::model {
namespace {

using Clock = std::chrono::steady_clock;

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

// One job: `parts` independent calls of run(context, part).
struct Job {
  void (*run)(void*, int) = nullptr;
  void* context = nullptr;
  int parts = 1;
  int threads = 1;  // the caller and threads - 1 workers share the parts
};

// Persistent workers that share the parts of one job at a time with the caller. Parts are
// claimed from one atomic word (generation, next part, part count), so a worker that is late
// (asleep, or descheduled by another process on a shared machine) costs nothing: the caller
// claims the parts nobody took. Idle workers poll for kSpin, then sleep on a condition variable.
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
    // One worker per extra thread, however many parts: more would outnumber the cores.
    ensure_workers(job.threads - 1);
    job_ = job;
    error_ = nullptr;
    remaining_.store(job.parts, std::memory_order_relaxed);
    generation_ = (generation_ + 1) & 0xffffffffu;
    state_.store(generation_ << 32 | static_cast<std::uint64_t>(job.parts));
    if (sleeping_.load() > 0) wake_all();
    work(generation_);
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

  // Claims and runs parts of generation @p gen until none is left. A successful claim keeps
  // job_ valid: the caller does not post another job before every claimed part is done.
  void work(std::uint64_t gen) {
    auto s = state_.load();
    while (gen_of(s) == gen && next_of(s) < parts_of(s)) {
      if (!state_.compare_exchange_weak(s, s + (1u << 16))) continue;
      try {
        job_.run(job_.context, next_of(s));
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
      remaining_.fetch_sub(1, std::memory_order_acq_rel);
      s = state_.load();
    }
  }

  void worker_loop(std::uint64_t seen) {
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

  // Waits for parts that workers claimed and are still running.
  void wait_done() {
    for (unsigned i = 1; remaining_.load(std::memory_order_acquire) != 0; ++i) {
      // A worker descheduled mid-part: give it the core rather than spin against it.
      if (i % 64 == 0) std::this_thread::yield();
      else relax();
    }
  }

  std::mutex mutex_;  // one job at a time
  std::vector<std::thread> workers_;
  Job job_;
  std::uint64_t generation_ = 0;  // written by the pool's holder only
  std::atomic<std::uint64_t> state_{0};  // generation << 32 | next part << 16 | parts
  std::atomic<int> remaining_{0};  // parts not yet finished
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mutex_;  // with wake_: sleeping workers
  std::condition_variable wake_;
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace

void run_parts(int parts, int threads, void (*run)(void* context, int part), void* context) {
  if (parts <= 0) return;
  if (threads > 1 && parts > 1 && parts <= 0xffff && Pool::instance().try_run(Job{run, context, parts, threads})) return;
  for (int p = 0; p < parts; ++p) run(context, p);
}

}  // namespace petalsln::model
