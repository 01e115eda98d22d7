#include "gateway/stop_strings.hpp"

#include <algorithm>

namespace petalsln::gateway {

StopStringFilter::StopStringFilter(std::vector<std::string> stops, bool keep_stop) : keep_stop_(keep_stop) {
  for (auto& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string StopStringFilter::push(const std::string& piece) {
  if (stopped_) return {};
  pending_ += piece;
  // The earliest match wins, so text before it is never cut by a later, longer stop string.
  std::size_t best = std::string::npos;
  for (const auto& stop : stops_) {
    const std::size_t at = pending_.find(stop);
    if (at != std::string::npos && (best == std::string::npos || at < best)) {
      best = at;
      matched_ = stop;
    }
  }
  if (best != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, best) + (keep_stop_ ? matched_ : std::string());
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that could still grow into a stop string.
  const std::size_t held = held_suffix_length();
  std::string out = pending_.substr(0, pending_.size() - held);
  pending_.erase(0, pending_.size() - held);
  return out;
}

std::string StopStringFilter::finish() {
  std::string out;
  out.swap(pending_);
  return out;
}

std::size_t StopStringFilter::held_suffix_length() const {
  std::size_t longest = 0;
  for (const auto& stop : stops_) {
    // A proper prefix of the stop string that is a suffix of the pending text.
    const std::size_t most = std::min(stop.size() - 1, pending_.size());
    for (std::size_t n = most; n > longest; --n) {
      if (pending_.compare(pending_.size() - n, n, stop, 0, n) == 0) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

}  // namespace petalsln::gateway
