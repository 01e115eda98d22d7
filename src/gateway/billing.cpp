#include "gateway/billing.hpp"

#include <algorithm>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/api_error.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/util/hex.hpp"
#include "util/hmac.hpp"
#include "util/private_file.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::gateway {

namespace {

constexpr std::size_t kKeyHexSize = 64;

// Writes a fresh random secret to a new key file (0600) at @p path; false when the file exists.
bool create_key_file(const std::string& path) {
  auto fd = util::create_private_file(path, "macaroon key file");
  if (!fd) return false;
  std::uint8_t secret[32];
  util::random_bytes(secret, sizeof secret);
  std::string text = util::to_hex(secret, sizeof secret) + "\n";
  util::secure_wipe(secret, sizeof secret);
  const bool ok = ::write(fd->get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd->get()) == 0;
  util::secure_wipe(text.data(), text.size());
  if (!ok) {
    ::unlink(path.c_str());
    throw Error(ErrorCode::io, "cannot write the macaroon key file " + path);
  }
  return true;
}

// The gateway's 32-byte secret from its key file (64 hex digits), which only its owner may read.
std::string read_key_file(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::io, "the macaroon key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    throw Error(ErrorCode::invalid_argument, "the macaroon key file " + path + " may be read by others: chmod 600 it (and consider the key leaked)");
  }
  std::string text = util::read_file(path, 1024);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.size() != kKeyHexSize) {
    util::secure_wipe(text.data(), text.size());
    throw Error(ErrorCode::invalid_format, "the macaroon key file " + path + " must hold 64 hex digits");
  }
  std::string secret = util::from_hex(text, "macaroon key");
  util::secure_wipe(text.data(), text.size());
  return secret;
}

std::string derive(const std::string& secret, const char* label) {
  const auto d = util::hmac_sha256(secret, label);
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

// "L402 mac1,mac2:preimage" -> "L402 mac1:preimage": petalsln mints no third-party caveats, so
// the first macaroon is the one that must verify; discharge macaroons after it are not needed.
std::string first_macaroon(const std::string& authorization) {
  const std::size_t comma = authorization.find(',');
  const std::size_t colon = authorization.rfind(':');
  if (comma == std::string::npos || colon == std::string::npos || comma > colon) return authorization;
  return authorization.substr(0, comma) + authorization.substr(colon);
}

bool is_l402(const std::string& authorization) {
  auto starts = [&](const char* scheme) {
    const std::size_t n = std::strlen(scheme);
    if (authorization.size() <= n || authorization[n] != ' ') return false;
    return std::equal(scheme, scheme + n, authorization.begin(), [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b)); });
  };
  return starts("l402") || starts("lsat");
}

}  // namespace

Charge::~Charge() {
  if (paywall_ == nullptr) return;
  try {
    paywall_->settle(token_id_, reserved_, 0);  // a failed message costs nothing
  } catch (...) {
    // The hold lives in memory only and was freed; nothing was debited.
  }
}

Charge::Charge(Charge&& other) noexcept
    : paywall_(std::exchange(other.paywall_, nullptr)),
      token_id_(std::move(other.token_id_)),
      authorization_(std::move(other.authorization_)),
      reserved_(other.reserved_),
      price_(other.price_) {}

std::uint64_t Charge::finish(std::int64_t tokens) {
  if (paywall_ == nullptr) return 0;
  const std::uint64_t used = std::min<std::uint64_t>(static_cast<std::uint64_t>(std::max<std::int64_t>(0, tokens)), reserved_);
  Paywall* paywall = std::exchange(paywall_, nullptr);
  paywall->settle(token_id_, reserved_, used);
  return (used * price_ + 999) / 1000;
}

Billing::Billing(const GatewayOptions& options, const std::string& model_name, std::int64_t num_blocks)
    : price_(options.price_msat_per_1k_tokens), credit_tokens_(options.credit_tokens), num_blocks_(static_cast<std::uint32_t>(num_blocks)) {
  if (price_ == 0) return;
  if (!options.wallet) throw Error(ErrorCode::invalid_argument, "a priced gateway needs a wallet to receive payments");
  if (options.macaroon_key_file.empty()) throw Error(ErrorCode::invalid_argument, "a priced gateway needs a macaroon key file");
  if (credit_tokens_ == 0) throw Error(ErrorCode::invalid_argument, "the credit size must be at least 1 token");
  const std::string store = options.credit_store.empty() ? options.macaroon_key_file + ".credit" : options.credit_store;
  const bool new_key = create_key_file(options.macaroon_key_file);
  std::string secret = read_key_file(options.macaroon_key_file);
  if (!new_key && !util::is_regular_file(store)) {
    // Tokens signed with this key may be out there: a fresh store would credit them again.
    util::secure_wipe(secret.data(), secret.size());
    throw Error(ErrorCode::invalid_argument, "the credit store " + store + " of the existing macaroon key file " + options.macaroon_key_file +
                                                 " is missing: restore it, or start with a new key file (tokens sold so far then become void)");
  }
  PaywallOptions po;
  po.price_msat = price_;
  po.credit_block_tokens = credit_tokens_;
  po.model = model_name;
  po.peer_hex = util::to_hex(derive(secret, "petalsln gateway id"));  // names this gateway in its macaroons
  po.block_begin = 0;
  po.block_end = num_blocks_;
  po.token_lifetime = std::chrono::duration_cast<std::chrono::seconds>(options.credit_lifetime);
  po.invoice_expiry = std::chrono::duration_cast<std::chrono::seconds>(options.invoice_expiry);
  po.store_path = store;
  po.service = kGatewayService;
  po.unit_name = "tokens";
  po.root_key = derive(secret, "petalsln gateway macaroon root key");
  util::secure_wipe(secret.data(), secret.size());
  paywall_ = std::make_unique<Paywall>(std::move(po), options.wallet);
}

Billing::~Billing() = default;

std::optional<std::uint64_t> Billing::max_server_price_msat() const noexcept {
  if (free() || num_blocks_ == 0) return std::nullopt;
  return price_ / num_blocks_;
}

void Billing::demand_payment(std::uint64_t needed, std::optional<std::uint64_t> left, const std::string& requester) {
  const std::uint64_t credit = std::max(credit_tokens_, needed);
  std::string header;
  try {
    header = paywall_->challenge(0, num_blocks_, credit, requester);
  } catch (const ChallengeLimitReached& e) {
    throw ApiError(429, "rate_limit_error", e.what(), "", "too_many_unpaid_invoices");
  } catch (const Error&) {
    throw ApiError(503, "server_error", "the gateway cannot make an invoice now; retry shortly", "", "wallet_unavailable");
  }
  const L402Challenge challenge = L402Challenge::parse(header);
  PaymentDemand d;
  d.challenge = header;
  d.macaroon = challenge.macaroon.to_base64();
  d.invoice = challenge.invoice;
  d.credit_tokens = credit;
  d.amount_msat = paywall_->invoice_amount_msat(credit);
  d.needed_tokens = needed;
  d.left_tokens = left;
  std::string message = "Payment required: this message needs up to " + std::to_string(needed) + " tokens of credit (prompt and max new tokens)";
  message += left ? "; the token presented has " + std::to_string(*left) + " left" : std::string("; no L402 token was presented");
  message += ". Pay the invoice (" + std::to_string(d.amount_msat) + " msat for " + std::to_string(credit) +
             " tokens) and retry with Authorization: L402 <macaroon>:<preimage>";
  throw ApiError(402, "payment_required", message, "", left ? "insufficient_credit" : "payment_required").with_payment(std::move(d));
}

std::string Billing::verified_token_id(const std::string& authorization) {
  try {
    return paywall_->authorize(first_macaroon(authorization), 0, num_blocks_).token_id;
  } catch (const CreditUsedUp&) {
    throw;
  } catch (const Error& e) {
    // The paywall's reason names a caveat or a check, never the secret parts of the token.
    throw ApiError(401, "authentication_error", std::string("Bad L402 token: ") + e.what() + " (send the request without it for a fresh invoice)", "",
                   "invalid_token");
  }
}

Charge Billing::reserve(const std::string& authorization, std::int64_t worst_tokens, const std::string& requester) {
  Charge charge;
  if (free()) return charge;
  const auto needed = static_cast<std::uint64_t>(std::max<std::int64_t>(1, worst_tokens));
  if (!is_l402(authorization)) demand_payment(needed, std::nullopt, requester);
  std::string token_id;
  try {
    token_id = verified_token_id(authorization);
  } catch (const CreditUsedUp&) {
    demand_payment(needed, 0, requester);
  }
  std::uint64_t available = 0;
  if (!paywall_->reserve(token_id, needed, &available)) demand_payment(needed, available, requester);
  charge.paywall_ = paywall_.get();
  charge.token_id_ = std::move(token_id);
  charge.authorization_ = authorization;
  charge.reserved_ = needed;
  charge.price_ = price_;
  return charge;
}

std::uint64_t Billing::credit_left(const std::string& authorization) {
  if (free()) throw bad_request("this gateway is free: there is no credit to look up");
  if (!is_l402(authorization)) throw ApiError(401, "authentication_error", "send Authorization: L402 <macaroon>:<preimage>", "", "invalid_token");
  try {
    return paywall_->available(verified_token_id(authorization));
  } catch (const CreditUsedUp&) {
    return 0;
  }
}

PaymentHash Billing::challenge_payment_hash(const std::string& macaroon_base64) {
  if (free()) throw bad_request("this gateway is free: it sells nothing and issues no invoices");
  try {
    return paywall_->challenge_payment_hash(macaroon_base64, 0, num_blocks_);
  } catch (const Error& e) {
    throw ApiError(401, "authentication_error", std::string("Not this gateway's macaroon: ") + e.what(), "macaroon", "invalid_macaroon");
  }
}

}  // namespace petalsln::gateway
