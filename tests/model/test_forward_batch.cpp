// BlockStack::forward_batch: sessions' steps batched into one pass over the weights give the
// same bits as the same steps run alone — sessions at different positions and lengths, one
// joining and one leaving mid-way, batch-2 caches and caches over part of the stack — and the
// CPU engine agrees with the libtorch implementation it replaced (run here in float64).

#include "torch_doctest.hpp"

#include <map>
#include <string>
#include <vector>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

struct Model {
  ModelConfig config = ModelConfig::load(test::fixture_dir("tiny-llama3"));
  Checkpoint checkpoint = Checkpoint::open(test::fixture_dir("tiny-llama3"));
  int layers() const { return static_cast<int>(config.num_hidden_layers); }
};

// One round of a schedule: which sessions step, with how many new positions.
using Round = std::map<std::string, std::int64_t>;

at::Tensor hidden(const ModelConfig& c, std::int64_t batch, std::int64_t seq) {
  return torch::randn({batch, seq, c.hidden_size});
}

}  // namespace

TEST_CASE("forward_batch: batched steps equal the same steps run alone, bit for bit") {
  c10::InferenceMode guard;
  torch::manual_seed(7);
  Model m;
  const int L = m.layers();
  BlockStack stack(m.config, m.checkpoint, 0, L);
  // Session -> (batch, first block, end block) of its cache.
  const std::map<std::string, std::tuple<std::int64_t, int, int>> shape = {
      {"a", {1, 0, L}}, {"b", {1, 0, L}}, {"c", {1, 0, L}}, {"d", {2, 0, L}}, {"e", {1, 1, L}}};
  // b leaves after round 2; c joins in round 1, d and e in round 3; prefills beside decodes.
  const std::vector<Round> rounds = {{{"a", 5}, {"b", 3}},
                                     {{"a", 1}, {"b", 1}, {"c", 7}},
                                     {{"a", 1}, {"b", 1}, {"c", 1}},
                                     {{"a", 2}, {"c", 1}, {"d", 4}, {"e", 3}},
                                     {{"a", 1}, {"c", 1}, {"d", 1}, {"e", 1}},
                                     {{"a", 1}, {"d", 1}, {"e", 1}}};
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    set_compute_threads(threads);
    std::map<std::string, KVCache> batched, alone;
    for (const auto& [name, s] : shape) {
      const auto [batch, begin, end] = s;
      batched.emplace(name, stack.new_cache(batch, 32, begin, end));
      alone.emplace(name, stack.new_cache(batch, 32, begin, end));
    }
    for (const auto& round : rounds) {
      std::vector<SessionStep> steps;
      std::vector<std::string> names;
      for (const auto& [name, seq] : round) {
        steps.push_back(SessionStep{hidden(m.config, std::get<0>(shape.at(name)), seq), &batched.at(name)});
        names.push_back(name);
      }
      const auto outputs = stack.forward_batch(steps);
      REQUIRE(outputs.size() == steps.size());
      // Alone, in reverse order for good measure.
      for (std::size_t i = steps.size(); i-- > 0;) {
        CAPTURE(names[i]);
        const auto want = stack.forward(steps[i].hidden, alone.at(names[i]));
        CHECK(torch::equal(outputs[i], want));
        CHECK(batched.at(names[i]).length() == alone.at(names[i]).length());
      }
    }
  }
  set_compute_threads(2);
}

TEST_CASE("forward_batch: a bad step fails the call and changes no cache") {
  c10::InferenceMode guard;
  torch::manual_seed(8);
  Model m;
  BlockStack stack(m.config, m.checkpoint, 0, m.layers());
  auto a = stack.new_cache(1, 8), b = stack.new_cache(1, 8), a_alone = stack.new_cache(1, 8);
  const auto x = hidden(m.config, 1, 3);
  stack.forward(x, a);
  stack.forward(x, a_alone);
  SUBCASE("one step would overflow its cache") {
    CHECK_THROWS_WITH_AS(stack.forward_batch({{hidden(m.config, 1, 1), &a}, {hidden(m.config, 1, 9), &b}}),
                         doctest::Contains("over its maximum of 8"), Error);
  }
  SUBCASE("two steps share a cache") {
    CHECK_THROWS_WITH_AS(stack.forward_batch({{hidden(m.config, 1, 1), &a}, {hidden(m.config, 1, 1), &a}}),
                         doctest::Contains("share a cache"), Error);
  }
  SUBCASE("a step without a cache, or with a wrong shape") {
    CHECK_THROWS_AS(stack.forward_batch({{hidden(m.config, 1, 1), &a}, {hidden(m.config, 1, 1), nullptr}}), Error);
    CHECK_THROWS_AS(stack.forward_batch({{hidden(m.config, 1, 1), &a}, {torch::randn({1, 1, 3}), &b}}), Error);
  }
  CHECK(a.length() == 3);
  CHECK(b.length() == 0);
  const auto next = hidden(m.config, 1, 1);
  CHECK(torch::equal(stack.forward_batch({{next, &a}}).front(), stack.forward(next, a_alone)));
  CHECK(stack.forward_batch({}).empty());
}

TEST_CASE("cpu engine: agrees with the libtorch blocks (float64) over a prefill and decode steps") {
  c10::InferenceMode guard;
  torch::manual_seed(9);
  for (const char* name : {"tiny-llama3", "tiny-smollm2"}) {
    CAPTURE(name);
    const auto dir = test::fixture_dir(name);
    const auto config = ModelConfig::load(dir);
    const auto checkpoint = Checkpoint::open(dir);
    const int L = static_cast<int>(config.num_hidden_layers);
    BlockStack engine(config, checkpoint, 0, L);
    ComputeOptions f64;
    f64.dtype = at::kDouble;
    BlockStack reference(config, checkpoint, 0, L, f64);
    auto ce = engine.new_cache(2, 16), cr = reference.new_cache(2, 16);
    for (std::int64_t seq : {6, 1, 1, 3, 1}) {
      const auto x = torch::randn({2, seq, config.hidden_size});
      const auto got = engine.forward(x, ce), want = reference.forward(x, cr).to(at::kFloat);
      CHECK(((got - want).abs().max() / want.abs().max()).item<double>() < 1e-5);
    }
    CHECK(((engine.forward(torch::ones({1, 4, config.hidden_size})) - reference.forward(torch::ones({1, 4, config.hidden_size})).to(at::kFloat))
               .abs()
               .max())
              .item<double>() < 1e-4);
  }
}

TEST_CASE("weight formats other than f32 need the CPU engine") {
  Model m;
  ComputeOptions o;
  o.dtype = at::kDouble;
  o.weights = WeightFormat::int8;
  CHECK_THROWS_WITH_AS(BlockStack(m.config, m.checkpoint, 0, 1, o), doctest::Contains("float32 compute on the CPU"), Error);
  o.dtype = at::kFloat;
  const BlockStack packed(m.config, m.checkpoint, 0, 1, o);
  const BlockStack full(m.config, m.checkpoint, 0, 1);
  CHECK(packed.weight_bytes() < full.weight_bytes() / 3);
}
