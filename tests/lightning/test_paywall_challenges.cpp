// The paywall's challenges under invoice spam: one requester's repeated unpaid calls reuse one
// invoice, distinct unpaid challenges are capped per requester and in total, a paid invoice is
// never handed out again, and a failing wallet gives back the place it was given. A challenge's
// macaroon names its invoice (a gateway asks its wallet whether that one was paid).

#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>

#include "devnet_test_support.hpp"
#include "down_wallet.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

const std::string kPeer = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

struct Clocked {
  std::shared_ptr<std::int64_t> now = std::make_shared<std::int64_t>(1'700'000'000);
};

std::unique_ptr<Paywall> make_paywall(const test::DevnetFixture& devnet, const Clocked& clock, std::shared_ptr<Wallet> wallet = nullptr,
                                      std::uint32_t per_requester = 3, std::uint32_t total = 5) {
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 100;
  po.model = "m";
  po.peer_hex = kPeer;
  po.block_begin = 0;
  po.block_end = 4;
  po.invoice_expiry = std::chrono::seconds(600);
  po.max_unpaid_per_requester = per_requester;
  po.max_unpaid_total = total;
  po.store_path = devnet.dir.file("paywall.db");
  auto now = clock.now;
  po.clock = [now] { return *now; };
  if (!wallet) wallet = std::shared_ptr<Wallet>(devnet.open("bob"));
  return std::make_unique<Paywall>(po, wallet);
}

std::string invoice_of(const std::string& header) { return L402Challenge::parse(header).invoice; }


}  // namespace

TEST_CASE("paywall challenges: repeated unpaid calls reuse one invoice; distinct ones are capped") {
  test::DevnetFixture devnet;
  Clocked clock;
  devnet.time.now = std::make_shared<std::uint64_t>(static_cast<std::uint64_t>(*clock.now));
  auto paywall = make_paywall(devnet, clock);
  const auto first = paywall->challenge(0, 4, 0, "10.0.0.1");
  for (int i = 0; i < 50; ++i) CHECK(paywall->challenge(0, 4, 0, "10.0.0.1") == first);
  // Other terms are other challenges, up to the per-requester limit.
  const auto second = paywall->challenge(0, 4, 500, "10.0.0.1");
  const auto third = paywall->challenge(1, 3, 0, "10.0.0.1");
  CHECK(std::set<std::string>{invoice_of(first), invoice_of(second), invoice_of(third)}.size() == 3);
  CHECK_THROWS_AS(paywall->challenge(0, 4, 900, "10.0.0.1"), ChallengeLimitReached);
  try {
    paywall->challenge(0, 4, 901, "10.0.0.1");
  } catch (const ChallengeLimitReached& e) {
    CHECK(std::string(e.what()).find("3 unpaid challenges per address") != std::string::npos);
  }
  // Another requester has its own allowance, until the total is reached.
  CHECK(invoice_of(paywall->challenge(0, 4, 0, "10.0.0.2")) != invoice_of(first));
  paywall->challenge(0, 4, 0, "10.0.0.3");
  CHECK_THROWS_AS(paywall->challenge(0, 4, 0, "10.0.0.4"), ChallengeLimitReached);
  // An empty requester is the library's own use: always a fresh challenge, never limited.
  CHECK(invoice_of(paywall->challenge(0, 4)) != invoice_of(paywall->challenge(0, 4)));
}

TEST_CASE("paywall challenges: expired ones free their place; half-spent ones are replaced") {
  test::DevnetFixture devnet;
  Clocked clock;
  devnet.time.now = std::make_shared<std::uint64_t>(static_cast<std::uint64_t>(*clock.now));
  auto paywall = make_paywall(devnet, clock, nullptr, 1, 5);
  const auto first = paywall->challenge(0, 4, 0, "p");
  *clock.now += 200;  // a third of its 600 s
  CHECK(paywall->challenge(0, 4, 0, "p") == first);
  *clock.now += 200;  // past half: a new one, so a client always has time to pay
  const auto second = paywall->challenge(0, 4, 0, "p");
  CHECK(invoice_of(second) != invoice_of(first));
  CHECK_THROWS_AS(paywall->challenge(0, 4, 1000, "p"), ChallengeLimitReached);
  *clock.now += 601;
  CHECK_NOTHROW(paywall->challenge(0, 4, 1000, "p"));
}

TEST_CASE("paywall challenges: a paid invoice is never handed out again") {
  test::DevnetFixture devnet;
  Clocked clock;
  devnet.time.now = std::make_shared<std::uint64_t>(static_cast<std::uint64_t>(*clock.now));
  auto paywall = make_paywall(devnet, clock);
  const auto header = paywall->challenge(0, 4, 0, "p");
  const auto challenge = L402Challenge::parse(header);
  auto alice = devnet.open("alice");
  const auto paid = alice->pay_invoice(challenge.invoice, PayOptions{});
  REQUIRE(paid.status == PaymentStatus::succeeded);
  // Paid but not yet presented: the wallet says so, and a new invoice is minted.
  const auto next = paywall->challenge(0, 4, 0, "p");
  CHECK(invoice_of(next) != challenge.invoice);
  // Presenting the token also drops the paid challenge from the held ones.
  L402Token token{challenge.macaroon, *paid.preimage};
  CHECK(paywall->authorize(token.to_header(), 0, 4).credit_remaining == 100);
}

TEST_CASE("paywall challenges: a failing wallet throws its error and holds no place") {
  test::DevnetFixture devnet;
  Clocked clock;
  auto paywall = make_paywall(devnet, clock, std::make_shared<test::DownWallet>(), 1, 1);
  for (int i = 0; i < 5; ++i) CHECK_THROWS_WITH_AS(paywall->challenge(0, 4, 0, "p"), doctest::Contains("connection refused"), Error);
}

TEST_CASE("paywall challenges: a challenge's macaroon names its invoice; the wallet hands its preimage once paid") {
  test::DevnetFixture devnet;
  Clocked clock;
  devnet.time.now = std::make_shared<std::uint64_t>(static_cast<std::uint64_t>(*clock.now));
  auto bob = std::shared_ptr<Wallet>(devnet.open("bob"));
  auto paywall = make_paywall(devnet, clock, bob);
  const auto challenge = L402Challenge::parse(paywall->challenge(0, 4, 0, "p"));
  const std::string macaroon = challenge.macaroon.to_base64();
  const PaymentHash hash = paywall->challenge_payment_hash(macaroon, 0, 4);
  CHECK(hash == Bolt11Invoice::decode(challenge.invoice).payment_hash);
  // Unpaid: the wallet knows the invoice, and no preimage.
  CHECK_FALSE(bob->lookup_invoice(hash).settled);
  CHECK_FALSE(bob->lookup_invoice(hash).preimage.has_value());
  const auto paid = devnet.open("alice")->pay_invoice(challenge.invoice, PayOptions{});
  REQUIRE(paid.status == PaymentStatus::succeeded);
  const InvoiceStatus settled = bob->lookup_invoice(hash);
  CHECK(settled.settled);
  REQUIRE(settled.preimage.has_value());
  CHECK(*settled.preimage == *paid.preimage);
  // Forged (one bit of the signature), another paywall's, for other blocks, expired, garbage.
  std::string raw = challenge.macaroon.serialize();
  raw.back() = static_cast<char>(raw.back() ^ 1);
  CHECK_THROWS_AS(paywall->challenge_payment_hash(Macaroon::deserialize(raw).to_base64(), 0, 4), Error);
  test::DevnetFixture other_devnet;
  other_devnet.time.now = devnet.time.now;
  auto other = make_paywall(other_devnet, clock);
  CHECK_THROWS_AS(paywall->challenge_payment_hash(L402Challenge::parse(other->challenge(0, 4)).macaroon.to_base64(), 0, 4), Error);
  CHECK_THROWS_AS(paywall->challenge_payment_hash(macaroon, 0, 5), Error);
  CHECK_THROWS_AS(paywall->challenge_payment_hash("bm90IGEgbWFjYXJvb24=", 0, 4), Error);
  CHECK_THROWS_AS(paywall->challenge_payment_hash("", 0, 4), Error);
  *clock.now += 86400 + 1;  // past the token lifetime
  CHECK_THROWS_AS(paywall->challenge_payment_hash(macaroon, 0, 4), Error);
}
