#pragma once
// Helpers shared by the libFuzzer targets in this folder.
//
// The contract every target checks: a parser fed hostile bytes either returns a value or
// throws petalsln::Error. A crash, a sanitizer report, a hang, or any other exception type
// escaping (std::out_of_range from a stray .at(), nlohmann's type_error, ...) is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "petalsln/util/error.hpp"

namespace petalsln::fuzz {

/// Returns the fuzzer's input as text (bytes as they are; nothing is assumed about UTF-8).
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Runs @p parse, accepting petalsln::Error as the documented way to refuse bad input.
/// Anything else propagates, and libFuzzer reports the uncaught exception as a crash.
template <class F>
void expect_rejection(F&& parse) {
  try {
    parse();
  } catch (const Error&) {
    // Refused with a described error: exactly what hostile input should get.
  }
}

/// Aborts (a finding) with @p what when a property the parser promises does not hold,
/// e.g. a decoded value that does not encode back to its input.
inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

}  // namespace petalsln::fuzz
