#pragma once
// Shared by the C ABI's translation units: the per-thread error message, the guard that turns
// every C++ exception into a status, and the small conversions every function needs.

#include <cstring>
#include <new>
#include <string>
#include <string_view>

#include "petalsln.h"
#include "petalsln/util/error.hpp"

namespace petalsln::capi {

/// Thrown inside the C ABI for a refused verification (PLN_ERR_DENIED).
struct Denied {
  std::string reason;
};

/// Records @p message as this thread's last error and returns @p status.
int fail(int status, std::string message) noexcept;

/// Maps an ErrorCode to its status.
int status_of(ErrorCode code) noexcept;

/// Runs @p body, which returns nothing and reports failures by throwing; returns PLN_OK or the
/// status of the exception with its message recorded. Nothing escapes.
template <typename F>
int guard(F&& body) noexcept {
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

/// Throws Error(invalid_argument) "NAME must not be NULL" when @p p is null.
inline void require(const void* p, const char* name) {
  if (p == nullptr) throw Error(ErrorCode::invalid_argument, std::string(name) + " must not be NULL");
}

/// Returns @p s, or "" for NULL.
inline std::string str_or_empty(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

/// Returns a malloc'd copy of @p s for the caller to release with pln_string_free().
char* dup_string(std::string_view s);

/// Stores a copy of @p s in *@p out when @p out is not null.
inline void put_string(char** out, std::string_view s) {
  if (out != nullptr) *out = dup_string(s);
}

}  // namespace petalsln::capi
