// Tokenizer on bad input: every malformed or unsupported tokenizer.json, invalid UTF-8 text
// and unknown id must give a petalsln::Error with the right code and a message naming the
// culprit -- never a crash or a foreign exception.

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "test_support.hpp"

using nlohmann::json;
using petalsln::Error;
using petalsln::ErrorCode;
using petalsln::TokenId;
using petalsln::Tokenizer;

namespace {

json minimal() {
  return json{{"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
              {"decoder", {{"type", "ByteLevel"}}},
              {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}}}, {"merges", json::array({"a b"})}}}};
}

// Runs @p load and checks it throws an Error of @p code whose message contains @p needle.
template <typename Load>
void expect_error(Load&& load, ErrorCode code, const std::string& needle) {
  try {
    load();
    FAIL("no error; expected one mentioning \"" << needle << "\"");
  } catch (const Error& e) {
    CAPTURE(e.what());
    CHECK(e.code() == code);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

void expect_json_error(const json& doc, ErrorCode code, const std::string& needle) {
  expect_error([&] { (void)Tokenizer::from_json(doc.dump()); }, code, needle);
}

}  // namespace

TEST_CASE("Tokenizer minimal tokenizer.json loads") {
  const Tokenizer tok = Tokenizer::from_json(minimal().dump());
  CHECK(tok.encode("abab") == std::vector<TokenId>{2, 2});
  CHECK(tok.vocab_size() == 3);
}

TEST_CASE("Tokenizer rejects malformed JSON") {
  expect_error([] { (void)Tokenizer::from_json("{not json"); }, ErrorCode::invalid_format, "not valid JSON");
  expect_error([] { (void)Tokenizer::from_json(""); }, ErrorCode::invalid_format, "not valid JSON");
  expect_error([] { (void)Tokenizer::from_json("[1, 2]"); }, ErrorCode::invalid_format, "top level");
  const std::string text = petalsln::util::read_file(petalsln::test::fixture_dir("tiny-llama3") + "/tokenizer.json");
  expect_error([&] { (void)Tokenizer::from_json(text.substr(0, text.size() / 2)); }, ErrorCode::invalid_format,
               "not valid JSON");
}

TEST_CASE("Tokenizer rejects unsupported model types by name") {
  for (const std::string type : {"WordPiece", "Unigram", "WordLevel"}) {
    json doc = minimal();
    doc["model"]["type"] = type;
    expect_json_error(doc, ErrorCode::unsupported, type);
  }
  json unigram = minimal();
  unigram["model"] = {{"type", "Unigram"}, {"vocab", json::array({json::array({"a", -1.0})})}};
  expect_json_error(unigram, ErrorCode::unsupported, "Unigram");
}

TEST_CASE("Tokenizer rejects a broken model") {
  json doc = minimal();
  doc.erase("model");
  expect_json_error(doc, ErrorCode::invalid_format, "model");

  doc = minimal();
  doc["model"]["vocab"] = json::array({"a", "b"});
  expect_json_error(doc, ErrorCode::invalid_format, "vocab");

  doc = minimal();
  doc["model"]["vocab"]["c"] = "three";
  expect_json_error(doc, ErrorCode::invalid_format, "\"c\"");

  doc = minimal();
  doc["model"]["vocab"]["c"] = -4;
  expect_json_error(doc, ErrorCode::invalid_format, "negative");

  doc = minimal();
  doc["model"]["vocab"]["c"] = 1.5;
  expect_json_error(doc, ErrorCode::invalid_format, "\"c\"");

  doc = minimal();
  doc["model"]["vocab"]["duplicate"] = 1;
  expect_json_error(doc, ErrorCode::invalid_format, "id 1");

  doc = minimal();
  doc["model"]["vocab"]["far"] = 2000000000;
  expect_json_error(doc, ErrorCode::invalid_format, "sparse");

  doc = minimal();
  doc["model"]["merges"] = json::array({"a zzz"});
  expect_json_error(doc, ErrorCode::invalid_format, "zzz");

  doc = minimal();
  doc["model"]["merges"] = json::array({json::array({"b", "a"})});  // "ba" is not in the vocabulary
  expect_json_error(doc, ErrorCode::invalid_format, "\"ba\"");

  for (const json& bad : {json("ab"), json("a b c"), json(7), json::array({"a"}), json::array({"a", "b", "c"}),
                          json::array({"a", 1})}) {
    doc = minimal();
    doc["model"]["merges"] = json::array({bad});
    expect_json_error(doc, ErrorCode::invalid_format, "merges[0]");
  }

  doc = minimal();
  doc["model"]["merges"] = "a b";
  expect_json_error(doc, ErrorCode::invalid_format, "merges");

  doc = minimal();
  doc["model"]["unk_token"] = "<unk>";
  expect_json_error(doc, ErrorCode::invalid_format, "<unk>");
}

TEST_CASE("Tokenizer rejects BPE options it does not implement") {
  json doc = minimal();
  doc["model"]["continuing_subword_prefix"] = "##";
  expect_json_error(doc, ErrorCode::unsupported, "##");
  doc = minimal();
  doc["model"]["end_of_word_suffix"] = "</w>";
  expect_json_error(doc, ErrorCode::unsupported, "</w>");
  doc = minimal();
  doc["model"]["dropout"] = 0.1;
  expect_json_error(doc, ErrorCode::unsupported, "dropout");
  // Empty strings and zero dropout mean "off" (Qwen's tokenizer.json writes them so).
  doc = minimal();
  doc["model"]["continuing_subword_prefix"] = "";
  doc["model"]["end_of_word_suffix"] = "";
  doc["model"]["dropout"] = 0.0;
  CHECK_NOTHROW((void)Tokenizer::from_json(doc.dump()));
}

TEST_CASE("Tokenizer rejects unsupported pipeline parts by name") {
  json doc = minimal();
  doc["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "_"}};
  expect_json_error(doc, ErrorCode::unsupported, "Metaspace");

  doc = minimal();
  doc["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}}}};
  expect_json_error(doc, ErrorCode::unsupported, "Whitespace");

  doc = minimal();
  doc["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "ByteLevel"}}, {{"type", "Digits"}}}}};
  expect_json_error(doc, ErrorCode::unsupported, "after ByteLevel");

  doc = minimal();
  doc["normalizer"] = {{"type", "Lowercase"}};
  expect_json_error(doc, ErrorCode::unsupported, "Lowercase");

  doc = minimal();
  doc["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Prepend"}, {"prepend", "_"}}}}};
  expect_json_error(doc, ErrorCode::unsupported, "Prepend");

  doc = minimal();
  doc["decoder"] = {{"type", "WordPiece"}};
  expect_json_error(doc, ErrorCode::unsupported, "WordPiece");

  doc = minimal();
  doc["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_json_error(doc, ErrorCode::invalid_format, "(unclosed");

  doc = minimal();
  doc["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
  expect_json_error(doc, ErrorCode::unsupported, "Sideways");

  doc = minimal();
  doc["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Glob", "*"}}}, {"behavior", "Isolated"}};
  expect_json_error(doc, ErrorCode::invalid_format, "pattern");

  doc = minimal();
  doc["pre_tokenizer"] = {{"no_type", true}};
  expect_json_error(doc, ErrorCode::invalid_format, "type");

  doc = minimal();
  doc["pre_tokenizer"]["add_prefix_space"] = "yes";
  expect_json_error(doc, ErrorCode::invalid_format, "add_prefix_space");
}

TEST_CASE("Tokenizer rejects malformed added tokens") {
  json doc = minimal();
  doc["added_tokens"] = json::array({{{"id", -1}, {"content", "<x>"}}});
  expect_json_error(doc, ErrorCode::invalid_format, "added_tokens[0]");
  doc["added_tokens"] = json::array({{{"id", 5}, {"content", 5}}});
  expect_json_error(doc, ErrorCode::invalid_format, "content");
  doc["added_tokens"] = json::array({{{"id", 5}, {"content", "<x>"}}, {{"id", 5}, {"content", "<y>"}}});
  expect_json_error(doc, ErrorCode::invalid_format, "<y>");
  doc["added_tokens"] = json::array({{{"id", 5}, {"content", "<x>"}, {"special", "true"}}});
  expect_json_error(doc, ErrorCode::invalid_format, "special");
  doc["added_tokens"] = "none";
  expect_json_error(doc, ErrorCode::invalid_format, "added_tokens");
}

TEST_CASE("Tokenizer refuses invalid UTF-8 text") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-llama3"));
  for (const std::string bad : {std::string("\xff"), std::string("abc\xE2\x82"), std::string("\xC0\xAF"),
                                std::string("\xED\xA0\x80"), std::string("ok\x80"), std::string("\xF4\x90\x80\x80"),
                                std::string("\xF0\x9F\x9A")}) {
    CAPTURE(bad);
    expect_error([&] { (void)tok.encode(bad); }, ErrorCode::invalid_argument, "UTF-8");
  }
  // NUL bytes are valid UTF-8.
  CHECK(tok.decode(tok.encode(std::string("a\0b", 3))) == std::string("a\0b", 3));
}

TEST_CASE("Tokenizer refuses ids outside the vocabulary, and decodes unknown ones to nothing") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-llama3"));
  const auto size = static_cast<TokenId>(tok.vocab_size());
  for (const TokenId bad : {TokenId{-1}, size, TokenId{1 << 30}}) {
    expect_error([&] { (void)tok.id_to_token(bad); }, ErrorCode::out_of_range, std::to_string(bad));
  }
  expect_error([&] { (void)tok.decode({1, -1}); }, ErrorCode::out_of_range, "-1");
  // Ids past the tokenizer's vocabulary (a model's padding rows) vanish, as in `tokenizers`.
  CHECK(tok.decode({size, 44, TokenId{1 << 30}}) == tok.decode({44}));
  petalsln::TokenStreamDecoder stream(tok);
  CHECK(stream.push(size).empty());
  CHECK_THROWS_AS(stream.push(-3), petalsln::Error);
}

TEST_CASE("Tokenizer load reports a missing file") {
  expect_error([] { (void)Tokenizer::load("/nonexistent/model/dir"); }, ErrorCode::not_found, "tokenizer.json");
}

TEST_CASE("Tokenizer survives corrupted tokenizer.json") {
  // Flip bytes of a real file: each attempt must either load or throw petalsln::Error.
  const std::string text = petalsln::util::read_file(petalsln::test::fixture_dir("tiny-smollm2") + "/tokenizer.json");
  std::mt19937 rng(3);
  int errors = 0;
  for (int round = 0; round < 60; ++round) {
    std::string corrupt = text;
    for (int k = 0; k < 3; ++k) corrupt[rng() % corrupt.size()] = static_cast<char>(rng() % 128);
    try {
      const Tokenizer tok = Tokenizer::from_json(corrupt);
      (void)tok.decode(tok.encode("survive 123 <|im_end|>"));
    } catch (const Error&) {
      ++errors;
    }
  }
  CHECK(errors > 0);
}

TEST_CASE("Tokenizer rejects absurdly nested pipelines without overflowing the stack") {
  json pre = {{"type", "Digits"}};
  json norm = {{"type", "NFC"}};
  json dec = {{"type", "ByteLevel"}};
  for (int i = 0; i < 100; ++i) {
    pre = {{"type", "Sequence"}, {"pretokenizers", json::array({pre})}};
    norm = {{"type", "Sequence"}, {"normalizers", json::array({norm})}};
    dec = {{"type", "Sequence"}, {"decoders", json::array({dec})}};
  }
  for (const char* part : {"pre_tokenizer", "normalizer", "decoder"}) {
    json doc = minimal();
    doc[part] = std::string(part) == "pre_tokenizer" ? pre : std::string(part) == "normalizer" ? norm : dec;
    expect_json_error(doc, ErrorCode::invalid_format, "nested too deeply");
  }
}
