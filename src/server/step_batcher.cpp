#include "server/step_batcher.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>

#include "petalsln/util/error.hpp"
#include "util/log.hpp"

namespace petalsln::rpc {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t block_rows(const PendingStep& step) {
  if (!step.hidden.defined() || step.hidden.dim() < 2) return 1;  // not runnable: run alone, to fail
  return std::max<std::int64_t>(1, step.hidden.size(0) * step.hidden.size(1) * (step.cache->end() - step.cache->begin()));
}

std::int64_t micros_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
}

// Runs one step by itself: its own output or its own error, never another step's.
StepOutcome run_alone(const BlockStack& stack, const PendingStep& step) {
  StepOutcome outcome;
  const auto t0 = Clock::now();
  try {
    outcome.output = stack.forward(step.hidden, *step.cache);
  } catch (...) {
    outcome.error = std::current_exception();
  }
  outcome.micros = micros_since(t0);
  return outcome;
}

void call_done(PendingStep& step, StepOutcome outcome) {
  try {
    step.done(std::move(outcome));
  } catch (const std::exception& e) {
    util::log(util::LogLevel::error, std::string("a step's completion failed: ") + e.what());
  } catch (...) {
    util::log(util::LogLevel::error, "a step's completion failed");
  }
}

// Whether forward() would take the step: checked before batching, so a step that would throw
// (a cache overflow, a wrong shape) is run alone to get its own error and never fails a batch.
bool runnable(const BlockStack& stack, const PendingStep& step) {
  const auto& x = step.hidden;
  return x.defined() && x.dim() == 3 && x.size(0) == step.cache->batch() && x.size(1) > 0 &&
         x.size(2) == stack.config().hidden_size && at::isFloatingType(x.scalar_type()) &&
         step.cache->length() + x.size(1) <= step.cache->max_length();
}

}  // namespace

StepBatcher::StepBatcher(const BlockStack& stack, BatchLimits limits, std::function<void(int, std::int64_t)> on_batch)
    : stack_(stack), limits_(limits), on_batch_(std::move(on_batch)) {
  if (limits_.max_sessions < 1 || limits_.max_block_rows < 1) {
    throw Error(ErrorCode::invalid_argument, "a batch must hold at least one session and one block-row");
  }
  thread_ = std::thread([this] { run(); });
}

StepBatcher::~StepBatcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void StepBatcher::submit(const std::string& peer, PendingStep step) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    expected_.erase(step.cache);
    if (auto it = pace_.find(step.cache); it != pace_.end() && it->second.answered != Clock::time_point{}) {
      it->second.comes_back = Clock::now() - it->second.answered;
      it->second.answered = {};
    }
    auto& queue = queues_[peer];
    if (queue.empty()) turns_.push_back(peer);
    queue.push_back(std::move(step));
    ++pending_;
  }
  cv_.notify_one();
}

std::size_t StepBatcher::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_;
}

// Gives the last batch's sessions a moment to send their next steps (see the header), unless
// the batch is full already. Called with mu_ held, through @p lock.
void StepBatcher::await_last_sessions(std::unique_lock<std::mutex>& lock) {
  const auto full = [this] { return stopping_ || expected_.empty() || pending_ >= static_cast<std::size_t>(limits_.max_sessions); };
  if (!full()) cv_.wait_for(lock, gather_wait_, full);
  expected_.clear();
}

// Remembers which sessions the batch just computed are worth waiting for (their last next step
// came back within the wait; not queued already) and how long to wait. Called before any
// step's done(), so a next step submitted from done() is never expected, and its pace is kept.
void StepBatcher::expect_back(const std::vector<PendingStep>& batch, std::chrono::microseconds took) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto now = Clock::now();
  gather_wait_ = std::min(took / 8, kMaxGatherWait);
  for (auto it = pace_.begin(); it != pace_.end();) {  // sessions gone quiet (or ended) are forgotten
    const bool stale = it->second.answered != Clock::time_point{} && now - it->second.answered > std::chrono::minutes(1);
    it = stale ? pace_.erase(it) : std::next(it);
  }
  expected_.clear();
  for (const auto& step : batch) {
    auto& pace = pace_[step.cache];
    pace.answered = now;
    if (pace.comes_back <= gather_wait_) expected_.insert(step.cache);
  }
  for (const auto& [peer, queue] : queues_) {
    for (const auto& step : queue) expected_.erase(step.cache);
  }
}

// Fills a batch in passes over the peers in turn order, one step per peer per pass (its oldest
// whose session is not in the batch yet and which fits), until the batch is full or nothing
// more fits. Served peers then move behind the ones left waiting. Called with mu_ held.
std::vector<PendingStep> StepBatcher::take_batch() {
  std::vector<PendingStep> batch;
  std::set<const KVCache*> sessions;
  std::vector<std::string> served;
  std::int64_t rows = 0;
  for (bool took = true; took && static_cast<int>(batch.size()) < limits_.max_sessions;) {
    took = false;
    for (const auto& peer : turns_) {
      if (static_cast<int>(batch.size()) >= limits_.max_sessions) break;
      auto& queue = queues_[peer];
      for (auto it = queue.begin(); it != queue.end(); ++it) {
        const auto r = block_rows(*it);
        if (sessions.count(it->cache) != 0 || (!batch.empty() && rows + r > limits_.max_block_rows)) continue;
        rows += r;
        sessions.insert(it->cache);
        batch.push_back(std::move(*it));
        queue.erase(it);
        if (served.empty() || served.back() != peer) served.push_back(peer);
        took = true;
        break;
      }
    }
  }
  std::deque<std::string> next_turns;
  for (const auto& peer : turns_) {
    if (std::find(served.begin(), served.end(), peer) == served.end()) next_turns.push_back(peer);
  }
  for (const auto& peer : served) {
    if (std::find(next_turns.begin(), next_turns.end(), peer) == next_turns.end()) next_turns.push_back(peer);
  }
  turns_.clear();
  for (auto& peer : next_turns) {
    if (queues_[peer].empty()) {
      queues_.erase(peer);
    } else {
      turns_.push_back(std::move(peer));
    }
  }
  pending_ -= batch.size();
  return batch;
}

// Runs the runnable steps as one forward_batch and the others alone. Should forward_batch
// still throw, no cache has changed (its contract), so each step is run again alone: one step
// that cannot run never costs the others their outputs.
std::vector<StepOutcome> StepBatcher::compute(const std::vector<PendingStep>& steps) {
  std::vector<StepOutcome> outcomes(steps.size());
  std::vector<std::size_t> together;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (runnable(stack_, steps[i])) {
      together.push_back(i);
    } else {
      outcomes[i] = run_alone(stack_, steps[i]);
    }
  }
  if (together.size() == 1) outcomes[together[0]] = run_alone(stack_, steps[together[0]]);
  if (together.size() < 2) return outcomes;
  std::vector<SessionStep> batch;
  std::int64_t rows = 0;
  for (const auto i : together) {
    batch.push_back({steps[i].hidden, steps[i].cache});
    rows += block_rows(steps[i]);
  }
  const auto t0 = Clock::now();
  try {
    auto outputs = stack_.forward_batch(batch);
    const auto micros = micros_since(t0);
    for (std::size_t k = 0; k < together.size(); ++k) {
      outcomes[together[k]].output = std::move(outputs[k]);
      outcomes[together[k]].micros = micros * block_rows(steps[together[k]]) / rows;
    }
    return outcomes;
  } catch (const std::exception& e) {
    util::log(util::LogLevel::warn, std::string("a batch failed, running its steps alone: ") + e.what());
  } catch (...) {
    util::log(util::LogLevel::warn, "a batch failed, running its steps alone");
  }
  for (const auto i : together) outcomes[i] = run_alone(stack_, steps[i]);
  return outcomes;
}

void StepBatcher::run_batch(std::vector<PendingStep> batch) {
  std::vector<PendingStep> live;
  for (auto& step : batch) {
    if (step.cancelled && step.cancelled()) {
      StepOutcome dropped;
      dropped.cancelled = true;
      call_done(step, std::move(dropped));
    } else {
      live.push_back(std::move(step));
    }
  }
  if (live.empty()) return;
  std::int64_t rows = 0;
  for (const auto& step : live) rows += block_rows(step);
  const auto t0 = Clock::now();
  auto outcomes = compute(live);
  if (limits_.max_sessions > 1) expect_back(live, std::chrono::microseconds(micros_since(t0)));
  if (on_batch_) on_batch_(static_cast<int>(live.size()), rows);
  for (std::size_t i = 0; i < live.size(); ++i) {
    call_done(live[i], std::move(outcomes[i]));
    live[i] = PendingStep();  // what the step held is released before its session's next turn
  }
}

void StepBatcher::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !turns_.empty(); });
    if (turns_.empty()) return;  // stopping, and every submitted step has run
    await_last_sessions(lock);
    auto batch = take_batch();
    lock.unlock();
    run_batch(std::move(batch));
    lock.lock();
  }
}

}  // namespace petalsln::rpc
