#include "gateway/earnings.hpp"

#include <exception>

#include "gateway/api_handlers.hpp"
#include "gateway/payouts.hpp"
#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/util/error.hpp"
#include "util/log.hpp"

namespace petalsln::gateway {

namespace {

using json = nlohmann::ordered_json;

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

}  // namespace

std::string unpaid_reason(const std::string& address, bool allow_http_loopback) {
  if (address.empty()) return "it announced no Lightning address";
  try {
    LightningAddress::parse(address, allow_http_loopback);
  } catch (const Error& e) {
    return std::string("its Lightning address is not usable: ") + e.what();
  }
  return {};
}

MessageReceipt split_message(const TextResult& result, std::int64_t charged_tokens, std::uint64_t charged_msat,
                             std::uint64_t price_msat_per_1k_tokens, const PayoutSplitter* splitter, bool allow_http_loopback) {
  MessageReceipt r;
  r.prompt_tokens = result.prompt_tokens;
  r.generated_tokens = static_cast<std::int64_t>(result.new_ids.size());
  r.block_tokens = result.block_tokens;
  r.charged_tokens = charged_tokens;
  r.charged_msat = charged_msat;
  r.price_msat_per_1k_tokens = price_msat_per_1k_tokens;
  r.fee_msat = charged_msat;
  std::vector<PayoutWeight> weights;
  for (const auto& w : result.work) {
    r.route.push_back({w, 0, unpaid_reason(w.lightning_address, allow_http_loopback)});
    if (w.block_tokens > 0) weights.push_back({w.peer, w.block_tokens});
  }
  if (splitter == nullptr || weights.empty()) return r;
  try {
    const PayoutSplit split = splitter->split(charged_msat, weights);
    r.fee_msat = split.fee_msat;
    for (auto& share : r.route) {
      for (const auto& p : split.payees) {
        if (p.payee == share.work.peer) share.earned_msat = p.amount_msat;
      }
    }
  } catch (const Error&) {
    // Block-tokens past 2^64 in all (not a real message): the gateway keeps the income.
    for (auto& share : r.route) share.earned_msat = 0;
    r.fee_msat = charged_msat;
  }
  return r;
}

PayoutSplit ledger_split(const MessageReceipt& receipt) {
  PayoutSplit split;
  std::uint64_t owed = 0;
  for (const auto& share : receipt.route) {
    if (!share.unpaid_reason.empty() || share.earned_msat == 0) continue;
    owed += share.earned_msat;
    bool merged = false;
    for (auto& p : split.payees) {
      if (p.payee == share.work.lightning_address) {
        p.amount_msat += share.earned_msat;
        merged = true;
      }
    }
    if (!merged) split.payees.push_back({share.work.lightning_address, share.earned_msat});
  }
  split.fee_msat = receipt.charged_msat - owed;  // the fee and every share nobody can be paid
  return split;
}

json receipt_json(const MessageReceipt& receipt) {
  json route = json::array();
  for (const auto& s : receipt.route) {
    route.push_back({{"peer", s.work.peer},
                     {"name", s.work.name},
                     {"blocks", {s.work.block_begin, s.work.block_end}},
                     {"block_tokens", s.work.block_tokens},
                     {"earned_msat", s.earned_msat},
                     {"lightning_address", s.work.lightning_address.empty() ? json(nullptr) : json(s.work.lightning_address)},
                     {"paid_to_address", s.unpaid_reason.empty()}});
  }
  return {{"prompt_tokens", receipt.prompt_tokens},
          {"generated_tokens", receipt.generated_tokens},
          {"block_tokens", receipt.block_tokens},
          {"charged_tokens", receipt.charged_tokens},
          {"charged_msat", receipt.charged_msat},
          {"price_msat_per_1k_tokens", receipt.price_msat_per_1k_tokens},
          {"fee_msat", receipt.fee_msat},
          {"route", route}};
}

ServerEarnings server_earnings(const PayoutReport& ledger, const std::map<std::string, std::uint64_t>& kept,
                               const std::map<std::string, std::uint64_t>& paywall, const std::string& peer, const std::string& address) {
  ServerEarnings e;
  if (const auto it = ledger.payees.find(address); !address.empty() && it != ledger.payees.end()) {
    e.owed_msat = it->second.owed_msat;
    e.in_flight_msat = it->second.in_flight_msat;
    e.paid_msat = it->second.paid_msat;
  }
  if (const auto it = kept.find(peer); it != kept.end()) e.kept_msat = it->second;
  if (const auto it = paywall.find(peer); it != paywall.end()) e.paywall_msat = it->second;
  e.accrued_msat = saturating_add(saturating_add(saturating_add(e.owed_msat, e.in_flight_msat), saturating_add(e.paid_msat, e.kept_msat)),
                                  e.paywall_msat);
  e.paid_msat = saturating_add(e.paid_msat, e.paywall_msat);
  return e;
}

Earnings::Earnings(const GatewayOptions& options) : options_(options) {
  options_.payout_on_step = nullptr;  // the worker's copy below is the one that runs
  if (options.payout_ledger.empty()) return;
  if (!options.wallet) throw Error(ErrorCode::invalid_argument, "a payout ledger needs a wallet to pay the servers from");
  if (options.payout_threshold_msat == 0) throw Error(ErrorCode::invalid_argument, "the payout threshold must be at least 1 msat");
  if (options.payout_interval.count() <= 0) throw Error(ErrorCode::invalid_argument, "the payout interval must be positive");
  if (options.payout_timeout.count() <= 0) throw Error(ErrorCode::invalid_argument, "the payout timeout must be positive");
  splitter_.emplace(options.payout_fee);  // throws for a fee above the whole amount
  PayoutLedgerOptions lo;
  lo.threshold_msat = options.payout_threshold_msat;
  ledger_ = std::make_unique<PayoutLedger>(options.payout_ledger, lo);
  lo.on_step = options.payout_on_step;
  LnurlOptions lnurl;
  lnurl.timeout = options.payout_timeout;
  lnurl.allow_http_loopback = options.payout_allow_http_loopback;
  worker_ = std::make_unique<PayoutWorker>(options.payout_ledger, lo, options.wallet, lnurl, options.payout_interval,
                                           [](const std::string& line) { util::log(util::LogLevel::warn, "petalsln-gateway: " + line); });
}

Earnings::~Earnings() { stop(); }

void Earnings::stop() {
  if (worker_) worker_->stop();
}

MessageReceipt Earnings::settle(const TextResult& result, std::int64_t charged_tokens, std::uint64_t charged_msat) {
  MessageReceipt receipt = split_message(result, charged_tokens, charged_msat, options_.price_msat_per_1k_tokens,
                                         splitter_ ? &*splitter_ : nullptr, options_.payout_allow_http_loopback);
  if (!enabled() || charged_msat == 0) return receipt;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& share : receipt.route) {
    if (share.unpaid_reason.empty()) continue;
    kept_[share.work.peer] += share.earned_msat;
    if (told_.insert(share.work.peer).second) {
      util::log(util::LogLevel::warn, "petalsln-gateway: server " + (share.work.name.empty() ? std::string("(no name)") : share.work.name) +
                                          " (peer " + share.work.peer.substr(0, 16) + "...) is not paid from income: " + share.unpaid_reason +
                                          "; its share stays with the gateway (GET /api/v1/swarm reports it)");
    }
  }
  try {
    ledger_->accrue(ledger_split(receipt), receipt_json(receipt).dump());
  } catch (const std::exception& e) {
    util::log(util::LogLevel::error, std::string("petalsln-gateway: a message's income could not be accrued (it stays with the gateway): ") + e.what());
  }
  return receipt;
}

PayoutReport Earnings::report() {
  std::lock_guard<std::mutex> lock(mutex_);
  return ledger_ ? ledger_->report() : PayoutReport{};
}

std::map<std::string, std::uint64_t> Earnings::kept_msat() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return kept_;
}

MessageReceipt settle_message(ApiContext& api, Charge& charge, const TextResult& result) {
  const std::int64_t tokens = result.prompt_tokens + static_cast<std::int64_t>(result.new_ids.size());
  const std::uint64_t msat = charge.finish(tokens);
  return api.earnings.settle(result, api.billing.free() ? 0 : tokens, msat);
}

}  // namespace petalsln::gateway
