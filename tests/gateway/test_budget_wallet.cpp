// The gateway's one budget for paying servers: every pipeline pays through one BudgetWallet,
// which refuses a payment past the budget (nothing paid) however many pipelines ask, even at
// once. A real devnet wallet in a temporary folder.

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gateway/budget_wallet.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

struct Accounts {
  test::TempDir dir;
  std::string db = dir.file("devnet.db");
  Accounts() {
    create_devnet_account(db, "gateway", 1'000'000);
    create_devnet_account(db, "server", 0);
  }
  std::shared_ptr<Wallet> open(const std::string& account) const { return std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=" + account)); }
  std::string invoice(std::uint64_t msat) const {
    InvoiceRequest r;
    r.amount_msat = msat;
    r.memo = "work";
    return open("server")->create_invoice(r).bolt11;
  }
};

PayOptions generous() {
  PayOptions o;
  o.max_fee_msat = 1'000'000;  // a pipeline's own limit: the budget bounds it
  return o;
}

}  // namespace

TEST_CASE("budget wallet: payments stop at the budget, fees included, nothing paid past it") {
  Accounts a;
  gateway::BudgetWallet wallet(a.open("gateway"), 50'000);
  CHECK(wallet.pay_invoice(a.invoice(30'000), generous()).status == PaymentStatus::succeeded);
  const PaymentResult refused = wallet.pay_invoice(a.invoice(30'000), generous());
  CHECK(refused.status == PaymentStatus::failed);
  CHECK(refused.failure_reason.find("budget") != std::string::npos);
  CHECK(wallet.pay_invoice(a.invoice(20'000), generous()).status == PaymentStatus::succeeded);  // exactly the rest
  CHECK(wallet.pay_invoice(a.invoice(1), generous()).status == PaymentStatus::failed);
  CHECK(wallet.spent_msat() == 50'000);
  CHECK(a.open("server")->balance_msat() == 50'000);
}

TEST_CASE("budget wallet: pipelines paying at once share the one budget") {
  Accounts a;
  auto wallet = std::make_shared<gateway::BudgetWallet>(a.open("gateway"), 50'000);
  std::vector<std::string> invoices;
  for (int i = 0; i < 6; ++i) invoices.push_back(a.invoice(30'000));
  std::atomic<int> paid{0};
  std::vector<std::thread> pipelines;
  for (const auto& bolt11 : invoices) {
    pipelines.emplace_back([&, bolt11] {
      if (wallet->pay_invoice(bolt11, generous()).status == PaymentStatus::succeeded) ++paid;
    });
  }
  for (auto& t : pipelines) t.join();
  CHECK(paid.load() == 1);
  CHECK(a.open("server")->balance_msat() == 30'000);
}
