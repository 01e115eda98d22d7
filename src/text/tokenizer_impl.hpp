#pragma once
// The state behind petalsln::Tokenizer: built once from tokenizer.json, then read-only.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "petalsln/text/tokenizer.hpp"
#include "text/bpe_model.hpp"
#include "text/pretokenizer.hpp"
#include "text/tokenizer_added_tokens.hpp"
#include "text/unicode_text.hpp"

namespace petalsln {

namespace text {
struct TokenizerJsonDocument;
}

struct Tokenizer::Impl {
  /// Builds everything from a parsed tokenizer.json (see tokenizer_json.cpp); takes over its
  /// vocabulary and merges.
  explicit Impl(text::TokenizerJsonDocument& doc);
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  /// Appends the ids of @p text (valid UTF-8); @p cache may be null.
  void encode(std::string_view text, bool skip_special, std::vector<TokenId>& out, text::WordCache* cache) const;

  /// Throws Error(out_of_range) unless @p id names a token.
  void require_id(TokenId id) const;
  /// True if @p id has a vocabulary entry; throws Error(out_of_range) for a negative id.
  bool decodable(TokenId id) const;
  /// The bytes @p id decodes to (before UTF-8 repair); require_id() first.
  std::string_view piece(TokenId id) const noexcept {
    const auto i = static_cast<std::size_t>(id);
    return std::string_view(pieces_).substr(piece_offsets_[i], piece_offsets_[i + 1] - piece_offsets_[i]);
  }
  bool special(TokenId id) const noexcept {
    return id >= 0 && static_cast<std::size_t>(id) < vocab_size && special_[static_cast<std::size_t>(id)] != 0;
  }

  std::vector<text::NormalForm> normalizers;
  text::PreTokenizer pre_tokenizer;
  text::BpeModel model;
  std::vector<text::AddedToken> added_tokens;
  std::unordered_map<std::string, TokenId> added_by_content;
  std::unordered_map<TokenId, std::string> added_by_id;
  text::AddedTokenMatcher raw_matcher;         // added tokens with normalized == false
  text::AddedTokenMatcher normalized_matcher;  // added tokens with normalized == true
  bool join_with_space = false;                // no decoder: HF joins tokens with " "
  std::string post_processor;                  // type name, recorded but not applied
  std::size_t vocab_size = 0;

 private:
  bool register_added(const text::AddedToken& token);
  void load_added_tokens(const nlohmann::json& added);
  void build_decode_tables(bool byte_level_decoder);
  void apply_normalized(std::string_view raw, bool skip_special, std::vector<TokenId>& out,
                        text::WordCache* cache) const;

  std::string pieces_;                        // decoded bytes of every id, back to back
  std::vector<std::uint32_t> piece_offsets_;  // vocab_size + 1 offsets into pieces_
  std::vector<std::uint8_t> known_;           // 1 where an id names a token
  std::vector<std::uint8_t> special_;
};

}  // namespace petalsln
