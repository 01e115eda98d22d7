// PayoutSplitter: fee first, then the largest-remainder method over 128-bit products, so the
// parts add up to the whole exactly and no intermediate value can overflow.

#include "petalsln/lightning/payout_splitter.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

// amount * weight needs up to 128 bits; __extension__ keeps -Wpedantic quiet about the type.
__extension__ using U128 = unsigned __int128;

constexpr std::uint32_t kMaxBasisPoints = 10000;

}  // namespace

PayoutSplitter::PayoutSplitter(PayoutFee fee) : fee_(fee) {
  if (fee.basis_points > kMaxBasisPoints) {
    throw Error(ErrorCode::invalid_argument,
                "payout fee basis_points " + std::to_string(fee.basis_points) + " is above 10000 (100%)");
  }
}

std::uint64_t PayoutSplitter::fee_for(std::uint64_t amount_msat) const noexcept {
  const U128 proportional = static_cast<U128>(amount_msat) * fee_.basis_points / kMaxBasisPoints;
  const U128 total = proportional + fee_.fixed_msat;  // < 2^65: cannot overflow 128 bits
  return total >= amount_msat ? amount_msat : static_cast<std::uint64_t>(total);
}

PayoutSplit PayoutSplitter::split(std::uint64_t amount_msat, const std::vector<PayoutWeight>& weights) const {
  if (weights.empty()) throw Error(ErrorCode::invalid_argument, "payout split: no payees");

  // Merge duplicates, keeping the order of first appearance for the output.
  std::vector<std::string> names;
  std::vector<U128> merged;
  std::unordered_map<std::string, std::size_t> index;
  U128 total_weight = 0;  // at most weights.size() * 2^64: cannot overflow 128 bits
  for (const auto& w : weights) {
    if (w.payee.empty()) throw Error(ErrorCode::invalid_argument, "payout split: a payee has an empty name");
    auto [it, inserted] = index.emplace(w.payee, names.size());
    if (inserted) {
      names.push_back(w.payee);
      merged.push_back(0);
    }
    merged[it->second] += w.weight;
    total_weight += w.weight;
  }
  // A 64-bit total keeps every product rest * weight below 2^128; block-token counts are
  // nowhere near it, so this only refuses nonsense.
  if (total_weight > UINT64_MAX) {
    throw Error(ErrorCode::invalid_argument, "payout split: the weights add up to more than 2^64-1");
  }
  if (total_weight == 0) {
    throw Error(ErrorCode::invalid_argument, "payout split: every payee has weight 0 (nobody to pay)");
  }

  PayoutSplit result;
  result.fee_msat = fee_for(amount_msat);
  const U128 rest = amount_msat - result.fee_msat;

  // Floors first; remainders decide who gets the msats the floors left over.
  std::vector<std::uint64_t> amounts(names.size());
  std::vector<U128> remainders(names.size());
  U128 assigned = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const U128 product = rest * merged[i];  // both below 2^64 (checked above): fits 128 bits
    const U128 q = product / total_weight;
    remainders[i] = product % total_weight;
    amounts[i] = static_cast<std::uint64_t>(q);  // q <= rest because merged[i] <= total_weight
    assigned += q;
  }
  std::uint64_t leftover = static_cast<std::uint64_t>(rest - assigned);  // < number of positive payees

  std::vector<std::size_t> order(names.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    if (remainders[a] != remainders[b]) return remainders[a] > remainders[b];
    return names[a] < names[b];
  });
  for (std::size_t k = 0; k < order.size() && leftover > 0; ++k, --leftover) ++amounts[order[k]];

  result.payees.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) result.payees.push_back({names[i], amounts[i]});
  return result;
}

}  // namespace petalsln
