// The paywall's meter as a gateway uses it: work of unknown cost reserves its worst case, is
// debited what it used when it ends, and a restart frees what interrupted work held; a token
// is bound to its service, and an operator's own root key works like the store's.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "devnet_test_support.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

const std::string kPeer = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

PaywallOptions gateway_options(const test::DevnetFixture& devnet, const std::string& store, const std::string& service = "gw") {
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 100;
  po.model = "m";
  po.peer_hex = kPeer;
  po.block_begin = 0;
  po.block_end = 1;
  po.store_path = devnet.dir.file(store);
  po.service = service;
  po.unit_name = "tokens";
  auto now = devnet.time.now;
  po.clock = [now] { return static_cast<std::int64_t>(*now); };
  return po;
}

// Buys the paywall's credit unit from alice's account and returns the Authorization value.
std::string buy(const test::DevnetFixture& devnet, Paywall& paywall) {
  const auto challenge = L402Challenge::parse(paywall.challenge(0, 1));
  const auto paid = devnet.open("alice")->pay_invoice(challenge.invoice, PayOptions{});
  REQUIRE(paid.status == PaymentStatus::succeeded);
  return L402Token{challenge.macaroon, *paid.preimage}.to_header();
}

}  // namespace

TEST_CASE("paywall meter: reserve the worst case, debit what was used, free the rest") {
  test::DevnetFixture devnet;
  std::string token;
  std::string id;
  {
    Paywall paywall(gateway_options(devnet, "gw.db"), std::shared_ptr<Wallet>(devnet.open("bob")));
    token = buy(devnet, paywall);
    id = paywall.authorize(token, 0, 1).token_id;
    std::uint64_t available = 0;
    CHECK(paywall.reserve(id, 60, &available));
    CHECK(available == 100);
    CHECK_FALSE(paywall.reserve(id, 50, &available));  // 40 left unheld
    CHECK(available == 40);
    CHECK(paywall.authorize(token, 0, 1).credit_remaining == 40);
    std::uint64_t remaining = 0;
    paywall.settle(id, 60, 25, &remaining);  // used 25 of its 60
    CHECK(remaining == 75);
    CHECK(paywall.available(id) == 75);
    paywall.settle(id, 0, 0);  // nothing held: nothing changes
    CHECK(paywall.available(id) == 75);
    CHECK(paywall.reserve(id, 70));  // then the process dies mid-work
  }
  Paywall reopened(gateway_options(devnet, "gw.db"), std::shared_ptr<Wallet>(devnet.open("bob")));
  CHECK(reopened.available(id) == 75);  // the interrupted work's reservation is gone, its debits kept
  CHECK(reopened.reserve(id, 75));
  reopened.settle(id, 75, 1000);  // never more than was reserved
  CHECK(reopened.available(id) == 0);
  CHECK_THROWS_AS(reopened.authorize(token, 0, 1), CreditUsedUp);
}

TEST_CASE("paywall meter: try_reserve holds like reserve when the store is free, and never waits when it is busy") {
  test::DevnetFixture devnet;
  Paywall paywall(gateway_options(devnet, "gw.db"), std::shared_ptr<Wallet>(devnet.open("bob")));
  const std::string id = paywall.authorize(buy(devnet, paywall), 0, 1).token_id;
  std::uint64_t available = 0;
  CHECK(paywall.try_reserve(id, 60, &available) == std::optional<bool>(true));
  CHECK(available == 100);
  CHECK(paywall.try_reserve(id, 50, &available) == std::optional<bool>(false));  // 40 left unheld
  CHECK(available == 40);
  paywall.settle(id, 60, 0);
  // Another thread reserves and debits one unit at a time (a durable write each, under the
  // store's lock) until told to stop; meanwhile try_reserve either holds at once or says the
  // store is busy, holding nothing. The sampling pauses so that the other thread gets the lock.
  std::atomic<bool> stop{false};
  std::atomic<int> debited{0};
  std::thread debits([&] {
    while (!stop) {
      if (paywall.reserve(id, 1)) {
        paywall.settle(id, 1, 1);
        ++debited;
      }
    }
  });
  int busy = 0;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (busy == 0 && std::chrono::steady_clock::now() < give_up) {
    const auto got = paywall.try_reserve(id, 1);
    if (!got) {
      ++busy;
    } else if (*got) {
      paywall.settle(id, 1, 0);  // give it back
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  stop = true;
  debits.join();
  CHECK(busy > 0);
  CHECK(paywall.available(id) == static_cast<std::uint64_t>(100 - debited));  // only the other thread's debits were taken
  CHECK(paywall.try_reserve(id, paywall.available(id)) == std::optional<bool>(true));
}

TEST_CASE("paywall meter: a token is bound to its service; an operator's root key verifies across stores") {
  test::DevnetFixture devnet;
  std::string key(32, 'k');
  auto with_key = [&](const std::string& store, const std::string& service) {
    PaywallOptions po = gateway_options(devnet, store, service);
    po.root_key = key;
    return std::make_unique<Paywall>(po, std::shared_ptr<Wallet>(devnet.open("bob")));
  };
  auto first = with_key("a.db", "gw");
  const std::string token = buy(devnet, *first);
  CHECK(with_key("b.db", "gw")->authorize(token, 0, 1).credit_remaining == 100);  // same key, same terms
  CHECK_THROWS_WITH_AS(with_key("c.db", "petalsln")->authorize(token, 0, 1), doctest::Contains("service"), Error);
  Paywall own_key(gateway_options(devnet, "d.db"), std::shared_ptr<Wallet>(devnet.open("bob")));
  CHECK_THROWS_AS(own_key.authorize(token, 0, 1), Error);
  PaywallOptions bad = gateway_options(devnet, "e.db");
  bad.root_key = "short";
  CHECK_THROWS_AS(Paywall(bad, std::shared_ptr<Wallet>(devnet.open("bob"))), Error);
}
