#include "lightning/l402/l402_header.hpp"

#include <algorithm>

#include "petalsln/util/error.hpp"

namespace petalsln::l402_header {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto up = [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; };
           return up(x) == up(y);
         });
}

bool is_alnum(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

const char* scheme_name(L402Scheme scheme) noexcept { return scheme == L402Scheme::lsat ? "LSAT" : "L402"; }

L402Scheme read_scheme(std::string_view header, const char* what, std::string_view& rest) {
  if (header.size() > kL402MaxHeaderSize) {
    throw Error(ErrorCode::invalid_format, std::string(what) + ": header of " + std::to_string(header.size()) +
                                               " bytes exceeds the limit of " + std::to_string(kL402MaxHeaderSize));
  }
  const std::string_view text = trim(header);
  if (text.empty()) throw Error(ErrorCode::invalid_format, std::string(what) + ": empty header");
  std::size_t end = 0;
  while (end < text.size() && !is_space(text[end])) ++end;
  const std::string_view name = text.substr(0, end);
  L402Scheme scheme = L402Scheme::l402;
  if (iequals(name, "LSAT")) {
    scheme = L402Scheme::lsat;
  } else if (!iequals(name, "L402")) {
    throw Error(ErrorCode::unsupported, std::string(what) + ": scheme \"" + std::string(name.substr(0, 32)) +
                                            "\" is not L402 or LSAT");
  }
  rest = trim(text.substr(end));
  if (rest.empty()) throw Error(ErrorCode::invalid_format, std::string(what) + ": nothing after the scheme name");
  return scheme;
}

bool plausible_invoice(std::string_view invoice) noexcept {
  return invoice.size() > 2 && invoice.size() <= L402Challenge::max_invoice_size &&
         (invoice[0] == 'l' || invoice[0] == 'L') && (invoice[1] == 'n' || invoice[1] == 'N') &&
         std::all_of(invoice.begin(), invoice.end(), is_alnum);
}

}  // namespace petalsln::l402_header
