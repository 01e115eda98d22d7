#pragma once
// Servers paid from each message's income (issue 14, item 4): what a user paid for a message,
// after the gateway's fee, is split among the servers on its route by the block-tokens each
// computed (PayoutSplitter), accrued in the gateway's PayoutLedger by the Lightning address
// each announced, and paid from there by a PayoutWorker (payouts.hpp). A server that announced
// no (valid) Lightning address cannot be paid: its share stays with the gateway, is said once
// in the log, and is reported per server. Each message also gets a receipt (what it ran, what
// it cost and who earned what) that every dialect returns.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gateway/generation_service.hpp"
#include "petalsln/gateway/gateway_options.hpp"
#include "petalsln/lightning/payout_ledger.hpp"
#include "petalsln/lightning/payout_splitter.hpp"

namespace petalsln::gateway {

class PayoutWorker;

/// One server's part of a message: its work and what it earned of the message's income.
struct ServerShare {
  ServerWork work;                 ///< Who, which blocks, how many block-tokens.
  std::uint64_t earned_msat = 0;   ///< Its share of the income after the fee.
  /// Why its share stays with the gateway ("" when it is owed to its Lightning address).
  std::string unpaid_reason;
};

/// What one message ran, what it cost the user and who earned what. The shares and the fee
/// always add up to charged_msat exactly.
struct MessageReceipt {
  std::int64_t prompt_tokens = 0;      ///< Prompt tokens billed (a session turn's new tokens).
  std::int64_t generated_tokens = 0;   ///< Tokens generated (an end-of-turn token included).
  std::uint64_t block_tokens = 0;      ///< Blocks x tokens the route ran for it, replays included.
  std::int64_t charged_tokens = 0;     ///< Tokens debited from the user's credit (0 when free).
  std::uint64_t charged_msat = 0;      ///< What those tokens cost: the message's income.
  std::uint64_t price_msat_per_1k_tokens = 0;  ///< The gateway's price.
  /// The gateway's fee: all of the income when servers are not paid from it (no ledger) or
  /// no server did any work (a local route).
  std::uint64_t fee_msat = 0;
  std::vector<ServerShare> route;      ///< Per server, in first-use order.
};

/// Returns why a server announcing @p address cannot be paid from income: "it announced no
/// Lightning address", or that the address is not a valid LUD-16 address (loopback hosts with
/// a port allowed when @p allow_http_loopback); "" when it can. Does not throw.
std::string unpaid_reason(const std::string& address, bool allow_http_loopback);

/// Splits @p charged_msat (the income of a message that produced @p result) among the servers
/// that did its work, by block-tokens, after @p splitter's fee; with no splitter (servers not
/// paid from income) or no work, all of it is the fee. A server whose Lightning address is
/// empty or not a valid LUD-16 address (loopback hosts with a port allowed when
/// @p allow_http_loopback) gets its share computed but marked unpaid, with the reason. Does
/// not throw for any input.
MessageReceipt split_message(const TextResult& result, std::int64_t charged_tokens, std::uint64_t charged_msat,
                             std::uint64_t price_msat_per_1k_tokens, const PayoutSplitter* splitter, bool allow_http_loopback);

/// The ledger's view of @p receipt: each addressed share owed to its Lightning address (two
/// servers with one address are merged), and the fee plus every unpaid share as the
/// operator's. The amounts add up to receipt.charged_msat.
PayoutSplit ledger_split(const MessageReceipt& receipt);

/// The receipt as JSON: {"prompt_tokens", "generated_tokens", "block_tokens",
/// "charged_tokens", "charged_msat", "price_msat_per_1k_tokens", "fee_msat", "route": [{"peer",
/// "name", "blocks": [begin, end], "block_tokens", "earned_msat", "lightning_address" (null
/// when none), "paid_to_address" (false when its share stays with the gateway)}]}.
nlohmann::ordered_json receipt_json(const MessageReceipt& receipt);

/// What one server has earned through this gateway.
struct ServerEarnings {
  std::uint64_t accrued_msat = 0;     ///< Everything it earned: income shares and paywall payments.
  std::uint64_t paid_msat = 0;        ///< What reached it: payouts confirmed and paywall payments.
  std::uint64_t owed_msat = 0;        ///< Accrued to its address, not yet paid.
  std::uint64_t in_flight_msat = 0;   ///< Handed to the wallet, outcome not yet known.
  std::uint64_t kept_msat = 0;        ///< Its income shares the gateway kept (no usable address).
  std::uint64_t paywall_msat = 0;     ///< What the gateway paid its paywall (priced servers).
};

/// Combines the ledger's standing of @p address (nothing when empty or absent), the shares
/// the gateway kept for @p peer and what it paid @p peer's paywall (maps by peer hex) into the
/// server's earnings. Does not throw.
ServerEarnings server_earnings(const PayoutReport& ledger, const std::map<std::string, std::uint64_t>& kept,
                               const std::map<std::string, std::uint64_t>& paywall, const std::string& peer, const std::string& address);

/// The gateway's side of paying servers from income: the splitter, the ledger messages accrue
/// to, and the payout worker. Thread-safe.
class Earnings {
 public:
  /// Opens the ledger (created 0600) and starts paying from options.wallet every
  /// options.payout_interval when options.payout_ledger is set; otherwise does nothing (every
  /// message's income stays with the gateway). Throws Error(invalid_argument) for a ledger
  /// without a wallet, a fee above 10000 basis points, a zero threshold or interval, and as
  /// PayoutLedger's constructor for a file that is not a ledger.
  explicit Earnings(const GatewayOptions& options);
  /// Stops the payout worker (see stop()).
  ~Earnings();
  Earnings(const Earnings&) = delete;             ///< Owns the ledger and a thread.
  Earnings& operator=(const Earnings&) = delete;  ///< Owns the ledger and a thread.

  /// True when servers are paid from income.
  bool enabled() const noexcept { return ledger_ != nullptr; }

  /// Splits a message's income (see split_message) and accrues it in the ledger, with the
  /// receipt as its justification; logs once per server why its share stays with the gateway.
  /// Returns the receipt. A ledger that cannot be written is logged, not thrown: the message
  /// has been answered and paid for, and its income then stays with the gateway.
  MessageReceipt settle(const TextResult& result, std::int64_t charged_tokens, std::uint64_t charged_msat);

  /// The ledger's standing (empty when servers are not paid from income). Throws Error(io)
  /// when SQLite fails.
  PayoutReport report();

  /// Income shares kept by the gateway per server (peer hex) since it started.
  std::map<std::string, std::uint64_t> kept_msat() const;

  /// Ends the payout worker: waits for a payout run in progress to end (each LNURL request
  /// is bounded by options.payout_timeout; the ledger is durable whatever point a run stops
  /// at). Safe to call more than once.
  void stop();

 private:
  GatewayOptions options_;
  std::optional<PayoutSplitter> splitter_;
  mutable std::mutex mutex_;  // the ledger object below and the maps
  std::unique_ptr<PayoutLedger> ledger_;
  std::map<std::string, std::uint64_t> kept_;
  std::set<std::string> told_;  // servers whose unpaid reason was logged
  std::unique_ptr<PayoutWorker> worker_;
};

}  // namespace petalsln::gateway
