// Splitting a message's income among the servers on its route (issue 14, item 4): the
// shares and the fee add up to the income exactly, a server without a usable Lightning
// address keeps its share with the gateway, the ledger gets the addressed shares by address,
// the receipt's JSON has the shape clients render, and a server's earnings combine the
// ledger, the kept shares and paywall payments. Then Earnings on a real ledger file.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <map>
#include <string>

#include "gateway/earnings.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;
using namespace petalsln::gateway;

namespace {

TextResult message(std::vector<ServerWork> work) {
  TextResult r;
  r.prompt_tokens = 12;
  r.new_ids = {1, 2, 3, 4, 5};
  for (const auto& w : work) r.block_tokens += w.block_tokens;
  r.work = std::move(work);
  return r;
}

ServerWork server(const std::string& peer, std::uint32_t begin, std::uint32_t end, std::uint64_t block_tokens, const std::string& address) {
  return {peer, "name-" + peer, begin, end, block_tokens, address};
}

std::uint64_t shares(const MessageReceipt& r) {
  std::uint64_t total = r.fee_msat;
  for (const auto& s : r.route) total += s.earned_msat;
  return total;
}

}  // namespace

TEST_CASE("earnings: a message's income is split by block-tokens after the fee, to the msat") {
  const PayoutSplitter splitter({250, 7});  // 2.5% + 7 msat
  const auto result = message({server("aa", 0, 3, 51, "a@example.com"), server("bb", 3, 6, 51, "b@example.com"), server("cc", 6, 8, 34, "c@example.com")});
  for (std::uint64_t income : {0ull, 1ull, 7ull, 8ull, 170ull, 999ull, 12345ull, 1'000'003ull}) {
    const MessageReceipt r = split_message(result, 17, income, 10000, &splitter, false);
    CHECK(r.fee_msat == splitter.fee_for(income));
    CHECK(shares(r) == income);
    CHECK(r.route[0].earned_msat - r.route[1].earned_msat <= 1);  // equal work: within the msat, ties by name
    CHECK(r.route[0].earned_msat >= r.route[1].earned_msat);
    CHECK(r.route[0].earned_msat >= r.route[2].earned_msat);
    const PayoutSplit ledger = ledger_split(r);
    std::uint64_t total = ledger.fee_msat;
    for (const auto& p : ledger.payees) total += p.amount_msat;
    CHECK(total == income);
    CHECK(ledger.fee_msat == r.fee_msat);
  }
  const MessageReceipt r = split_message(result, 17, 1360, 80000, &splitter, false);
  // fee 7 + 34 = 41; 1319 by 51:51:34 -> 494.6, 494.6, 329.7 -> 494, 494, 329 + 2 left over
  CHECK(r.fee_msat == 41);
  CHECK(r.route[0].earned_msat + r.route[1].earned_msat + r.route[2].earned_msat == 1319);
  CHECK(r.route[0].earned_msat == 495);  // remainders .625, .625, .75: cc first, then aa before bb by name
  CHECK(r.route[1].earned_msat == 494);
  CHECK(r.route[2].earned_msat == 330);
  CHECK(r.prompt_tokens == 12);
  CHECK(r.generated_tokens == 5);
  CHECK(r.block_tokens == 136);
}

TEST_CASE("earnings: a server without a usable address keeps its share with the gateway") {
  const PayoutSplitter splitter({0, 0});
  const auto result = message({server("aa", 0, 4, 30, ""), server("bb", 4, 8, 10, "b@127.0.0.1:9999"), server("cc", 0, 0, 0, "c@example.com")});
  MessageReceipt r = split_message(result, 17, 4000, 10000, &splitter, /*allow_http_loopback=*/false);
  CHECK(r.route[0].earned_msat == 3000);
  CHECK(r.route[0].unpaid_reason.find("no Lightning address") != std::string::npos);
  CHECK(r.route[1].earned_msat == 1000);
  CHECK(r.route[1].unpaid_reason.find("not usable") != std::string::npos);  // a loopback address, not allowed here
  CHECK(r.route[2].earned_msat == 0);
  PayoutSplit ledger = ledger_split(r);
  CHECK(ledger.payees.empty());
  CHECK(ledger.fee_msat == 4000);
  r = split_message(result, 17, 4000, 10000, &splitter, /*allow_http_loopback=*/true);
  CHECK(r.route[1].unpaid_reason.empty());
  ledger = ledger_split(r);
  REQUIRE(ledger.payees.size() == 1);
  CHECK(ledger.payees[0].payee == "b@127.0.0.1:9999");
  CHECK(ledger.payees[0].amount_msat == 1000);
  CHECK(ledger.fee_msat == 3000);
}

TEST_CASE("earnings: why a server cannot be paid") {
  CHECK(unpaid_reason("", false) == "it announced no Lightning address");
  CHECK(unpaid_reason("alice@example.com", false).empty());
  CHECK(unpaid_reason("Alice@Example.com", false).empty());  // addresses are case-insensitive
  CHECK(unpaid_reason("alice@127.0.0.1:8080", true).empty());
  CHECK(unpaid_reason("alice@127.0.0.1:8080", false).find("not usable") != std::string::npos);
  CHECK(unpaid_reason("no-at-sign", false).find("not usable") != std::string::npos);
  CHECK(unpaid_reason("a b@example.com", false).find("not usable") != std::string::npos);
}

TEST_CASE("earnings: no splitter or no work: the gateway keeps all of it") {
  const PayoutSplitter splitter({0, 0});
  const MessageReceipt none = split_message(message({server("aa", 0, 8, 40, "a@example.com")}), 17, 500, 10000, nullptr, false);
  CHECK(none.fee_msat == 500);
  CHECK(none.route[0].earned_msat == 0);
  const MessageReceipt local = split_message(message({}), 17, 500, 10000, &splitter, false);
  CHECK(local.fee_msat == 500);
  CHECK(local.route.empty());
  CHECK(ledger_split(local).fee_msat == 500);
}

TEST_CASE("earnings: two servers with one address are one payee in the ledger") {
  const PayoutSplitter splitter({1000, 0});
  const MessageReceipt r =
      split_message(message({server("aa", 0, 4, 10, "x@example.com"), server("bb", 4, 8, 10, "x@example.com")}), 17, 1000, 10000, &splitter, false);
  const PayoutSplit ledger = ledger_split(r);
  REQUIRE(ledger.payees.size() == 1);
  CHECK(ledger.payees[0].amount_msat == 900);
  CHECK(ledger.fee_msat == 100);
}

TEST_CASE("earnings: the receipt's JSON") {
  const PayoutSplitter splitter({0, 100});
  const auto j = receipt_json(split_message(message({server("aa", 0, 8, 136, "")}), 17, 1170, 10000 * 10 / 10, &splitter, false));
  CHECK(j["prompt_tokens"] == 12);
  CHECK(j["generated_tokens"] == 5);
  CHECK(j["block_tokens"] == 136);
  CHECK(j["charged_tokens"] == 17);
  CHECK(j["charged_msat"] == 1170);
  CHECK(j["price_msat_per_1k_tokens"] == 10000);
  CHECK(j["fee_msat"] == 100);
  REQUIRE(j["route"].size() == 1);
  const auto& hop = j["route"][0];
  CHECK(hop["peer"] == "aa");
  CHECK(hop["name"] == "name-aa");
  CHECK(hop["blocks"] == nlohmann::ordered_json::array({0, 8}));
  CHECK(hop["block_tokens"] == 136);
  CHECK(hop["earned_msat"] == 1070);
  CHECK(hop["lightning_address"].is_null());
  CHECK(hop["paid_to_address"] == false);
}

TEST_CASE("earnings: a server's standing combines the ledger, kept shares and paywall payments") {
  PayoutReport ledger;
  ledger.payees["a@example.com"] = {500, 2000, 300, 0, 0, ""};
  const std::map<std::string, std::uint64_t> kept{{"bb", 700}};
  const std::map<std::string, std::uint64_t> paywall{{"aa", 40}, {"bb", 60}};
  const ServerEarnings a = server_earnings(ledger, kept, paywall, "aa", "a@example.com");
  CHECK(a.accrued_msat == 500 + 2000 + 300 + 40);
  CHECK(a.paid_msat == 2000 + 40);
  CHECK(a.owed_msat == 500);
  CHECK(a.in_flight_msat == 300);
  const ServerEarnings b = server_earnings(ledger, kept, paywall, "bb", "");
  CHECK(b.accrued_msat == 760);
  CHECK(b.paid_msat == 60);
  CHECK(b.kept_msat == 700);
  const ServerEarnings c = server_earnings(ledger, kept, paywall, "cc", "c@example.com");
  CHECK(c.accrued_msat == 0);
}

TEST_CASE("earnings: messages accrue in a 0600 ledger; without one nothing is accrued") {
  test::TempDir dir;
  GatewayOptions o;
  o.price_msat_per_1k_tokens = 10000;
  {
    Earnings off(o);
    CHECK_FALSE(off.enabled());
    CHECK(off.settle(message({server("aa", 0, 8, 10, "a@example.com")}), 17, 170).fee_msat == 170);
    CHECK(off.report().accrued_msat == 0);
  }
  o.payout_ledger = dir.file("ledger.db");
  CHECK_THROWS_AS(Earnings{o}, Error);  // no wallet to pay from
  create_devnet_account(dir.file("devnet.db"), "gateway", 0);
  o.wallet = std::shared_ptr<Wallet>(open_wallet("devnet:" + dir.file("devnet.db") + "?account=gateway"));
  o.payout_fee = {1000, 0};
  o.payout_interval = std::chrono::seconds(3600);
  Earnings on(o);
  CHECK(on.enabled());
  const MessageReceipt r = on.settle(message({server("aa", 0, 4, 30, "a@example.com"), server("bb", 4, 8, 10, "")}), 17, 1000);
  CHECK(r.fee_msat == 100);
  const PayoutReport report = on.report();
  CHECK(report.accrued_msat == 1000);
  CHECK(report.payees.at("a@example.com").owed_msat == 675);
  CHECK(report.fees_msat == 325);
  CHECK(on.kept_msat().at("bb") == 225);
  struct stat st {};
  REQUIRE(::stat(o.payout_ledger.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  on.stop();
}
