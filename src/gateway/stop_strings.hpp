#pragma once
// Stop strings over a stream of text pieces: text is released as soon as it cannot be the
// start of a stop string, and generation ends at the first stop string, which is cut (OpenAI)
// or kept (chat.petals.dev) as the caller asks.

#include <string>
#include <vector>

namespace petalsln::gateway {

/// Watches streamed text for any of a set of stop strings. Not thread-safe.
class StopStringFilter {
 public:
  /// @p stops are matched anywhere in the text (empty strings are ignored); with
  /// @p keep_stop the matched stop string is released with the text before it.
  explicit StopStringFilter(std::vector<std::string> stops, bool keep_stop = false);

  /// Adds @p piece and returns the text that is now safe to release. After a stop string
  /// matched, stopped() is true and further pieces are ignored.
  std::string push(const std::string& piece);

  /// Returns the text still held back (at the end of generation; nothing matched).
  std::string finish();

  /// True once a stop string matched.
  bool stopped() const noexcept { return stopped_; }

  /// The stop string that matched ("" before).
  const std::string& matched() const noexcept { return matched_; }

 private:
  std::size_t held_suffix_length() const;

  std::vector<std::string> stops_;
  bool keep_stop_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace petalsln::gateway
