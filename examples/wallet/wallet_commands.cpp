#include "wallet/wallet_commands.hpp"

#include <strings.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "petalsln/lightning/devnet_wallet.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

namespace petalsln::wallet_cli {
namespace {

using nlohmann::ordered_json;

// 21 million bitcoin, the most the devnet faucet hands out to one account.
constexpr std::int64_t kMaxSats = 2'100'000'000'000'000;
constexpr std::int64_t kMaxMsat = kMaxSats * 1000;

void print(const ordered_json& out) { std::printf("%s\n", out.dump().c_str()); }

std::string hex(const std::array<std::uint8_t, 32>& bytes) { return util::to_hex(bytes.data(), bytes.size()); }

void expect_operands(const std::string& command, const std::vector<std::string>& operands, std::size_t count) {
  if (operands.size() != count) {
    throw cli::UsageError(command + " takes " + (count == 0 ? std::string("no arguments") : "exactly one argument") +
                          ", got " + std::to_string(operands.size()));
  }
}

// The account create-account makes: NAME, or the URI's account, and never two different ones.
std::string account_to_create(const DevnetUri& uri, const std::vector<std::string>& operands) {
  if (operands.size() > 1) throw cli::UsageError("create-account takes one argument: the account NAME");
  if (operands.empty()) {
    if (uri.account.empty()) throw cli::UsageError("create-account needs a NAME (or ?account=NAME in --wallet)");
    return uri.account;
  }
  if (!uri.account.empty() && uri.account != operands[0]) {
    throw cli::UsageError("--wallet names account '" + uri.account + "' but create-account was given '" + operands[0] +
                          "'");
  }
  return operands[0];
}

int run_create_account(const cli::Args& args, const std::vector<std::string>& operands) {
  const std::string uri = args.required("wallet");
  if (uri.rfind("devnet:", 0) != 0) {
    throw Error(ErrorCode::unsupported,
                "create-account is the devnet faucet: it makes simulated money, so it needs a devnet: wallet URI");
  }
  const DevnetUri parsed = DevnetUri::parse(uri, false);
  const std::string name = account_to_create(parsed, operands);
  if (!args.has("fund-sats")) throw cli::UsageError("missing required option --fund-sats");
  const auto sats = static_cast<std::uint64_t>(args.integer("fund-sats", 0, 0, kMaxSats));
  const DevnetAccount account = DevnetWallet::create_account(parsed.path, name, sats * 1000);
  print({{"account", account.name}, {"balance_msat", account.balance_msat}});
  return 0;
}

int run_balance(const cli::Args& args, const std::vector<std::string>& operands) {
  expect_operands("balance", operands, 0);
  print({{"balance_msat", open_wallet(args.required("wallet"))->balance_msat()}});
  return 0;
}

// The longest expiry the CLI asks for: a year. Longer ones are almost certainly a typo.
constexpr std::int64_t kMaxExpirySeconds = 365LL * 24 * 3600;

InvoiceRequest invoice_request(const cli::Args& args) {
  if (args.has("amount-msat") == args.has("any-amount")) {
    throw cli::UsageError(args.has("any-amount") ? "give --amount-msat or --any-amount, not both"
                                                 : "missing required option --amount-msat (or --any-amount)");
  }
  if (args.has("memo") && args.has("description-hash")) {
    throw cli::UsageError("give --memo or --description-hash, not both");
  }
  InvoiceRequest req;
  if (args.has("amount-msat")) req.amount_msat = static_cast<std::uint64_t>(args.integer("amount-msat", 0, 1, kMaxMsat));
  req.expiry_s = static_cast<std::uint64_t>(
      args.integer("expiry-s", static_cast<std::int64_t>(req.expiry_s), 1, kMaxExpirySeconds));
  req.memo = args.str("memo");
  if (args.has("description-hash")) {
    std::array<std::uint8_t, 32> h{};
    try {
      util::from_hex_into(args.str("description-hash"), h.data(), h.size(), "--description-hash");
    } catch (const Error& e) {
      throw cli::UsageError(e.what());
    }
    req.description_hash = h;
  }
  return req;
}

int run_invoice(const cli::Args& args, const std::vector<std::string>& operands) {
  expect_operands("invoice", operands, 0);
  const InvoiceRequest req = invoice_request(args);
  const CreatedInvoice created = open_wallet(args.required("wallet"))->create_invoice(req);
  print({{"bolt11", created.bolt11}, {"payment_hash", hex(created.payment_hash)}});
  return 0;
}

// Wallets and QR codes often hand out "lightning:<invoice>" (BOLT #11's URI scheme).
std::string without_lightning_prefix(const std::string& text) {
  constexpr std::size_t n = sizeof("lightning:") - 1;
  return text.size() > n && strncasecmp(text.c_str(), "lightning:", n) == 0 ? text.substr(n) : text;
}

int run_pay(const cli::Args& args, const std::vector<std::string>& operands) {
  expect_operands("pay", operands, 1);
  PayOptions options;
  if (args.has("amount-msat")) options.amount_msat = static_cast<std::uint64_t>(args.integer("amount-msat", 0, 1, kMaxMsat));
  options.max_fee_msat = static_cast<std::uint64_t>(args.integer("max-fee-msat", 0, 0, kMaxMsat));
  auto wallet = open_wallet(args.required("wallet"));
  const PaymentResult r = wallet->pay_invoice(without_lightning_prefix(operands[0]), options);
  if (r.status != PaymentStatus::succeeded || !r.preimage) {
    std::fprintf(stderr, "petalsln-wallet: payment %s: %s\n", to_string(r.status), r.failure_reason.c_str());
    return 1;
  }
  print({{"payment_hash", hex(r.payment_hash)}, {"preimage", hex(*r.preimage)}, {"fee_msat", r.fee_msat}});
  return 0;
}

PaymentHash payment_hash_option(const cli::Args& args) {
  PaymentHash hash{};
  try {
    util::from_hex_into(args.required("payment-hash"), hash.data(), hash.size(), "--payment-hash");
  } catch (const Error& e) {
    throw cli::UsageError(e.what());
  }
  return hash;
}

int run_lookup_invoice(const cli::Args& args, const std::vector<std::string>& operands) {
  expect_operands("lookup-invoice", operands, 0);
  const PaymentHash hash = payment_hash_option(args);
  const InvoiceStatus s = open_wallet(args.required("wallet"))->lookup_invoice(hash);
  print({{"payment_hash", hex(s.payment_hash)},
         {"settled", s.settled},
         {"expired", s.expired},
         {"amount_paid_msat", s.amount_paid_msat},
         {"settled_at", s.settled_at}});
  return 0;
}

int run_lookup_payment(const cli::Args& args, const std::vector<std::string>& operands) {
  expect_operands("lookup-payment", operands, 0);
  const PaymentHash hash = payment_hash_option(args);
  const std::optional<PaymentResult> r = open_wallet(args.required("wallet"))->lookup_payment(hash);
  if (!r) {
    print({{"found", false}});
    return 0;
  }
  ordered_json out = {{"found", true}, {"payment_hash", hex(r->payment_hash)}, {"status", to_string(r->status)}};
  // A preimage is proof of payment: shown only for a payment that succeeded.
  if (r->status == PaymentStatus::succeeded && r->preimage) out["preimage"] = hex(*r->preimage);
  out["amount_msat"] = r->amount_msat;
  out["fee_msat"] = r->fee_msat;
  out["failure_reason"] = r->failure_reason;
  print(out);
  return 0;
}

}  // namespace

const std::vector<std::string>& wallet_command_names() {
  static const std::vector<std::string> names = {"create-account", "balance",        "invoice",
                                                 "pay",            "lookup-invoice", "lookup-payment"};
  return names;
}

bool is_wallet_command(const std::string& command) {
  for (const auto& n : wallet_command_names()) {
    if (n == command) return true;
  }
  return false;
}

void declare_wallet_options(const std::string& command, cli::Args& args) {
  if (!is_wallet_command(command)) return;
  args.option("wallet");
  if (command == "create-account") args.option("fund-sats");
  if (command == "invoice") {
    args.option("amount-msat").flag("any-amount").option("memo").option("description-hash").option("expiry-s");
  }
  if (command == "pay") args.option("amount-msat").option("max-fee-msat");
  if (command == "lookup-invoice" || command == "lookup-payment") args.option("payment-hash");
}

const char* wallet_commands_usage() {
  return R"(Wallet commands (--wallet URI required; devnet:PATH?account=NAME is the local simulated
network in one SQLite file, no real money):
  create-account [NAME] --fund-sats N
                           devnet faucet: create account NAME (default: the URI's account)
                           holding N simulated sats, creating the devnet file if needed.
                           Prints {"account", "balance_msat"}
  balance                  prints {"balance_msat"}
  invoice (--amount-msat N | --any-amount) [--memo TEXT | --description-hash HEX]
          [--expiry-s SECONDS]
                           create an invoice (--any-amount: the payer chooses the amount;
                           expiry 3600 s unless given); prints {"bolt11", "payment_hash"}
  pay BOLT11 [--amount-msat N] [--max-fee-msat N]
                           pay an invoice (--amount-msat only for invoices without an
                           amount; routing fees above --max-fee-msat, default 0, are
                           refused); prints {"payment_hash", "preimage", "fee_msat"}; a
                           refused payment exits 1 with the reason on stderr
  lookup-invoice --payment-hash HEX
                           an invoice this wallet issued; prints {"payment_hash",
                           "settled", "expired", "amount_paid_msat", "settled_at"}; an
                           unknown hash is an error (exit 1, "not found")
  lookup-payment --payment-hash HEX
                           a payment this wallet made or tried; prints {"found": false},
                           or {"found": true, "payment_hash", "status" (pending, succeeded
                           or failed), "preimage" (only when succeeded), "amount_msat",
                           "fee_msat", "failure_reason"}
)";
}

int run_wallet_command(const std::string& command, const cli::Args& args, const std::vector<std::string>& positionals) {
  if (command == "create-account") return run_create_account(args, positionals);
  if (command == "balance") return run_balance(args, positionals);
  if (command == "invoice") return run_invoice(args, positionals);
  if (command == "pay") return run_pay(args, positionals);
  if (command == "lookup-invoice") return run_lookup_invoice(args, positionals);
  if (command == "lookup-payment") return run_lookup_payment(args, positionals);
  throw cli::UsageError("unknown command \"" + command + "\"");
}

}  // namespace petalsln::wallet_cli
