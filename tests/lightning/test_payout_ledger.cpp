// PayoutLedger against a real devnet wallet and an injected resolver: accrual, threshold,
// payment, a simulated crash at every step followed by a restart, failures with backoff, the
// resolver's invoice checked again, and files that are not ledgers.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <map>
#include <string>

#include "devnet_test_support.hpp"
#include "petalsln/lightning/payout_ledger.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;
using petalsln::test::DevnetFixture;

namespace {

// Issues invoices from the payee's devnet account (payee names are account names), or fails
// / lies on request.
struct DevnetResolver final : PayeeResolver {
  const DevnetFixture& net;
  std::map<std::string, std::string> fail;  // payee -> reason
  std::uint64_t extra_msat = 0;             // added to the invoice's amount: a lying payee
  std::uint64_t max_msat = UINT64_MAX;
  explicit DevnetResolver(const DevnetFixture& n) : net(n) {}
  PayeeTerms terms(const std::string& payee) override {
    if (auto it = fail.find(payee); it != fail.end()) throw Error(ErrorCode::io, it->second);
    return {1, max_msat};
  }
  std::string invoice(const std::string& payee, std::uint64_t amount_msat) override {
    InvoiceRequest r;
    r.amount_msat = amount_msat + extra_msat;
    r.memo = "payout";
    return net.open(payee)->create_invoice(r).bolt11;
  }
};

struct CrashAt {};  // thrown by the step hook: nothing after the step runs, as in a crash

void check_accounting(const PayoutReport& r) {
  std::uint64_t sum = r.fees_msat;
  for (const auto& [payee, b] : r.payees) sum += b.owed_msat + b.in_flight_msat + b.paid_msat;
  CHECK(sum == r.accrued_msat);
}

PayoutSplit split_of(std::uint64_t fee, std::initializer_list<PayoutAmount> payees) { return PayoutSplit{fee, payees}; }

}  // namespace

TEST_CASE("payout ledger: accrue, threshold, pay once") {
  DevnetFixture net;
  DevnetResolver resolver(net);
  auto alice = net.open("alice");
  PayoutLedgerOptions o;
  o.threshold_msat = 1000;
  o.clock = net.time.clock();
  PayoutLedger ledger(net.dir.file("ledger.db"), o);
  struct stat st {};
  REQUIRE(::stat(net.dir.file("ledger.db").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  ledger.accrue(split_of(10, {{"bob", 700}, {"carol", 1500}, {"nobody", 0}}), R"({"work": []})");
  auto run = ledger.pay_due(*alice, resolver);
  REQUIRE(run.paid.size() == 1);
  CHECK(run.paid[0].payee == "carol");
  CHECK(run.paid[0].amount_msat == 1500);
  CHECK(net.open("carol")->balance_msat() == 50'000 + 1500);
  CHECK(net.open("bob")->balance_msat() == 0);  // 700 < threshold

  ledger.accrue(split_of(0, {{"bob", 400}}), "second");
  run = ledger.pay_due(*alice, resolver);
  REQUIRE(run.paid.size() == 1);
  CHECK(run.paid[0].amount_msat == 1100);
  CHECK(net.open("bob")->balance_msat() == 1100);
  CHECK(ledger.pay_due(*alice, resolver).paid.empty());
  const auto r = ledger.report();
  CHECK(r.accrued_msat == 10 + 700 + 1500 + 400);
  CHECK(r.fees_msat == 10);
  CHECK(r.payees.at("bob").paid_msat == 1100);
  CHECK(r.payees.count("nobody") == 0);
  check_accounting(r);
  CHECK(alice->balance_msat() == 1'000'000 - 1100 - 1500);

  CHECK_THROWS_AS(ledger.accrue(split_of(0, {{"", 5}}), ""), Error);
  CHECK_THROWS_AS(ledger.accrue(split_of(0, {{"x", 5}}), std::string((1 << 20) + 1, 'r')), Error);
  CHECK_THROWS_AS(ledger.accrue(split_of(UINT64_MAX, {{"x", 5}}), ""), Error);
  CHECK_THROWS_AS(ledger.accrue(split_of(0, {{"x", 5}, {"x", 6}}), ""), Error);  // rolled back whole
  check_accounting(ledger.report());
  CHECK(ledger.report().accrued_msat == 10 + 700 + 1500 + 400);
}

TEST_CASE("payout ledger: a crash at every step, then a restart, pays exactly once") {
  for (PayoutStep step : {PayoutStep::before_record, PayoutStep::after_record, PayoutStep::after_pay}) {
    CAPTURE(to_string(step));
    DevnetFixture net;
    DevnetResolver resolver(net);
    auto alice = net.open("alice");
    const std::string path = net.dir.file("ledger.db");
    {
      PayoutLedgerOptions o;
      o.clock = net.time.clock();
      o.on_step = [step](PayoutStep s, const std::string&) {
        if (s == step) throw CrashAt{};
      };
      PayoutLedger ledger(path, o);
      ledger.accrue(split_of(5, {{"bob", 3000}, {"carol", 2000}}), "r");
      CHECK_THROWS_AS(ledger.pay_due(*alice, resolver), CrashAt);
      const auto mid = ledger.report();
      check_accounting(mid);
      CHECK(mid.payees.at("bob").in_flight_msat == (step == PayoutStep::before_record ? 0u : 3000u));
    }
    PayoutLedgerOptions o;
    o.clock = net.time.clock();
    PayoutLedger ledger(path, o);  // the restart
    ledger.pay_due(*alice, resolver);
    ledger.pay_due(*alice, resolver);
    CHECK(net.open("bob")->balance_msat() == 3000);
    CHECK(net.open("carol")->balance_msat() == 50'000 + 2000);
    CHECK(alice->balance_msat() == 1'000'000 - 5000);
    const auto r = ledger.report();
    check_accounting(r);
    CHECK(r.payees.at("bob").paid_msat == 3000);
    CHECK(r.payees.at("bob").owed_msat == 0);
    CHECK(r.payees.at("bob").in_flight_msat == 0);
    CHECK(r.payees.at("carol").paid_msat == 2000);
  }
}

TEST_CASE("payout ledger: failures back off and keep the debt; a lying invoice is never recorded") {
  DevnetFixture net;
  DevnetResolver resolver(net);
  auto alice = net.open("alice");
  PayoutLedgerOptions o;
  o.clock = net.time.clock();
  o.backoff_initial = std::chrono::seconds(60);
  o.backoff_max = std::chrono::seconds(200);
  PayoutLedger ledger(net.dir.file("ledger.db"), o);
  ledger.accrue(split_of(0, {{"bob", 5000}}), "r");

  resolver.fail["bob"] = "address unreachable";
  auto run = ledger.pay_due(*alice, resolver);
  REQUIRE(run.failed.size() == 1);
  CHECK(run.failed[0].reason.find("address unreachable") != std::string::npos);
  auto b = ledger.report().payees.at("bob");
  CHECK(b.failures == 1);
  CHECK(b.next_attempt_at == *net.time.now + 60);
  CHECK(b.owed_msat == 5000);
  CHECK(ledger.pay_due(*alice, resolver).deferred.size() == 1);  // backing off
  *net.time.now += 61;
  ledger.pay_due(*alice, resolver);
  CHECK(ledger.report().payees.at("bob").next_attempt_at == *net.time.now + 120);
  *net.time.now += 121;
  ledger.pay_due(*alice, resolver);
  CHECK(ledger.report().payees.at("bob").next_attempt_at == *net.time.now + 200);  // capped

  resolver.fail.clear();
  resolver.extra_msat = 1;  // the payee's invoice asks for more than owed
  run = ledger.pay_due(*alice, resolver, /*ignore_backoff=*/true);
  REQUIRE(run.failed.size() == 1);
  CHECK(run.failed[0].reason.find("not for the 5000 msat") != std::string::npos);
  CHECK(net.open("bob")->balance_msat() == 0);
  CHECK(ledger.report().payees.at("bob").in_flight_msat == 0);

  // A payee accepting less than owed is paid in parts.
  resolver.extra_msat = 0;
  resolver.max_msat = 3000;
  run = ledger.pay_due(*alice, resolver, true);
  REQUIRE(run.paid.size() == 1);
  CHECK(run.paid[0].amount_msat == 3000);
  CHECK(ledger.report().payees.at("bob").owed_msat == 2000);
  CHECK(ledger.report().payees.at("bob").failures == 0);
  ledger.pay_due(*alice, resolver, true);
  CHECK(net.open("bob")->balance_msat() == 5000);
  check_accounting(ledger.report());

  // A wallet that cannot pay (no funds): the payment fails, the debt returns to owed.
  resolver.max_msat = UINT64_MAX;
  ledger.accrue(split_of(0, {{"carol", 60'000}}), "r");
  auto bob = net.open("bob");  // holds 5000 msat only
  run = ledger.pay_due(*bob, resolver, true);
  REQUIRE(run.failed.size() == 1);
  const auto c = ledger.report().payees.at("carol");
  CHECK(c.owed_msat == 60'000);
  CHECK(c.in_flight_msat == 0);
  CHECK(c.last_error.find("payment failed") != std::string::npos);
  check_accounting(ledger.report());
}

TEST_CASE("payout ledger: refuses files that are not payout ledgers") {
  DevnetFixture net;
  CHECK_THROWS_AS(PayoutLedger(net.path), Error);  // a devnet wallet file
  try {
    PayoutLedger l(net.path);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(std::string(e.what()).find("not a petalsln payout ledger") != std::string::npos);
  }
  const std::string text = net.dir.file("text.db");
  test::write_file(text, "hello, this is not sqlite at all, not even close to it.........................................");
  CHECK_THROWS_AS(PayoutLedger{text}, Error);
  PayoutLedgerOptions bad;
  bad.backoff_initial = std::chrono::seconds(0);
  CHECK_THROWS_AS(PayoutLedger(net.dir.file("x.db"), bad), Error);
}
