#include "util/uri.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "petalsln/util/error.hpp"

namespace petalsln::util {
namespace {

constexpr std::size_t kMaxHostLength = 253;  // the longest DNS name

[[noreturn]] void bad(const std::string& why) { throw Error(ErrorCode::invalid_argument, why); }

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

bool is_scheme_char(char c) { return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.'; }
bool is_host_char(char c) { return is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_'; }

// RFC 3986 userinfo: unreserved, sub-delims, ':' and percent-escapes.
bool is_userinfo_char(char c) {
  return is_alpha(c) || is_digit(c) || std::strchr("-._~!$&'()*+,;=:%", c) != nullptr;
}

// Decodes @p text; @p where names the part in errors ("query parameter 2").
std::string decode(std::string_view text, bool plus_as_space, const std::string& where) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      const bool two_follow = i + 2 < text.size();
      const int hi = two_follow ? hex_value(text[i + 1]) : -1;
      const int lo = two_follow ? hex_value(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        bad(where + " has a malformed percent-escape (a '%' must start a %-escape of two hexadecimal digits)");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (text[i] == '+' && plus_as_space) {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

// Checks the escapes of a part that is kept as written.
void check_escapes(std::string_view text, const std::string& where) { (void)decode(text, false, where); }

void check_characters(std::string_view text, const UriOptions& options) {
  if (text.size() > options.max_length) {
    bad("the URI is longer than " + std::to_string(options.max_length) + " characters");
  }
  const auto control = std::find_if(text.begin(), text.end(), is_control);
  if (control != text.end()) {
    bad("the URI contains a control character (at offset " + std::to_string(control - text.begin()) + ")");
  }
}

// Splits "scheme:" off @p rest.
std::string take_scheme(std::string_view& rest) {
  const std::size_t colon = rest.find(':');
  const std::string_view scheme = rest.substr(0, colon);
  if (colon == std::string_view::npos || scheme.empty() || !is_alpha(scheme.front()) ||
      !std::all_of(scheme.begin(), scheme.end(), is_scheme_char)) {
    bad("the URI must start with a scheme and ':' (a letter, then letters, digits, '+', '-' or '.')");
  }
  rest.remove_prefix(colon + 1);
  return std::string(scheme);
}

std::uint16_t parse_port(std::string_view text) {
  if (text.empty()) bad("the port after ':' is empty");
  if (text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
    bad("the port must be a number from 1 to 65535");
  }
  unsigned long value = 0;
  for (const char c : text) value = value * 10 + static_cast<unsigned long>(c - '0');
  if (value == 0 || value > 65535) bad("the port must be a number from 1 to 65535");
  return static_cast<std::uint16_t>(value);
}

// "[IPv6]" and what follows it (nothing, or ":port").
void parse_ipv6_host(std::string_view hostport, Uri& out) {
  const std::size_t close = hostport.find(']');
  if (close == std::string_view::npos) bad("unterminated '[' in the host");
  const std::string inner(hostport.substr(1, close - 1));
  in6_addr address{};
  if (inner.empty() || ::inet_pton(AF_INET6, inner.c_str(), &address) != 1) bad("malformed IPv6 host");
  out.host = std::string(hostport.substr(0, close + 1));
  const std::string_view after = hostport.substr(close + 1);
  if (after.empty()) return;
  if (after.front() != ':') bad("unexpected text after the IPv6 host");
  out.port = parse_port(after.substr(1));
}

void parse_authority(std::string_view authority, Uri& out) {
  const std::size_t at = authority.find('@');
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    if (!std::all_of(userinfo.begin(), userinfo.end(), is_userinfo_char)) {
      bad("the user information before '@' contains a character that is not allowed");
    }
    check_escapes(userinfo, "the user information");
    out.userinfo = std::string(userinfo);
    authority.remove_prefix(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') return parse_ipv6_host(authority, out);
  const std::size_t colon = authority.find(':');
  const std::string_view host = authority.substr(0, colon);
  if (host.size() > kMaxHostLength) bad("the host is longer than " + std::to_string(kMaxHostLength) + " characters");
  if (!std::all_of(host.begin(), host.end(), is_host_char)) {
    bad("the host must be a name or an IP address (letters, digits, '.', '-', '_')");
  }
  out.host = std::string(host);
  if (colon != std::string_view::npos) out.port = parse_port(authority.substr(colon + 1));
}

void parse_query(std::string_view query, const UriOptions& options, Uri& out) {
  out.query = std::string(query);
  std::size_t number = 1;
  for (;;) {
    const std::size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    const std::size_t eq = piece.find('=');
    const std::string where = "query parameter " + std::to_string(number);
    UriParam param;
    param.key = decode(piece.substr(0, eq), options.plus_as_space, where);
    if (eq != std::string_view::npos) param.value = decode(piece.substr(eq + 1), options.plus_as_space, where);
    out.params.push_back(std::move(param));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
    ++number;
  }
}

}  // namespace

Uri Uri::parse(std::string_view text, const UriOptions& options) {
  check_characters(text, options);
  Uri out;
  std::string_view rest = text;
  out.scheme = take_scheme(rest);
  const std::size_t hash = rest.find('#');
  if (hash != std::string_view::npos) {
    check_escapes(rest.substr(hash + 1), "the fragment");
    out.fragment = std::string(rest.substr(hash + 1));
    rest = rest.substr(0, hash);
  }
  const std::size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    parse_query(rest.substr(question + 1), options, out);
    rest = rest.substr(0, question);
  }
  if (rest.substr(0, 2) == "//") {
    out.has_authority = true;
    rest.remove_prefix(2);
    const std::size_t slash = rest.find('/');
    parse_authority(rest.substr(0, slash), out);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  }
  check_escapes(rest, "the path");
  out.path = std::string(rest);
  return out;
}

std::optional<std::string> Uri::param(std::string_view key) const {
  for (const auto& p : params) {
    if (p.key == key) return p.value;
  }
  return std::nullopt;
}

std::size_t Uri::param_count(std::string_view key) const {
  return static_cast<std::size_t>(
      std::count_if(params.begin(), params.end(), [&](const UriParam& p) { return p.key == key; }));
}

std::string percent_decode(std::string_view text, bool plus_as_space) { return decode(text, plus_as_space, "the text"); }

}  // namespace petalsln::util
