// petalsln-wallet-conformance: the checks every Wallet backend must pass, run against any
// wallet URI with a devnet account as the other side of each payment.
//
//   petalsln-wallet-conformance --wallet URI --counterparty devnet:PATH?account=NAME
//                               [--secret TEXT]...
//
// The wallet under test and the counterparty must be able to pay each other: for the devnet
// baseline both are accounts of one devnet file; for a real backend, its loopback counterpart
// is itself backed by an account of the counterparty's devnet file. The wallet needs at least
// kMinWalletBalanceMsat and the counterparty at least kMinCounterpartyBalanceMsat.
//
// Prints one line per check ("PASS name", "FAIL name: why", "SKIP name: why") and then one
// JSON summary line {"passed", "failed", "skipped", "wallet"}. Exit status 0 only if no check
// failed, 1 otherwise, 2 for a malformed command line. A backend that cannot do something
// says so by throwing Error(unsupported), and that check is SKIPPED with the reason, never
// passed. Every --secret (a macaroon, rune or key the URI names) must appear neither in
// describe() nor in any error message a check sees.

#include <chrono>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/cli.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/util/error.hpp"
#include "util/random.hpp"
#include "util/sha256.hpp"

using namespace petalsln;

namespace {

constexpr std::uint64_t kMinWalletBalanceMsat = 100'000;
constexpr std::uint64_t kMinCounterpartyBalanceMsat = 100'000;
constexpr std::uint64_t kMaxFeeMsat = 1'000;

struct CheckFailed {
  std::string why;
};
struct CheckSkipped {
  std::string why;
};

void expect(bool ok, const std::string& why) {
  if (!ok) throw CheckFailed{why};
}


PaymentHash random_hash() {
  PaymentHash h{};
  util::random_bytes(h.data(), h.size());
  return h;
}

class Suite {
 public:
  Suite(std::unique_ptr<Wallet> wallet, std::unique_ptr<Wallet> counterparty, std::vector<std::string> secrets)
      : wallet_(std::move(wallet)), counterparty_(std::move(counterparty)), secrets_(std::move(secrets)) {}

  int run();

 private:
  // Runs one check, printing its line; the check throws CheckFailed/CheckSkipped or returns.
  void check(const char* name, const std::function<void()>& body);
  void expect_no_secret(const std::string& text, const char* where);
  void expect_balances(std::uint64_t wallet_msat, std::uint64_t counterparty_msat, const char* after);
  Bolt11Invoice decode(const std::string& bolt11);
  PaymentResult wallet_pays(const std::string& bolt11, const PayOptions& options);
  void expect_refused_and_nothing_moved(const std::string& bolt11, const PayOptions& options, const char* what);

  void check_invoices();
  void check_incoming();
  void check_outgoing();
  void check_refusals();
  void check_errors();

  std::unique_ptr<Wallet> wallet_;
  std::unique_ptr<Wallet> counterparty_;
  std::vector<std::string> secrets_;
  int passed_ = 0, failed_ = 0, skipped_ = 0;

  std::optional<CreatedInvoice> fixed_;     // the wallet's fixed-amount invoice
  std::optional<CreatedInvoice> anyamount_; // the wallet's amount-less invoice
  std::string anyamount_unsupported_;       // why the backend cannot make one ("" if it can)
  std::optional<CreatedInvoice> outgoing_;  // the counterparty's invoice the wallet paid
  std::optional<CreatedInvoice> expiring_;  // the counterparty's one-second invoice
};

void Suite::check(const char* name, const std::function<void()>& body) {
  try {
    body();
    std::printf("PASS %s\n", name);
    ++passed_;
  } catch (const CheckSkipped& s) {
    std::printf("SKIP %s: %s\n", name, s.why.c_str());
    ++skipped_;
  } catch (const CheckFailed& f) {
    std::printf("FAIL %s: %s\n", name, f.why.c_str());
    ++failed_;
  } catch (const Error& e) {
    std::printf("FAIL %s: unexpected Error(%s): %s\n", name, to_string(e.code()), e.what());
    ++failed_;
  } catch (const std::exception& e) {
    std::printf("FAIL %s: unexpected exception: %s\n", name, e.what());
    ++failed_;
  }
  std::fflush(stdout);
}

void Suite::expect_no_secret(const std::string& text, const char* where) {
  for (const auto& s : secrets_) expect(text.find(s) == std::string::npos, std::string(where) + " contains a secret");
}

void Suite::expect_balances(std::uint64_t wallet_msat, std::uint64_t counterparty_msat, const char* after) {
  const std::uint64_t w = wallet_->balance_msat(), c = counterparty_->balance_msat();
  expect(w == wallet_msat, std::string("after ") + after + ", wallet balance " + std::to_string(w) + " msat, expected " +
                               std::to_string(wallet_msat));
  expect(c == counterparty_msat, std::string("after ") + after + ", counterparty balance " + std::to_string(c) +
                                     " msat, expected " + std::to_string(counterparty_msat));
}

Bolt11Invoice Suite::decode(const std::string& bolt11) {
  try {
    return Bolt11Invoice::decode(bolt11);
  } catch (const Error& e) {
    throw CheckFailed{std::string("the invoice does not decode: ") + e.what()};
  }
}

PaymentResult Suite::wallet_pays(const std::string& bolt11, const PayOptions& options) {
  try {
    return wallet_->pay_invoice(bolt11, options);
  } catch (const Error& e) {
    expect_no_secret(e.what(), "pay_invoice's error");
    throw;
  }
}

// A refused payment is a `failed` result with a reason (not an exception), and moves nothing.
void Suite::expect_refused_and_nothing_moved(const std::string& bolt11, const PayOptions& options, const char* what) {
  const std::uint64_t w0 = wallet_->balance_msat(), c0 = counterparty_->balance_msat();
  const PaymentResult r = wallet_pays(bolt11, options);
  expect(r.status == PaymentStatus::failed, std::string(what) + ": status " + to_string(r.status) + ", expected failed");
  expect(!r.failure_reason.empty(), std::string(what) + ": failed without a reason");
  expect(!r.preimage.has_value(), std::string(what) + ": a failed payment carries a preimage");
  expect_no_secret(r.failure_reason, "failure_reason");
  expect_balances(w0, c0, what);
}

void Suite::check_invoices() {
  check("invoice_fixed_amount_with_memo", [&] {
    InvoiceRequest req;
    req.amount_msat = 21'000;
    req.memo = "petalsln conformance: fixed";
    req.expiry = std::chrono::seconds(900);
    fixed_ = wallet_->create_invoice(req);
    const Bolt11Invoice inv = decode(fixed_->bolt11);
    expect(inv.amount_msat == std::optional<std::uint64_t>(21'000), "decoded amount differs from the request");
    expect(inv.payment_hash == fixed_->payment_hash, "decoded payment hash differs from the one returned");
    expect(inv.description == std::optional<std::string>(req.memo), "decoded description differs from the memo");
    expect(!inv.description_hash, "invoice has a description hash that was not asked for");
    expect(inv.expiry_seconds() == 900, "decoded expiry " + std::to_string(inv.expiry_seconds()) + ", asked 900");
    expect(inv.signature_valid, "signature not valid");
  });
  check("invoice_amountless", [&] {
    InvoiceRequest req;
    req.memo = "petalsln conformance: any amount";
    try {
      anyamount_ = wallet_->create_invoice(req);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::unsupported) throw;
      anyamount_unsupported_ = std::string("backend says: ") + e.what();
      throw CheckSkipped{anyamount_unsupported_};
    }
    const Bolt11Invoice inv = decode(anyamount_->bolt11);
    expect(!inv.amount_msat, "an amount-less invoice has an amount");
    expect(inv.payment_hash == anyamount_->payment_hash, "decoded payment hash differs from the one returned");
    expect(inv.description == std::optional<std::string>(req.memo), "decoded description differs from the memo");
    expect(inv.expiry_seconds() == 3600, "decoded expiry " + std::to_string(inv.expiry_seconds()) + ", asked 3600");
  });
  check("invoice_description_hash", [&] {
    InvoiceRequest req;
    req.amount_msat = 1'000;
    req.description_hash = util::sha256("petalsln conformance: LNURL-pay metadata");
    CreatedInvoice created;
    try {
      created = wallet_->create_invoice(req);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::unsupported) throw CheckSkipped{std::string("backend says: ") + e.what()};
      throw;
    }
    const Bolt11Invoice inv = decode(created.bolt11);
    expect(inv.description_hash == req.description_hash, "decoded description hash differs from the request");
    expect(!inv.description, "invoice with a description hash also has a description");
    expect(inv.payment_hash == created.payment_hash, "decoded payment hash differs from the one returned");
  });
  check("invoice_refuses_zero_amount", [&] {
    InvoiceRequest req;
    req.amount_msat = 0;
    try {
      wallet_->create_invoice(req);
    } catch (const Error& e) {
      expect(e.code() == ErrorCode::invalid_argument,
             std::string("Error(") + to_string(e.code()) + "), expected invalid_argument: " + e.what());
      return;
    }
    throw CheckFailed{"an invoice for 0 msat was created"};
  });
  check("lookup_invoice_unpaid", [&] {
    expect(fixed_.has_value(), "needs invoice_fixed_amount_with_memo");
    const InvoiceStatus s = wallet_->lookup_invoice(fixed_->payment_hash);
    expect(s.payment_hash == fixed_->payment_hash, "lookup returned another payment hash");
    expect(!s.settled && !s.expired, "a fresh invoice is settled or expired");
    expect(s.amount_paid_msat == 0 && s.settled_at == 0, "a fresh invoice has an amount paid or a settle time");
  });
}

void Suite::check_incoming() {
  check("counterparty_pays_invoice", [&] {
    expect(fixed_.has_value(), "needs invoice_fixed_amount_with_memo");
    const std::uint64_t w0 = wallet_->balance_msat(), c0 = counterparty_->balance_msat();
    PayOptions opts;
    const PaymentResult r = counterparty_->pay_invoice(fixed_->bolt11, opts);
    expect(r.status == PaymentStatus::succeeded, "the counterparty could not pay: " + r.failure_reason);
    const InvoiceStatus s = wallet_->lookup_invoice(fixed_->payment_hash);
    expect(s.settled, "lookup_invoice does not report the paid invoice settled");
    expect(!s.expired, "a settled invoice is reported expired");
    expect(s.amount_paid_msat == 21'000, "amount_paid_msat " + std::to_string(s.amount_paid_msat) + ", expected 21000");
    expect(s.settled_at > 0, "settled_at is 0 for a settled invoice");
    // A backend that reports the preimage (optional) reports the one the payer learnt.
    expect(!s.preimage || (r.preimage && *s.preimage == *r.preimage), "lookup_invoice reports another preimage than the payer's");
    expect_balances(w0 + 21'000, c0 - 21'000 - r.fee_msat, "receiving 21000 msat");
  });
  check("counterparty_pays_amountless_invoice", [&] {
    if (!anyamount_unsupported_.empty()) throw CheckSkipped{anyamount_unsupported_};
    expect(anyamount_.has_value(), "needs invoice_amountless");
    PayOptions opts;
    opts.amount_msat = 3'333;
    const PaymentResult r = counterparty_->pay_invoice(anyamount_->bolt11, opts);
    expect(r.status == PaymentStatus::succeeded, "the counterparty could not pay: " + r.failure_reason);
    const InvoiceStatus s = wallet_->lookup_invoice(anyamount_->payment_hash);
    expect(s.settled, "lookup_invoice does not report the paid invoice settled");
    expect(s.amount_paid_msat == 3'333, "amount_paid_msat " + std::to_string(s.amount_paid_msat) + ", expected 3333");
  });
}

void Suite::check_outgoing() {
  check("wallet_pays_invoice", [&] {
    InvoiceRequest req;
    req.amount_msat = 5'000;
    req.memo = "petalsln conformance: outgoing";
    outgoing_ = counterparty_->create_invoice(req);
    const std::uint64_t w0 = wallet_->balance_msat(), c0 = counterparty_->balance_msat();
    PayOptions opts;
    opts.max_fee_msat = kMaxFeeMsat;
    const PaymentResult r = wallet_pays(outgoing_->bolt11, opts);
    expect(r.status == PaymentStatus::succeeded,
           std::string("status ") + to_string(r.status) + ", expected succeeded: " + r.failure_reason);
    expect(r.payment_hash == outgoing_->payment_hash, "result has another payment hash");
    expect(r.preimage.has_value(), "a succeeded payment has no preimage");
    const auto digest = util::sha256(std::string_view(reinterpret_cast<const char*>(r.preimage->data()), 32));
    expect(digest == outgoing_->payment_hash, "sha256(preimage) != payment hash");
    expect(r.amount_msat == 5'000, "amount_msat " + std::to_string(r.amount_msat) + ", expected 5000");
    expect(r.fee_msat <= kMaxFeeMsat, "fee above max_fee_msat");
    expect_balances(w0 - 5'000 - r.fee_msat, c0 + 5'000, "paying 5000 msat");
    expect(counterparty_->lookup_invoice(outgoing_->payment_hash).settled, "the payee does not see its invoice settled");

    const std::optional<PaymentResult> found = wallet_->lookup_payment(outgoing_->payment_hash);
    expect(found.has_value(), "lookup_payment does not know the payment");
    expect(found->status == PaymentStatus::succeeded, std::string("lookup_payment says ") + to_string(found->status));
    expect(found->payment_hash == r.payment_hash, "lookup_payment has another payment hash");
    expect(found->preimage == r.preimage, "lookup_payment has another preimage");
    expect(found->amount_msat == r.amount_msat, "lookup_payment has another amount");
    expect(found->fee_msat == r.fee_msat, "lookup_payment has another fee");
  });
  check("wallet_pays_amountless_invoice_with_amount", [&] {
    InvoiceRequest req;
    req.memo = "petalsln conformance: any amount, outgoing";
    const CreatedInvoice inv = counterparty_->create_invoice(req);
    PayOptions without;
    without.max_fee_msat = kMaxFeeMsat;
    expect_refused_and_nothing_moved(inv.bolt11, without, "paying an amount-less invoice without an amount");
    const std::uint64_t w0 = wallet_->balance_msat(), c0 = counterparty_->balance_msat();
    PayOptions with = without;
    with.amount_msat = 777;
    PaymentResult r;
    try {
      r = wallet_pays(inv.bolt11, with);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::unsupported) throw;
      throw CheckSkipped{std::string("backend says: ") + e.what()};
    }
    expect(r.status == PaymentStatus::succeeded,
           std::string("status ") + to_string(r.status) + ", expected succeeded: " + r.failure_reason);
    expect(r.amount_msat == 777, "amount_msat " + std::to_string(r.amount_msat) + ", expected 777");
    expect(counterparty_->lookup_invoice(inv.payment_hash).amount_paid_msat == 777, "the payee received another amount");
    expect_balances(w0 - 777 - r.fee_msat, c0 + 777, "paying 777 msat");
  });
}

void Suite::check_refusals() {
  check("pay_same_invoice_again_fails", [&] {
    expect(outgoing_.has_value(), "needs wallet_pays_invoice");
    PayOptions opts;
    opts.max_fee_msat = kMaxFeeMsat;
    expect_refused_and_nothing_moved(outgoing_->bolt11, opts, "paying an invoice again");
    const std::optional<PaymentResult> found = wallet_->lookup_payment(outgoing_->payment_hash);
    expect(found && found->status == PaymentStatus::succeeded, "lookup_payment no longer reports the first success");
  });
  check("insufficient_balance_fails", [&] {
    InvoiceRequest req;
    req.amount_msat = wallet_->balance_msat() + 1'000'000;
    const CreatedInvoice inv = counterparty_->create_invoice(req);
    PayOptions opts;
    opts.max_fee_msat = kMaxFeeMsat;
    expect_refused_and_nothing_moved(inv.bolt11, opts, "paying more than the balance");
    const std::optional<PaymentResult> found = wallet_->lookup_payment(inv.payment_hash);
    expect(!found || found->status == PaymentStatus::failed, "lookup_payment reports a refused payment as not failed");
  });
  check("expired_invoice_fails", [&] {
    expect(expiring_.has_value(), "the one-second invoice was not created");
    PayOptions opts;
    opts.max_fee_msat = kMaxFeeMsat;
    expect_refused_and_nothing_moved(expiring_->bolt11, opts, "paying an expired invoice");
  });
}

void Suite::check_errors() {
  check("garbage_bolt11_is_invalid_format", [&] {
    for (const char* text : {"lnbcrt1garbage", "not an invoice", ""}) {
      const std::string garbage = text;
      try {
        wallet_->pay_invoice(garbage, PayOptions{});
      } catch (const Error& e) {
        expect(e.code() == ErrorCode::invalid_format, "\"" + garbage + "\": Error(" + to_string(e.code()) +
                                                          "), expected invalid_format: " + e.what());
        expect_no_secret(e.what(), "the error");
        continue;
      }
      throw CheckFailed{"\"" + garbage + "\" was accepted"};
    }
  });
  check("lookup_unknown_invoice_is_not_found", [&] {
    try {
      wallet_->lookup_invoice(random_hash());
    } catch (const Error& e) {
      expect(e.code() == ErrorCode::not_found,
             std::string("Error(") + to_string(e.code()) + "), expected not_found: " + e.what());
      expect_no_secret(e.what(), "the error");
      return;
    }
    throw CheckFailed{"a random payment hash was found"};
  });
  check("lookup_unknown_payment_is_nullopt", [&] {
    expect(!wallet_->lookup_payment(random_hash()).has_value(), "a random payment hash was found");
  });
  check("describe_has_no_secrets", [&] {
    const std::string d = wallet_->describe();
    expect(!d.empty(), "describe() is empty");
    expect_no_secret(d, "describe()");
  });
}

int Suite::run() {
  check("balance_readable", [&] {
    const std::uint64_t w = wallet_->balance_msat(), c = counterparty_->balance_msat();
    expect(w >= kMinWalletBalanceMsat, "the wallet holds " + std::to_string(w) + " msat; the suite needs " +
                                           std::to_string(kMinWalletBalanceMsat));
    expect(c >= kMinCounterpartyBalanceMsat, "the counterparty holds " + std::to_string(c) + " msat; the suite needs " +
                                                 std::to_string(kMinCounterpartyBalanceMsat));
  });
  // Made first and used last, so that its one second has passed by then.
  try {
    InvoiceRequest req;
    req.amount_msat = 1'000;
    req.expiry = std::chrono::seconds(1);
    expiring_ = counterparty_->create_invoice(req);
  } catch (const Error&) {
    // expired_invoice_fails reports it.
  }
  check_invoices();
  check_incoming();
  check_outgoing();
  check_errors();
  if (expiring_) {
    // BOLT11 timestamps are whole seconds: wait until the invoice is certainly past expiry.
    const auto expires_at = std::chrono::system_clock::time_point(std::chrono::seconds(
        Bolt11Invoice::decode(expiring_->bolt11).expires_at() + 1));
    std::this_thread::sleep_until(expires_at + std::chrono::milliseconds(200));
  }
  check_refusals();
  const nlohmann::ordered_json summary = {
      {"passed", passed_}, {"failed", failed_}, {"skipped", skipped_}, {"wallet", wallet_->describe()}};
  std::printf("%s\n", summary.dump().c_str());
  return failed_ == 0 ? 0 : 1;
}

// The command line, as parsed.
struct ConformanceFlags {
  std::string wallet;
  std::string counterparty;
  std::vector<std::string> secrets;
};

void declare_flags(CLI::App& app, ConformanceFlags& f) {
  cli::configure(app,
                 "petalsln-wallet-conformance --wallet URI --counterparty devnet:PATH?account=NAME\n"
                 "                                   [--secret TEXT]...");
  app.add_option("--wallet", f.wallet, "the wallet under test (required)")->option_text("URI")->required();
  app.add_option("--counterparty", f.counterparty, "the devnet account it pays and is paid by (required)")
      ->option_text("devnet:PATH?account=NAME")->required();
  // Repeatable, one value each time: --secret A --secret=B.
  app.add_option("--secret", f.secrets,
                 "a credential that must never appear in describe() or in an error\n"
                 "(repeatable: --secret=A --secret=B)")
      ->option_text("TEXT")->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cli::add_help_flag(app, "Options");
}

int main_impl(CLI::App& app, const ConformanceFlags& f, int argc, char** argv) {
  if (!cli::parse(app, argc, argv)) return 0;
  if (f.counterparty.rfind("devnet:", 0) != 0) throw cli::UsageError("--counterparty must be a devnet: URI");
  for (const auto& s : f.secrets) {
    if (s.empty()) throw cli::UsageError("--secret must not be empty");
  }
  Suite suite(open_wallet(f.wallet), open_wallet(f.counterparty), f.secrets);
  return suite.run();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Runs the wallet conformance checks against the wallet at URI, paying to and from the devnet\n"
      "account named by --counterparty. Prints \"PASS|FAIL|SKIP name[: why]\" per check and a JSON\n"
      "summary; exits 0 only if no check failed.",
      "petalsln-wallet-conformance"};
  ConformanceFlags flags;
  declare_flags(app, flags);
  try {
    return main_impl(app, flags, argc, argv);
  } catch (const cli::UsageError& e) {
    std::fprintf(stderr, "petalsln-wallet-conformance: %s\n%s", e.what(), cli::help_text(app).c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "petalsln-wallet-conformance: error: %s\n", e.what());
    return 1;
  }
}
