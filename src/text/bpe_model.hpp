#pragma once
// The BPE model of tokenizer.json: vocabulary, merge ranks and the merge loop, with a cache of
// encoded words. Works on raw bytes when the pre-tokenizer is byte-level, else on characters.

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "petalsln/util/token.hpp"

namespace petalsln::text {

/// What tokenizer.json's "model" says, already type-checked.
struct BpeConfig {
  std::vector<std::pair<std::string, TokenId>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  std::optional<std::string> unk_token;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
  bool byte_level = false;  ///< words are raw bytes, spelled through the GPT-2 byte alphabet
};

/// Merge ranks keyed by the pair of ids, in an open-addressing table (one probe usually).
class PairTable {
 public:
  struct Entry {
    std::uint32_t rank;
    TokenId merged;
  };
  /// Sizes the table for @p count pairs.
  void reserve(std::size_t count);
  /// Sets the entry of (left, right); a later merge of the same pair replaces the earlier one.
  void assign(TokenId left, TokenId right, Entry entry);
  /// The entry of (left, right), or nullptr.
  const Entry* find(TokenId left, TokenId right) const noexcept;

 private:
  struct Slot {
    std::uint64_t key;
    Entry entry;
  };
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  std::size_t slot_of(std::uint64_t key) const noexcept;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  int shift_ = 64;
};

/// Maps strings to ids for a table of strings owned elsewhere (which must outlive it and not
/// change): open addressing on 64-bit hashes, so a lookup touches one slot and one string.
class TokenIndex {
 public:
  /// Indexes strings[id] for every id with present[id] != 0 (the first of equal strings wins).
  void build(const std::vector<std::string>& strings, const std::vector<std::uint8_t>& present);
  /// The id of @p s, or -1.
  TokenId find(std::string_view s) const noexcept;

 private:
  struct Slot {
    std::uint64_t hash;
    TokenId id;  // -1: empty
  };
  static std::uint64_t hash_of(std::string_view s) noexcept;
  const std::vector<std::string>* strings_ = nullptr;
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

/// Encoded words by their bytes; cleared when full so memory stays bounded.
class WordCache {
 public:
  /// Appends the cached ids of @p word to @p out; false if absent.
  bool find(std::string_view word, std::uint64_t hash, std::vector<TokenId>& out) const;
  /// Remembers @p ids for @p word.
  void insert(std::string_view word, std::uint64_t hash, const TokenId* ids, std::size_t count);

 private:
  struct Slot {
    std::uint64_t hash = 0;  // 0: empty
    std::uint32_t key_offset = 0;
    std::uint32_t key_length = 0;
    std::uint32_t ids_offset = 0;
    std::uint32_t ids_length = 0;
  };
  static constexpr std::size_t kSlots = std::size_t{1} << 17;
  void clear();
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<TokenId> ids_;
  std::size_t count_ = 0;
};

/// The BPE model. Immutable after construction except for its internally locked cache.
class BpeModel {
 public:
  /// Builds the model and validates it: ids must be non-negative and unique, every merge must
  /// join two vocabulary entries into a third. Throws Error(invalid_format) naming the
  /// offending entry.
  explicit BpeModel(BpeConfig config);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  /// Appends the ids of one pre-tokenized @p word. @p cache may be null (no caching).
  void encode_word(std::string_view word, std::vector<TokenId>& out, WordCache* cache) const;

  /// The id of vocabulary entry @p token (as spelled in tokenizer.json).
  std::optional<TokenId> token_to_id(std::string_view token) const;
  /// The vocabulary entry of @p id, or nullptr if no entry has that id.
  const std::string* id_to_token(TokenId id) const noexcept;
  /// Largest id + 1 (0 for an empty vocabulary).
  std::size_t id_limit() const noexcept { return tokens_.size(); }
  /// Whether words are raw bytes (byte-level model).
  bool byte_level() const noexcept { return byte_level_; }

  /// Locks the shared word cache if no other thread holds it; the guard owns the lock.
  std::unique_lock<std::mutex> try_lock_cache() const { return std::unique_lock<std::mutex>(cache_mutex_, std::try_to_lock); }
  /// The shared word cache; use only while holding try_lock_cache()'s lock.
  WordCache& cache() const noexcept { return cache_; }

 private:
  void load_vocab(std::vector<std::pair<std::string, TokenId>>& vocab);
  void load_merges(const std::vector<std::pair<std::string, std::string>>& merges);
  void initial_symbols(std::string_view word, std::vector<TokenId>& symbols) const;
  void unknown_symbol(std::string_view spelled, std::vector<TokenId>& symbols, bool& pending_unk) const;
  void merge(std::vector<TokenId>& symbols) const;
  std::optional<TokenId> word_to_id(std::string_view word) const;

  std::vector<std::string> tokens_;  // by id; empty with present_[id] == 0 for holes
  std::vector<std::uint8_t> present_;
  TokenIndex index_;                     // over tokens_
  std::vector<std::string> raw_tokens_;  // byte-level: token bytes by id
  TokenIndex raw_index_;                 // over raw_tokens_
  std::array<TokenId, 256> byte_ids_{};  // byte-level: id of each single byte, -1 if none
  std::array<TokenId, 256> fallback_ids_{};  // byte_fallback: id of "<0xAB>", -1 if none
  PairTable merges_;
  std::optional<TokenId> unk_id_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  bool byte_level_ = false;

  mutable std::mutex cache_mutex_;
  mutable WordCache cache_;
};

}  // namespace petalsln::text
