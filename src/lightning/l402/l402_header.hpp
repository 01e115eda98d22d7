#pragma once
// Pieces shared by the L402 challenge and token parsers: size limit, scheme, whitespace.

#include <string>
#include <string_view>

#include "petalsln/lightning/l402.hpp"

namespace petalsln::l402_header {

/// Returns true for the whitespace HTTP allows between header tokens (SP, HTAB).
inline bool is_space(char c) noexcept { return c == ' ' || c == '\t'; }

/// Returns @p s without leading and trailing SP/HTAB.
std::string_view trim(std::string_view s) noexcept;

/// Returns the scheme name for @p scheme ("L402" or "LSAT").
const char* scheme_name(L402Scheme scheme) noexcept;

/// Checks the size of @p header, reads its scheme (L402 or LSAT, any case) and the
/// whitespace after it, and returns the scheme; @p rest receives the remainder, trimmed.
/// @p what names the header in errors ("L402 challenge", "L402 token"). Throws
/// Error(invalid_format) for oversize or empty input or no parameters, Error(unsupported) for
/// another scheme.
L402Scheme read_scheme(std::string_view header, const char* what, std::string_view& rest);

/// Returns true if @p invoice looks like a BOLT11 invoice: letters and digits only, starting
/// with "ln" in either case, at most L402Challenge::max_invoice_size characters.
bool plausible_invoice(std::string_view invoice) noexcept;

}  // namespace petalsln::l402_header
