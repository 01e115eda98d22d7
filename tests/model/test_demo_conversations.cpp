// The demo model answers the last question of each reference conversation exactly as
// transformers did (examples/demo-model/reference.json, "conversations"): greedy decoding over
// the KV cache from the whole conversation's prompt ids, the blocks split as three servers
// would hold them (3 + 3 + 2).

#include "torch_doctest.hpp"

#include <nlohmann/json.hpp>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/model/model_config.hpp"
#include "test_support.hpp"

using namespace petalsln;

TEST_CASE("demo conversations: the last turn's answer ids equal transformers' greedy ids") {
  const std::string dir = test::demo_model_dir();
  const auto reference = nlohmann::json::parse(test::slurp(dir + "/reference.json"));
  const auto config = ModelConfig::load(dir);
  const auto checkpoint = Checkpoint::open(dir);
  LocalHead head(config, checkpoint);
  REQUIRE(config.num_hidden_layers == 8);
  std::vector<BlockStack> servers;
  servers.emplace_back(config, checkpoint, 0, 3);
  servers.emplace_back(config, checkpoint, 3, 6);
  servers.emplace_back(config, checkpoint, 6, 8);
  for (const auto& c : reference.at("conversations")) {
    CAPTURE(c.at("text").get<std::string>());
    const auto prompt = c.at("prompt_ids").get<std::vector<TokenId>>();
    const auto expected = c.at("new_ids").get<std::vector<TokenId>>();
    const auto max_length = static_cast<std::int64_t>(prompt.size() + expected.size());
    std::vector<KVCache> caches;
    for (const auto& s : servers) caches.push_back(s.new_cache(1, max_length));
    auto through = [&](at::Tensor x) {
      for (std::size_t i = 0; i < servers.size(); ++i) x = servers[i].forward(x, caches[i]);
      return x;
    };
    auto x = through(head.embed({prompt}));
    std::vector<TokenId> got;
    while (got.size() < expected.size()) {
      got.push_back(static_cast<TokenId>(head.last_logits(x)[0].argmax().item<std::int64_t>()));
      if (got.size() < expected.size()) x = through(head.embed({{got.back()}}));
    }
    CHECK(got == expected);
  }
}
