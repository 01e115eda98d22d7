// Tokenizer rules on small hand-made tokenizer.json files: pre-tokenizer behaviors, BPE merge
// order and unknown characters, added-token flags, normalization. Expected values follow the
// semantics of HF `tokenizers` (NormalizedString::split, BPE::merge_word, AddedVocabulary).

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"
#include "text/pretokenizer_regex.hpp"

using nlohmann::json;
using petalsln::TokenId;
using petalsln::Tokenizer;

namespace {

// A character-level BPE whose vocabulary holds printable ASCII plus @p words; with
// ignore_merges, a word that is a whole vocabulary entry comes out as one token, so the
// tokens show exactly how the pre-tokenizer cut the text.
json char_level(const json& pre_tokenizer, const std::vector<std::string>& words) {
  json vocab = json::object();
  TokenId next = 0;
  for (char c = ' '; c <= '~'; ++c) vocab[std::string(1, c)] = next++;
  for (const auto& w : words) {
    if (!vocab.contains(w)) vocab[w] = next++;
  }
  return json{{"version", "1.0"},
              {"added_tokens", json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer", pre_tokenizer},
              {"post_processor", nullptr},
              {"decoder", nullptr},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}, {"ignore_merges", true}}}};
}

std::vector<std::string> tokens(const Tokenizer& tok, const std::string& text) {
  std::vector<std::string> out;
  for (const TokenId id : tok.encode(text)) out.push_back(tok.id_to_token(id));
  return out;
}

using Pieces = std::vector<std::string>;

json split(const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
}

// GPT-2's byte-level spelling of byte @p b, as UTF-8 (written out independently of the
// library: printable Latin-1 bytes stand for themselves, the rest count up from U+0100).
std::string byte_char(int b) {
  int code = b;
  const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
  if (!printable) {
    code = 256;
    for (int x = 0; x < b; ++x) {
      if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) ++code;
    }
  }
  std::string s;
  if (code < 0x80) {
    s += static_cast<char>(code);
  } else {
    s += static_cast<char>(0xC0 | (code >> 6));
    s += static_cast<char>(0x80 | (code & 0x3F));
  }
  return s;
}

// Byte-level vocabulary: the 256 byte characters (id = byte) plus @p words in byte-level
// spelling, merges none, ignore_merges on.
json byte_level(const json& pre_tokenizer, const std::vector<std::string>& words) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  TokenId next = 256;
  for (const auto& w : words) vocab[w] = next++;
  return json{{"pre_tokenizer", pre_tokenizer},
              {"decoder", {{"type", "ByteLevel"}}},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}, {"ignore_merges", true}}}};
}

}  // namespace

TEST_CASE("Tokenizer Split behaviors follow HF") {
  const Pieces words = {"a-", "b-", "-b", "-c", "--"};
  const auto run = [&](const json& pre) { return tokens(Tokenizer::from_json(char_level(pre, words).dump()), "a-b--c"); };
  CHECK(run(split("Removed")) == Pieces{"a", "b", "c"});
  CHECK(run(split("Isolated")) == Pieces{"a", "-", "b", "-", "-", "c"});
  CHECK(run(split("MergedWithPrevious")) == Pieces{"a-", "b-", "-", "c"});
  CHECK(run(split("MergedWithNext")) == Pieces{"a", "-b", "-", "-c"});
  CHECK(run(split("Contiguous")) == Pieces{"a", "-", "b", "--", "c"});
  CHECK(run(split("Removed", true)) == Pieces{"-", "-", "-"});
  CHECK(run(split("Isolated", true)) == Pieces{"a", "-", "b", "-", "-", "c"});
}

TEST_CASE("Tokenizer Split with a regex, and Sequence") {
  const json pre = {{"type", "Sequence"},
                    {"pretokenizers",
                     {{{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Removed"}, {"invert", false}},
                      {{"type", "Digits"}, {"individual_digits", false}}}}};
  const Tokenizer tok = Tokenizer::from_json(char_level(pre, {"ab", "123", "cd", "x"}).dump());
  CHECK(tokens(tok, "ab123cd4  x") == Pieces{"ab", "123", "cd", "4", "x"});
}

TEST_CASE("Tokenizer Digits pre-tokenizer") {
  const json individual = {{"type", "Digits"}, {"individual_digits", true}};
  const json grouped = {{"type", "Digits"}, {"individual_digits", false}};
  const Pieces words = {"ab", "123", "cd"};
  CHECK(tokens(Tokenizer::from_json(char_level(individual, words).dump()), "ab123cd4") ==
        Pieces{"ab", "1", "2", "3", "cd", "4"});
  CHECK(tokens(Tokenizer::from_json(char_level(grouped, words).dump()), "ab123cd4") == Pieces{"ab", "123", "cd", "4"});
}

TEST_CASE("Tokenizer ByteLevel pre-tokenizer options") {
  const Pieces words = {"Ġhello", "Ġworld", "hello", "Ġhelloworld"};
  const json with_prefix = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  const json plain = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
  const json no_regex = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", false}};
  CHECK(tokens(Tokenizer::from_json(byte_level(with_prefix, words).dump()), "hello world") == Pieces{"Ġhello", "Ġworld"});
  CHECK(tokens(Tokenizer::from_json(byte_level(plain, words).dump()), "hello world") == Pieces{"hello", "Ġworld"});
  CHECK(tokens(Tokenizer::from_json(byte_level(no_regex, words).dump()), "helloworld") == Pieces{"Ġhelloworld"});
  const Tokenizer tok = Tokenizer::from_json(byte_level(with_prefix, words).dump());
  CHECK(tok.decode(tok.encode("hello world")) == " hello world");
}

TEST_CASE("Tokenizer BPE applies merges by rank, leftmost first") {
  json doc = char_level(nullptr, {"ab", "bc", "abc"});
  doc["model"]["ignore_merges"] = false;
  doc["model"]["merges"] = json::array({json::array({"b", "c"}), json::array({"a", "b"}), json::array({"a", "bc"})});
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "abc") == Pieces{"abc"});
  doc["model"]["merges"] = json::array({"a b", "b c", "a bc"});  // the older string form
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "abc") == Pieces{"ab", "c"});
  // Equal pairs overlap: the leftmost merges first.
  json aa = char_level(nullptr, {"aa"});
  aa["model"]["ignore_merges"] = false;
  aa["model"]["merges"] = json::array({"a a"});
  CHECK(tokens(Tokenizer::from_json(aa.dump()), "aaa") == Pieces{"aa", "a"});
}

TEST_CASE("Tokenizer ignore_merges emits whole-word vocabulary entries") {
  json doc = char_level(nullptr, {"ab", "abc"});
  doc["model"]["merges"] = json::array({"a b"});
  doc["model"]["ignore_merges"] = true;
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "abc") == Pieces{"abc"});
  doc["model"]["ignore_merges"] = false;
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "abc") == Pieces{"ab", "c"});
}

TEST_CASE("Tokenizer character-level BPE: unknown characters") {
  json doc = char_level(nullptr, {"<unk>", "<0xC3>", "<0xA9>"});
  doc["model"]["ignore_merges"] = false;
  // No unk_token, no byte_fallback: unknown characters vanish.
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "a\xC3\xA9\xE2\x82\xAC" "b") == Pieces{"a", "b"});
  doc["model"]["unk_token"] = "<unk>";
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "a\xE2\x82\xAC\xE2\x82\xAC" "b") == Pieces{"a", "<unk>", "<unk>", "b"});
  doc["model"]["fuse_unk"] = true;
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "a\xE2\x82\xAC\xE2\x82\xAC" "b") == Pieces{"a", "<unk>", "b"});
  doc["model"]["byte_fallback"] = true;
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "a\xC3\xA9" "b") == Pieces{"a", "<0xC3>", "<0xA9>", "b"});
  // A character whose bytes are not all in the vocabulary falls back to unk.
  CHECK(tokens(Tokenizer::from_json(doc.dump()), "a\xE2\x82\xAC" "b") == Pieces{"a", "<unk>", "b"});
}

TEST_CASE("Tokenizer added tokens: lstrip, rstrip, single_word, non-special") {
  json doc = char_level(nullptr, {});
  doc["added_tokens"] = json::array({
      {{"id", 1000}, {"content", "<l>"}, {"lstrip", true}, {"rstrip", false}, {"single_word", false}, {"normalized", false}, {"special", true}},
      {{"id", 1001}, {"content", "<r>"}, {"lstrip", false}, {"rstrip", true}, {"single_word", false}, {"normalized", false}, {"special", true}},
      {{"id", 1002}, {"content", "<w>"}, {"lstrip", false}, {"rstrip", false}, {"single_word", true}, {"normalized", false}, {"special", true}},
      {{"id", 1003}, {"content", "<n>"}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}, {"normalized", false}, {"special", false}},
  });
  const Tokenizer tok = Tokenizer::from_json(doc.dump());
  CHECK(tok.vocab_size() == 1004);
  CHECK(tokens(tok, "a  <l>b") == Pieces{"a", "<l>", "b"});
  CHECK(tokens(tok, "a<r> \t b") == Pieces{"a", "<r>", "b"});
  CHECK(tokens(tok, "x<w> y") == Pieces{"x", "<", "w", ">", " ", "y"});
  CHECK(tokens(tok, "x <w> y") == Pieces{"x", " ", "<w>", " ", "y"});
  CHECK(tokens(tok, "<w>") == Pieces{"<w>"});
  // Special tokens can be encoded as text; ordinary added tokens are always matched.
  CHECK(tok.encode("<n><l>", false) == std::vector<TokenId>{1003, *tok.token_to_id("<"), *tok.token_to_id("l"),
                                                            *tok.token_to_id(">")});
  CHECK(tok.is_special(1000));
  CHECK_FALSE(tok.is_special(1003));
  CHECK(tok.decode({1003, 1000}, true) == "<n>");
}

TEST_CASE("Tokenizer NFC normalizer and normalized added tokens") {
  json doc = byte_level({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}, {});
  doc["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}})}};
  const Tokenizer nfc = Tokenizer::from_json(doc.dump());
  CHECK(nfc.encode("e\xCC\x81" "cole") == nfc.encode("\xC3\xA9" "cole"));
  CHECK(nfc.decode(nfc.encode("e\xCC\x81" "cole")) == "\xC3\xA9" "cole");
  doc["added_tokens"] = json::array(
      {{{"id", 900}, {"content", "\xC3\xA9t\xC3\xA9"}, {"normalized", true}, {"special", false}}});
  const Tokenizer with_added = Tokenizer::from_json(doc.dump());
  CHECK(with_added.encode("l'e\xCC\x81te\xCC\x81!").at(2) == 900);
  doc["normalizer"] = nullptr;
  const Tokenizer raw = Tokenizer::from_json(doc.dump());
  CHECK(raw.encode("e\xCC\x81" "cole") != raw.encode("\xC3\xA9" "cole"));
}

TEST_CASE("Tokenizer round-trips random Unicode text") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-llama3"));
  std::mt19937 rng(7);
  const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E}, {0x09, 0x0D}, {0xA0, 0x17F}, {0x300, 0x36F}, {0x400, 0x4FF}, {0x4E00, 0x4FFF}, {0x1F300, 0x1F64F}, {0x2000, 0x206F}};
  for (int round = 0; round < 300; ++round) {
    std::string text;
    const int length = static_cast<int>(rng() % 40);
    for (int i = 0; i < length; ++i) {
      const auto& [lo, hi] = ranges[rng() % ranges.size()];
      const char32_t cp = lo + static_cast<char32_t>(rng() % (hi - lo + 1));
      if (cp < 0x80) {
        text += static_cast<char>(cp);
      } else if (cp < 0x800) {
        text += static_cast<char>(0xC0 | (cp >> 6));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        text += static_cast<char>(0xE0 | (cp >> 12));
        text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        text += static_cast<char>(0xF0 | (cp >> 18));
        text += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        text += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        text += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    CAPTURE(text);
    CHECK(tok.decode(tok.encode(text)) == text);
  }
}

TEST_CASE("Tokenizer encodes the same from several threads") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-smollm2"));
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) texts.push_back("thread " + std::to_string(i * 7919) + " says hello, world! x" + std::to_string(i));
  std::vector<std::vector<TokenId>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep) {
        for (std::size_t i = 0; i < texts.size(); ++i) {
          if (tok.encode(texts[i]) != expected[i]) ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(mismatches == std::vector<int>(4, 0));
}

TEST_CASE("Tokenizer finds raw added tokens before normalized ones") {
  // HF matches normalized == false tokens on the raw text first; "ab" (normalized) never gets
  // a chance at text that "b" (raw) already claimed.
  json doc = char_level(nullptr, {});
  doc["added_tokens"] = json::array({
      {{"id", 500}, {"content", "ab"}, {"normalized", true}, {"special", false}},
      {{"id", 501}, {"content", "b"}, {"normalized", false}, {"special", false}},
  });
  const Tokenizer tok = Tokenizer::from_json(doc.dump());
  CHECK(tok.encode("ab") == std::vector<TokenId>{*tok.token_to_id("a"), 501});
  CHECK(tok.encode("cab") == std::vector<TokenId>{*tok.token_to_id("c"), *tok.token_to_id("a"), 501});
  CHECK(tok.encode("aab") == std::vector<TokenId>{*tok.token_to_id("a"), *tok.token_to_id("a"), 501});
}

TEST_CASE("Tokenizer encodes a long run without separators") {
  const Tokenizer tok = Tokenizer::load(petalsln::test::fixture_dir("tiny-llama3"));
  const std::string text(200000, 'a');
  CHECK(tok.decode(tok.encode(text)) == text);
  const std::string mixed = std::string(100000, 'x') + "yz" + std::string(100000, ' ');
  CHECK(tok.decode(tok.encode(mixed)) == mixed);
}

TEST_CASE("Tokenizer regexes use Oniguruma's \\s (White_Space), not PCRE2's") {
  // U+0085 (NEL) is white space; U+180E (Mongolian vowel separator) is not, since Unicode 6.3.
  const json pre = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Removed"}, {"invert", false}};
  const Tokenizer tok = Tokenizer::from_json(char_level(pre, {"a\xE1\xA0\x8E" "b", "c"}).dump());
  CHECK(tokens(tok, "a\xE1\xA0\x8E" "b\xC2\x85" "c") == Pieces{"a\xE1\xA0\x8E" "b", "c"});
  CHECK(petalsln::text::onig_to_pcre2("[^\\s\\p{L}]+|\\s+(?!\\S)|\\\\s") ==
        "[^\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}\\p{L}]+|[\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}]+(?![^\\t\\n\\x0B\\f\\r\\x{85}\\p{Z}])|\\\\s");
}
