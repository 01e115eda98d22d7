#pragma once
// Shared set-up for the devnet wallet tests: a fresh devnet file with funded accounts, and a
// clock the test moves by hand.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "petalsln/lightning/bolt11.hpp"
#include "lightning/wallet/devnet/devnet_wallet.hpp"
#include "test_support.hpp"
#include "util/sha256.hpp"

namespace petalsln::test {

/// A clock for DevnetWallet that returns whatever the test last set.
struct ManualClock {
  std::shared_ptr<std::uint64_t> now = std::make_shared<std::uint64_t>(1'700'000'000);
  DevnetClock clock() const {
    auto n = now;
    return [n] { return *n; };
  }
};

/// A temporary devnet file with alice (1,000,000 msat), bob (0) and carol (50,000 msat).
struct DevnetFixture {
  TempDir dir;
  std::string path = dir.file("devnet.db");
  ManualClock time;

  DevnetFixture() {
    create_devnet_account(path, "alice", 1'000'000);
    create_devnet_account(path, "bob", 0);
    create_devnet_account(path, "carol", 50'000);
  }

  /// Opens @p account with the fixture's clock.
  std::unique_ptr<DevnetWallet> open(const std::string& account) const {
    return std::make_unique<DevnetWallet>(path, account, time.clock());
  }
};

/// SHA-256 of a 32-byte value (a preimage), as a payment hash.
inline PaymentHash hash_of(const Preimage& preimage) {
  return util::sha256(std::string_view(reinterpret_cast<const char*>(preimage.data()), preimage.size()));
}

/// An invoice request for @p amount_msat with a memo.
inline InvoiceRequest request(std::optional<std::uint64_t> amount_msat, std::uint64_t expiry_s = 3600) {
  InvoiceRequest r;
  r.amount_msat = amount_msat;
  r.memo = "devnet test";
  r.expiry = std::chrono::seconds(static_cast<std::int64_t>(expiry_s));
  return r;
}

}  // namespace petalsln::test
