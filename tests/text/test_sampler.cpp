// Sampler: transformers' processors (checked against the fixtures), greedy choice, seeded draws.

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "petalsln/text/sampler.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using petalsln::Error;
using petalsln::ErrorCode;
using petalsln::Sampler;
using petalsln::SamplingParams;
using petalsln::TokenId;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

SamplingParams sampling(float temperature, int top_k, float top_p, float penalty = 1.0f,
                        std::uint64_t seed = 0) {
  SamplingParams p;
  p.greedy = false;
  p.temperature = temperature;
  p.top_k = top_k;
  p.top_p = top_p;
  p.repetition_penalty = penalty;
  p.seed = seed;
  return p;
}

std::vector<float> probs_of(const SamplingParams& params, const std::vector<float>& logits,
                            const std::vector<TokenId>& previous = {}) {
  return Sampler(params).probabilities(logits.data(), logits.size(), previous);
}

template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected petalsln::Error");
  return Error(ErrorCode::internal, "unreachable");
}

bool mentions(const Error& e, const std::string& word) {
  return std::string(e.what()).find(word) != std::string::npos;
}

}  // namespace

TEST_CASE("sampler: fixture processor cases match transformers within 1e-5") {
  for (const char* name : {"tiny-llama3", "tiny-smollm2"}) {
    std::ifstream in(petalsln::test::fixture_dir(name) + "/reference.json");
    const auto reference = nlohmann::json::parse(in);
    REQUIRE(!reference.at("processors").empty());
    for (const auto& c : reference.at("processors")) {
      CAPTURE(name);
      CAPTURE(c.at("temperature").get<float>());
      CAPTURE(c.at("top_k").get<int>());
      CAPTURE(c.at("top_p").get<float>());
      CAPTURE(c.at("rp").get<float>());
      const auto logits = c.at("logits").get<std::vector<float>>();
      const auto expected = c.at("probs").get<std::vector<float>>();
      const auto params = sampling(c.at("temperature"), c.at("top_k"), c.at("top_p"), c.at("rp"));
      const auto got = probs_of(params, logits, c.at("prev_ids").get<std::vector<TokenId>>());
      REQUIRE(got.size() == expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        CHECK(std::fabs(got[i] - expected[i]) <= 1e-5f);
        CHECK((got[i] == 0.0f) == (expected[i] == 0.0f));  // the same tokens removed
      }
    }
  }
}

TEST_CASE("sampler: greedy takes the argmax after the repetition penalty") {
  const std::vector<float> logits = {1.0f, 3.0f, 2.9f, -1.0f};
  SamplingParams params;  // greedy by default
  CHECK(Sampler(params).sample(logits.data(), logits.size(), {1}) == 1);
  params.repetition_penalty = 1.2f;  // 3 / 1.2 = 2.5 < 2.9
  CHECK(Sampler(params).sample(logits.data(), logits.size(), {1}) == 2);
  CHECK(Sampler(params).sample(logits.data(), logits.size(), {0, 3}) == 1);

  // Negative logits are multiplied: -0.5 * 2 = -1 ties with token 0, and ties go to the lower id.
  const std::vector<float> negative = {-1.0f, -0.5f};
  params.repetition_penalty = 2.0f;
  CHECK(Sampler(params).sample(negative.data(), negative.size(), {}) == 1);
  CHECK(Sampler(params).sample(negative.data(), negative.size(), {1}) == 0);

  // Greedy ignores temperature (0 is a common way to ask for greedy) and the warpers.
  params.temperature = 0.0f;
  params.top_k = 1;
  const auto probs = Sampler(params).probabilities(logits.data(), logits.size(), {});
  CHECK(probs[0] > 0.0f);
  CHECK(probs[3] > 0.0f);
}

TEST_CASE("sampler: repeated ids are penalised once, as transformers' gather/scatter does") {
  const auto once = probs_of(sampling(1.0f, 0, 1.0f, 2.0f), {2.0f, 4.0f}, {1, 1, 1});
  CHECK(once[0] == doctest::Approx(0.5f));
  CHECK(once[1] == doctest::Approx(0.5f));
}

TEST_CASE("sampler: top-k keeps every logit tied with the k-th largest") {
  const auto probs = probs_of(sampling(1.0f, 2, 1.0f), {1.0f, 2.0f, 2.0f, 3.0f});
  CHECK(probs[0] == 0.0f);
  CHECK(probs[1] > 0.0f);
  CHECK(probs[2] == probs[1]);
  CHECK(probs_of(sampling(1.0f, 100, 1.0f), {1.0f, 2.0f})[0] > 0.0f);  // k > vocab keeps all
  const auto one = probs_of(sampling(1.0f, 1, 1.0f), {0.0f, 5.0f, 1.0f});
  CHECK(one == std::vector<float>{0.0f, 1.0f, 0.0f});
}

TEST_CASE("sampler: top-p removes cumulative mass <= 1 - top_p, keeping at least one token") {
  const std::vector<float> flat = {0.0f, 0.0f, 0.0f, 0.0f};  // 0.25 each
  // Cumulative (ascending, ties in id order): 0.25, 0.5, 0.75, 1.
  auto probs = probs_of(sampling(1.0f, 0, 0.75f), flat);
  CHECK(probs[0] == 0.0f);
  CHECK(probs[1] == doctest::Approx(1.0f / 3));
  probs = probs_of(sampling(1.0f, 0, 0.5f), flat);
  CHECK(probs == std::vector<float>{0.0f, 0.0f, 0.5f, 0.5f});
  probs = probs_of(sampling(1.0f, 0, 1e-6f), {1.0f, 3.0f, 2.0f});
  CHECK(probs == std::vector<float>{0.0f, 1.0f, 0.0f});

  // 0.9 means the decimal 0.9: ten equal logits have cumulative 0.1f first, which
  // transformers removes (0.1f <= float(1 - 0.9)).
  probs = probs_of(sampling(1.0f, 0, 0.9f), std::vector<float>(10, 1.0f));
  CHECK(probs[0] == 0.0f);
  CHECK(probs[1] == doctest::Approx(1.0f / 9));
}

TEST_CASE("sampler: temperature, top-k and top-p compose in transformers' order") {
  const std::vector<float> logits = {0.5f, 2.0f, 1.0f, -3.0f, 1.5f};
  const auto probs = probs_of(sampling(0.5f, 3, 0.8f), logits);
  // Scaled: {1, 4, 2, -6, 3}; top-3 keeps {4, 3, 2}; softmax of those is about
  // {0.090, 0.245, 0.665}; cumulative ascending 0.090 <= 0.2 is removed.
  CHECK(probs[0] == 0.0f);
  CHECK(probs[2] == 0.0f);
  CHECK(probs[3] == 0.0f);
  CHECK(probs[1] == doctest::Approx(std::exp(1.0) / (std::exp(1.0) + 1.0)));
  CHECK(probs[4] == doctest::Approx(1.0 / (std::exp(1.0) + 1.0)));
}

TEST_CASE("sampler: -inf logits are masked tokens") {
  const auto probs = probs_of(sampling(0.7f, 0, 1.0f), {-kInf, 0.0f, -kInf});
  CHECK(probs == std::vector<float>{0.0f, 1.0f, 0.0f});
}

TEST_CASE("sampler: the same seed gives the same tokens, other seeds others") {
  std::vector<float> logits(50);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = std::sin(static_cast<float>(i));
  auto run = [&](std::uint64_t seed) {
    Sampler sampler(sampling(1.0f, 0, 1.0f, 1.0f, seed));
    std::vector<TokenId> out;
    for (int i = 0; i < 64; ++i) out.push_back(sampler.sample(logits.data(), logits.size(), out));
    return out;
  };
  CHECK(run(7) == run(7));
  CHECK(run(7) != run(8));
}

TEST_CASE("sampler: draws are platform-independent (pinned xoshiro256** sequence)") {
  // Probabilities 0.1, 0.2, 0.3, 0.4 and seed 42; the expected tokens come from an independent
  // implementation of splitmix64 + xoshiro256** + inverse CDF.
  std::vector<float> logits;
  for (double p : {0.1, 0.2, 0.3, 0.4}) logits.push_back(static_cast<float>(std::log(p)));
  Sampler sampler(sampling(1.0f, 0, 1.0f, 1.0f, 42));
  std::vector<TokenId> got;
  for (int i = 0; i < 20; ++i) got.push_back(sampler.sample(logits.data(), logits.size(), {}));
  CHECK(got == std::vector<TokenId>{0, 2, 3, 3, 3, 3, 3, 3, 3, 2, 3, 1, 3, 2, 3, 3, 3, 3, 3, 3});
}

TEST_CASE("sampler: draw frequencies follow the probabilities") {
  const std::vector<float> logits = {0.3f, -1.0f, 2.0f, 1.2f, 0.0f, -0.4f, 1.9f, -2.5f};
  const SamplingParams params = sampling(0.8f, 6, 0.95f, 1.3f, 2024);
  const std::vector<TokenId> previous = {2, 4};
  Sampler sampler(params);
  const auto probs = sampler.probabilities(logits.data(), logits.size(), previous);
  const int draws = 100000;
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    const TokenId token = sampler.sample(logits.data(), logits.size(), previous);
    ++counts[static_cast<std::size_t>(token)];
  }
  double chi2 = 0.0;
  int kept = 0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] == 0.0f) {
      CHECK(counts[i] == 0);  // removed tokens are never drawn
      continue;
    }
    ++kept;
    const double expected = static_cast<double>(probs[i]) * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  CHECK(kept >= 3);
  CHECK(chi2 < 30.0);  // far beyond the 99.99th percentile for <= 7 degrees of freedom
}

TEST_CASE("sampler: invalid parameters are rejected, naming the field") {
  struct Bad {
    const char* field;
    SamplingParams params;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Bad> bad = {
      {"temperature", sampling(0.0f, 0, 1.0f)},  {"temperature", sampling(-1.0f, 0, 1.0f)},
      {"temperature", sampling(nan, 0, 1.0f)},   {"temperature", sampling(kInf, 0, 1.0f)},
      {"top_k", sampling(1.0f, -1, 1.0f)},       {"top_p", sampling(1.0f, 0, 0.0f)},
      {"top_p", sampling(1.0f, 0, 1.5f)},        {"top_p", sampling(1.0f, 0, nan)},
      {"repetition_penalty", sampling(1.0f, 0, 1.0f, 0.0f)},
      {"repetition_penalty", sampling(1.0f, 0, 1.0f, -1.2f)},
      {"repetition_penalty", sampling(1.0f, 0, 1.0f, nan)},
      {"repetition_penalty", sampling(1.0f, 0, 1.0f, kInf)},
  };
  for (const Bad& b : bad) {
    CAPTURE(b.field);
    const Error e = error_of([&] { Sampler sampler(b.params); });
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(mentions(e, std::string("SamplingParams.") + b.field));
    CHECK(error_of([&] { b.params.validate(); }).code() == ErrorCode::invalid_argument);
  }
  SamplingParams greedy;
  greedy.temperature = 0.0f;  // irrelevant when greedy
  CHECK_NOTHROW(Sampler{greedy});
  CHECK(Sampler(greedy).params().temperature == 0.0f);
}

TEST_CASE("sampler: bad logits and ids get clear errors") {
  Sampler sampler(sampling(1.0f, 0, 1.0f));
  const std::vector<float> ok = {0.0f, 1.0f};
  Error e = error_of([&] { sampler.sample(nullptr, 2, {}); });
  CHECK(e.code() == ErrorCode::invalid_argument);
  CHECK(mentions(e, "null"));
  e = error_of([&] { sampler.sample(ok.data(), 0, {}); });
  CHECK(e.code() == ErrorCode::invalid_argument);
  CHECK(mentions(e, "0"));

  const std::vector<float> with_nan = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  e = error_of([&] { sampler.probabilities(with_nan.data(), with_nan.size(), {}); });
  CHECK(e.code() == ErrorCode::invalid_argument);
  CHECK(mentions(e, "logits[1]"));
  const std::vector<float> with_inf = {kInf, 0.0f};
  CHECK(error_of([&] { sampler.sample(with_inf.data(), with_inf.size(), {}); }).code() ==
        ErrorCode::invalid_argument);
  const std::vector<float> all_masked = {-kInf, -kInf};
  CHECK(error_of([&] { sampler.sample(all_masked.data(), all_masked.size(), {}); }).code() ==
        ErrorCode::invalid_argument);

  e = error_of([&] { sampler.sample(ok.data(), ok.size(), {0, 2}); });
  CHECK(e.code() == ErrorCode::out_of_range);
  CHECK(mentions(e, "2"));
  CHECK(error_of([&] { sampler.sample(ok.data(), ok.size(), {-1}); }).code() ==
        ErrorCode::out_of_range);
  Sampler greedy{SamplingParams{}};
  CHECK(error_of([&] { greedy.sample(ok.data(), ok.size(), {5}); }).code() ==
        ErrorCode::out_of_range);

  // Temperature so small that the scaled logits overflow.
  Sampler cold(sampling(1e-38f, 0, 1.0f));
  const std::vector<float> big = {1e30f, 0.0f};
  CHECK(error_of([&] { cold.sample(big.data(), big.size(), {}); }).code() ==
        ErrorCode::invalid_argument);
}
