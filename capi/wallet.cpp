// Wallets opened by URI, and the devnet faucet. No libtorch here.
#include <memory>
#include <string>

#include "capi_internal.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/wallet.hpp"

using namespace petalsln;
using namespace petalsln::capi;

struct pln_wallet {
  std::unique_ptr<Wallet> wallet;
};

namespace {

// BOLT11 counts expiry in whole seconds: a duration in milliseconds is rounded up to them.
std::uint64_t expiry_seconds(std::uint64_t expiry_ms) {
  if (expiry_ms == 0) throw Error(ErrorCode::invalid_argument, "expiry_ms must be above 0");
  return expiry_ms / 1000 + (expiry_ms % 1000 != 0 ? 1 : 0);
}

pln_payment_status payment_status_of(PaymentStatus status) noexcept {
  switch (status) {
    case PaymentStatus::pending: return PLN_PAYMENT_PENDING;
    case PaymentStatus::succeeded: return PLN_PAYMENT_SUCCEEDED;
    case PaymentStatus::failed: return PLN_PAYMENT_FAILED;
  }
  return PLN_PAYMENT_PENDING;
}

pln_payment payment_struct(const PaymentResult& r) {
  pln_payment out{};
  out.status = payment_status_of(r.status);
  copy_bytes(r.payment_hash, out.payment_hash);
  out.has_preimage = r.preimage.has_value();
  if (r.preimage) copy_bytes(*r.preimage, out.preimage);
  out.amount_msat = r.amount_msat;
  out.fee_msat = r.fee_msat;
  copy_truncated(r.failure_reason, out.failure_reason, sizeof out.failure_reason);
  return out;
}

}  // namespace

extern "C" {

PLN_API pln_status pln_wallet_open(const char* uri, pln_wallet** out) {
  return guard([&] {
    const auto text = bounded(uri, "uri");
    require(out, "out");
    auto w = std::make_unique<pln_wallet>();
    w->wallet = open_wallet(std::string(text));
    *out = w.release();
  });
}

PLN_API void pln_wallet_free(pln_wallet* wallet) { delete wallet; }

PLN_API pln_status pln_wallet_balance(pln_wallet* wallet, uint64_t* out_msat) {
  return guard([&] {
    require(wallet, "wallet");
    require(out_msat, "out_msat");
    *out_msat = wallet->wallet->balance_msat();
  });
}

PLN_API pln_status pln_wallet_describe(const pln_wallet* wallet, char** out) {
  return guard([&] {
    require(wallet, "wallet");
    require(out, "out");
    *out = dup_string(wallet->wallet->describe());
  });
}

PLN_API pln_invoice_params pln_invoice_default_params(void) {
  pln_invoice_params p{};
  p.amount_msat = 0;
  p.memo = nullptr;
  p.expiry_ms = 3600000;
  return p;
}

PLN_API pln_status pln_wallet_create_invoice(pln_wallet* wallet, const pln_invoice_params* params, char** out_bolt11,
                                             uint8_t* out_payment_hash) {
  return guard([&] {
    require(wallet, "wallet");
    require(out_bolt11, "out_bolt11");
    require(out_payment_hash, "out_payment_hash");
    const pln_invoice_params p = params != nullptr ? *params : pln_invoice_default_params();
    InvoiceRequest r;
    if (p.amount_msat > 0) r.amount_msat = p.amount_msat;
    r.memo = optional_string(p.memo, "memo");
    r.expiry = std::chrono::seconds(static_cast<std::int64_t>(expiry_seconds(p.expiry_ms)));
    const CreatedInvoice inv = wallet->wallet->create_invoice(r);
    *out_bolt11 = dup_string(inv.bolt11);
    copy_bytes(inv.payment_hash, out_payment_hash);
  });
}

PLN_API pln_pay_params pln_pay_default_params(void) {
  pln_pay_params p{};
  p.max_fee_msat = 0;
  p.amount_msat = 0;
  p.timeout_ms = 60000;
  return p;
}

PLN_API pln_status pln_wallet_pay(pln_wallet* wallet, const char* bolt11, const pln_pay_params* params, pln_payment* out) {
  return guard([&] {
    require(wallet, "wallet");
    const auto text = bounded(bolt11, "bolt11");
    require(out, "out");
    const pln_pay_params p = params != nullptr ? *params : pln_pay_default_params();
    PayOptions o;
    o.max_fee_msat = p.max_fee_msat;
    o.timeout = positive_ms(p.timeout_ms, "timeout_ms");
    if (p.amount_msat > 0) o.amount_msat = p.amount_msat;
    *out = payment_struct(wallet->wallet->pay_invoice(std::string(text), o));
  });
}

PLN_API pln_status pln_wallet_lookup_invoice(pln_wallet* wallet, const uint8_t* payment_hash, pln_invoice_status* out) {
  return guard([&] {
    require(wallet, "wallet");
    const PaymentHash h = read_bytes<32>(payment_hash, "payment_hash");
    require(out, "out");
    const InvoiceStatus s = wallet->wallet->lookup_invoice(h);
    pln_invoice_status result{};
    copy_bytes(s.payment_hash, result.payment_hash);
    result.settled = s.settled;
    result.expired = s.expired;
    result.amount_paid_msat = s.amount_paid_msat;
    result.settled_at = s.settled_at;
    *out = result;
  });
}

PLN_API pln_status pln_devnet_create_account(const char* path, const char* name, uint64_t fund_msat, uint8_t* out_node_id,
                                             char** out_uri) {
  return guard([&] {
    const std::string p(bounded(path, "path"));
    const std::string n(bounded(name, "name"));
    require(out_node_id, "out_node_id");
    require(out_uri, "out_uri");
    const DevnetAccount a = create_devnet_account(p, n, fund_msat);
    *out_uri = dup_string(DevnetUri{p, a.name}.to_string());
    copy_bytes(a.node_id, out_node_id);
  });
}

}  // extern "C"
