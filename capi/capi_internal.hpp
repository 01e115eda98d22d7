#pragma once
// Shared by the C ABI's translation units: the per-thread error message, the guard that turns
// every C++ exception into a status, and the checked conversions from C arguments (rule 3 and
// rule 6 of petalsln.h) that every function needs.

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "petalsln.h"
#include "petalsln/model/weight_format.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::capi {

/// Thrown inside the C ABI for a refused verification (PLN_ERR_DENIED).
struct Denied {
  std::string reason;
};

/// Records @p message as this thread's last error and returns @p status.
pln_status fail(pln_status status, std::string message) noexcept;

/// Maps an ErrorCode to its status.
pln_status status_of(ErrorCode code) noexcept;

/// Runs @p body, which returns nothing and reports failures by throwing; returns PLN_OK or the
/// status of the exception with its message recorded. Nothing escapes.
template <typename F>
pln_status guard(F&& body) noexcept {
  try {
    body();
    return PLN_OK;
  } catch (const Error& e) {
    return fail(status_of(e.code()), e.what());
  } catch (const Denied& d) {
    return fail(PLN_ERR_DENIED, d.reason);
  } catch (const std::bad_alloc&) {
    return fail(PLN_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(PLN_ERR_INTERNAL, std::string("unexpected error: ") + e.what());
  } catch (...) {
    return fail(PLN_ERR_INTERNAL, "unexpected non-standard exception");
  }
}

/// Throws Error(invalid_argument) "NAME must not be NULL" when @p p is null. The header's
/// PLN_NONNULL is empty inside the library, so this check is never optimised away.
inline void require(const void* p, const char* name) {
  if (p == nullptr) throw Error(ErrorCode::invalid_argument, std::string(name) + " must not be NULL");
}

/// Returns the C string @p s (which must not be NULL: named @p name in the error) as a view,
/// refusing one longer than 1 MiB, so that garbage without a NUL is not read without end.
std::string_view bounded(const char* s, const char* name);

/// Returns @p s, or "" for NULL, bounded as bounded() does.
std::string optional_string(const char* s, const char* name);

/// Returns the weight format named by the params field @p name whose value is @p s (NULL: f32);
/// throws Error(invalid_argument) naming the field, the value and the allowed names otherwise.
WeightFormat weight_format(const char* s, const char* name);

/// Returns @p value as an int; throws Error(invalid_argument) naming @p name above INT_MAX.
int to_int(std::uint32_t value, const char* name);

/// Returns @p ms as a duration; throws Error(invalid_argument) naming @p name when it is 0 or
/// above what std::chrono::milliseconds holds.
std::chrono::milliseconds positive_ms(std::uint64_t ms, const char* name);

/// Returns a malloc'd copy of @p s for the caller to release with pln_string_free().
char* dup_string(std::string_view s);

/// Copies @p s into the fixed buffer @p out of @p capacity bytes, NUL-terminated, cut at a UTF-8
/// character boundary when it does not fit.
void copy_truncated(std::string_view s, char* out, std::size_t capacity) noexcept;

/// Copies the bytes of @p bytes to @p out, which holds N bytes.
template <std::size_t N>
void copy_bytes(const std::array<std::uint8_t, N>& bytes, std::uint8_t* out) noexcept {
  std::memcpy(out, bytes.data(), N);
}

/// Returns the N bytes at @p in (NULL refused, named @p name) as an array.
template <std::size_t N>
std::array<std::uint8_t, N> read_bytes(const std::uint8_t* in, const char* name) {
  require(in, name);
  std::array<std::uint8_t, N> out{};
  std::memcpy(out.data(), in, N);
  return out;
}

}  // namespace petalsln::capi
