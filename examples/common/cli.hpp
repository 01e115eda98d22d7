#pragma once
// What the example programs' command lines share, on top of CLI11 (Debian libcli11-dev): one
// help layout, strict numbers, flags that take no value, options given at most once, and one
// set of exit statuses, so every program reports a bad command line the same way and scripts
// fail loudly instead of running with a guessed setting.
//
// A program builds a CLI::App, calls configure() on it, declares its options (integers with
// integer_in(), other numbers with number_in()), and runs inside run_main():
//
//   CLI::App app{"What the program does.", "petalsln-x"};
//   cli::configure(app, "petalsln-x --in FILE [options]");
//   app.add_option("--in", in, "the input (required)")->option_text("FILE")->required();
//   cli::add_help_flag(app, "Options");
//   return cli::run_main("petalsln-x", [&] {
//     if (!cli::parse(app, argc, argv)) return 0;  // --help printed
//     ...
//   });

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "petalsln/model/weight_format.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::cli {

/// A malformed command line that the program finds after parsing (options that exclude each
/// other, a value checked against the model). The message is meant for the user; run_main()
/// turns it into exit status 2, as it does CLI11's own parse errors.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The column where option descriptions start in every program's help.
inline constexpr std::size_t kHelpColumn = 27;

namespace detail {

/// Reads all of @p text as a base-10 integer; nullopt for anything else or out of int64 range.
inline std::optional<std::int64_t> parse_integer(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) return std::nullopt;
  return value;
}

/// Reads all of @p text as a finite number; nullopt for anything else.
inline std::optional<double> parse_number(const std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(value)) return std::nullopt;
  return value;
}

/// Formats a bound for a message: integers as integers, fractions as written (0.001).
inline std::string bound(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace detail

/// A CLI11 transform for an integer option: accepts a base-10 integer within [lo, hi] and hands
/// it on in canonical decimal (CLI11 by itself would read "010" as octal and "0x10" as hex).
/// Refusals read "--NAME: must be an integer, got "X"" and "--NAME: must be between LO and HI,
/// got X". Attach it with Option::transform().
inline CLI::Validator integer_in(std::int64_t lo, std::int64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        const auto value = detail::parse_integer(text);
        if (!value) return "must be an integer, got \"" + text + "\"";
        if (*value < lo || *value > hi) {
          return "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + text;
        }
        text = std::to_string(*value);
        return {};
      },
      "", "integer_in");
}

/// A CLI11 check for a number option: accepts a finite number within [lo, hi] (by default any
/// finite number). Refusals read "--NAME: must be a number, got "X"" and "--NAME: must be
/// between LO and HI, got X". Attach it with Option::check().
inline CLI::Validator number_in(double lo = -HUGE_VAL, double hi = HUGE_VAL) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        const auto value = detail::parse_number(text);
        if (!value) return "must be a number, got \"" + text + "\"";
        if (*value < lo || *value > hi) {
          return "must be between " + detail::bound(lo) + " and " + detail::bound(hi) + ", got " + text;
        }
        return {};
      },
      "", "number_in");
}

/// Checks @p value of option @p name against [lo, hi] where the bounds are known only after
/// parsing (the model's block count) or only one command uses the option. Returns @p value;
/// throws UsageError "--NAME must be between LO and HI, got VALUE" otherwise.
inline std::int64_t check_range(const std::string& name, std::int64_t value, std::int64_t lo, std::int64_t hi) {
  if (value < lo || value > hi) {
    throw UsageError(name + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                     std::to_string(value));
  }
  return value;
}

/// Declares `--dtype f32|bf16|f16` and `--quant none|int8` on @p app in option group
/// @p group, bound to @p dtype and @p quant (left "" when not given: the defaults). Every
/// program that loads blocks offers the same pair, read by weight_format() after parsing.
inline void add_weight_format_options(CLI::App& app, std::string& dtype, std::string& quant, const std::string& group) {
  app.add_option("--dtype", dtype, "keep the weights computed here in memory as f32, bf16 or f16\n(default f32; products accumulate in float32)")
      ->option_text("T")->group(group);
  app.add_option("--quant", quant, "none, or int8: weight-only int8 with a scale per 32 weights\n(default none; overrides --dtype)")
      ->option_text("Q")->group(group);
}

/// The weight format that --dtype @p dtype and --quant @p quant choose (see
/// weight_format_from_flags()). Throws UsageError with the library's message, which names the
/// flag and its accepted values, for any other value: exit status 2 like every bad flag.
inline WeightFormat weight_format(const std::string& dtype, const std::string& quant) {
  try {
    return weight_format_from_flags(dtype, quant);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

/// The help layout of every example program: "usage: " and the program's own synopsis, its
/// description, its commands (each with its operands, description and options), its option
/// groups in the order first declared, and its footer. Names fill a kHelpColumn-wide field and
/// descriptions may hold line breaks (continued at that column), as the hand-written help of
/// these programs always had.
class HelpFormatter : public CLI::Formatter {
 public:
  /// @p usage is the synopsis after "usage: " (several lines allowed).
  explicit HelpFormatter(std::string usage) : usage_(std::move(usage)) { column_width(kHelpColumn); }

  /// Returns the whole help text of @p app (the name and mode CLI11 passes are not used: the
  /// synopsis is the program's own and commands are always shown with their options).
  std::string make_help(const CLI::App* app, std::string, CLI::AppFormatMode) const override {
    std::string out = "usage: " + usage_ + "\n";
    if (!app->get_description().empty()) out += "\n" + app->get_description() + "\n";
    out += make_subcommands(app, CLI::AppFormatMode::Normal);
    for (const std::string& group : app->get_groups()) out += option_group(app, group);
    if (!app->get_footer().empty()) out += "\n" + app->get_footer() + "\n";
    return out;
  }

  /// Returns each command group's heading and, per command, its synopsis ("pay BOLT11"), its
  /// description and its options, indented under it.
  std::string make_subcommands(const CLI::App* app, CLI::AppFormatMode) const override {
    std::vector<std::string> groups;
    for (const CLI::App* sub : app->get_subcommands({})) {
      if (std::find(groups.begin(), groups.end(), sub->get_group()) == groups.end()) groups.push_back(sub->get_group());
    }
    std::ostringstream out;
    for (const std::string& group : groups) {
      out << "\n" << group << ":\n";
      for (const CLI::App* sub : app->get_subcommands({})) {
        if (sub->get_group() != group) continue;
        std::string synopsis = sub->get_name();
        for (const CLI::Option* operand : sub->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
          synopsis += " " + (operand->get_option_text().empty() ? operand->get_name() : operand->get_option_text());
        }
        out << help_line("  " + synopsis, sub->get_description());
        for (const CLI::Option* opt : sub->get_options()) {
          if (opt->get_positional() || opt == sub->get_help_ptr() || opt->get_group().empty()) continue;
          out << help_line("    " + make_option_name(opt, false) + make_option_opts(opt), make_option_desc(opt));
        }
      }
    }
    return out.str();
  }

  /// Returns the help line(s) of option @p opt.
  std::string make_option(const CLI::Option* opt, bool positional) const override {
    return help_line("  " + make_option_name(opt, positional) + make_option_opts(opt), make_option_desc(opt));
  }

  /// Returns "-h, --help" where CLI11 would write "-h,--help".
  std::string make_option_name(const CLI::Option* opt, bool positional) const override {
    std::string names = CLI::Formatter::make_option_name(opt, positional);
    for (std::size_t at = names.find(','); at != std::string::npos; at = names.find(',', at + 2)) names.insert(at + 1, " ");
    return names;
  }

 private:
  // @p name (indented already), then @p description from the help column on, its line breaks
  // continued at that column; on the next line when the name leaves less than two spaces.
  std::string help_line(const std::string& name, const std::string& description) const {
    std::string out = name;
    if (!description.empty()) {
      if (out.size() + 2 > column_width_) out += "\n" + std::string(column_width_, ' ');
      else out.append(column_width_ - out.size(), ' ');
      for (const char c : description) {
        out += c;
        if (c == '\n') out.append(column_width_, ' ');
      }
    }
    return out + "\n";
  }

  // "\nGROUP:\n" and one line (or more) per option of @p app in @p group.
  std::string option_group(const CLI::App* app, const std::string& group) const {
    const auto options = app->get_options([&group](const CLI::Option* o) { return o->get_group() == group && o->nonpositional(); });
    if (group.empty() || options.empty()) return {};
    std::string out = "\n" + group + ":\n";
    for (const CLI::Option* opt : options) out += make_option(opt, false);
    return out;
  }

  std::string usage_;
};

/// Gives @p app the conventions every example program shares: the help layout of
/// HelpFormatter with synopsis @p usage, flags that refuse "--flag=VALUE", options (and flags)
/// that may be given once only, and no help flag yet (add_help_flag() adds it last, in the
/// group where the help lists it). Commands added afterwards inherit all of it.
inline void configure(CLI::App& app, const std::string& usage) {
  app.formatter(std::make_shared<HelpFormatter>(usage));
  app.option_defaults()->disable_flag_override()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  app.set_help_flag();
}

/// Adds flag @p name (e.g. "--json") bound to @p target, described by @p description, to
/// @p app. Like every option here it may be given once only: CLI11 lets a flag repeat (keeping
/// the last), which these programs have always refused. Returns the flag.
inline CLI::Option* add_flag(CLI::App& app, const std::string& name, bool& target, const std::string& description) {
  return app.add_flag(name, target, description)->multi_option_policy(CLI::MultiOptionPolicy::Throw);
}

/// Adds "-h, --help" ("show this help", or @p description) to @p app, listed in option group
/// @p group; call it after the program's other options so that it comes last in its group.
/// Returns the flag.
inline CLI::Option* add_help_flag(CLI::App& app, const std::string& group, const std::string& description = "show this help") {
  return app.set_help_flag("-h,--help", description)->group(group);
}

namespace detail {

// @p app and every command below it, so an option can be found wherever it was declared.
inline std::vector<const CLI::App*> with_subcommands(const CLI::App& app) {
  std::vector<const CLI::App*> all{&app};
  for (std::size_t i = 0; i < all.size(); ++i) {
    for (const CLI::App* sub : all[i]->get_subcommands({})) all.push_back(sub);
  }
  return all;
}

// True if CLI11's message @p what starts with a name of @p opt: its display name ("--prompt:
// 1 required TEXT missing") or a long name as typed ("json was given a disallowed flag override").
inline bool names_option(const std::string& what, const CLI::Option& opt) {
  std::vector<std::string> names = opt.get_lnames();
  names.push_back(opt.get_name());
  for (const std::string& name : names) {
    if (!name.empty() && (what.rfind(name + ":", 0) == 0 || what.rfind(name + " ", 0) == 0)) return true;
  }
  return false;
}

// CLI11 reports a flag given a value, an option given twice and an option missing its value as
// one kind of error (ArgumentMismatch) in its own words; these programs have always said which
// of the three it was ("option --prompt needs a value"), and scripts look for those words.
inline std::string explain_mismatch(const CLI::App& app, const CLI::ArgumentMismatch& e) {
  const std::string what = e.what();
  for (const CLI::App* a : with_subcommands(app)) {
    for (const CLI::Option* opt : a->get_options()) {
      if (!names_option(what, *opt)) continue;
      const std::string name = opt->get_name();
      if (opt->count() > 1) return "option " + name + " given twice";
      if (opt->get_items_expected_max() == 0) return "option " + name + " takes no value";
      return "option " + name + " needs a value";
    }
  }
  return what;
}

}  // namespace detail

/// Returns the whole help text of @p app (configured with configure()), also when a command
/// was parsed (App::help() would then give the command's).
inline std::string help_text(const CLI::App& app) {
  return app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
}

/// Parses @p argv into @p app (configured with configure()). Returns false after printing the
/// program's whole help to stdout when -h/--help was given (to a command too), true otherwise.
/// Throws UsageError, with CLI11's message (or the clearer one above), for a malformed command
/// line: an unknown option or stray argument, a missing required option, a bad value.
inline bool parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(help_text(app).c_str(), stdout);
    return false;
  } catch (const CLI::ArgumentMismatch& e) {
    throw UsageError(detail::explain_mismatch(app, e));
  } catch (const CLI::ParseError& e) {
    throw UsageError(e.what());
  }
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
