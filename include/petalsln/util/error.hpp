#pragma once
/// @file error.hpp
/// The one exception type petalsln throws, and the codes that classify it.

#include <stdexcept>
#include <string>

namespace petalsln {

/// What kind of failure an Error reports. Callers branch on this, not on message text.
enum class ErrorCode {
  invalid_argument,  ///< A caller-supplied value is out of its allowed domain.
  invalid_format,    ///< Input data (a file, a message, a string) is malformed.
  unsupported,       ///< Well-formed input that petalsln does not implement.
  not_found,         ///< A named file, tensor, key or entity does not exist.
  out_of_range,      ///< An index, id or range lies outside what exists.
  io,                ///< The operating system refused a read, write or mapping.
  internal,          ///< A broken invariant inside petalsln (a bug).
};

/// Returns a stable lower-case name for @p code (e.g. "invalid_format").
const char* to_string(ErrorCode code) noexcept;

/// The exception every petalsln API throws for a failure it can describe. The message names
/// what was wrong and where (file, field, value), so it can be shown to a user as is.
class Error : public std::runtime_error {
 public:
  /// Creates an error of kind @p code with a human-readable @p message.
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

  /// Returns the kind of failure.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace petalsln
