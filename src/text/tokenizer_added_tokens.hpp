#pragma once
// Added tokens (tokenizer.json "added_tokens"): found in the text before pre-tokenization,
// leftmost-longest, with HF's single_word / lstrip / rstrip rules.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "petalsln/util/token.hpp"
#include "text/tokenizer_function_ref.hpp"

namespace petalsln::text {

/// One entry of "added_tokens".
struct AddedToken {
  TokenId id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

/// Finds a set of added tokens in text. Built for either the tokens matched on raw text or
/// those matched on normalized text (then with their normalized spelling as @p patterns).
class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  /// @p tokens and @p patterns run in parallel: patterns[i] is what tokens[i] matches.
  AddedTokenMatcher(std::vector<AddedToken> tokens, const std::vector<std::string>& patterns);

  /// True if there is nothing to match.
  bool empty() const noexcept { return tokens_.empty(); }

  /// Cuts @p text into plain-text pieces (passed to @p on_text, possibly empty never) and
  /// added tokens (passed to @p on_token), in order. With @p skip_special, special tokens
  /// are left in the text, as HF does when asked to encode special tokens as text.
  void split(std::string_view text, bool skip_special, FunctionRef<void(std::string_view)> on_text,
             FunctionRef<void(TokenId)> on_token) const;

 private:
  struct Node {
    std::uint32_t first_edge = 0;
    std::uint32_t edge_count = 0;
    std::int32_t token = -1;  // index into tokens_ of the pattern ending here
  };
  struct Edge {
    unsigned char byte;
    std::uint32_t child;
  };
  // Longest pattern starting at @p pos: index into tokens_ and its length; -1 if none.
  std::int32_t longest_at(std::string_view text, std::size_t pos, std::size_t& length) const noexcept;
  bool accept(std::string_view text, const AddedToken& token, std::size_t& start, std::size_t& stop,
              std::size_t piece_start) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  bool first_byte_[256] = {};
};

}  // namespace petalsln::text
