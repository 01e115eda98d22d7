#include "wallet/wallet_commands.hpp"

#include <strings.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "petalsln/lightning/devnet.hpp"
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

int run_create_account(const WalletFlags& f) {
  const std::string& uri = *f.wallet;
  if (uri.rfind("devnet:", 0) != 0) {
    throw Error(ErrorCode::unsupported,
                "create-account is the devnet faucet: it makes simulated money, so it needs a devnet: wallet URI");
  }
  const DevnetUri parsed = DevnetUri::parse(uri, false);
  const std::string name = account_to_create(parsed, f.operands);
  const auto sats = static_cast<std::uint64_t>(*f.fund_sats);
  const DevnetAccount account = create_devnet_account(parsed.path, name, sats * 1000);
  print({{"account", account.name}, {"balance_msat", account.balance_msat}});
  return 0;
}

int run_balance(const WalletFlags& f) {
  print({{"balance_msat", open_wallet(*f.wallet)->balance_msat()}});
  return 0;
}

// The longest expiry the CLI asks for: a year. Longer ones are almost certainly a typo.
constexpr std::int64_t kMaxExpirySeconds = 365LL * 24 * 3600;

InvoiceRequest invoice_request(const WalletFlags& f) {
  if (f.amount_msat.has_value() == f.any_amount) {
    throw cli::UsageError(f.any_amount ? "give --amount-msat or --any-amount, not both"
                                       : "missing required option --amount-msat (or --any-amount)");
  }
  if (f.memo && f.description_hash) {
    throw cli::UsageError("give --memo or --description-hash, not both");
  }
  InvoiceRequest req;
  if (f.amount_msat) req.amount_msat = static_cast<std::uint64_t>(*f.amount_msat);
  if (f.expiry_s) req.expiry = std::chrono::seconds(*f.expiry_s);
  req.memo = f.memo.value_or("");
  if (f.description_hash) {
    std::array<std::uint8_t, 32> h{};
    try {
      util::from_hex_into(*f.description_hash, h.data(), h.size(), "--description-hash");
    } catch (const Error& e) {
      throw cli::UsageError(e.what());
    }
    req.description_hash = h;
  }
  return req;
}

int run_invoice(const WalletFlags& f) {
  const InvoiceRequest req = invoice_request(f);
  const CreatedInvoice created = open_wallet(*f.wallet)->create_invoice(req);
  print({{"bolt11", created.bolt11}, {"payment_hash", hex(created.payment_hash)}});
  return 0;
}

// Wallets and QR codes often hand out "lightning:<invoice>" (BOLT #11's URI scheme).
std::string without_lightning_prefix(const std::string& text) {
  constexpr std::size_t n = sizeof("lightning:") - 1;
  return text.size() > n && strncasecmp(text.c_str(), "lightning:", n) == 0 ? text.substr(n) : text;
}

int run_pay(const WalletFlags& f) {
  if (f.operands.size() != 1) {
    throw cli::UsageError("pay takes exactly one argument, got " + std::to_string(f.operands.size()));
  }
  PayOptions options;
  if (f.amount_msat) options.amount_msat = static_cast<std::uint64_t>(*f.amount_msat);
  options.max_fee_msat = static_cast<std::uint64_t>(f.max_fee_msat.value_or(0));
  auto wallet = open_wallet(*f.wallet);
  const PaymentResult r = wallet->pay_invoice(without_lightning_prefix(f.operands[0]), options);
  if (r.status != PaymentStatus::succeeded || !r.preimage) {
    std::fprintf(stderr, "petalsln-wallet: payment %s: %s\n", to_string(r.status), r.failure_reason.c_str());
    return 1;
  }
  print({{"payment_hash", hex(r.payment_hash)}, {"preimage", hex(*r.preimage)}, {"fee_msat", r.fee_msat}});
  return 0;
}

PaymentHash payment_hash_option(const WalletFlags& f) {
  PaymentHash hash{};
  try {
    util::from_hex_into(*f.payment_hash, hash.data(), hash.size(), "--payment-hash");
  } catch (const Error& e) {
    throw cli::UsageError(e.what());
  }
  return hash;
}

int run_lookup_invoice(const WalletFlags& f) {
  const PaymentHash hash = payment_hash_option(f);
  const InvoiceStatus s = open_wallet(*f.wallet)->lookup_invoice(hash);
  print({{"payment_hash", hex(s.payment_hash)},
         {"settled", s.settled},
         {"expired", s.expired},
         {"amount_paid_msat", s.amount_paid_msat},
         {"settled_at", s.settled_at}});
  return 0;
}

int run_lookup_payment(const WalletFlags& f) {
  const PaymentHash hash = payment_hash_option(f);
  const std::optional<PaymentResult> r = open_wallet(*f.wallet)->lookup_payment(hash);
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

// Adds the wallet command @p name with @p description, listed under the wallet commands'
// heading, taking --wallet (required) also after its name.
CLI::App* add_wallet_command(CLI::App& app, const std::string& name, const std::string& description) {
  return app.add_subcommand(name, description)
      ->group("Wallet commands (--wallet URI required; devnet:PATH?account=NAME is the local simulated\n"
              "network in one SQLite file, no real money)")
      ->fallthrough()
      ->needs(app.get_option("--wallet"));
}

CLI::Option* add_msat_option(CLI::App& command, const std::string& name, std::optional<std::int64_t>& target,
                             std::int64_t lo, const std::string& description) {
  return command.add_option(name, target, description)->option_text("N")->transform(cli::integer_in(lo, kMaxMsat));
}

void declare_create_account(CLI::App& app, WalletFlags& f) {
  CLI::App* command = add_wallet_command(app, "create-account",
      "devnet faucet: create account NAME (default: the URI's account)\n"
      "holding N simulated sats, creating the devnet file if needed.\n"
      "Prints {\"account\", \"balance_msat\"}");
  command->add_option("NAME", f.operands)->option_text("[NAME]");
  command->add_option("--fund-sats", f.fund_sats, "the simulated sats the account starts with (required)")
      ->option_text("N")->required()->transform(cli::integer_in(0, kMaxSats));
}

void declare_invoice(CLI::App& app, WalletFlags& f) {
  CLI::App* command = add_wallet_command(app, "invoice",
      "create an invoice (--any-amount: the payer chooses the amount;\n"
      "expiry 3600 s unless given); prints {\"bolt11\", \"payment_hash\"}");
  add_msat_option(*command, "--amount-msat", f.amount_msat, 1, "the amount (or --any-amount)");
  cli::add_flag(*command, "--any-amount", f.any_amount, "an invoice without an amount: the payer chooses it");
  command->add_option("--memo", f.memo, "the description (or --description-hash)")->option_text("TEXT");
  command->add_option("--description-hash", f.description_hash, "SHA-256 of a description given elsewhere, 64 hex digits")
      ->option_text("HEX");
  command->add_option("--expiry-s", f.expiry_s, "seconds until the invoice expires (default 3600)")
      ->option_text("SECONDS")->transform(cli::integer_in(1, kMaxExpirySeconds));
}

void declare_pay(CLI::App& app, WalletFlags& f) {
  CLI::App* command = add_wallet_command(app, "pay",
      "pay an invoice; prints {\"payment_hash\", \"preimage\", \"fee_msat\"}; a\n"
      "refused payment exits 1 with the reason on stderr");
  command->add_option("BOLT11", f.operands)->option_text("BOLT11");
  add_msat_option(*command, "--amount-msat", f.amount_msat, 1, "the amount, only for invoices without one");
  add_msat_option(*command, "--max-fee-msat", f.max_fee_msat, 0, "routing fees above this (default 0) are refused");
}

void declare_lookups(CLI::App& app, WalletFlags& f) {
  CLI::App* invoice = add_wallet_command(app, "lookup-invoice",
      "an invoice this wallet issued; prints {\"payment_hash\",\n"
      "\"settled\", \"expired\", \"amount_paid_msat\", \"settled_at\"}; an\n"
      "unknown hash is an error (exit 1, \"not found\")");
  CLI::App* payment = add_wallet_command(app, "lookup-payment",
      "a payment this wallet made or tried; prints {\"found\": false},\n"
      "or {\"found\": true, \"payment_hash\", \"status\" (pending, succeeded\n"
      "or failed), \"preimage\" (only when succeeded), \"amount_msat\",\n"
      "\"fee_msat\", \"failure_reason\"}");
  for (CLI::App* command : {invoice, payment}) {
    command->add_option("--payment-hash", f.payment_hash, "the payment hash, 64 hex digits (required)")
        ->option_text("HEX")->required();
  }
}

}  // namespace

void declare_wallet_commands(CLI::App& app, WalletFlags& flags) {
  declare_create_account(app, flags);
  add_wallet_command(app, "balance", "prints {\"balance_msat\"}");
  declare_invoice(app, flags);
  declare_pay(app, flags);
  declare_lookups(app, flags);
}

int run_wallet_command(const CLI::App& app, const WalletFlags& flags) {
  if (app.got_subcommand("create-account")) return run_create_account(flags);
  if (app.got_subcommand("balance")) return run_balance(flags);
  if (app.got_subcommand("invoice")) return run_invoice(flags);
  if (app.got_subcommand("pay")) return run_pay(flags);
  if (app.got_subcommand("lookup-invoice")) return run_lookup_invoice(flags);
  if (app.got_subcommand("lookup-payment")) return run_lookup_payment(flags);
  throw cli::UsageError("no wallet command given");
}

}  // namespace petalsln::wallet_cli
