#include "util/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace petalsln::util {
namespace {

LogLevel level_from_env() noexcept {
  const char* v = std::getenv("PETALSLN_LOG");
  if (v == nullptr) return LogLevel::warn;
  if (std::strcmp(v, "error") == 0) return LogLevel::error;
  if (std::strcmp(v, "info") == 0) return LogLevel::info;
  if (std::strcmp(v, "debug") == 0) return LogLevel::debug;
  return LogLevel::warn;
}

std::atomic<int>& level_storage() noexcept {
  static std::atomic<int> level{static_cast<int>(level_from_env())};
  return level;
}

const char* level_name(LogLevel l) noexcept {
  switch (l) {
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
  }
  return "?";
}

}  // namespace

LogLevel log_level() noexcept { return static_cast<LogLevel>(level_storage().load()); }

void set_log_level(LogLevel level) noexcept { level_storage().store(static_cast<int>(level)); }

void log(LogLevel level, const std::string& message) {
  if (static_cast<int>(level) > level_storage().load()) return;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "petalsln %s: %s\n", level_name(level), message.c_str());
}

}  // namespace petalsln::util
