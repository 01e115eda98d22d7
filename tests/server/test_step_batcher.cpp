// The server's step batcher on its own, with the tiny fixture's real blocks: steps that wait
// together run as one batch and each gets exactly what it would get alone; batches are filled
// round-robin across peers within their limits; a step that cannot run fails by itself; a long
// prefill's chunks share batches with others' decode steps instead of stalling them.
// Batches are made deterministic by holding the compute thread in a "gate" step's completion
// while the steps under test are submitted.

#include "torch_doctest.hpp"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/util/error.hpp"
#include "server/step_batcher.hpp"
#include "test_support.hpp"

using namespace petalsln;
using namespace petalsln::rpc;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64

const BlockStack& tiny_stack() {
  static const BlockStack stack(ModelConfig::load(kModel), Checkpoint::open(kModel), 0, 6);
  return stack;
}

// Every outcome by step name, in the order the batcher completed them, and every batch's size.
struct Record {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, StepOutcome> outcomes;
  std::vector<std::string> order;
  std::vector<int> batch_sizes;
  std::vector<std::int64_t> batch_rows;

  std::function<void(int, std::int64_t)> on_batch() {
    return [this](int steps, std::int64_t rows) {
      std::lock_guard<std::mutex> lock(mu);
      batch_sizes.push_back(steps);
      batch_rows.push_back(rows);
    };
  }
  void store(const std::string& name, StepOutcome outcome) {
    std::lock_guard<std::mutex> lock(mu);
    outcomes[name] = std::move(outcome);
    order.push_back(name);
    cv.notify_all();
  }
  PendingStep step(const std::string& name, at::Tensor hidden, KVCache* cache) {
    PendingStep s;
    s.hidden = std::move(hidden);
    s.cache = cache;
    s.done = [this, name](StepOutcome o) { store(name, std::move(o)); };
    return s;
  }
  void wait_for(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return order.size() >= n; }));
  }
};

// Holds the compute thread inside its step's completion until released, so that everything
// submitted meanwhile is waiting when the next batch is formed.
struct Gate {
  KVCache cache = tiny_stack().new_cache(1, 4);
  std::promise<void> entered, release;

  void close(StepBatcher& batcher) {
    PendingStep s;
    s.hidden = torch::zeros({1, 1, 64});
    s.cache = &cache;
    auto released = release.get_future().share();
    s.done = [this, released](StepOutcome) {
      entered.set_value();
      released.wait();
    };
    auto in = entered.get_future();
    batcher.submit("gate", std::move(s));
    in.wait();
  }
  void open() { release.set_value(); }
};

// A session as the batcher sees it, beside the same session run alone on its own cache.
struct Session {
  KVCache served, alone;
  Session(std::int64_t batch, std::int64_t max_length, int begin = -1, int end = -1)
      : served(tiny_stack().new_cache(batch, max_length, begin, end)), alone(tiny_stack().new_cache(batch, max_length, begin, end)) {}
  at::Tensor input(std::int64_t seq) const { return torch::randn({served.batch(), seq, 64}); }
  at::Tensor reference(const at::Tensor& x) { return tiny_stack().forward(x, alone); }
};

}  // namespace

TEST_CASE("step batcher: steps waiting together run as one batch, each equal to running alone") {
  torch::manual_seed(11);
  Record record;
  StepBatcher batcher(tiny_stack(), BatchLimits{}, record.on_batch());
  // Different lengths, batch sizes and block ranges; "late" joins in the second round and "a"
  // leaves after the first.
  std::map<std::string, Session> sessions;
  sessions.emplace(std::piecewise_construct, std::forward_as_tuple("a"), std::forward_as_tuple(1, 32));
  sessions.emplace(std::piecewise_construct, std::forward_as_tuple("b"), std::forward_as_tuple(1, 32));
  sessions.emplace(std::piecewise_construct, std::forward_as_tuple("c"), std::forward_as_tuple(2, 32, 1, 4));
  sessions.emplace(std::piecewise_construct, std::forward_as_tuple("d"), std::forward_as_tuple(1, 32, 2, 6));
  sessions.emplace(std::piecewise_construct, std::forward_as_tuple("late"), std::forward_as_tuple(1, 32));
  const std::vector<std::map<std::string, std::int64_t>> rounds = {
      {{"a", 3}, {"b", 7}, {"c", 1}, {"d", 12}},
      {{"b", 1}, {"c", 1}, {"d", 1}, {"late", 5}},
      {{"b", 1}, {"c", 2}, {"d", 1}, {"late", 1}},
  };
  std::size_t expected = 0;
  for (std::size_t r = 0; r < rounds.size(); ++r) {
    Gate gate;
    gate.close(batcher);
    std::map<std::string, at::Tensor> inputs;
    for (const auto& [name, seq] : rounds[r]) {
      inputs[name] = sessions.at(name).input(seq);
      batcher.submit("peer-" + name, record.step(name + std::to_string(r), inputs[name], &sessions.at(name).served));
    }
    gate.open();
    expected += rounds[r].size();
    record.wait_for(expected);
    for (const auto& [name, x] : inputs) {
      CAPTURE(name);
      CAPTURE(r);
      const auto& outcome = record.outcomes.at(name + std::to_string(r));
      REQUIRE(outcome.output.defined());
      CHECK(torch::equal(outcome.output, sessions.at(name).reference(x)));
      CHECK(sessions.at(name).served.length() == sessions.at(name).alone.length());
    }
  }
  CHECK(record.batch_sizes == std::vector<int>{1, 4, 1, 4, 1, 4});
}

TEST_CASE("step batcher: batches are filled round-robin across peers, one step per session, within their limits") {
  torch::manual_seed(12);
  SUBCASE("sessions per batch") {
    Record record;
    StepBatcher batcher(tiny_stack(), BatchLimits{3, kBlockRowsPerBatch}, record.on_batch());
    std::vector<std::unique_ptr<Session>> s;
    for (int i = 0; i < 6; ++i) s.push_back(std::make_unique<Session>(1, 8));
    Gate gate;
    gate.close(batcher);
    // One peer with four sessions submits first; two peers with one session each come after.
    for (int i = 0; i < 4; ++i) batcher.submit("many", record.step("many" + std::to_string(i), s[i]->input(1), &s[i]->served));
    batcher.submit("q", record.step("q", s[4]->input(1), &s[4]->served));
    batcher.submit("r", record.step("r", s[5]->input(1), &s[5]->served));
    gate.open();
    record.wait_for(6);
    CHECK(record.batch_sizes == std::vector<int>{1, 3, 3});
    CHECK(record.order == std::vector<std::string>{"many0", "q", "r", "many1", "many2", "many3"});
  }
  SUBCASE("block-rows per batch: a decode step rides along with a prefill chunk, a second chunk waits") {
    Record record;
    StepBatcher batcher(tiny_stack(), BatchLimits{16, 700}, record.on_batch());
    Session big1(1, 128), big2(1, 128), small(1, 8);
    Gate gate;
    gate.close(batcher);
    batcher.submit("a", record.step("big1", big1.input(100), &big1.served));  // 600 block-rows
    batcher.submit("b", record.step("big2", big2.input(100), &big2.served));
    batcher.submit("c", record.step("small", small.input(1), &small.served));  // 6 block-rows
    gate.open();
    record.wait_for(3);
    CHECK(record.batch_rows == std::vector<std::int64_t>{6, 606, 600});
    CHECK(record.order == std::vector<std::string>{"big1", "small", "big2"});
  }
  SUBCASE("two steps of one session never share a batch") {
    Record record;
    StepBatcher batcher(tiny_stack(), BatchLimits{}, record.on_batch());
    Session one(1, 8);
    Gate gate;
    gate.close(batcher);
    const auto x = one.input(2);
    batcher.submit("p", record.step("first", x.narrow(1, 0, 1), &one.served));
    batcher.submit("p", record.step("second", x.narrow(1, 1, 1), &one.served));
    gate.open();
    record.wait_for(2);
    CHECK(record.batch_sizes == std::vector<int>{1, 1, 1});
    CHECK(torch::equal(torch::cat({record.outcomes.at("first").output, record.outcomes.at("second").output}, 1), one.reference(x)));
  }
  CHECK_THROWS_AS(StepBatcher(tiny_stack(), BatchLimits{0, 100}), Error);
  CHECK_THROWS_AS(StepBatcher(tiny_stack(), BatchLimits{4, 0}), Error);
}

TEST_CASE("step batcher: a step that cannot run fails by itself; a cancelled one is dropped unrun") {
  torch::manual_seed(13);
  Record record;
  StepBatcher batcher(tiny_stack(), BatchLimits{}, record.on_batch());
  Session good1(1, 16), good2(2, 16, 1, 5), bad(1, 4), cancelled(1, 8);
  Gate gate;
  gate.close(batcher);
  const auto x1 = good1.input(5), x2 = good2.input(3);
  batcher.submit("p", record.step("good1", x1, &good1.served));
  batcher.submit("q", record.step("bad", bad.input(6), &bad.served));  // 6 positions into a cache of 4
  batcher.submit("r", record.step("good2", x2, &good2.served));
  auto dropped = record.step("cancelled", cancelled.input(1), &cancelled.served);
  dropped.cancelled = [] { return true; };
  batcher.submit("s", std::move(dropped));
  gate.open();
  record.wait_for(4);
  CHECK(torch::equal(record.outcomes.at("good1").output, good1.reference(x1)));
  CHECK(torch::equal(record.outcomes.at("good2").output, good2.reference(x2)));
  const auto& failed = record.outcomes.at("bad");
  CHECK_FALSE(failed.output.defined());
  REQUIRE(failed.error);
  CHECK_THROWS_AS(std::rethrow_exception(failed.error), Error);
  CHECK(bad.served.length() == 0);
  CHECK(record.outcomes.at("cancelled").cancelled);
  CHECK_FALSE(record.outcomes.at("cancelled").output.defined());
  CHECK(cancelled.served.length() == 0);
  CHECK(record.batch_sizes == std::vector<int>{1, 3});
}

TEST_CASE("step batcher: a long prefill's chunks share each batch with another session's decode steps") {
  torch::manual_seed(14);
  Record record;
  StepBatcher batcher(tiny_stack(), BatchLimits{}, record.on_batch());
  Session prefill(1, 700), decode(1, 16);
  const auto prompt = prefill.input(600);  // six chunks of 100 positions (600 block-rows each)
  std::vector<at::Tensor> decode_inputs;
  for (int i = 0; i < 5; ++i) decode_inputs.push_back(decode.input(1));
  // Each chain submits its next step from the previous one's completion, as ChunkedRun does.
  std::function<void(int)> next_chunk, next_token;
  next_chunk = [&](int i) {
    auto s = record.step("chunk" + std::to_string(i), prompt.narrow(1, 100 * i, 100), &prefill.served);
    auto store = std::move(s.done);
    s.done = [&, i, store](StepOutcome o) {
      store(std::move(o));
      if (i + 1 < 6) next_chunk(i + 1);
    };
    batcher.submit("prefilling peer", std::move(s));
  };
  next_token = [&](int i) {
    auto s = record.step("token" + std::to_string(i), decode_inputs[static_cast<std::size_t>(i)], &decode.served);
    auto store = std::move(s.done);
    s.done = [&, i, store](StepOutcome o) {
      store(std::move(o));
      if (i + 1 < 5) next_token(i + 1);
    };
    batcher.submit("decoding peer", std::move(s));
  };
  Gate gate;
  gate.close(batcher);
  next_chunk(0);
  next_token(0);
  gate.open();
  record.wait_for(11);
  // Every decode step completed in the same batch as one chunk, long before the prefill ended.
  const auto position = [&](const std::string& name) { return std::find(record.order.begin(), record.order.end(), name) - record.order.begin(); };
  for (int i = 0; i < 5; ++i) CHECK(position("token" + std::to_string(i)) == position("chunk" + std::to_string(i)) + 1);
  CHECK(record.batch_sizes == std::vector<int>{1, 2, 2, 2, 2, 2, 1});
  std::vector<at::Tensor> chunks;
  for (int i = 0; i < 6; ++i) chunks.push_back(record.outcomes.at("chunk" + std::to_string(i)).output);
  std::vector<at::Tensor> alone;
  for (int i = 0; i < 6; ++i) alone.push_back(prefill.reference(prompt.narrow(1, 100 * i, 100)));
  CHECK(torch::equal(torch::cat(chunks, 1), torch::cat(alone, 1)));
  for (int i = 0; i < 5; ++i) {
    CHECK(torch::equal(record.outcomes.at("token" + std::to_string(i)).output, decode.reference(decode_inputs[static_cast<std::size_t>(i)])));
  }
}
