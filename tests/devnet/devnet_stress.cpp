// devnet-stress: one worker process of the devnet concurrency test. Each command prints one
// JSON object on stdout; commands that race first print "ready", then wait for a go-file so
// that every worker starts paying at the same moment.
//
//   devnet-stress create-account PATH NAME FUND_MSAT [GO_FILE]
//   devnet-stress invoices URI COUNT AMOUNT_MSAT
//   devnet-stress pay URI INVOICE_FILE GO_FILE
//   devnet-stress balance URI

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lightning/wallet/devnet/devnet_wallet.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

using petalsln::DevnetWallet;
using ordered_json = nlohmann::ordered_json;

namespace {

std::uint64_t parse_u64(const std::string& s) { return std::stoull(s); }

// Says "ready" and blocks until @p go_file exists (at most a minute).
void wait_for_go(const std::string& go_file) {
  std::cout << "ready" << std::endl;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  struct stat st {};
  while (::stat(go_file.c_str(), &st) != 0) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("no go-file after a minute");
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

int create_account(const std::vector<std::string>& a) {
  if (a.size() == 4) wait_for_go(a[3]);
  ordered_json out{{"account", a[1]}};
  try {
    out["balance_msat"] = petalsln::create_devnet_account(a[0], a[1], parse_u64(a[2])).balance_msat;
    out["ok"] = true;
  } catch (const petalsln::Error& e) {
    out["ok"] = false;
    out["error"] = e.what();
  }
  std::cout << out.dump() << std::endl;
  return 0;
}

int invoices(const std::vector<std::string>& a) {
  auto wallet = DevnetWallet::open(a[0]);
  petalsln::InvoiceRequest req;
  req.amount_msat = parse_u64(a[2]);
  req.memo = "devnet stress";
  ordered_json list = ordered_json::array();
  for (std::uint64_t i = 0, n = parse_u64(a[1]); i < n; ++i) list.push_back(wallet->create_invoice(req).bolt11);
  std::cout << ordered_json{{"invoices", list}}.dump() << std::endl;
  return 0;
}

std::string hex(const std::array<std::uint8_t, 32>& b) { return petalsln::util::to_hex(b.data(), b.size()); }

int pay(const std::vector<std::string>& a) {
  auto wallet = DevnetWallet::open(a[0]);
  std::ifstream in(a[1]);
  std::vector<std::string> bolt11s;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) bolt11s.push_back(line);
  }
  wait_for_go(a[2]);
  ordered_json paid = ordered_json::array();
  std::map<std::string, int> failures;
  for (const auto& b : bolt11s) {
    const petalsln::PaymentResult r = wallet->pay_invoice(b, {});
    if (r.status == petalsln::PaymentStatus::succeeded) {
      paid.push_back({{"payment_hash", hex(r.payment_hash)}, {"preimage", hex(*r.preimage)}, {"amount_msat", r.amount_msat}});
    } else {
      ++failures[r.failure_reason];
    }
  }
  std::cout << ordered_json{{"paid", paid}, {"failures", failures}, {"balance_msat", wallet->balance_msat()}}.dump()
            << std::endl;
  return 0;
}

int balance(const std::vector<std::string>& a) {
  std::cout << ordered_json{{"balance_msat", DevnetWallet::open(a[0])->balance_msat()}}.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: devnet-stress create-account|invoices|pay|balance ARGS...\n";
    return 2;
  }
  const std::string cmd = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (cmd == "create-account" && (args.size() == 3 || args.size() == 4)) return create_account(args);
    if (cmd == "invoices" && args.size() == 3) return invoices(args);
    if (cmd == "pay" && args.size() == 3) return pay(args);
    if (cmd == "balance" && args.size() == 1) return balance(args);
  } catch (const std::exception& e) {
    std::cerr << "devnet-stress " << cmd << ": " << e.what() << "\n";
    return 1;
  }
  std::cerr << "devnet-stress: bad command line\n";
  return 2;
}
