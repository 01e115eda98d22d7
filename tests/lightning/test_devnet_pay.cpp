// The devnet wallet's payments: transfers with real preimages, and every refusal leaving
// balances untouched.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <string>
#include <thread>
#include <vector>

#include "devnet_test_support.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;
using petalsln::test::DevnetFixture;
using petalsln::test::request;

namespace {

// Balances of alice, bob and carol, in that order.
std::vector<std::uint64_t> balances(const DevnetFixture& net) {
  return {net.open("alice")->balance_msat(), net.open("bob")->balance_msat(), net.open("carol")->balance_msat()};
}

bool mentions(const PaymentResult& r, const std::string& words) {
  return r.failure_reason.find(words) != std::string::npos;
}

// An invoice signed by a key that belongs to no devnet account.
std::string foreign_invoice(Bolt11Network network, const PaymentHash& hash, std::optional<std::uint64_t> amount) {
  Bolt11Params p;
  p.network = network;
  p.amount_msat = amount;
  p.payment_hash = hash;
  p.description = "not from this devnet";
  p.include_payee_node_id = true;
  Bolt11SecretKey key{};
  key.fill(0x17);
  return Bolt11Invoice::create(p, key).encode();
}

}  // namespace

TEST_CASE("devnet pay: moves the amount exactly and reveals the real preimage") {
  DevnetFixture net;
  auto alice = net.open("alice");
  auto bob = net.open("bob");
  CreatedInvoice inv = bob->create_invoice(request(12'345));
  *net.time.now += 5;
  PaymentResult r = alice->pay_invoice(inv.bolt11, PayOptions{});
  REQUIRE(r.status == PaymentStatus::succeeded);
  CHECK(r.failure_reason.empty());
  CHECK(r.payment_hash == inv.payment_hash);
  CHECK(r.amount_msat == 12'345);
  CHECK(r.fee_msat == 0);
  REQUIRE(r.preimage.has_value());
  CHECK(test::hash_of(*r.preimage) == inv.payment_hash);
  CHECK(balances(net) == std::vector<std::uint64_t>{1'000'000 - 12'345, 12'345, 50'000});

  InvoiceStatus s = bob->lookup_invoice(inv.payment_hash);
  CHECK(s.settled);
  CHECK(!s.expired);
  CHECK(s.amount_paid_msat == 12'345);
  CHECK(s.settled_at == *net.time.now);
  auto looked = alice->lookup_payment(inv.payment_hash);
  REQUIRE(looked.has_value());
  CHECK(looked->status == PaymentStatus::succeeded);
  CHECK(looked->preimage == r.preimage);
  CHECK(looked->amount_msat == 12'345);
  CHECK(!bob->lookup_payment(inv.payment_hash).has_value());
  CHECK(!net.open("carol")->lookup_payment(inv.payment_hash).has_value());
}

TEST_CASE("devnet pay: an invoice is paid once, whoever tries again") {
  DevnetFixture net;
  auto alice = net.open("alice");
  auto carol = net.open("carol");
  CreatedInvoice inv = net.open("bob")->create_invoice(request(1000));
  REQUIRE(alice->pay_invoice(inv.bolt11, {}).status == PaymentStatus::succeeded);
  const auto before = balances(net);
  PaymentResult again = alice->pay_invoice(inv.bolt11, {});
  CHECK(again.status == PaymentStatus::failed);
  CHECK(mentions(again, "already paid"));
  CHECK(!again.preimage.has_value());
  PaymentResult other = carol->pay_invoice(inv.bolt11, {});
  CHECK(other.status == PaymentStatus::failed);
  CHECK(mentions(other, "already paid"));
  CHECK(balances(net) == before);
  // A later failed attempt does not hide the success.
  CHECK(alice->lookup_payment(inv.payment_hash)->status == PaymentStatus::succeeded);
  auto carols = carol->lookup_payment(inv.payment_hash);
  REQUIRE(carols.has_value());
  CHECK(carols->status == PaymentStatus::failed);
  CHECK(carols->failure_reason == other.failure_reason);
  CHECK(!carols->preimage.has_value());
}

TEST_CASE("devnet pay: expired invoices are refused (injected clock)") {
  DevnetFixture net;
  auto alice = net.open("alice");
  auto bob = net.open("bob");
  CreatedInvoice late = bob->create_invoice(request(100, 60));
  CreatedInvoice in_time = bob->create_invoice(request(100, 60));
  *net.time.now += 59;
  CHECK(alice->pay_invoice(in_time.bolt11, {}).status == PaymentStatus::succeeded);
  *net.time.now += 1;
  const auto before = balances(net);
  PaymentResult r = alice->pay_invoice(late.bolt11, {});
  CHECK(r.status == PaymentStatus::failed);
  CHECK(mentions(r, "expired"));
  CHECK(balances(net) == before);
  CHECK(bob->lookup_invoice(late.payment_hash).expired);
  CHECK(!bob->lookup_invoice(late.payment_hash).settled);
}

TEST_CASE("devnet pay: amount-less invoices need an amount; fixed ones refuse another") {
  DevnetFixture net;
  auto alice = net.open("alice");
  auto bob = net.open("bob");
  CreatedInvoice any = bob->create_invoice(request(std::nullopt));
  PaymentResult no_amount = alice->pay_invoice(any.bolt11, {});
  CHECK(no_amount.status == PaymentStatus::failed);
  CHECK(mentions(no_amount, "no amount"));
  PayOptions zero;
  zero.amount_msat = 0;
  CHECK(alice->pay_invoice(any.bolt11, zero).status == PaymentStatus::failed);
  CHECK(balances(net) == std::vector<std::uint64_t>{1'000'000, 0, 50'000});
  PayOptions with;
  with.amount_msat = 777;
  PaymentResult paid = alice->pay_invoice(any.bolt11, with);
  REQUIRE(paid.status == PaymentStatus::succeeded);
  CHECK(paid.amount_msat == 777);
  CHECK(bob->lookup_invoice(any.payment_hash).amount_paid_msat == 777);
  CHECK(balances(net) == std::vector<std::uint64_t>{1'000'000 - 777, 777, 50'000});

  CreatedInvoice fixed = bob->create_invoice(request(500));
  PayOptions other;
  other.amount_msat = 501;
  PaymentResult wrong = alice->pay_invoice(fixed.bolt11, other);
  CHECK(wrong.status == PaymentStatus::failed);
  CHECK(mentions(wrong, "500 msat"));
  PayOptions same;
  same.amount_msat = 500;
  CHECK(alice->pay_invoice(fixed.bolt11, same).status == PaymentStatus::succeeded);
  CHECK(balances(net) == std::vector<std::uint64_t>{1'000'000 - 1277, 1277, 50'000});
}

TEST_CASE("devnet pay: insufficient balance is refused and recorded") {
  DevnetFixture net;
  auto carol = net.open("carol");
  CreatedInvoice inv = net.open("bob")->create_invoice(request(50'001));
  PaymentResult r = carol->pay_invoice(inv.bolt11, {});
  CHECK(r.status == PaymentStatus::failed);
  CHECK(mentions(r, "insufficient balance"));
  CHECK(balances(net) == std::vector<std::uint64_t>{1'000'000, 0, 50'000});
  auto looked = carol->lookup_payment(inv.payment_hash);
  REQUIRE(looked.has_value());
  CHECK(looked->status == PaymentStatus::failed);
  CHECK(looked->amount_msat == 50'001);
  CHECK(!net.open("bob")->lookup_invoice(inv.payment_hash).settled);
  // Spending the balance down to exactly zero is allowed.
  CreatedInvoice all = net.open("bob")->create_invoice(request(50'000));
  CHECK(carol->pay_invoice(all.bolt11, {}).status == PaymentStatus::succeeded);
  CHECK(carol->balance_msat() == 0);
}

TEST_CASE("devnet pay: an account cannot pay itself") {
  DevnetFixture net;
  auto alice = net.open("alice");
  CreatedInvoice inv = alice->create_invoice(request(10));
  PaymentResult r = alice->pay_invoice(inv.bolt11, {});
  CHECK(r.status == PaymentStatus::failed);
  CHECK(mentions(r, "its own invoice"));
  CHECK(alice->balance_msat() == 1'000'000);
}

TEST_CASE("devnet pay: foreign invoices are refused") {
  DevnetFixture net;
  auto alice = net.open("alice");
  CreatedInvoice real = net.open("bob")->create_invoice(request(1000));
  const auto before = balances(net);

  PaymentResult mainnet = alice->pay_invoice(foreign_invoice(Bolt11Network::mainnet, real.payment_hash, 1000), {});
  CHECK(mainnet.status == PaymentStatus::failed);
  CHECK(mentions(mainnet, "regtest"));
  CHECK(mentions(mainnet, "mainnet"));

  // Bob's payment hash, but signed by a key that is not bob's: not the invoice bob issued.
  PaymentResult forged = alice->pay_invoice(foreign_invoice(Bolt11Network::regtest, real.payment_hash, 1000), {});
  CHECK(forged.status == PaymentStatus::failed);
  CHECK(mentions(forged, "not signed by devnet account 'bob'"));

  PaymentHash unknown{};
  unknown.fill(0x5a);
  PaymentResult stranger = alice->pay_invoice(foreign_invoice(Bolt11Network::regtest, unknown, 1000), {});
  CHECK(stranger.status == PaymentStatus::failed);
  CHECK(mentions(stranger, "no account of this devnet file"));

  // Another devnet file's invoice is just as foreign.
  DevnetFixture elsewhere;
  CreatedInvoice theirs = elsewhere.open("bob")->create_invoice(request(1000));
  CHECK(alice->pay_invoice(theirs.bolt11, {}).status == PaymentStatus::failed);

  CHECK(balances(net) == before);
  CHECK(!net.open("bob")->lookup_invoice(real.payment_hash).settled);
  CHECK(alice->pay_invoice(real.bolt11, {}).status == PaymentStatus::succeeded);
}

TEST_CASE("devnet pay: undecodable or tampered invoices throw invalid_format") {
  DevnetFixture net;
  auto alice = net.open("alice");
  CreatedInvoice real = net.open("bob")->create_invoice(request(1000));
  std::string tampered = real.bolt11;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'q' ? 'p' : 'q';
  for (const std::string& bad : {std::string("not an invoice"), tampered, std::string()}) {
    try {
      alice->pay_invoice(bad, {});
      FAIL("expected an exception");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_format);
    }
  }
  CHECK(alice->balance_msat() == 1'000'000);
}

TEST_CASE("devnet pay: a file locked past the timeout fails the payment, moving nothing") {
  DevnetFixture net;
  auto alice = net.open("alice");
  CreatedInvoice inv = net.open("bob")->create_invoice(request(1000));
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(net.path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  PayOptions quick;
  quick.timeout = std::chrono::milliseconds(50);
  PaymentResult r = alice->pay_invoice(inv.bolt11, quick);
  CHECK(r.status == PaymentStatus::failed);
  CHECK(mentions(r, "locked"));
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  CHECK(balances(net) == std::vector<std::uint64_t>{1'000'000, 0, 50'000});
  CHECK(alice->pay_invoice(inv.bolt11, quick).status == PaymentStatus::succeeded);
}

TEST_CASE("devnet pay: one wallet object shared by threads pays each invoice once") {
  DevnetFixture net;
  auto carol = net.open("carol");
  auto bob = net.open("bob");
  std::vector<CreatedInvoice> invoices;
  for (int i = 0; i < 20; ++i) invoices.push_back(bob->create_invoice(request(5000)));  // carol can pay 10
  std::vector<int> succeeded(4, 0);
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < succeeded.size(); ++t) {
    threads.emplace_back([&, t] {
      for (const auto& inv : invoices) {
        if (carol->pay_invoice(inv.bolt11, {}).status == PaymentStatus::succeeded) ++succeeded[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(succeeded[0] + succeeded[1] + succeeded[2] + succeeded[3] == 10);
  CHECK(balances(net) == std::vector<std::uint64_t>{1'000'000, 50'000, 0});
}
