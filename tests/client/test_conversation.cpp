// Conversation: the sequence stays open between turns, so each turn runs only its new tokens,
// and the demo model answers every turn of its reference conversations exactly; a pipeline
// that fails mid-turn undoes the turn, and the next one replays the history onto a fresh
// sequence and answers as if nothing had happened.

#include "torch_doctest.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "petalsln/client/conversation.hpp"
#include "petalsln/client/local_model.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

// Forwards to a real pipeline; fails the step numbered fail_at (counted from 1), once.
class FlakyPipeline final : public BlockPipeline {
 public:
  explicit FlakyPipeline(std::unique_ptr<BlockPipeline> inner) : inner_(std::move(inner)) {}
  void begin_sequence(std::int64_t max_length) override {
    ++sequences;
    inner_->begin_sequence(max_length);
  }
  at::Tensor step(const at::Tensor& hidden) override {
    if (++steps == fail_at) throw Error(ErrorCode::io, "injected failure");
    tokens_run += hidden.size(1);
    return inner_->step(hidden);
  }
  int steps = 0;
  int fail_at = -1;
  int sequences = 0;
  std::int64_t tokens_run = 0;

 private:
  std::unique_ptr<BlockPipeline> inner_;
};

struct Turns {
  std::vector<std::vector<ChatMessage>> prefixes;  // messages up to each user turn
  std::vector<std::string> answers;                // the assistant's reply to each
};

Turns turns_of(const nlohmann::json& c) {
  Turns t;
  std::vector<ChatMessage> messages;
  for (const auto& m : c.at("messages")) messages.push_back({m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  for (std::size_t i = 0; i < messages.size(); i += 2) {
    t.prefixes.emplace_back(messages.begin(), messages.begin() + static_cast<std::ptrdiff_t>(i + 1));
    t.answers.push_back(i + 1 < messages.size() ? messages[i + 1].content : c.at("expected").get<std::string>());
  }
  return t;
}

// The ids a turn adds: the conversation's prompt so far minus what the history holds.
std::vector<TokenId> new_ids(const LocalModel& model, const Conversation& conversation, const std::vector<ChatMessage>& prefix) {
  const auto full = model.encode_chat(prefix);
  const auto& history = conversation.history();
  REQUIRE(full.size() > history.size());
  REQUIRE(std::equal(history.begin(), history.end(), full.begin()));
  return {full.begin() + static_cast<std::ptrdiff_t>(history.size()), full.end()};
}

}  // namespace

TEST_CASE("conversation: every turn runs only its new tokens and answers as transformers does") {
  const auto model = LocalModel::open(test::demo_model_dir(), {}, {}, /*load_blocks=*/true);
  const auto reference = nlohmann::json::parse(test::slurp(test::demo_model_dir() + "/reference.json"));
  GenerationOptions go;
  go.max_new_tokens = 24;
  go.stop_ids = model->stop_ids();
  for (const auto& c : reference.at("conversations")) {
    const Turns t = turns_of(c);
    FlakyPipeline pipeline(model->new_pipeline());
    Conversation conversation(model->tokenizer(), model->head(), pipeline, 256);
    for (std::size_t k = 0; k < t.prefixes.size(); ++k) {
      const auto ids = new_ids(*model, conversation, t.prefixes[k]);
      const std::int64_t run_before = pipeline.tokens_run;
      const auto r = conversation.turn(ids, go);
      CHECK(r.text == t.answers[k]);
      CHECK(r.stop_reason == StopReason::stop_token);
      // The prompt run is the new turn plus the last reply's end-of-turn token, nothing older.
      CHECK(conversation.last_prompt_tokens() == static_cast<std::int64_t>(ids.size()) + (k == 0 ? 0 : 1));
      CHECK(pipeline.tokens_run - run_before == conversation.last_prompt_tokens() + static_cast<std::int64_t>(r.new_ids.size()) - 1);
    }
    CHECK(pipeline.sequences == 1);
  }
}

TEST_CASE("conversation: a failed turn is undone, and the next replays the history onto a fresh sequence") {
  const auto model = LocalModel::open(test::demo_model_dir(), {}, {}, /*load_blocks=*/true);
  const auto reference = nlohmann::json::parse(test::slurp(test::demo_model_dir() + "/reference.json"));
  const Turns t = turns_of(reference.at("conversations").at(0));
  GenerationOptions go;
  go.max_new_tokens = 24;
  go.stop_ids = model->stop_ids();
  FlakyPipeline pipeline(model->new_pipeline());
  Conversation conversation(model->tokenizer(), model->head(), pipeline, 256);
  CHECK(conversation.turn(new_ids(*model, conversation, t.prefixes[0]), go).text == t.answers[0]);
  const auto kept = conversation.history();
  const auto second = new_ids(*model, conversation, t.prefixes[1]);
  pipeline.fail_at = pipeline.steps + 3;  // mid-reply
  CHECK_THROWS_AS(conversation.turn(second, go), Error);
  CHECK(conversation.history() == kept);
  const auto r = conversation.turn(second, go);
  CHECK(r.text == t.answers[1]);
  CHECK(conversation.last_prompt_tokens() == static_cast<std::int64_t>(kept.size() + second.size()));
  CHECK(pipeline.sequences == 2);
  CHECK(conversation.turn(new_ids(*model, conversation, t.prefixes[2]), go).text == t.answers[2]);
  CHECK_THROWS_AS(conversation.turn(std::vector<TokenId>(300, 1), go), Error);  // past max length
}
