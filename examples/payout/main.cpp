// petalsln-payout: split what a chat service earned among the servers that did the work and
// pay their Lightning addresses, from a crash-safe ledger. Every command prints one JSON object.
//
//   petalsln-payout --wallet URI --ledger FILE accrue --amount-msat A --receipt FILE
//   petalsln-payout --wallet URI --ledger FILE pay
//   petalsln-payout --ledger FILE report

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
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

const char* kUsage = R"(usage: petalsln-payout [options] COMMAND [command options]

Splits income among the servers that did the work (by block-tokens, after the operator's fee)
and pays each server's Lightning address from a durable ledger (SQLite, WAL) that never pays
twice and never forgets a debt, whatever point a crash interrupts. Rules: docs/PAYOUTS.md.
Every command prints one JSON object on stdout; errors go to stderr as
"petalsln-payout: error: REASON" (exit status 1; 2 for a malformed command line).

Commands:
  accrue --amount-msat A --receipt FILE
                         split A msat: the fee first, then the rest by block-tokens among
                         the "work" entries of FILE (the JSON that petalsln-chat --json
                         prints; at most 1 MiB). The share of entries without a Lightning
                         address goes to the operator with the fee. Records it in the ledger.
                         Prints {"accrual_id", "amount_msat", "fee_msat", "unaddressed_msat",
                         "payees": {ADDRESS: MSAT}}
  pay                    settle payments a crash left in flight, then pay every payee owed
                         at least the threshold (capped at what its address accepts).
                         Needs --wallet. Prints {"paid": [{"address", "amount_msat",
                         "payment_hash"}], "failed": [{"address", "amount_msat", "reason"}],
                         "pending": [...], "deferred": [...]} (exit 0 even when some failed:
                         they are retried later, with backoff)
    --ignore-backoff     also try payees still backing off after a failure
  report                 prints {"payees": {ADDRESS: {"owed_msat", "paid_msat",
                         "in_flight_msat", "failures", "next_attempt_at", "last_error"}},
                         "fees_msat", "accrued_msat", "routing_fees_msat"}; changes nothing

Options:
  --ledger FILE          the payout ledger (created, mode 0600, if absent) (required)
  --wallet URI           the wallet that pays, e.g. devnet:PATH?account=NAME (for pay)
  --fee-bps N            operator fee, basis points of the amount, 0..10000 (default 0)
  --fee-msat N           operator fee, fixed part in msat (default 0); the fee is
                         min(amount, fee-msat + floor(amount * fee-bps / 10000))
  --threshold-msat N     pay a payee once it is owed at least N msat (default 1000)
  --max-fee-msat N       routing fee limit per payment on top of 1% (default 1000)
  --timeout-s N          deadline of each LNURL request, seconds (default 15)
  --allow-http-loopback  allow plain http:// to Lightning addresses on loopback hosts, with
                         a port (name@127.0.0.1:8080 -> http://127.0.0.1:8080/.well-known/
                         lnurlp/name); for tests and local setups only
  -h, --help             show this help

Fault injection (for crash tests): PETALSLN_PAYOUT_CRASH_AT=before_record|after_record|
after_pay makes pay end the process with _exit(77) at that point of the first payment.
)";

constexpr std::int64_t kMaxMsat = 2'100'000'000'000'000'000LL;  // every bitcoin, in msat
constexpr std::size_t kMaxReceiptBytes = 1 << 20;

std::string hex(const PaymentHash& h) { return util::to_hex(h.data(), h.size()); }

LnurlOptions lnurl_options(const cli::Args& args) {
  LnurlOptions o;
  o.allow_http_loopback = args.has("allow-http-loopback");
  o.timeout = std::chrono::seconds(args.integer("timeout-s", 15, 1, 600));
  return o;
}

PayoutLedgerOptions ledger_options(const cli::Args& args) {
  PayoutLedgerOptions o;
  o.threshold_msat = static_cast<std::uint64_t>(args.integer("threshold-msat", 1000, 1, kMaxMsat));
  o.max_routing_fee_base_msat = static_cast<std::uint64_t>(args.integer("max-fee-msat", 1000, 0, kMaxMsat));
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

int run_accrue(const cli::Args& args) {
  const auto amount = static_cast<std::uint64_t>(args.integer("amount-msat", 0, 1, kMaxMsat));
  if (!args.has("amount-msat")) throw cli::UsageError("accrue needs --amount-msat");
  const std::string receipt = util::read_file(args.required("receipt"), kMaxReceiptBytes);
  const auto work = payout_cli::parse_receipt_work(receipt, args.has("allow-http-loopback"));

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

  const PayoutSplitter splitter({static_cast<std::uint32_t>(args.integer("fee-bps", 0, 0, 10000)),
                                 static_cast<std::uint64_t>(args.integer("fee-msat", 0, 0, kMaxMsat))});
  PayoutSplit split = splitter.split(amount, weights);
  std::uint64_t unaddressed = 0;
  PayoutSplit to_ledger;
  for (const auto& p : split.payees) {
    if (p.payee.find('@') == std::string::npos) unaddressed += p.amount_msat;
    else to_ledger.payees.push_back(p);
  }
  to_ledger.fee_msat = split.fee_msat + unaddressed;

  PayoutLedger ledger(args.required("ledger"), ledger_options(args));
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

int run_pay(const cli::Args& args) {
  if (!args.has("wallet")) throw cli::UsageError("pay needs --wallet");
  PayoutLedger ledger(args.required("ledger"), ledger_options(args));
  auto wallet = open_wallet(args.required("wallet"));
  auto resolver = make_lightning_address_resolver(lnurl_options(args));
  const PayoutRun run = ledger.pay_due(*wallet, *resolver, args.has("ignore-backoff"));
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

int run_report(const cli::Args& args) {
  PayoutLedger ledger(args.required("ledger"), ledger_options(args));
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

int dispatch(int argc, char** argv) {
  cli::Args args;
  args.flag("help").option("ledger").option("wallet").option("fee-bps").option("fee-msat").option("threshold-msat");
  args.option("max-fee-msat").option("timeout-s").flag("allow-http-loopback");
  args.option("amount-msat").option("receipt").flag("ignore-backoff");
  args.parse(argc, argv);
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const auto& pos = args.positionals();
  if (pos.empty()) throw cli::UsageError("no command given (accrue, pay or report)");
  if (pos.size() > 1) throw cli::UsageError("unexpected argument \"" + pos[1] + "\"");
  const std::string& command = pos[0];
  const bool accrue = command == "accrue";
  if (!accrue && (args.has("amount-msat") || args.has("receipt"))) {
    throw cli::UsageError("--amount-msat and --receipt belong to accrue");
  }
  if (command != "pay" && args.has("ignore-backoff")) throw cli::UsageError("--ignore-backoff belongs to pay");
  if (!args.has("ledger")) throw cli::UsageError("missing required option --ledger");
  if (accrue) return run_accrue(args);
  if (command == "pay") return run_pay(args);
  if (command == "report") return run_report(args);
  throw cli::UsageError("unknown command \"" + command + "\" (accrue, pay or report)");
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("petalsln-payout", [&] {
    return dispatch(argc, argv);
  });
}
