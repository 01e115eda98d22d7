// Measures petalsln's tokenizer on a real tokenizer.json: load time and encode throughput.
//
// usage: petalsln-bench-tokenizer TOKENIZER_JSON CORPUS_TXT [REPEATS]
// Encodes the corpus line by line (each line with its '\n', the same way bench_js.js does),
// REPEATS times (default 3), and prints one JSON object on stdout.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/files.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<std::string_view> lines_of(const std::string& text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t nl = text.find('\n', start);
    const std::size_t end = nl == std::string::npos ? text.size() : nl + 1;
    lines.emplace_back(text.data() + start, end - start);
    start = end;
  }
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON CORPUS_TXT [REPEATS]\n", argv[0]);
    return 2;
  }
  try {
    const int repeats = argc == 4 ? std::max(1, std::stoi(argv[3])) : 3;
    const auto load_start = Clock::now();
    const auto tok = petalsln::Tokenizer::from_json(petalsln::util::read_file(argv[1], std::size_t{256} << 20));
    const double load_s = seconds_since(load_start);

    const std::string corpus = petalsln::util::read_file(argv[2], std::size_t{1} << 30);
    const auto lines = lines_of(corpus);
    double first_s = 0;
    double best_s = 1e300;
    std::size_t tokens = 0;
    for (int r = 0; r < repeats; ++r) {
      const auto start = Clock::now();
      std::size_t count = 0;
      for (const auto line : lines) count += tok.encode(line).size();
      const double s = seconds_since(start);
      if (r == 0) first_s = s;
      best_s = std::min(best_s, s);
      tokens = count;
    }
    const double mb = static_cast<double>(corpus.size()) / 1e6;
    std::printf(
        "{\"impl\": \"petalsln\", \"load_ms\": %.1f, \"bytes\": %zu, \"lines\": %zu, \"tokens\": %zu, "
        "\"first_s\": %.3f, \"best_s\": %.3f, \"first_mb_s\": %.2f, \"best_mb_s\": %.2f}\n",
        load_s * 1e3, corpus.size(), lines.size(), tokens, first_s, best_s, mb / first_s, mb / best_s);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
