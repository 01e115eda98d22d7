#pragma once
// Base64 (RFC 4648): the standard alphabet (section 4) and the URL-safe one (section 5), with
// or without "=" padding. Macaroons travel in both forms: Aperture and LND write standard
// padded base64, the macaroon libraries write URL-safe unpadded base64.

#include <string>
#include <string_view>

namespace petalsln::util {

/// Which 64-character alphabet a base64 text uses.
enum class Base64Alphabet {
  standard,  ///< "A-Z a-z 0-9 + /" (RFC 4648 section 4).
  url_safe,  ///< "A-Z a-z 0-9 - _" (RFC 4648 section 5).
  either,    ///< Decoding only: accept either alphabet, but never both in one text.
};

/// Whether a base64 text carries "=" padding to a multiple of four characters.
enum class Base64Padding {
  padded,    ///< Encoding: pad. Decoding: padding is required.
  unpadded,  ///< Encoding: do not pad. Decoding: padding is refused.
  optional,  ///< Decoding only: accept both (exactly the right padding, or none).
};

/// Returns the base64 form of @p bytes in @p alphabet, padded or not per @p padding.
/// Throws Error(invalid_argument) if @p alphabet is `either` or @p padding is `optional`
/// (those are decoding choices).
std::string base64_encode(std::string_view bytes, Base64Alphabet alphabet = Base64Alphabet::standard,
                          Base64Padding padding = Base64Padding::padded);

/// Decodes @p text strictly: only characters of the chosen @p alphabet (no whitespace, no
/// mixing of alphabets under `either`), padding as @p padding says, a length that some byte
/// string encodes to, and zero bits in the unused low bits of the last character (so every
/// byte string has exactly one accepted text per alphabet and padding).
/// Returns the bytes. Throws Error(invalid_format) naming @p what and the offending offset.
std::string base64_decode(std::string_view text, Base64Alphabet alphabet = Base64Alphabet::standard,
                          Base64Padding padding = Base64Padding::optional, const char* what = "base64 text");

}  // namespace petalsln::util
