// petalsln-payout: split what a chat service earned among the servers that did the work and
// pay their Lightning addresses, from a crash-safe ledger. Every command prints one JSON object.
//
//   petalsln-payout --wallet URI --ledger FILE accrue --amount-msat A --receipt FILE
//   petalsln-payout --wallet URI --ledger FILE pay
//   petalsln-payout --ledger FILE report

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "payout/receipt.hpp"
#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/lightning/payout_ledger.hpp"
#include "petalsln/lightning/payout_splitter.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/util/hex.hpp"

using namespace petalsln;
using nlohmann::ordered_json;

namespace {

constexpr std::int64_t kMaxMsat = 2'100'000'000'000'000'000LL;  // every bitcoin, in msat
constexpr std::size_t kMaxReceiptBytes = 1 << 20;

// The command line, as parsed: the options every command takes, then each command's own.
struct PayoutFlags {
  std::string ledger;
  std::optional<std::string> wallet;
  std::int64_t fee_bps = 0;   // range-checked by accrue, the one command that uses it
  std::int64_t fee_msat = 0;  // likewise
  std::int64_t threshold_msat = 1000;
  std::int64_t max_fee_msat = 1000;
  std::int64_t timeout_s = 15;  // range-checked by pay, the one command that uses it
  bool allow_http_loopback = false;
  std::int64_t amount_msat = 0;  // accrue
  std::string receipt;           // accrue
  bool ignore_backoff = false;   // pay
};

// Any integer: for the options whose range only the command that uses them checks, so that
// `report --fee-bps 10001` still reports.
CLI::Validator any_integer() { return cli::integer_in(INT64_MIN, INT64_MAX); }

void declare_options(CLI::App& app, PayoutFlags& f) {
  app.add_option("--ledger", f.ledger, "the payout ledger (created, mode 0600, if absent) (required)")
      ->option_text("FILE")->required()->group("Options");
  app.add_option("--wallet", f.wallet, "the wallet that pays, e.g. devnet:PATH?account=NAME (for pay)")
      ->option_text("URI")->group("Options");
  app.add_option("--fee-bps", f.fee_bps, "operator fee, basis points of the amount, 0..10000 (default 0)")
      ->option_text("N")->transform(any_integer())->group("Options");
  app.add_option("--fee-msat", f.fee_msat,
                 "operator fee, fixed part in msat (default 0); the fee is\n"
                 "min(amount, fee-msat + floor(amount * fee-bps / 10000))")
      ->option_text("N")->transform(any_integer())->group("Options");
  app.add_option("--threshold-msat", f.threshold_msat, "pay a payee once it is owed at least N msat (default 1000)")
      ->option_text("N")->transform(cli::integer_in(1, kMaxMsat))->group("Options");
  app.add_option("--max-fee-msat", f.max_fee_msat, "routing fee limit per payment on top of 1% (default 1000)")
      ->option_text("N")->transform(cli::integer_in(0, kMaxMsat))->group("Options");
  app.add_option("--timeout-s", f.timeout_s, "deadline of each LNURL request, seconds (default 15)")
      ->option_text("N")->transform(any_integer())->group("Options");
  cli::add_flag(app, "--allow-http-loopback", f.allow_http_loopback,
                "allow plain http:// to Lightning addresses on loopback hosts, with\n"
                "a port (name@127.0.0.1:8080 -> http://127.0.0.1:8080/.well-known/\n"
                "lnurlp/name); for tests and local setups only")->group("Options");
  cli::add_help_flag(app, "Options");
}

// Declares the commands after the options, so that each inherits the help flag and takes the
// program's options after its name too (`petalsln-payout report --ledger FILE`).
void declare_commands(CLI::App& app, PayoutFlags& f) {
  CLI::App* accrue = app.add_subcommand("accrue",
      "split A msat: the fee first, then the rest by block-tokens among\n"
      "the \"work\" entries of FILE (the JSON that petalsln-chat --json\n"
      "prints; at most 1 MiB). The share of entries without a Lightning\n"
      "address goes to the operator with the fee. Records it in the ledger.\n"
      "Prints {\"accrual_id\", \"amount_msat\", \"fee_msat\", \"unaddressed_msat\",\n"
      "\"payees\": {ADDRESS: MSAT}}");
  accrue->add_option("--amount-msat", f.amount_msat, "the income to split, msat (required)")
      ->option_text("A")->required()->transform(cli::integer_in(1, kMaxMsat));
  accrue->add_option("--receipt", f.receipt, "the receipt whose work it pays for (required)")->option_text("FILE")->required();
  CLI::App* pay = app.add_subcommand("pay",
      "settle payments a crash left in flight, then pay every payee owed\n"
      "at least the threshold (capped at what its address accepts).\n"
      "Needs --wallet. Prints {\"paid\": [{\"address\", \"amount_msat\",\n"
      "\"payment_hash\"}], \"failed\": [{\"address\", \"amount_msat\", \"reason\"}],\n"
      "\"pending\": [...], \"deferred\": [...]} (exit 0 even when some failed:\n"
      "they are retried later, with backoff)");
  cli::add_flag(*pay, "--ignore-backoff", f.ignore_backoff, "also try payees still backing off after a failure");
  pay->needs(app.get_option("--wallet"));
  app.add_subcommand("report",
      "prints {\"payees\": {ADDRESS: {\"owed_msat\", \"paid_msat\",\n"
      "\"in_flight_msat\", \"failures\", \"next_attempt_at\", \"last_error\"}},\n"
      "\"fees_msat\", \"accrued_msat\", \"routing_fees_msat\"}; changes nothing");
  for (CLI::App* command : app.get_subcommands({})) command->group("Commands")->fallthrough();
  // At most one command; none is reported by main() (CLI11 would say "A subcommand is
  // required" even for a misspelt one, where its "not expected: frobnicate" is clearer).
  app.require_subcommand(0, 1);
}

// Declares every option and command of petalsln-payout on @p app, bound to the fields of @p f.
void declare_flags(CLI::App& app, PayoutFlags& f) {
  cli::configure(app, "petalsln-payout [options] COMMAND [command options]");
  declare_options(app, f);
  declare_commands(app, f);
  app.footer(
      "Fault injection (for crash tests): PETALSLN_PAYOUT_CRASH_AT=before_record|after_record|\n"
      "after_pay makes pay end the process with _exit(77) at that point of the first payment.");
}

std::string hex(const PaymentHash& h) { return util::to_hex(h.data(), h.size()); }

LnurlOptions lnurl_options(const PayoutFlags& f) {
  LnurlOptions o;
  o.allow_http_loopback = f.allow_http_loopback;
  o.timeout = std::chrono::seconds(cli::check_range("--timeout-s", f.timeout_s, 1, 600));
  return o;
}

PayoutLedgerOptions ledger_options(const PayoutFlags& f) {
  PayoutLedgerOptions o;
  o.threshold_msat = static_cast<std::uint64_t>(f.threshold_msat);
  o.max_routing_fee_base_msat = static_cast<std::uint64_t>(f.max_fee_msat);
  if (const char* crash = std::getenv("PETALSLN_PAYOUT_CRASH_AT"); crash != nullptr && *crash != '\0') {
    const std::string at = crash;
    if (at != "before_record" && at != "after_record" && at != "after_pay") {
      throw cli::UsageError("PETALSLN_PAYOUT_CRASH_AT must be before_record, after_record or after_pay, not \"" + at + "\"");
    }
    // Simulates a crash: no destructors, no flushing, exactly what a kill would leave behind.
    o.on_step = [at](PayoutStep step, const std::string&) {
      if (at == to_string(step)) ::_exit(77);
    };
  }
  return o;
}

int run_accrue(const PayoutFlags& f) {
  const auto amount = static_cast<std::uint64_t>(f.amount_msat);
  const std::string receipt = util::read_file(f.receipt, kMaxReceiptBytes);
  const auto work = payout_cli::parse_receipt_work(receipt, f.allow_http_loopback);

  // Work without an address is weighed like any other, under a name no address can have,
  // and its share then goes to the operator: a server that announced no address cannot be paid.
  std::vector<PayoutWeight> weights;
  for (std::size_t i = 0; i < work.size(); ++i) {
    weights.push_back({work[i].lightning_address.empty() ? "unaddressed#" + std::to_string(i) : work[i].lightning_address,
                       work[i].block_tokens});
  }
  std::uint64_t total_tokens = 0;
  for (const auto& w : work) total_tokens += w.block_tokens;
  if (total_tokens == 0) throw Error(ErrorCode::invalid_format, "the receipt records no block-tokens: there is no work to pay for");

  const PayoutSplitter splitter({static_cast<std::uint32_t>(cli::check_range("--fee-bps", f.fee_bps, 0, 10000)),
                                 static_cast<std::uint64_t>(cli::check_range("--fee-msat", f.fee_msat, 0, kMaxMsat))});
  PayoutSplit split = splitter.split(amount, weights);
  std::uint64_t unaddressed = 0;
  PayoutSplit to_ledger;
  for (const auto& p : split.payees) {
    if (p.payee.find('@') == std::string::npos) unaddressed += p.amount_msat;
    else to_ledger.payees.push_back(p);
  }
  to_ledger.fee_msat = split.fee_msat + unaddressed;

  PayoutLedger ledger(f.ledger, ledger_options(f));
  const std::int64_t id = ledger.accrue(to_ledger, receipt);
  ordered_json out{{"accrual_id", id}, {"amount_msat", amount}, {"fee_msat", split.fee_msat}, {"unaddressed_msat", unaddressed}};
  out["payees"] = ordered_json::object();
  for (const auto& p : to_ledger.payees) out["payees"][p.payee] = p.amount_msat;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

ordered_json failures_json(const std::vector<PayoutFailure>& list) {
  auto a = ordered_json::array();
  for (const auto& f : list) a.push_back({{"address", f.payee}, {"amount_msat", f.amount_msat}, {"reason", f.reason}});
  return a;
}

int run_pay(const PayoutFlags& f) {
  PayoutLedger ledger(f.ledger, ledger_options(f));
  auto wallet = open_wallet(*f.wallet);
  auto resolver = make_lightning_address_resolver(lnurl_options(f));
  const PayoutRun run = ledger.pay_due(*wallet, *resolver, f.ignore_backoff);
  ordered_json out;
  out["paid"] = ordered_json::array();
  for (const auto& p : run.paid) {
    out["paid"].push_back({{"address", p.payee}, {"amount_msat", p.amount_msat}, {"payment_hash", hex(p.payment_hash)}});
  }
  out["failed"] = failures_json(run.failed);
  out["pending"] = failures_json(run.pending);
  out["deferred"] = failures_json(run.deferred);
  std::printf("%s\n", out.dump(-1, ' ', false, ordered_json::error_handler_t::replace).c_str());
  return 0;
}

int run_report(const PayoutFlags& f) {
  PayoutLedger ledger(f.ledger, ledger_options(f));
  const PayoutReport r = ledger.report();
  ordered_json out;
  out["payees"] = ordered_json::object();
  for (const auto& [payee, b] : r.payees) {
    out["payees"][payee] = {{"owed_msat", b.owed_msat},       {"paid_msat", b.paid_msat},
                            {"in_flight_msat", b.in_flight_msat}, {"failures", b.failures},
                            {"next_attempt_at", b.next_attempt_at}, {"last_error", b.last_error}};
  }
  out["fees_msat"] = r.fees_msat;
  out["accrued_msat"] = r.accrued_msat;
  out["routing_fees_msat"] = r.routing_fees_msat;
  std::printf("%s\n", out.dump(-1, ' ', false, ordered_json::error_handler_t::replace).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Splits income among the servers that did the work (by block-tokens, after the operator's fee)\n"
      "and pays each server's Lightning address from a durable ledger (SQLite, WAL) that never pays\n"
      "twice and never forgets a debt, whatever point a crash interrupts. Rules: docs/PAYOUTS.md.\n"
      "Every command prints one JSON object on stdout; errors go to stderr as\n"
      "\"petalsln-payout: error: REASON\" (exit status 1; 2 for a malformed command line).",
      "petalsln-payout"};
  PayoutFlags flags;
  declare_flags(app, flags);
  return cli::run_main("petalsln-payout", [&] {
    if (!cli::parse(app, argc, argv)) return 0;
    if (app.get_subcommands().empty()) throw cli::UsageError("no command given (accrue, pay or report)");
    if (app.got_subcommand("accrue")) return run_accrue(flags);
    if (app.got_subcommand("pay")) return run_pay(flags);
    return run_report(flags);
  });
}
