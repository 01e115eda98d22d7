// Compares petalsln's Tokenizer with the ids an independent JavaScript implementation wrote
// (tests/js/tokenizer_expected.js) for the real Llama 3 and Qwen 3 tokenizers.
//
// usage: petalsln-tokenizer-js-check EXPECTED.json
// Exits 0 when every text encodes to the expected ids and they decode to the expected text.

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"

namespace {

using petalsln::TokenId;
using petalsln::Tokenizer;

std::string ids_text(const std::vector<TokenId>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

// Checks one tokenizer's cases; returns the number of failures (reporting the first few).
int check_tokenizer(const nlohmann::json& entry) {
  const std::string name = entry.at("name").get<std::string>();
  const std::string path = entry.at("tokenizer_json").get<std::string>();
  const auto start = std::chrono::steady_clock::now();
  const Tokenizer tok = Tokenizer::from_json(petalsln::util::read_file(path, std::size_t{256} << 20));
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  int failures = 0;
  int cases = 0;
  for (const auto& c : entry.at("cases")) {
    const std::string text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<TokenId>>();
    const std::string expected_text = c.at("decoded").get<std::string>();
    const auto got = tok.encode(text);
    const std::string back = tok.decode(got);
    ++cases;
    if (got == expected && back == expected_text) continue;
    if (++failures <= 10) {
      std::printf("MISMATCH %s: text %s\n  expected %s\n  got      %s\n  decoded  %s\n  expected %s\n", name.c_str(),
                  nlohmann::json(text).dump().c_str(), ids_text(expected).c_str(), ids_text(got).c_str(),
                  nlohmann::json(back).dump().c_str(), nlohmann::json(expected_text).dump().c_str());
    }
  }
  std::printf("%s (%s, vocab %zu, loaded in %.0f ms): %d/%d texts match\n", name.c_str(),
              entry.at("package").get<std::string>().c_str(), tok.vocab_size(), load_ms, cases - failures, cases);
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s EXPECTED.json\n", argv[0]);
    return 2;
  }
  try {
    const auto expected = nlohmann::json::parse(petalsln::util::read_file(argv[1]));
    int failures = 0;
    int tokenizers = 0;
    for (const auto& entry : expected.at("tokenizers")) {
      failures += check_tokenizer(entry);
      ++tokenizers;
    }
    if (tokenizers == 0) {
      std::printf("no tokenizers in %s\n", argv[1]);
      return 1;
    }
    return failures == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
