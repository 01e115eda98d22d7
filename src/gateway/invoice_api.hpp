#pragma once
// The web chat's invoice endpoints. A page shows a 402's invoice as a QR code; when someone
// pays it from a phone, the page never sees the preimage, so it asks the gateway whether the
// invoice has settled (POST /api/v1/invoice-status) and is handed the preimage. On the devnet a
// gateway started with a demo account can also pay its own invoice from it
// (POST /api/v1/demo-pay). Both take the 402's macaroon as proof that the caller is the
// requester the invoice was made for, and both are rate-limited per requester.

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/api_handlers.hpp"
#include "gateway/http_types.hpp"
#include "petalsln/gateway/gateway_options.hpp"

namespace petalsln::gateway {

/// The path that says whether a 402's invoice has settled.
inline constexpr const char* kInvoiceStatusPath = "/api/v1/invoice-status";
/// The path that pays a 402's invoice from the devnet demo account (--demo-wallet).
inline constexpr const char* kDemoPayPath = "/api/v1/demo-pay";

/// At most a fixed number of requests per requester in each window of time, for a bounded
/// number of requesters (a flood of addresses cannot grow it without bound). Thread-safe.
class RequesterLimit {
 public:
  /// Allows @p per_window requests per requester every @p window, keeping at most
  /// @p max_requesters requesters' counts at once.
  RequesterLimit(std::size_t per_window, std::chrono::seconds window, std::size_t max_requesters = 4096);

  /// Counts one request of @p requester at @p now; returns false (counting nothing) when it is
  /// past its limit, or when the table of requesters is full of live windows.
  bool allow(const std::string& requester, std::chrono::steady_clock::time_point now);

  /// Seconds until @p requester may ask again (at least 1), for Retry-After.
  long retry_after_s(const std::string& requester, std::chrono::steady_clock::time_point now);

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    std::size_t count = 0;
  };
  std::size_t per_window_;
  std::chrono::seconds window_;
  std::size_t max_requesters_;
  std::mutex mutex_;
  std::map<std::string, Window> windows_;
};

/// What the invoice endpoints keep between requests: the per-requester limits and the demo
/// account. One per gateway.
class InvoiceDesk {
 public:
  /// Takes the demo wallet from @p options. Throws Error(invalid_argument) when a demo wallet
  /// is given but it or the receiving wallet is not a devnet wallet (real money is never
  /// paid on a visitor's behalf), or the gateway is free (it issues no invoices).
  explicit InvoiceDesk(const GatewayOptions& options);

  /// True when the page may offer "Pay from the demo wallet".
  bool has_demo_wallet() const noexcept { return demo_wallet_ != nullptr; }

  /// Status lookups per requester: a page polls every few seconds while its dialog is open.
  RequesterLimit status_limit{30, std::chrono::seconds(60)};
  /// Demo payments per requester: enough for a demo, not for draining the account.
  RequesterLimit demo_limit{10, std::chrono::seconds(3600)};
  /// Demo payments of all requesters together: many addresses cannot drain the account either.
  RequesterLimit demo_total_limit{200, std::chrono::seconds(3600), 1};

  /// The demo account (null: none).
  Wallet* demo_wallet() const noexcept { return demo_wallet_.get(); }

 private:
  std::shared_ptr<Wallet> demo_wallet_;
};

/// POST /api/v1/invoice-status {"macaroon": "<the 402's macaroon>"}: answers
/// {"ok": true, "status": "pending" | "settled" | "expired"}, with "preimage" (64 hex digits)
/// once settled when the wallet reports it. 401 for a macaroon that is not this gateway's own,
/// 400 for a malformed body, 429 past the requester's limit.
void handle_invoice_status(ApiContext& api, const HttpRequest& request, ResponseWriter& writer);

/// POST /api/v1/demo-pay {"macaroon": "...", "invoice": "<bolt11>"}: pays the invoice from the
/// devnet demo account when it is the one this gateway sold with that macaroon and is still
/// open, and answers as handle_invoice_status() does (settled with the preimage). 404 without
/// a demo wallet, 401 for another macaroon, 403 for another invoice, 429 past the requester's
/// limit or everyone's, 502 when the devnet refuses the payment.
void handle_demo_pay(ApiContext& api, const HttpRequest& request, ResponseWriter& writer);

}  // namespace petalsln::gateway
