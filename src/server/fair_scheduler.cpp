#include "server/fair_scheduler.hpp"

#include <exception>

#include "petalsln/util/error.hpp"
#include "util/log.hpp"

namespace petalsln::rpc {

FairScheduler::FairScheduler(int threads) {
  if (threads <= 0) throw Error(ErrorCode::invalid_argument, "a scheduler needs at least one thread");
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

FairScheduler::~FairScheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void FairScheduler::submit(const std::string& peer, std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& queue = queues_[peer];
    if (queue.empty() && running_.count(peer) == 0) turns_.push_back(peer);
    queue.push_back(std::move(job));
    ++pending_;
  }
  cv_.notify_one();
}

std::size_t FairScheduler::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

void FairScheduler::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !turns_.empty(); });
    if (turns_.empty()) return;  // stopping, and every queued job has run
    const std::string peer = std::move(turns_.front());
    turns_.pop_front();
    auto it = queues_.find(peer);
    std::function<void()> job = std::move(it->second.front());
    it->second.pop_front();
    if (it->second.empty()) queues_.erase(it);
    running_.insert(peer);
    --pending_;
    lock.unlock();
    try {
      job();
    } catch (const std::exception& e) {
      util::log(util::LogLevel::error, std::string("scheduled job failed: ") + e.what());
    } catch (...) {
      util::log(util::LogLevel::error, "scheduled job failed");
    }
    job = nullptr;  // whatever the job held is released before the next one runs
    lock.lock();
    running_.erase(peer);
    if (queues_.count(peer) != 0) {
      turns_.push_back(peer);  // the peer's next job waits for everyone else's
      cv_.notify_one();
    }
  }
}

}  // namespace petalsln::rpc
