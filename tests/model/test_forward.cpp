// The model layer against transformers' own numbers (tests/fixtures/*/reference.json).

#include "torch_doctest.hpp"

#include <nlohmann/json.hpp>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;
using nlohmann::json;

namespace {

struct Fixture {
  std::string dir;
  ModelConfig config;
  Checkpoint checkpoint;
  json reference;

  explicit Fixture(const std::string& name)
      : dir(test::fixture_dir(name)),
        config(ModelConfig::load(dir)),
        checkpoint(Checkpoint::open(dir)),
        reference(json::parse(test::slurp(dir + "/reference.json"))) {}
};

at::Tensor to_tensor(const json& nested) {
  // [seq][dim] → float tensor
  std::vector<float> flat;
  const auto rows = static_cast<std::int64_t>(nested.size());
  const auto cols = static_cast<std::int64_t>(nested[0].size());
  for (const auto& r : nested)
    for (const auto& v : r) flat.push_back(v.get<float>());
  return torch::tensor(flat).view({rows, cols});
}

std::vector<TokenId> ids_of(const json& j) { return j.get<std::vector<TokenId>>(); }

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TokenId top_token(const at::Tensor& row) { return static_cast<TokenId>(row.argmax().item<std::int64_t>()); }

}  // namespace

TEST_CASE("forward: logits and every block output match transformers within 1e-3") {
  for (const char* name : {"tiny-llama3", "tiny-smollm2"}) {
    CAPTURE(name);
    Fixture f(name);
    LocalHead head(f.config, f.checkpoint);
    const int L = static_cast<int>(f.config.num_hidden_layers);
    std::vector<BlockStack> blocks;
    for (int i = 0; i < L; ++i) blocks.emplace_back(f.config, f.checkpoint, i, i + 1);
    for (const auto& c : f.reference["forward"]) {
      CAPTURE(c["text"].get<std::string>());
      auto x = head.embed({ids_of(c["ids"])});
      for (int i = 0; i < L; ++i) {
        x = blocks[static_cast<std::size_t>(i)].forward(x);
        const double d = max_abs_diff(x[0], to_tensor(c["block_outputs"][static_cast<std::size_t>(i)]));
        CAPTURE(i);
        CHECK(d < 1e-3);
      }
      CHECK(max_abs_diff(head.logits(x)[0], to_tensor(c["logits"])) < 1e-3);
    }
  }
}

TEST_CASE("forward: blocks [0,k) then [k,L) equal one stack [0,L)") {
  Fixture f("tiny-smollm2");
  LocalHead head(f.config, f.checkpoint);
  const int L = static_cast<int>(f.config.num_hidden_layers);
  BlockStack whole(f.config, f.checkpoint, 0, L);
  auto x = head.embed({ids_of(f.reference["forward"][0]["ids"])});
  auto expected = whole.forward(x);
  for (int k = 1; k < L; ++k) {
    BlockStack first(f.config, f.checkpoint, 0, k), second(f.config, f.checkpoint, k, L);
    CHECK(max_abs_diff(second.forward(first.forward(x)), expected) < 1e-5);
  }
}

TEST_CASE("kv cache: prefill then one token at a time reproduces greedy new_tokens (no penalty)") {
  for (const char* name : {"tiny-llama3", "tiny-smollm2"}) {
    CAPTURE(name);
    Fixture f(name);
    LocalHead head(f.config, f.checkpoint);
    const int L = static_cast<int>(f.config.num_hidden_layers);
    const int k = L / 2;
    // Two stacks, as two servers would hold them.
    BlockStack first(f.config, f.checkpoint, 0, k), second(f.config, f.checkpoint, k, L);
    for (const auto& c : f.reference["greedy"]) {
      if (c["repetition_penalty"].get<double>() != 1.0) continue;
      const auto expected = ids_of(c["new_tokens"]);
      auto prompt = ids_of(c["ids"]);
      auto cache1 = first.new_cache(1, 128);
      auto cache2 = second.new_cache(1, 128);
      auto x = second.forward(first.forward(head.embed({prompt}), cache1), cache2);
      std::vector<TokenId> got;
      for (std::size_t t = 0; t < expected.size(); ++t) {
        const TokenId next = top_token(head.last_logits(x)[0]);
        got.push_back(next);
        x = second.forward(first.forward(head.embed({{next}}), cache1), cache2);
      }
      CHECK(got == expected);
      CHECK(cache1.length() == static_cast<std::int64_t>(prompt.size() + expected.size()));
    }
  }
}

TEST_CASE("kv cache: a sub-range cache and a batch of two sequences") {
  Fixture f("tiny-llama3");
  LocalHead head(f.config, f.checkpoint);
  BlockStack stack(f.config, f.checkpoint, 0, 6);
  const auto ids = ids_of(f.reference["forward"][0]["ids"]);
  // Sub-range [2, 4) of the stack equals a stack holding exactly [2, 4).
  BlockStack middle(f.config, f.checkpoint, 2, 4);
  auto x = head.embed({ids});
  auto sub = stack.new_cache(1, 64, 2, 4);
  CHECK(max_abs_diff(stack.forward(x, sub), middle.forward(x)) < 1e-5);
  // A batch of two identical rows gives the same output for both, up to rounding: OpenBLAS
  // may compute the rows of one product with different kernels (on AMD EPYC its Zen kernels
  // give the two rows results 2.7e-5 apart; on Sapphire Rapids they were bit-identical).
  auto batch = head.embed({ids, ids});
  auto cache = stack.new_cache(2, 64);
  auto out = stack.forward(batch, cache);
  CHECK(max_abs_diff(out[0], out[1]) < 1e-4);
  CHECK(max_abs_diff(out[0], stack.forward(x)[0]) < 1e-4);  // BLAS may block batches differently
  CHECK(cache.bytes() == stack.cache_bytes(2, 64, 6));
}

TEST_CASE("block stacks and heads reject bad input") {
  Fixture f("tiny-llama3");
  CHECK_THROWS_AS(BlockStack(f.config, f.checkpoint, 0, 7), Error);
  CHECK_THROWS_AS(BlockStack(f.config, f.checkpoint, -1, 2), Error);
  CHECK_THROWS_AS(BlockStack(f.config, f.checkpoint, 3, 3), Error);
  try {
    BlockStack(f.config, f.checkpoint, 4, 9);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::out_of_range);
    CHECK(std::string(e.what()).find("[4, 9)") != std::string::npos);
  }
  BlockStack stack(f.config, f.checkpoint, 0, 2);
  LocalHead head(f.config, f.checkpoint);
  CHECK_THROWS_AS(stack.forward(torch::zeros({1, 3, 65})), Error);
  CHECK_THROWS_AS(stack.forward(torch::zeros({3, 64})), Error);
  CHECK_THROWS_AS(stack.forward(torch::zeros({1, 3, 64}, torch::kInt64)), Error);
  auto cache = stack.new_cache(1, 4);
  CHECK_THROWS_AS(stack.forward(torch::zeros({1, 5, 64}), cache), Error);  // overflow
  CHECK(cache.length() == 0);
  stack.forward(torch::zeros({1, 4, 64}), cache);
  CHECK_THROWS_AS(stack.forward(torch::zeros({1, 1, 64}), cache), Error);
  CHECK_THROWS_AS(stack.forward(torch::zeros({2, 1, 64}), cache), Error);  // batch mismatch
  CHECK_THROWS_AS(stack.new_cache(1, 8, 1, 3), Error);  // outside the stack
  CHECK_THROWS_AS(stack.new_cache(0, 8), Error);
  try {
    head.embed({{1, 2, 512}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::out_of_range);
    CHECK(std::string(e.what()).find("512") != std::string::npos);
  }
  CHECK_THROWS_AS(head.embed({{-1}}), Error);
  CHECK_THROWS_AS(head.embed({{1, 2}, {3}}), Error);
  CHECK_THROWS_AS(head.embed({}), Error);
  CHECK_THROWS_AS(head.logits(torch::zeros({1, 2, 3})), Error);
}
