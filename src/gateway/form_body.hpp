#pragma once
// application/x-www-form-urlencoded bodies and query strings, as chat.petals.dev's clients
// send them to /api/v1/generate.

#include <map>
#include <string>
#include <string_view>

namespace petalsln::gateway {

/// Decodes @p text ("a=1&b=x+y%21") into its fields; a repeated field keeps its last value.
/// Throws ApiError(400) for a malformed percent escape, invalid UTF-8, or more than
/// @p max_fields fields.
std::map<std::string, std::string> parse_form(std::string_view text, std::size_t max_fields = 64);

}  // namespace petalsln::gateway
