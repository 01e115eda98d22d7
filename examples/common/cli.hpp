#pragma once
// A small, strict command-line parser shared by the example programs. Every flag is
// declared with its kind; unknown flags, missing values and malformed numbers are errors
// that name the flag, so scripts fail loudly instead of running with a guessed setting.

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "petalsln/util/error.hpp"

namespace petalsln::cli {

/// Raised for any malformed command line; the message is meant for the user.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses `--name value`, `--name=value` and boolean `--name` flags, plus positionals.
class Args {
 public:
  /// Declares a flag that takes a value.
  Args& option(const std::string& name) {
    takes_value_[name] = true;
    return *this;
  }
  /// Declares a boolean flag.
  Args& flag(const std::string& name) {
    takes_value_[name] = false;
    return *this;
  }

  /// Parses argv[first..argc). Throws UsageError on anything undeclared or incomplete.
  void parse(int argc, char** argv, int first = 1) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.size() < 3 || a.rfind("--", 0) != 0) {
        if (a == "-h") a = "--help";
        else {
          positionals_.push_back(a);
          continue;
        }
      }
      std::string name = a.substr(2), value;
      bool inline_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        inline_value = true;
      }
      auto it = takes_value_.find(name);
      if (it == takes_value_.end()) throw UsageError("unknown option --" + name);
      if (values_.count(name) != 0) throw UsageError("option --" + name + " given twice");
      if (it->second && !inline_value) {
        if (i + 1 >= argc) throw UsageError("option --" + name + " needs a value");
        value = argv[++i];
      } else if (!it->second && inline_value) {
        throw UsageError("option --" + name + " takes no value");
      }
      values_[name] = value;
    }
  }

  /// True if the flag or option was given.
  bool has(const std::string& name) const { return values_.count(name) != 0; }

  /// The option's value, or @p fallback when absent.
  std::string str(const std::string& name, const std::string& fallback = "") const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }

  /// The option's value; throws UsageError when absent.
  std::string required(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) throw UsageError("missing required option --" + name);
    return it->second;
  }

  /// The option as an integer within [lo, hi], or @p fallback when absent.
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const {
    if (!has(name)) return fallback;
    const std::string v = str(name);
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE) throw UsageError("--" + name + " must be an integer, got \"" + v + "\"");
    if (x < lo || x > hi) {
      throw UsageError("--" + name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + v);
    }
    return x;
  }

  /// The option as a finite number, or @p fallback when absent.
  double number(const std::string& name, double fallback) const {
    if (!has(name)) return fallback;
    const std::string v = str(name);
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x)) {
      throw UsageError("--" + name + " must be a number, got \"" + v + "\"");
    }
    return x;
  }

  /// Arguments that were not flags, in order.
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  std::map<std::string, bool> takes_value_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positionals_;
};

/// Parses @p argv into @p args (which must declare the "help" flag) for a program that takes
/// no operands. Returns false after printing @p usage to stdout when --help was given, true
/// otherwise. Throws UsageError for a malformed command line or a stray operand.
inline bool parse_without_operands(Args& args, int argc, char** argv, const char* usage) {
  args.parse(argc, argv);
  if (args.has("help")) {
    std::fputs(usage, stdout);
    return false;
  }
  if (!args.positionals().empty()) throw UsageError("unexpected argument \"" + args.positionals()[0] + "\"");
  return true;
}

/// Runs @p body (a program's work, returning its exit status) and turns what escapes it into
/// the exit statuses every example shares, so no program reports errors its own way: a
/// UsageError prints "PROGRAM: WHAT" with a pointer to --help and exits 2; a petalsln::Error
/// prints "PROGRAM: error: WHAT" and exits 1; any other exception is marked unexpected.
template <typename Body>
int run_main(const char* program, Body&& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::fprintf(stderr, "%s: %s\n(see %s --help)\n", program, e.what(), program);
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: unexpected: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace petalsln::cli
