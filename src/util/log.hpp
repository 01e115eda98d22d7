#pragma once
// Minimal leveled logging to stderr. The level comes from PETALSLN_LOG
// (error|warn|info|debug; default warn) so library users are not spammed.
// Never pass secrets (keys, preimages, macaroons) to these functions.

#include <string>

namespace petalsln::util {

enum class LogLevel { error = 0, warn = 1, info = 2, debug = 3 };

/// Returns the active level (read once from PETALSLN_LOG).
LogLevel log_level() noexcept;
/// Overrides the active level for this process.
void set_log_level(LogLevel level) noexcept;
/// Writes "petalsln <level>: <message>" to stderr if @p level is enabled.
void log(LogLevel level, const std::string& message);

}  // namespace petalsln::util
