#include "text/tokenizer_added_tokens.hpp"

#include <algorithm>
#include <map>

#include "text/unicode_text.hpp"

namespace petalsln::text {

namespace {

// Code point that ends right before byte @p end of @p s (valid UTF-8, end > 0).
char32_t code_point_before(std::string_view s, std::size_t end) noexcept {
  std::size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return next_code_point(s, start);
}

// Start of the run of whitespace that ends at @p end.
std::size_t whitespace_run_start(std::string_view s, std::size_t end) noexcept {
  while (end > 0) {
    std::size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    std::size_t i = start;
    if (!is_white_space(next_code_point(s, i))) break;
    end = start;
  }
  return end;
}

// End of the run of whitespace that starts at @p begin.
std::size_t whitespace_run_end(std::string_view s, std::size_t begin) noexcept {
  while (begin < s.size()) {
    std::size_t i = begin;
    if (!is_white_space(next_code_point(s, i))) break;
    begin = i;
  }
  return begin;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens, const std::vector<std::string>& patterns)
    : tokens_(std::move(tokens)) {
  // Build a map-based trie first, then flatten it into sorted edge arrays.
  struct BuildNode {
    std::map<unsigned char, std::size_t> children;
    std::int32_t token = -1;
  };
  std::vector<BuildNode> build(1);
  for (std::size_t t = 0; t < patterns.size(); ++t) {
    if (patterns[t].empty()) continue;
    first_byte_[static_cast<unsigned char>(patterns[t][0])] = true;
    std::size_t node = 0;
    for (const char c : patterns[t]) {
      const auto b = static_cast<unsigned char>(c);
      auto it = build[node].children.find(b);
      if (it == build[node].children.end()) {
        build.emplace_back();
        it = build[node].children.emplace(b, build.size() - 1).first;
      }
      node = it->second;
    }
    if (build[node].token < 0) build[node].token = static_cast<std::int32_t>(t);  // first one wins
  }
  nodes_.resize(build.size());
  for (std::size_t n = 0; n < build.size(); ++n) {
    nodes_[n].first_edge = static_cast<std::uint32_t>(edges_.size());
    nodes_[n].edge_count = static_cast<std::uint32_t>(build[n].children.size());
    nodes_[n].token = build[n].token;
    for (const auto& [byte, child] : build[n].children) edges_.push_back({byte, static_cast<std::uint32_t>(child)});
  }
}

std::int32_t AddedTokenMatcher::longest_at(std::string_view text, std::size_t pos, std::size_t& length) const noexcept {
  std::int32_t best = -1;
  std::uint32_t node = 0;
  for (std::size_t i = pos; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    const Node& n = nodes_[node];
    const auto* first = edges_.data() + n.first_edge;
    const auto* last = first + n.edge_count;
    const auto* e = std::lower_bound(first, last, b, [](const Edge& edge, unsigned char v) { return edge.byte < v; });
    if (e == last || e->byte != b) break;
    node = e->child;
    if (nodes_[node].token >= 0) {
      best = nodes_[node].token;
      length = i + 1 - pos;
    }
  }
  return best;
}

// Applies single_word, lstrip and rstrip to a match at [start, stop); false if rejected.
bool AddedTokenMatcher::accept(std::string_view text, const AddedToken& token, std::size_t& start, std::size_t& stop,
                               std::size_t piece_start) const {
  if (token.single_word) {
    const bool word_before = start > 0 && is_word_char(code_point_before(text, start));
    std::size_t after = stop;
    const bool word_after = stop < text.size() && is_word_char(next_code_point(text, after));
    if (word_before || word_after) return false;
  }
  if (token.lstrip) start = std::max(whitespace_run_start(text, start), piece_start);
  if (token.rstrip) stop = whitespace_run_end(text, stop);
  return true;
}

void AddedTokenMatcher::split(std::string_view text, bool skip_special, FunctionRef<void(std::string_view)> on_text,
                              FunctionRef<void(TokenId)> on_token) const {
  std::size_t piece_start = 0;  // start of the text not yet handed out
  std::size_t pos = 0;          // where the search for the next match resumes
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    std::size_t length = 0;
    const std::int32_t index = longest_at(text, pos, length);
    if (index < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[static_cast<std::size_t>(index)];
    std::size_t start = pos;
    std::size_t stop = pos + length;
    pos = stop;  // like Aho-Corasick's non-overlapping iteration, even when the match is dropped
    if (start < piece_start) continue;  // inside the whitespace a previous rstrip took
    if (skip_special && token.special) continue;
    if (!accept(text, token, start, stop, piece_start)) continue;
    if (piece_start < start) on_text(text.substr(piece_start, start - piece_start));
    on_token(token.id);
    piece_start = stop;
    pos = std::max(pos, stop);
  }
  if (piece_start < text.size()) on_text(text.substr(piece_start));
}

}  // namespace petalsln::text
