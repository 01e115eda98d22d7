#include "gateway/form_body.hpp"

#include "gateway/api_error.hpp"
#include "util/utf8.hpp"

namespace petalsln::gateway {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode_component(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      const int hi = i + 2 < s.size() ? hex_value(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) throw bad_request("malformed form body: a '%' escape needs two hex digits");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  if (util::find_invalid_utf8(out) != std::string_view::npos) throw bad_request("malformed form body: a field is not valid UTF-8");
  return out;
}

}  // namespace

std::map<std::string, std::string> parse_form(std::string_view text, std::size_t max_fields) {
  std::map<std::string, std::string> fields;
  std::size_t count = 0;
  while (!text.empty()) {
    const std::size_t amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (pair.empty()) continue;
    if (++count > max_fields) throw bad_request("form body has more than " + std::to_string(max_fields) + " fields");
    const std::size_t eq = pair.find('=');
    const std::string key = decode_component(pair.substr(0, eq));
    fields[key] = eq == std::string_view::npos ? std::string() : decode_component(pair.substr(eq + 1));
  }
  return fields;
}

}  // namespace petalsln::gateway
