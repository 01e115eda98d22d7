// The L402 challenge: `L402 macaroon="...", invoice="..."` (RFC 7235 auth-params).
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "lightning/l402/l402_header.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

constexpr const char* kWhat = "L402 challenge";

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::invalid_format, std::string(kWhat) + ": " + message);
}

// RFC 7230 tchar: the characters of a parameter name or bare value.
bool is_tchar(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Walks the parameter list: name BWS "=" BWS (token / quoted-string), separated by commas.
class ParamReader {
 public:
  explicit ParamReader(std::string_view text) : text_(text) {}

  // Reads the next parameter into @p name / @p value; returns false at the end.
  bool next(std::string& name, std::string& value) {
    skip_separators();
    if (pos_ == text_.size()) return false;
    name = token("a parameter name");
    skip_space();
    if (pos_ == text_.size() || text_[pos_] != '=') fail("expected '=' after parameter \"" + name + "\"");
    ++pos_;
    skip_space();
    value = (pos_ < text_.size() && text_[pos_] == '"') ? quoted() : token("a parameter value", true);
    skip_space();
    if (pos_ < text_.size() && text_[pos_] != ',') fail("expected ',' after parameter \"" + name + "\"");
    return true;
  }

 private:
  void skip_space() {
    while (pos_ < text_.size() && l402_header::is_space(text_[pos_])) ++pos_;
  }
  // Empty list elements (", ,") are allowed by RFC 7230's #rule.
  void skip_separators() {
    while (pos_ < text_.size() && (text_[pos_] == ',' || l402_header::is_space(text_[pos_]))) ++pos_;
  }
  // A name is a token; a bare value may also be token68 (base64 with '/' and '=').
  std::string token(const char* what, bool value = false) {
    const std::size_t start = pos_;
    auto allowed = [value](char c) { return is_tchar(c) || (value && (c == '/' || c == '=')); };
    while (pos_ < text_.size() && allowed(text_[pos_])) ++pos_;
    if (pos_ == start) fail(std::string("expected ") + what + " at offset " + std::to_string(start));
    return std::string(text_.substr(start, pos_ - start));
  }
  std::string quoted() {
    const std::size_t start = pos_++;
    std::string out;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      if (text_[pos_] == '\\' && ++pos_ == text_.size()) break;
      out += text_[pos_++];
    }
    if (pos_ == text_.size()) fail("unterminated quoted value starting at offset " + std::to_string(start));
    ++pos_;
    return out;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

bool iequals_ascii(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != lower[i]) return false;
  }
  return true;
}

void take(std::optional<std::string>& slot, const std::string& name, std::string value) {
  if (slot) fail("parameter \"" + name + "\" appears twice");
  if (value.empty()) fail("parameter \"" + name + "\" is empty");
  slot = std::move(value);
}

}  // namespace

std::string L402Challenge::to_header(L402Scheme scheme) const {
  if (!l402_header::plausible_invoice(invoice)) {
    throw Error(ErrorCode::invalid_argument,
                "L402 challenge: the invoice must be a BOLT11 string (\"ln\", letters and digits, at most " +
                    std::to_string(max_invoice_size) + " characters)");
  }
  return std::string(l402_header::scheme_name(scheme)) + " macaroon=\"" + macaroon.to_base64() + "\", invoice=\"" +
         invoice + "\"";
}

L402Challenge L402Challenge::parse(std::string_view header) {
  std::string_view rest;
  l402_header::read_scheme(header, kWhat, rest);
  std::optional<std::string> mac_text;
  std::optional<std::string> invoice;
  ParamReader reader(rest);
  std::string name;
  std::string value;
  while (reader.next(name, value)) {
    if (iequals_ascii(name, "macaroon")) {
      take(mac_text, name, std::move(value));
    } else if (iequals_ascii(name, "invoice")) {
      take(invoice, name, std::move(value));
    }  // other parameters are ignored, as RFC 7235 asks of recipients
  }
  if (!mac_text) fail("no macaroon parameter");
  if (!invoice) fail("no invoice parameter");
  if (!l402_header::plausible_invoice(*invoice)) {
    fail("the invoice is not a BOLT11 string (\"ln\", letters and digits, at most " +
         std::to_string(max_invoice_size) + " characters)");
  }
  return L402Challenge{Macaroon::from_base64(*mac_text), std::move(*invoice)};
}

}  // namespace petalsln
