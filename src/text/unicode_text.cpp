#include "text/unicode_text.hpp"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/stringpiece.h>

#include <cstdint>

#include "petalsln/util/error.hpp"

namespace petalsln::text {

namespace {

constexpr char32_t kReplacement = 0xFFFD;

UChar32 as_icu(char32_t cp) noexcept { return static_cast<UChar32>(cp); }

// Length of a well-formed sequence starting at s[i], or 0 if the bytes there are not one; on
// failure @p bad_len receives the length of the maximal invalid subpart (at least 1).
std::size_t valid_sequence_length(std::string_view s, std::size_t i, std::size_t& bad_len) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  bad_len = 1;
  if (b0 < 0x80) return 1;
  std::size_t need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong forms
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  for (std::size_t k = 1; k < need; ++k) {
    if (i + k >= s.size()) return 0;
    const auto b = static_cast<unsigned char>(s[i + k]);
    const bool ok = (k == 1) ? (b >= lo && b <= hi) : ((b & 0xC0) == 0x80);
    if (!ok) return 0;
    bad_len = k + 1;  // the subpart so far is a valid prefix: it is replaced as one unit
  }
  return need;
}

const icu::Normalizer2& normalizer_for(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  switch (form) {
    case NormalForm::nfc: n = icu::Normalizer2::getNFCInstance(status); break;
    case NormalForm::nfd: n = icu::Normalizer2::getNFDInstance(status); break;
    case NormalForm::nfkc: n = icu::Normalizer2::getNFKCInstance(status); break;
    case NormalForm::nfkd: n = icu::Normalizer2::getNFKDInstance(status); break;
  }
  if (U_FAILURE(status) || n == nullptr) {
    throw Error(ErrorCode::internal, std::string("ICU normalizer unavailable: ") + u_errorName(status));
  }
  return *n;
}

}  // namespace

char32_t next_code_point(std::string_view s, std::size_t& i) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  auto cont = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  char32_t cp = 0;
  if (b0 < 0xE0) {
    cp = (static_cast<char32_t>(b0 & 0x1F) << 6) | cont(1);
    i += 2;
  } else if (b0 < 0xF0) {
    cp = (static_cast<char32_t>(b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2);
    i += 3;
  } else {
    cp = (static_cast<char32_t>(b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
    i += 4;
  }
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  auto put = [&](char32_t v) { out.push_back(static_cast<char>(static_cast<unsigned char>(v))); };
  if (cp < 0x80) {
    put(cp);
  } else if (cp < 0x800) {
    put(0xC0 | (cp >> 6));
    put(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    put(0xE0 | (cp >> 12));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  } else {
    put(0xF0 | (cp >> 18));
    put(0x80 | ((cp >> 12) & 0x3F));
    put(0x80 | ((cp >> 6) & 0x3F));
    put(0x80 | (cp & 0x3F));
  }
}

bool is_numeric_char(char32_t cp) noexcept {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  const auto type = u_charType(as_icu(cp));
  return type == U_DECIMAL_DIGIT_NUMBER || type == U_LETTER_NUMBER || type == U_OTHER_NUMBER;
}

bool is_word_char(char32_t cp) noexcept {
  if (cp < 0x80) return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
  const UChar32 c = as_icu(cp);
  if (u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL)) return true;
  const auto mask = U_GET_GC_MASK(c);
  return (mask & (U_GC_M_MASK | U_GC_ND_MASK | U_GC_PC_MASK)) != 0;
}

bool is_white_space(char32_t cp) noexcept {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  return u_hasBinaryProperty(as_icu(cp), UCHAR_WHITE_SPACE) != 0;
}

void append_utf8_lossy(std::string& out, std::string_view bytes) {
  std::size_t i = 0;
  std::size_t run_start = 0;  // start of the current run of valid bytes, copied in one go
  while (i < bytes.size()) {
    std::size_t bad_len = 0;
    const std::size_t n = valid_sequence_length(bytes, i, bad_len);
    if (n != 0) {
      i += n;
      continue;
    }
    out.append(bytes.substr(run_start, i - run_start));
    append_utf8(out, kReplacement);
    i += bad_len;
    run_start = i;
  }
  out.append(bytes.substr(run_start));
}

std::string normalize_unicode(NormalForm form, std::string_view s) {
  bool ascii = true;
  for (const char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(s);  // every normalization form leaves ASCII alone
  if (s.size() > static_cast<std::size_t>(INT32_MAX)) {
    throw Error(ErrorCode::invalid_argument, "text too long to normalize (over 2 GiB)");
  }
  const icu::Normalizer2& n = normalizer_for(form);
  std::string out;
  out.reserve(s.size());
  icu::StringByteSink<std::string> sink(&out);
  UErrorCode status = U_ZERO_ERROR;
  n.normalizeUTF8(0, icu::StringPiece(s.data(), static_cast<int32_t>(s.size())), sink, nullptr, status);
  if (U_FAILURE(status)) {
    throw Error(ErrorCode::internal, std::string("ICU normalization failed: ") + u_errorName(status));
  }
  return out;
}

}  // namespace petalsln::text
