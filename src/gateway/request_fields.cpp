#include "gateway/request_fields.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "gateway/api_error.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/random.hpp"

namespace petalsln::gateway {

namespace {

const nlohmann::json* field(const nlohmann::json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

[[noreturn]] void wrong(const char* name, const std::string& what) { throw bad_request("'" + std::string(name) + "' " + what, name); }

std::string range_text(double low, double high) {
  auto show = [](double v) {
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  return "[" + show(low) + ", " + show(high) + "]";
}

}  // namespace

nlohmann::json parse_json_object(const std::string& body) {
  nlohmann::json value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) throw bad_request("the request body is not valid JSON", "", "invalid_json");
  if (!value.is_object()) throw bad_request("the request body must be a JSON object", "", "invalid_json");
  return value;
}

std::optional<std::string> json_string(const nlohmann::json& object, const char* name, std::size_t max_bytes) {
  const auto* v = field(object, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) wrong(name, "must be a string");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_bytes) wrong(name, "is longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

std::optional<std::int64_t> json_integer(const nlohmann::json& object, const char* name, std::int64_t low, std::int64_t high) {
  const auto* v = field(object, name);
  if (v == nullptr) return std::nullopt;
  std::int64_t n = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) wrong(name, "is too large");
    n = v->get<std::int64_t>();
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9.0e15) wrong(name, "must be an integer");
    n = static_cast<std::int64_t>(d);
  } else {
    wrong(name, "must be an integer");
  }
  if (n < low || n > high) wrong(name, "must be in [" + std::to_string(low) + ", " + std::to_string(high) + "]; got " + std::to_string(n));
  return n;
}

std::optional<double> json_number(const nlohmann::json& object, const char* name, double low, double high) {
  const auto* v = field(object, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) wrong(name, "must be a number");
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < low || d > high) wrong(name, "must be a finite number in " + range_text(low, high));
  return d;
}

std::optional<bool> json_bool(const nlohmann::json& object, const char* name) {
  const auto* v = field(object, name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) wrong(name, "must be true or false");
  return v->get<bool>();
}

std::vector<std::string> json_string_list(const nlohmann::json& object, const char* name, std::size_t max_count,
                                          std::size_t max_bytes) {
  const auto* v = field(object, name);
  if (v == nullptr) return {};
  std::vector<std::string> out;
  auto take = [&](const nlohmann::json& item) {
    if (!item.is_string()) wrong(name, "must be a string or a list of strings");
    const auto& s = item.get_ref<const std::string&>();
    if (s.empty()) wrong(name, "must not hold an empty string");
    if (s.size() > max_bytes) wrong(name, "holds a string longer than " + std::to_string(max_bytes) + " bytes");
    out.push_back(s);
  };
  if (v->is_array()) {
    if (v->size() > max_count) wrong(name, "holds more than " + std::to_string(max_count) + " strings");
    for (const auto& item : *v) take(item);
  } else {
    take(*v);
  }
  return out;
}

std::optional<std::int64_t> form_integer(const std::map<std::string, std::string>& form, const char* name, std::int64_t low,
                                         std::int64_t high) {
  const auto it = form.find(name);
  if (it == form.end() || it->second.empty()) return std::nullopt;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  const long long n = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) wrong(name, "must be an integer; got \"" + s.substr(0, 32) + "\"");
  if (n < low || n > high) wrong(name, "must be in [" + std::to_string(low) + ", " + std::to_string(high) + "]; got " + std::to_string(n));
  return static_cast<std::int64_t>(n);
}

std::optional<double> form_number(const std::map<std::string, std::string>& form, const char* name, double low, double high) {
  const auto it = form.find(name);
  if (it == form.end() || it->second.empty()) return std::nullopt;
  const std::string& s = it->second;
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size()) wrong(name, "must be a number; got \"" + s.substr(0, 32) + "\"");
  if (!std::isfinite(d) || d < low || d > high) wrong(name, "must be a finite number in " + range_text(low, high));
  return d;
}

std::optional<bool> form_bool(const std::map<std::string, std::string>& form, const char* name) {
  const auto it = form.find(name);
  if (it == form.end() || it->second.empty()) return std::nullopt;
  std::string s = it->second;
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "1" || s == "true") return true;
  if (s == "0" || s == "false") return false;
  wrong(name, "must be 0, 1, true or false");
}

SamplingParams petals_sampling(std::optional<bool> do_sample, std::optional<double> temperature, std::optional<std::int64_t> top_k,
                               std::optional<double> top_p, std::optional<double> repetition_penalty) {
  SamplingParams p;
  p.greedy = !do_sample.value_or(false);
  if (temperature) p.temperature = static_cast<float>(*temperature);
  if (top_k) p.top_k = static_cast<int>(*top_k);
  if (top_p) p.top_p = static_cast<float>(*top_p);
  if (repetition_penalty) p.repetition_penalty = static_cast<float>(*repetition_penalty);
  p.seed = random_seed();
  try {
    p.validate();
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  return p;
}

std::uint64_t random_seed() {
  std::uint64_t seed = 0;
  util::random_bytes(reinterpret_cast<std::uint8_t*>(&seed), sizeof seed);
  return seed;
}

std::string random_id(const std::string& prefix) {
  std::uint8_t bytes[12];
  util::random_bytes(bytes, sizeof bytes);
  return prefix + util::to_hex(bytes, sizeof bytes);
}

}  // namespace petalsln::gateway
