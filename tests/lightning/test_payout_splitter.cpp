// PayoutSplitter: exact sums, the fee rule, largest remainder with its tie order, merging,
// zero weights and dust, checked on hand-made cases and on thousands of random ones.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "petalsln/lightning/payout_splitter.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

__extension__ using U128 = unsigned __int128;

std::map<std::string, std::uint64_t> by_payee(const PayoutSplit& s) {
  std::map<std::string, std::uint64_t> m;
  for (const auto& p : s.payees) m[p.payee] = p.amount_msat;
  return m;
}

U128 total_of(const PayoutSplit& s) {
  U128 t = s.fee_msat;
  for (const auto& p : s.payees) t += p.amount_msat;
  return t;
}

ErrorCode code_of(const PayoutSplitter& s, std::uint64_t amount, const std::vector<PayoutWeight>& w) {
  try {
    s.split(amount, w);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("expected petalsln::Error");
  return ErrorCode::internal;
}

}  // namespace

TEST_CASE("payout splitter: fee is fixed + floor(amount * bps / 10000), capped at the amount") {
  CHECK(PayoutSplitter({0, 0}).fee_for(1'000'000) == 0);
  CHECK(PayoutSplitter({250, 0}).fee_for(1'000'000) == 25'000);
  CHECK(PayoutSplitter({250, 0}).fee_for(399) == 9);        // 9.975 rounds down: payees keep the fraction
  CHECK(PayoutSplitter({250, 1000}).fee_for(1'000'000) == 26'000);
  CHECK(PayoutSplitter({0, 5000}).fee_for(3000) == 3000);   // capped at the amount
  CHECK(PayoutSplitter({10000, 0}).fee_for(12345) == 12345);
  CHECK(PayoutSplitter({10000, UINT64_MAX}).fee_for(UINT64_MAX) == UINT64_MAX);  // no overflow
  CHECK(PayoutSplitter({9999, 0}).fee_for(UINT64_MAX) ==
        static_cast<std::uint64_t>(static_cast<U128>(UINT64_MAX) * 9999 / 10000));
  CHECK_THROWS_AS(PayoutSplitter({10001, 0}), Error);
  try {
    PayoutSplitter({10001, 0});
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("10001") != std::string::npos);
  }
}

TEST_CASE("payout splitter: largest remainder, ties by payee name, independent of input order") {
  const PayoutSplitter s({0, 0});
  // 10 msat over three equal weights: 3 each, one leftover; equal remainders -> "a" wins.
  auto r = s.split(10, {{"c", 1}, {"a", 1}, {"b", 1}});
  CHECK(r.fee_msat == 0);
  REQUIRE(r.payees.size() == 3);
  CHECK(r.payees[0].payee == "c");  // output keeps the order of first appearance
  CHECK(by_payee(r) == std::map<std::string, std::uint64_t>{{"a", 4}, {"b", 3}, {"c", 3}});
  // 11 msat: two leftovers -> "a" and "b".
  CHECK(by_payee(s.split(11, {{"b", 1}, {"c", 1}, {"a", 1}})) ==
        std::map<std::string, std::uint64_t>{{"a", 4}, {"b", 4}, {"c", 3}});
  // Largest remainder beats name order: 100 over weights 1,2,4 (sum 7): exact 14.28, 28.57,
  // 57.14 -> floors 14, 28, 57 (99), leftover goes to the 0.57 remainder (weight 2).
  CHECK(by_payee(s.split(100, {{"a", 1}, {"b", 2}, {"c", 4}})) ==
        std::map<std::string, std::uint64_t>{{"a", 14}, {"b", 29}, {"c", 57}});
  // Same inputs in every order give the same amounts.
  std::vector<PayoutWeight> w{{"x", 3}, {"y", 3}, {"z", 5}, {"w", 7}};
  const auto expected = by_payee(s.split(1001, w));
  std::sort(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.payee < b.payee; });
  do {
    CHECK(by_payee(s.split(1001, w)) == expected);
  } while (std::next_permutation(w.begin(), w.end(), [](const auto& a, const auto& b) { return a.payee < b.payee; }));
}

TEST_CASE("payout splitter: duplicates merge, zero weights get nothing, dust is never dropped") {
  const PayoutSplitter s({100, 10});
  auto r = s.split(10'000, {{"a", 1}, {"b", 2}, {"a", 1}, {"z", 0}});
  CHECK(r.fee_msat == 110);
  REQUIRE(r.payees.size() == 3);
  CHECK(r.payees[0].payee == "a");
  CHECK(r.payees[1].payee == "b");
  CHECK(r.payees[2].payee == "z");
  CHECK(by_payee(r) == std::map<std::string, std::uint64_t>{{"a", 4945}, {"b", 4945}, {"z", 0}});

  // Dust: 2 msat over five payees -> two get 1 msat (largest remainder, then name), three get 0.
  auto d = PayoutSplitter({0, 0}).split(2, {{"e", 1}, {"d", 1}, {"c", 1}, {"b", 1}, {"a", 1}});
  CHECK(by_payee(d) == std::map<std::string, std::uint64_t>{{"a", 1}, {"b", 1}, {"c", 0}, {"d", 0}, {"e", 0}});
  CHECK(total_of(d) == 2);

  // Everything to the fee: payees listed with 0.
  auto f = PayoutSplitter({0, 50}).split(40, {{"a", 5}});
  CHECK(f.fee_msat == 40);
  CHECK(f.payees.at(0).amount_msat == 0);
  // Zero amount is fine.
  CHECK(total_of(PayoutSplitter({0, 0}).split(0, {{"a", 5}})) == 0);
  // Extremes: the largest amount and weights do not overflow.
  auto big = PayoutSplitter({0, 0}).split(UINT64_MAX, {{"a", UINT64_MAX - 1}, {"b", 1}});
  CHECK(total_of(big) == UINT64_MAX);
  CHECK(by_payee(big)["b"] == 1);
}

TEST_CASE("payout splitter: refuses what has no answer") {
  const PayoutSplitter s({0, 0});
  CHECK(code_of(s, 100, {}) == ErrorCode::invalid_argument);
  CHECK(code_of(s, 100, {{"a", 0}, {"b", 0}}) == ErrorCode::invalid_argument);
  CHECK(code_of(s, 100, {{"", 1}}) == ErrorCode::invalid_argument);
  CHECK(code_of(s, 100, {{"a", UINT64_MAX}, {"b", 1}}) == ErrorCode::invalid_argument);
  CHECK(code_of(s, 100, {{"a", UINT64_MAX}, {"a", 1}}) == ErrorCode::invalid_argument);
}

TEST_CASE("payout splitter: thousands of random splits are exact and within 1 msat of the share") {
  std::mt19937_64 rng(0x5eed'cafe'f00dULL);  // fixed seed: failures reproduce
  auto pick = [&](std::uint64_t lo, std::uint64_t hi) { return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng); };
  for (int iteration = 0; iteration < 5000; ++iteration) {
    // Mix small and huge magnitudes so both dust and overflow-prone cases appear.
    const int amount_scale = static_cast<int>(pick(0, 3));
    const std::uint64_t amount = amount_scale == 0   ? pick(0, 20)
                                 : amount_scale == 1 ? pick(0, 1'000'000)
                                 : amount_scale == 2 ? pick(0, 100'000'000'000ULL)
                                                     : pick(0, UINT64_MAX);
    const PayoutFee fee{static_cast<std::uint32_t>(pick(0, 3) == 0 ? 0 : pick(0, 10000)),
                        pick(0, 3) == 0 ? pick(0, amount / 2 + 1) : 0};
    const std::size_t n = static_cast<std::size_t>(pick(1, 40));
    const std::uint64_t weight_max = pick(0, 1) ? 10 : UINT64_MAX / 64;
    std::vector<PayoutWeight> weights;
    for (std::size_t i = 0; i < n; ++i) {
      // Some duplicates (name reused), some zeros.
      const std::string name = "payee" + std::to_string(pick(0, n));
      weights.push_back({name, pick(0, 4) == 0 ? 0 : pick(0, weight_max)});
    }
    U128 total_weight = 0;
    std::map<std::string, U128> merged;
    for (const auto& w : weights) {
      total_weight += w.weight;
      merged[w.payee] += w.weight;
    }
    const PayoutSplitter splitter(fee);
    if (total_weight == 0) {
      CHECK(code_of(splitter, amount, weights) == ErrorCode::invalid_argument);
      continue;
    }
    const auto split = splitter.split(amount, weights);
    REQUIRE(total_of(split) == amount);
    const U128 expected_fee = std::min<U128>(amount, static_cast<U128>(amount) * fee.basis_points / 10000 + fee.fixed_msat);
    REQUIRE(split.fee_msat == expected_fee);
    REQUIRE(split.payees.size() == merged.size());
    const U128 rest = amount - split.fee_msat;
    std::uint64_t leftover_count = 0;
    for (const auto& p : split.payees) {
      const U128 exact_num = rest * merged[p.payee];  // share = exact_num / total_weight
      const U128 floor_share = exact_num / total_weight;
      // floor or floor + 1, and floor + 1 only when the share is not whole: |amount - share| < 1.
      REQUIRE((p.amount_msat == floor_share || (p.amount_msat == floor_share + 1 && exact_num % total_weight != 0)));
      if (merged[p.payee] == 0) REQUIRE(p.amount_msat == 0);
      if (p.amount_msat != floor_share) ++leftover_count;
    }
    REQUIRE(leftover_count < split.payees.size());
    // Tie order: whoever got the extra msat has a remainder >= everyone who did not, and on
    // equal remainders a smaller name.
    for (const auto& up : split.payees) {
      const U128 ru = rest * merged[up.payee] % total_weight;
      const bool u_up = up.amount_msat != rest * merged[up.payee] / total_weight;
      if (!u_up) continue;
      for (const auto& down : split.payees) {
        const U128 rd = rest * merged[down.payee] % total_weight;
        const bool d_up = down.amount_msat != rest * merged[down.payee] / total_weight;
        if (d_up) continue;
        REQUIRE((ru > rd || (ru == rd && up.payee < down.payee)));
      }
    }
  }
}
