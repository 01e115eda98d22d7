#pragma once
/// @file payout_splitter.hpp
/// Splitting an amount among payees by weight (block-tokens), exactly to the millisatoshi,
/// after an operator fee. The rules are in docs/PAYOUTS.md; in short:
///
/// - fee = min(amount, fixed_msat + floor(amount * basis_points / 10000)), computed in 128 bits;
/// - the rest (amount - fee) is shared by weight with the largest-remainder method: every payee
///   first gets floor(rest * weight / total_weight), then the msats left over (fewer than the
///   number of payees) go one each to the payees with the largest remainders, ties broken by
///   payee name (byte-wise ascending), so the result never depends on the input order;
/// - the fee plus the payees' amounts always equals the amount, and every payee's amount is
///   within 1 msat of its exact share (strictly less than 1 msat away).

#include <cstdint>
#include <string>
#include <vector>

namespace petalsln {

/// The operator's cut, taken before anything is shared among payees.
struct PayoutFee {
  std::uint32_t basis_points = 0;  ///< Proportional part, in 1/10000 of the amount (0..10000).
  std::uint64_t fixed_msat = 0;    ///< Fixed part, in msat (capped so the fee never exceeds the amount).
};

/// One payee and its weight (for petalsln: the block-tokens it processed).
struct PayoutWeight {
  std::string payee;          ///< Who (a Lightning address, a peer id, any non-empty key).
  std::uint64_t weight = 0;   ///< Its share of the work; 0 means it gets nothing.
};

/// One payee's amount in a split.
struct PayoutAmount {
  std::string payee;              ///< Who.
  std::uint64_t amount_msat = 0;  ///< What it gets (may be 0: a zero weight, or dust below 1 msat).
};

/// The result of PayoutSplitter::split.
struct PayoutSplit {
  std::uint64_t fee_msat = 0;          ///< The operator's fee.
  std::vector<PayoutAmount> payees;    ///< One entry per distinct payee, in order of first appearance.
};

/// Splits amounts by weight after a fee. Immutable after construction, so thread-safe.
class PayoutSplitter {
 public:
  /// Creates a splitter charging @p fee. Throws Error(invalid_argument) if
  /// fee.basis_points is above 10000 (more than the whole amount).
  explicit PayoutSplitter(PayoutFee fee);

  /// Returns the fee this splitter charges.
  const PayoutFee& fee() const noexcept { return fee_; }

  /// Returns the fee taken from @p amount_msat: min(amount, fixed + floor(amount * bps / 10000)).
  std::uint64_t fee_for(std::uint64_t amount_msat) const noexcept;

  /// Splits @p amount_msat among @p weights after the fee. A payee named twice is merged (its
  /// weights added) and listed once, where it first appeared. Zero-weight payees are listed
  /// with 0 msat. A share below 1 msat (dust) is 0 msat unless the largest-remainder step gives
  /// it the leftover msat: nothing is ever dropped, fee + sum(amounts) == amount_msat always.
  /// Throws Error(invalid_argument) if @p weights is empty, a payee name is empty, or no payee
  /// has a positive weight (there is nobody to pay; the caller decides what that means), or the
  /// weights add up to more than 2^64-1.
  PayoutSplit split(std::uint64_t amount_msat, const std::vector<PayoutWeight>& weights) const;

 private:
  PayoutFee fee_;
};

}  // namespace petalsln
