#pragma once
/// @file tokenizer.hpp
/// Hugging Face tokenizer.json byte-level BPE tokenizers (Llama 3, Qwen 2/3, SmolLM, GPT-2
/// style), giving the same ids and text as the `tokenizers` library.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "petalsln/util/token.hpp"

namespace petalsln {

/// A loaded tokenizer. Copies are cheap and share the same immutable tables; every method is
/// safe to call from several threads at once.
///
/// Supported: model "BPE" (byte-level, or character-level with unk_token / byte_fallback /
/// fuse_unk), ignore_merges, merges as ["a","b"] pairs or "a b" strings; normalizers NFC, NFD,
/// NFKC, NFKD and Sequence; pre-tokenizers Sequence, Split (Regex or String, every behavior,
/// invert), ByteLevel and Digits; decoder ByteLevel or none; added tokens with their
/// single_word / lstrip / rstrip / normalized / special flags. Post-processors, truncation and
/// padding are read but never applied: encode() adds no BOS or EOS.
class Tokenizer {
 public:
  /// Parses the text of a tokenizer.json. Throws Error(invalid_format) for malformed JSON or
  /// an inconsistent model (e.g. a merge naming a token that is not in the vocabulary, a
  /// duplicated or negative id), Error(unsupported) naming a model, normalizer,
  /// pre-tokenizer or decoder type (or option) that petalsln does not implement.
  static Tokenizer from_json(const std::string& tokenizer_json_text);

  /// Loads `<model_dir>/tokenizer.json`. Throws like from_json(), plus Error(not_found) or
  /// Error(io) if the file cannot be read.
  static Tokenizer load(const std::string& model_dir);

  /// Returns the ids of @p text. Added tokens are found first; with @p parse_special false,
  /// special ones among them (e.g. "<|eot_id|>") are encoded as plain text. Never adds BOS.
  /// Throws Error(invalid_argument) if @p text is not valid UTF-8.
  std::vector<TokenId> encode(std::string_view text, bool parse_special = true) const;

  /// Returns the text of @p ids; with @p skip_special, special tokens are left out. Byte
  /// sequences that are not valid UTF-8 become U+FFFD, as in `tokenizers`. Ids the
  /// vocabulary does not contain (a model's padding rows) decode to nothing, as in
  /// `tokenizers`. Throws Error(out_of_range) for a negative id.
  std::string decode(const std::vector<TokenId>& ids, bool skip_special = false) const;

  /// Returns the id of @p token, spelled as in tokenizer.json (byte-level, e.g. "Ġthe"; added
  /// tokens by their content), or nullopt if there is none.
  std::optional<TokenId> token_to_id(std::string_view token) const;

  /// Returns the vocabulary entry of @p id, spelled as in tokenizer.json. Throws
  /// Error(out_of_range) if no token has that id.
  std::string id_to_token(TokenId id) const;

  /// Returns the largest id + 1 over the model vocabulary and the added tokens.
  std::size_t vocab_size() const;

  /// Returns true if @p id is an added token marked special (false for any other id,
  /// including ids outside the vocabulary).
  bool is_special(TokenId id) const;

  /// Internal state, shared by copies and by TokenStreamDecoder.
  struct Impl;

 private:
  explicit Tokenizer(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend class TokenStreamDecoder;
};

/// Turns a growing sequence of token ids into text as it arrives (e.g. while generating).
/// Text that ends inside a multi-byte UTF-8 character is held back until the character is
/// complete, so the pieces concatenate to exactly what Tokenizer::decode returns for the
/// whole sequence. Keeps the tokenizer's tables alive on its own.
class TokenStreamDecoder {
 public:
  /// Starts an empty stream over @p tokenizer's vocabulary; with @p skip_special, special
  /// tokens produce no text.
  explicit TokenStreamDecoder(const Tokenizer& tokenizer, bool skip_special = true);

  /// Appends @p id and returns the text that became complete (possibly empty). An id the
  /// vocabulary does not contain adds nothing (as in decode()). Throws Error(out_of_range)
  /// for a negative id (the stream is then unchanged).
  std::string push(TokenId id);

  /// Returns whatever is still held back (an incomplete character becomes U+FFFD) and
  /// resets the stream for reuse.
  std::string finish();

 private:
  std::shared_ptr<const Tokenizer::Impl> impl_;
  bool skip_special_;
  bool any_token_ = false;  // for decoders that put a space between tokens
  std::string pending_;
};

}  // namespace petalsln
