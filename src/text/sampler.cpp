// Sampler: transformers' logits processors and warpers, then argmax or a seeded draw.
//
// Each step follows the float32 arithmetic of the PyTorch code it mirrors (the penalty,
// temperature and thresholds are applied to float values), while sums and exponentials are
// taken in double, so results agree with PyTorch far inside 1e-5.

#include "petalsln/text/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <numeric>
#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln {

namespace {

constexpr float kMinusInf = -std::numeric_limits<float>::infinity();

std::string format_float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

[[noreturn]] void bad_param(const char* field, const char* rule, const std::string& got) {
  throw Error(ErrorCode::invalid_argument,
              std::string("SamplingParams.") + field + " " + rule + "; got " + got);
}

// The decimal a user most likely wrote for @p v: the shortest one that rounds to v. transformers
// computes `1 - top_p` on the Python float (0.9 gives 0.09999999999999998), not on a float32
// (0.9f gives 0.10000002384), and the cut-off must match.
double shortest_decimal(float v) {
  char buf[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) return std::strtod(buf, nullptr);
  }
  return static_cast<double>(v);
}

void check_logits(const float* logits, std::size_t vocab) {
  if (logits == nullptr) throw Error(ErrorCode::invalid_argument, "sampler: logits is null");
  if (vocab == 0) throw Error(ErrorCode::invalid_argument, "sampler: vocabulary size is 0");
  if (vocab > static_cast<std::size_t>(std::numeric_limits<TokenId>::max())) {
    throw Error(ErrorCode::invalid_argument,
                "sampler: vocabulary size " + std::to_string(vocab) + " exceeds the TokenId range");
  }
  bool any_finite = false;
  for (std::size_t i = 0; i < vocab; ++i) {
    if (std::isnan(logits[i]) || logits[i] == std::numeric_limits<float>::infinity()) {
      throw Error(ErrorCode::invalid_argument, "sampler: logits[" + std::to_string(i) + "] is " +
                                                   format_float(logits[i]) +
                                                   " (logits must be finite or -inf)");
    }
    any_finite = any_finite || std::isfinite(logits[i]);
  }
  if (!any_finite) {
    throw Error(ErrorCode::invalid_argument,
                "sampler: every logit is -inf; no token can be chosen");
  }
}

// Keeps the logits >= the k-th largest (so every logit tied with it survives), like
// TopKLogitsWarper with min_tokens_to_keep = 1.
void apply_top_k(std::vector<float>& scores, int top_k) {
  const std::size_t k = std::min(static_cast<std::size_t>(std::max(top_k, 1)), scores.size());
  std::vector<float> sorted = scores;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(k - 1),
                   sorted.end(), std::greater<float>());
  const float kth = sorted[k - 1];
  for (float& s : scores) {
    if (s < kth) s = kMinusInf;
  }
}

// TopPLogitsWarper: sort ascending, take the cumulative softmax, remove every token whose
// cumulative probability is <= 1 - top_p, but never the most likely one. Equal logits keep id
// order (a stable sort), so the higher id of a tie straddling the cut survives.
void apply_top_p(std::vector<float>& scores, float top_p) {
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  const double max = static_cast<double>(scores[order.back()]);
  double sum = 0.0;
  for (const float s : scores) sum += std::exp(static_cast<double>(s) - max);
  const auto cut = static_cast<float>(1.0 - shortest_decimal(top_p));
  double cumulative = 0.0;  // PyTorch's CPU cumsum also accumulates float32 in double
  for (std::size_t i = 0; i + 1 < order.size(); ++i) {
    const double e = std::exp(static_cast<double>(scores[order[i]]) - max);
    cumulative += static_cast<double>(static_cast<float>(e / sum));
    if (static_cast<float>(cumulative) <= cut) scores[order[i]] = kMinusInf;
  }
}

std::vector<float> softmax(const std::vector<float>& scores) {
  const double max = static_cast<double>(*std::max_element(scores.begin(), scores.end()));
  if (!std::isfinite(max)) {
    throw Error(ErrorCode::invalid_argument,
                "sampler: logits overflowed to infinity after temperature scaling");
  }
  std::vector<double> e(scores.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    e[i] = std::exp(static_cast<double>(scores[i]) - max);
    sum += e[i];
  }
  std::vector<float> probs(scores.size());
  for (std::size_t i = 0; i < scores.size(); ++i) probs[i] = static_cast<float>(e[i] / sum);
  return probs;
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// splitmix64, the seeding generator recommended for the xoshiro family.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

void SamplingParams::validate() const {
  if (!greedy && !(std::isfinite(temperature) && temperature > 0.0f)) {
    bad_param("temperature", "must be finite and > 0 when sampling (greedy = false)",
              format_float(temperature));
  }
  if (top_k < 0) bad_param("top_k", "must be >= 0 (0 disables it)", std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) {
    bad_param("top_p", "must be in (0, 1] (1 disables it)", format_float(top_p));
  }
  if (!(std::isfinite(repetition_penalty) && repetition_penalty > 0.0f)) {
    bad_param("repetition_penalty", "must be finite and > 0 (1 disables it)",
              format_float(repetition_penalty));
  }
}

Sampler::Sampler(SamplingParams params) : params_(params) {
  params_.validate();
  std::uint64_t seed = params_.seed;
  for (std::uint64_t& word : rng_state_) word = splitmix64(seed);
}

// RepetitionPenaltyLogitsProcessor: each distinct previous id is penalised once, however often
// it occurred (torch.gather/scatter over the ids).
std::vector<float> Sampler::penalised_logits(const float* logits, std::size_t vocab,
                                             const std::vector<TokenId>& previous_ids) const {
  check_logits(logits, vocab);
  std::vector<TokenId> ids = previous_ids;
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (!ids.empty() && (ids.front() < 0 || static_cast<std::size_t>(ids.back()) >= vocab)) {
    const TokenId bad = ids.front() < 0 ? ids.front() : ids.back();
    throw Error(ErrorCode::out_of_range, "sampler: previous token id " + std::to_string(bad) +
                                             " is outside the vocabulary [0, " +
                                             std::to_string(vocab) + ")");
  }
  std::vector<float> scores(logits, logits + vocab);
  const float penalty = params_.repetition_penalty;
  if (penalty == 1.0f) return scores;
  for (const TokenId id : ids) {
    float& s = scores[static_cast<std::size_t>(id)];
    s = s < 0.0f ? s * penalty : s / penalty;
  }
  return scores;
}

std::vector<float> Sampler::probabilities(const float* logits, std::size_t vocab,
                                          const std::vector<TokenId>& previous_ids) const {
  std::vector<float> scores = penalised_logits(logits, vocab, previous_ids);
  if (!params_.greedy) {
    if (params_.temperature != 1.0f) {
      for (float& s : scores) s /= params_.temperature;
    }
    if (params_.top_k > 0) apply_top_k(scores, params_.top_k);
    if (params_.top_p < 1.0f) apply_top_p(scores, params_.top_p);
  }
  return softmax(scores);
}

TokenId Sampler::sample(const float* logits, std::size_t vocab,
                        const std::vector<TokenId>& previous_ids) {
  if (params_.greedy) {
    const std::vector<float> scores = penalised_logits(logits, vocab, previous_ids);
    // max_element returns the first maximum: the lowest id, like torch.argmax.
    return static_cast<TokenId>(std::max_element(scores.begin(), scores.end()) - scores.begin());
  }
  const std::vector<float> probs = probabilities(logits, vocab, previous_ids);
  double total = 0.0;
  for (const float p : probs) total += static_cast<double>(p);
  const double target = next_uniform() * total;
  double cumulative = 0.0;
  std::size_t chosen = 0;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0.0f) continue;  // a removed token can never be drawn
    cumulative += static_cast<double>(probs[i]);
    chosen = i;
    if (target < cumulative) break;
  }
  return static_cast<TokenId>(chosen);
}

// xoshiro256** (Blackman & Vigna): 64 random bits, of which the top 53 make a double in
// [0, 1). Pure integer arithmetic, so every platform draws the same sequence.
double Sampler::next_uniform() {
  std::uint64_t* s = rng_state_.data();
  const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return static_cast<double>(result >> 11) * 0x1.0p-53;
}

}  // namespace petalsln
