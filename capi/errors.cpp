// Status names, the per-thread last error, the version, and string release.
#include <cstdlib>

#include "capi_internal.hpp"

#ifndef PETALSLN_VERSION
#error "PETALSLN_VERSION must be defined by the build"
#endif

namespace petalsln::capi {

namespace {
thread_local std::string last_error;
}

int fail(int status, std::string message) noexcept {
  try {
    last_error = std::move(message);
  } catch (...) {
    // Out of memory while copying the message: keep the status, lose the details.
    last_error.clear();
  }
  return status;
}

int status_of(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return PLN_ERR_INVALID_ARGUMENT;
    case ErrorCode::invalid_format: return PLN_ERR_INVALID_FORMAT;
    case ErrorCode::unsupported: return PLN_ERR_UNSUPPORTED;
    case ErrorCode::not_found: return PLN_ERR_NOT_FOUND;
    case ErrorCode::out_of_range: return PLN_ERR_OUT_OF_RANGE;
    case ErrorCode::io: return PLN_ERR_IO;
    case ErrorCode::internal: return PLN_ERR_INTERNAL;
  }
  return PLN_ERR_INTERNAL;
}

char* dup_string(std::string_view s) {
  auto* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

}  // namespace petalsln::capi

extern "C" {

PLN_API const char* pln_version(void) { return PETALSLN_VERSION; }

PLN_API int pln_abi_version(void) { return PLN_ABI_VERSION; }

PLN_API const char* pln_last_error(void) { return petalsln::capi::last_error.c_str(); }

PLN_API const char* pln_status_name(int status) {
  switch (status) {
    case PLN_OK: return "ok";
    case PLN_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case PLN_ERR_INVALID_FORMAT: return "invalid_format";
    case PLN_ERR_UNSUPPORTED: return "unsupported";
    case PLN_ERR_NOT_FOUND: return "not_found";
    case PLN_ERR_OUT_OF_RANGE: return "out_of_range";
    case PLN_ERR_IO: return "io";
    case PLN_ERR_DENIED: return "denied";
    case PLN_ERR_INTERNAL: return "internal";
    default: return "unknown";
  }
}

PLN_API void pln_string_free(char* str) { std::free(str); }

}  // extern "C"
