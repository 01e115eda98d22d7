#pragma once
// A request the gateway refuses, with what each dialect needs to say so: the HTTP status,
// OpenAI's error type, the offending parameter and a machine-readable code. Handlers throw
// it; the dialect's front turns it into its own error shape.

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace petalsln::gateway {

/// What a 402 asks for: the L402 challenge and the numbers behind it.
struct PaymentDemand {
  std::string challenge;   ///< The `WWW-Authenticate` value: L402 macaroon="...", invoice="...".
  std::string macaroon;    ///< The challenge's macaroon (base64).
  std::string invoice;     ///< The challenge's BOLT11 invoice.
  std::uint64_t amount_msat = 0;    ///< What the invoice asks.
  std::uint64_t credit_tokens = 0;  ///< What it buys.
  std::uint64_t needed_tokens = 0;  ///< This message's worst case (prompt + max new tokens).
  std::optional<std::uint64_t> left_tokens;  ///< Credit left on the token presented, if one was.
};

/// A refused request. The message is shown to the client as is, so it never holds a secret.
class ApiError : public std::runtime_error {
 public:
  /// @p status is the HTTP status; @p type OpenAI's error type ("invalid_request_error",
  /// "server_error", ...); @p param the field at fault ("" = none); @p code a short code
  /// ("" = none).
  ApiError(int status, std::string type, const std::string& message, std::string param = {}, std::string code = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)), code_(std::move(code)) {}

  int status() const noexcept { return status_; }              ///< The HTTP status.
  const std::string& type() const noexcept { return type_; }    ///< OpenAI's error type.
  const std::string& param() const noexcept { return param_; }  ///< The field at fault, or "".
  const std::string& code() const noexcept { return code_; }    ///< A short code, or "".
  /// The payment asked for (402 only), else null.
  const std::shared_ptr<const PaymentDemand>& payment() const noexcept { return payment_; }
  /// Attaches the payment a 402 asks for; returns this error.
  ApiError& with_payment(PaymentDemand demand) {
    payment_ = std::make_shared<const PaymentDemand>(std::move(demand));
    return *this;
  }

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
  std::shared_ptr<const PaymentDemand> payment_;
};

/// Returns a 400 invalid_request_error about @p param.
inline ApiError bad_request(const std::string& message, const std::string& param = {}, const std::string& code = {}) {
  return ApiError(400, "invalid_request_error", message, param, code);
}

}  // namespace petalsln::gateway
