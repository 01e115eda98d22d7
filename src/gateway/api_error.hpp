#pragma once
// A request the gateway refuses, with what each dialect needs to say so: the HTTP status,
// OpenAI's error type, the offending parameter and a machine-readable code. Handlers throw
// it; the dialect's front turns it into its own error shape.

#include <stdexcept>
#include <string>

namespace petalsln::gateway {

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

 private:
  int status_;
  std::string type_;
  std::string param_;
  std::string code_;
};

/// Returns a 400 invalid_request_error about @p param.
inline ApiError bad_request(const std::string& message, const std::string& param = {}, const std::string& code = {}) {
  return ApiError(400, "invalid_request_error", message, param, code);
}

}  // namespace petalsln::gateway
