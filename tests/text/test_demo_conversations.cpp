// The demo model's reference conversations (examples/demo-model/reference.json): the chat
// template and tokenizer turn each multi-turn conversation into exactly the prompt ids that
// transformers produced, so a conversation reaches the model as it was trained.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "petalsln/text/chat_template.hpp"
#include "petalsln/text/tokenizer.hpp"
#include "test_support.hpp"

using namespace petalsln;

TEST_CASE("demo conversations: messages render and tokenize to transformers' prompt ids") {
  const std::string dir = test::demo_model_dir();
  const auto reference = nlohmann::json::parse(test::slurp(dir + "/reference.json"));
  const ChatTemplate chat = ChatTemplate::load(dir);
  const Tokenizer tokenizer = Tokenizer::load(dir);
  REQUIRE(reference.at("conversations").size() >= 6);
  for (const auto& c : reference.at("conversations")) {
    std::vector<ChatMessage> messages;
    for (const auto& m : c.at("messages")) messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
    CAPTURE(messages.back().content);
    CHECK(messages.size() >= 3);
    const auto ids = tokenizer.encode(chat.render(messages, true));
    CHECK(ids == c.at("prompt_ids").get<std::vector<TokenId>>());
    CHECK(c.at("text") == c.at("expected"));  // the shipped model answers every last turn right
  }
}
