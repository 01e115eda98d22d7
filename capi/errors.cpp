// Status names, the per-thread last error, the version, string release, and the checked
// conversions of C arguments shared by every translation unit of the C ABI.
#include <climits>
#include <cstdlib>

#include "capi_internal.hpp"

#ifndef PETALSLN_VERSION
#error "PETALSLN_VERSION must be defined by the build"
#endif

namespace petalsln::capi {

namespace {
thread_local std::string last_error;

// Longest C string read before parsing (each parser has its own, smaller limit; this one only
// keeps strlen() bounded for garbage).
constexpr std::size_t kMaxInputBytes = std::size_t{1} << 20;
}  // namespace

pln_status fail(pln_status status, std::string message) noexcept {
  try {
    last_error = std::move(message);
  } catch (...) {
    // Out of memory while copying the message: keep the status, lose the details.
    last_error.clear();
  }
  return status;
}

pln_status status_of(ErrorCode code) noexcept {
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

std::string_view bounded(const char* s, const char* name) {
  require(s, name);
  const void* nul = std::memchr(s, '\0', kMaxInputBytes + 1);
  if (nul == nullptr) throw Error(ErrorCode::invalid_argument, std::string(name) + " is longer than 1 MiB");
  return std::string_view(s, static_cast<std::size_t>(static_cast<const char*>(nul) - s));
}

std::string optional_string(const char* s, const char* name) {
  return s != nullptr ? std::string(bounded(s, name)) : std::string();
}

WeightFormat weight_format(const char* s, const char* name) {
  if (s == nullptr) return WeightFormat::f32;
  const std::string_view value = bounded(s, name);
  if (const auto format = parse_weight_format(value)) return *format;
  throw Error(ErrorCode::invalid_argument,
              std::string(name) + " \"" + std::string(value) + "\" is not one of f32, bf16, f16, int8");
}

int to_int(std::uint32_t value, const char* name) {
  if (value > static_cast<std::uint32_t>(INT_MAX)) {
    throw Error(ErrorCode::invalid_argument, std::string(name) + " must be at most " + std::to_string(INT_MAX));
  }
  return static_cast<int>(value);
}

std::chrono::milliseconds positive_ms(std::uint64_t ms, const char* name) {
  if (ms == 0) throw Error(ErrorCode::invalid_argument, std::string(name) + " must be above 0");
  if (ms > static_cast<std::uint64_t>(std::chrono::milliseconds::max().count())) {
    throw Error(ErrorCode::invalid_argument, std::string(name) + " is too large");
  }
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(ms));
}

char* dup_string(std::string_view s) {
  auto* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

void copy_truncated(std::string_view s, char* out, std::size_t capacity) noexcept {
  if (capacity == 0) return;
  std::size_t n = s.size() < capacity - 1 ? s.size() : capacity - 1;
  // Cut before a continuation byte (10xxxxxx) so the text stays valid UTF-8.
  if (n < s.size()) {
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0U) == 0x80U) --n;
  }
  std::memcpy(out, s.data(), n);
  out[n] = '\0';
}

}  // namespace petalsln::capi

extern "C" {

PLN_API const char* pln_version(void) { return PETALSLN_VERSION; }

PLN_API uint32_t pln_abi_version(void) { return PLN_ABI_VERSION; }

PLN_API const char* pln_last_error(void) { return petalsln::capi::last_error.c_str(); }

PLN_API const char* pln_status_name(pln_status status) {
  // A C caller may pass any int here; reading the enum's bytes as an int keeps a value outside
  // the enumerators defined behaviour in C++ (UBSan would flag loading it as the enum).
  int value = 0;
  static_assert(sizeof value == sizeof status);
  std::memcpy(&value, &status, sizeof value);
  switch (value) {
    case PLN_OK: return "ok";
    case PLN_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case PLN_ERR_INVALID_FORMAT: return "invalid_format";
    case PLN_ERR_UNSUPPORTED: return "unsupported";
    case PLN_ERR_NOT_FOUND: return "not_found";
    case PLN_ERR_OUT_OF_RANGE: return "out_of_range";
    case PLN_ERR_IO: return "io";
    case PLN_ERR_DENIED: return "denied";
    case PLN_ERR_INTERNAL: return "internal";
  }
  return "unknown";
}

PLN_API void pln_string_free(char* str) { std::free(str); }

}  // extern "C"
