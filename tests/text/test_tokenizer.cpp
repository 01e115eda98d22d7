// Tokenizer against transformers' own outputs: the tiny fixtures and the demo model.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "test_support.hpp"

using petalsln::TokenId;
using petalsln::Tokenizer;
using petalsln::TokenStreamDecoder;

namespace {

nlohmann::json reference(const std::string& dir) {
  return nlohmann::json::parse(petalsln::util::read_file(dir + "/reference.json"));
}

std::vector<TokenId> ids_of(const nlohmann::json& v) { return v.get<std::vector<TokenId>>(); }

// Decodes @p ids one at a time through a stream and returns the concatenated text.
std::string stream_decode(const Tokenizer& tok, const std::vector<TokenId>& ids, bool skip_special) {
  TokenStreamDecoder stream(tok, skip_special);
  std::string text;
  for (const TokenId id : ids) text += stream.push(id);
  return text + stream.finish();
}

// Every tokenizer[] and chat[] case of a fixture's reference.json.
void check_fixture(const std::string& dir) {
  const Tokenizer tok = Tokenizer::load(dir);
  const auto ref = reference(dir);
  int cases = 0;
  for (const auto& c : ref.at("tokenizer")) {
    const std::string text = c.at("text").get<std::string>();
    const auto ids = ids_of(c.at("ids"));
    CAPTURE(text);
    CHECK(tok.encode(text) == ids);
    CHECK(tok.decode(ids) == c.at("decoded").get<std::string>());
    CHECK(stream_decode(tok, ids, false) == c.at("decoded").get<std::string>());
    ++cases;
  }
  for (const auto& c : ref.at("chat")) {
    const std::string rendered = c.at("rendered").get<std::string>();
    CAPTURE(rendered);
    CHECK(tok.encode(rendered, true) == ids_of(c.at("ids")));
    CHECK(tok.decode(ids_of(c.at("ids"))) == rendered);
    ++cases;
  }
  CHECK(cases >= 10);
}

}  // namespace

TEST_CASE("Tokenizer matches transformers on tiny-llama3") { check_fixture(petalsln::test::fixture_dir("tiny-llama3")); }

TEST_CASE("Tokenizer matches transformers on tiny-smollm2") { check_fixture(petalsln::test::fixture_dir("tiny-smollm2")); }

TEST_CASE("Tokenizer decodes the demo model's greedy answers") {
  const std::string dir = petalsln::test::demo_model_dir();
  const Tokenizer tok = Tokenizer::load(dir);
  const auto ref = reference(dir);
  REQUIRE(ref.at("greedy").size() >= 1);
  for (const auto& g : ref.at("greedy")) {
    const auto new_ids = ids_of(g.at("new_ids"));
    const std::string text = g.at("text").get<std::string>();
    CAPTURE(text);
    CHECK(tok.decode(new_ids, true) == text);
    CHECK(stream_decode(tok, new_ids, true) == text);
    // The prompt ids decode to a ChatML prompt that encodes back to the same ids.
    const auto prompt_ids = ids_of(g.at("prompt_ids"));
    const std::string prompt = tok.decode(prompt_ids);
    CHECK(prompt.find(g.at("question").get<std::string>()) != std::string::npos);
    CHECK(tok.encode(prompt) == prompt_ids);
  }
}

TEST_CASE("Tokenizer vocabulary lookups") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-llama3"));
  CHECK(tok.vocab_size() == 500);
  REQUIRE(tok.token_to_id("<|eot_id|>").has_value());
  const TokenId eot = *tok.token_to_id("<|eot_id|>");
  CHECK(tok.is_special(eot));
  CHECK(tok.id_to_token(eot) == "<|eot_id|>");
  const auto space = tok.token_to_id("Ġ");
  REQUIRE(space.has_value());
  CHECK_FALSE(tok.is_special(*space));
  CHECK(tok.id_to_token(*space) == "Ġ");
  CHECK(tok.decode({*space}) == " ");
  CHECK_FALSE(tok.token_to_id("no such token").has_value());
  CHECK_FALSE(tok.is_special(-1));
  CHECK_FALSE(tok.is_special(1 << 30));
}

TEST_CASE("Tokenizer special tokens as text when parse_special is false") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-llama3"));
  const std::string text = "a<|eot_id|>b";
  const auto parsed = tok.encode(text, true);
  const auto plain = tok.encode(text, false);
  const TokenId eot = *tok.token_to_id("<|eot_id|>");
  CHECK(std::find(parsed.begin(), parsed.end(), eot) != parsed.end());
  CHECK(std::find(plain.begin(), plain.end(), eot) == plain.end());
  CHECK(plain.size() > parsed.size());
  CHECK(tok.decode(plain) == text);
  CHECK(tok.decode(parsed) == text);
  CHECK(tok.decode(parsed, true) == "ab");
}

TEST_CASE("Tokenizer stream holds back a split multi-byte character") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-llama3"));
  const std::string text = "go 🚀 now é 東京";
  const auto ids = tok.encode(text);
  REQUIRE(tok.decode(ids) == text);
  // The tiny vocabulary has no merged emoji, so the rocket's four bytes are separate tokens.
  TokenStreamDecoder stream(tok);
  std::string out;
  bool held_back = false;
  for (const TokenId id : ids) {
    const std::string piece = stream.push(id);
    CHECK(piece.find("\xEF\xBF\xBD") == std::string::npos);  // never U+FFFD mid-stream
    if (piece.empty()) held_back = true;
    out += piece;
  }
  out += stream.finish();
  CHECK(held_back);
  CHECK(out == text);
  // A character cut off at the end becomes U+FFFD only when the stream finishes.
  const auto rocket = tok.encode("🚀");
  REQUIRE(rocket.size() >= 2);
  TokenStreamDecoder cut(tok);
  CHECK(cut.push(rocket[0]).empty());
  CHECK(cut.finish() == "\xEF\xBF\xBD");
  CHECK(tok.decode({rocket[0]}) == "\xEF\xBF\xBD");
}

TEST_CASE("Tokenizer stream skips special tokens by default") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::demo_model_dir());
  const auto ids = tok.encode("<|im_start|>assistant\nHi<|im_end|>");
  CHECK(stream_decode(tok, ids, true) == "assistant\nHi");
  CHECK(stream_decode(tok, ids, false) == "<|im_start|>assistant\nHi<|im_end|>");
  TokenStreamDecoder stream(tok);
  CHECK_THROWS_AS(stream.push(-1), petalsln::Error);
}

TEST_CASE("Tokenizer copies share tables and agree") {
  const Tokenizer a = Tokenizer::load(petalsln::test::fixture_dir("tiny-smollm2"));
  const Tokenizer b = a;  // NOLINT(performance-unnecessary-copy-initialization): testing copies
  CHECK(a.encode("copy me 123") == b.encode("copy me 123"));
  CHECK(a.encode("") .empty());
}
