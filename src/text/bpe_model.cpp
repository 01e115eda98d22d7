#include "text/bpe_model.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "petalsln/util/error.hpp"
#include "text/bpe_byte_level.hpp"
#include "text/unicode_text.hpp"

namespace petalsln::text {

namespace {

constexpr TokenId kRemoved = -1;
// Ids may leave holes (tokenizers sometimes do), but not so many that a hostile file could
// make us allocate gigabytes for a handful of entries.
constexpr std::size_t kMaxHoles = std::size_t{1} << 20;
// Longer words are rare and mostly unique: caching them would only churn the cache.
constexpr std::size_t kMaxCachedWord = 256;

[[noreturn]] void malformed(const std::string& what) {
  throw Error(ErrorCode::invalid_format, "tokenizer.json: model." + what);
}

std::size_t utf8_length(unsigned char lead) noexcept {
  if (lead < 0xC0) return 1;
  if (lead < 0xE0) return 2;
  if (lead < 0xF0) return 3;
  return 4;
}

// Scratch space of the merge loop, reused by every word a thread encodes.
struct MergeScratch {
  struct Node {
    TokenId id;
    std::int32_t prev;
    std::int32_t next;
  };
  struct Candidate {
    std::uint32_t rank;
    std::int32_t pos;
    TokenId merged;
  };
  std::vector<Node> nodes;
  std::vector<Candidate> heap;
  std::vector<TokenId> symbols;
};

MergeScratch& scratch() {
  thread_local MergeScratch s;
  return s;
}

// Orders the heap so that the lowest rank, then the leftmost position, comes out first:
// the order in which HF applies merges.
bool pops_later(const MergeScratch::Candidate& a, const MergeScratch::Candidate& b) noexcept {
  return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
}

}  // namespace

// ---- PairTable ----

void PairTable::reserve(std::size_t count) {
  std::size_t capacity = 16;
  int bits = 4;
  while (capacity < count * 2) {
    capacity <<= 1;
    ++bits;
  }
  slots_.assign(capacity, Slot{kEmpty, Entry{0, 0}});
  mask_ = capacity - 1;
  shift_ = 64 - bits;
}

std::size_t PairTable::slot_of(std::uint64_t key) const noexcept {
  return static_cast<std::size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_);
}

void PairTable::assign(TokenId left, TokenId right, Entry entry) {
  const std::uint64_t key = (std::uint64_t{static_cast<std::uint32_t>(left)} << 32) | static_cast<std::uint32_t>(right);
  for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
    if (slots_[i].key == kEmpty || slots_[i].key == key) {
      slots_[i] = Slot{key, entry};
      return;
    }
  }
}

const PairTable::Entry* PairTable::find(TokenId left, TokenId right) const noexcept {
  if (slots_.empty()) return nullptr;
  const std::uint64_t key = (std::uint64_t{static_cast<std::uint32_t>(left)} << 32) | static_cast<std::uint32_t>(right);
  for (std::size_t i = slot_of(key);; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return &slots_[i].entry;
    if (slots_[i].key == kEmpty) return nullptr;
  }
}

// ---- TokenIndex ----

std::uint64_t TokenIndex::hash_of(std::string_view s) noexcept { return std::hash<std::string_view>{}(s); }

void TokenIndex::build(const std::vector<std::string>& strings, const std::vector<std::uint8_t>& present) {
  strings_ = &strings;
  std::size_t capacity = 16;
  while (capacity < strings.size() * 2) capacity <<= 1;
  slots_.assign(capacity, Slot{0, -1});
  mask_ = capacity - 1;
  for (std::size_t id = 0; id < strings.size(); ++id) {
    if (present[id] == 0) continue;
    const std::uint64_t hash = hash_of(strings[id]);
    std::size_t i = hash & mask_;
    bool duplicate = false;
    for (; slots_[i].id >= 0; i = (i + 1) & mask_) {
      if (slots_[i].hash == hash && strings[static_cast<std::size_t>(slots_[i].id)] == strings[id]) {
        duplicate = true;
        break;
      }
    }
    if (!duplicate) slots_[i] = Slot{hash, static_cast<TokenId>(id)};
  }
}

TokenId TokenIndex::find(std::string_view s) const noexcept {
  if (slots_.empty()) return -1;
  const std::uint64_t hash = hash_of(s);
  for (std::size_t i = hash & mask_; slots_[i].id >= 0; i = (i + 1) & mask_) {
    if (slots_[i].hash == hash && (*strings_)[static_cast<std::size_t>(slots_[i].id)] == s) return slots_[i].id;
  }
  return -1;
}

// ---- WordCache ----

void WordCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  keys_.clear();
  ids_.clear();
  count_ = 0;
}

bool WordCache::find(std::string_view word, std::uint64_t hash, std::vector<TokenId>& out) const {
  if (slots_.empty()) return false;
  for (std::size_t i = hash & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
    const Slot& s = slots_[i];
    if (s.hash == 0) return false;
    if (s.hash == hash && std::string_view(keys_).substr(s.key_offset, s.key_length) == word) {
      out.insert(out.end(), ids_.begin() + s.ids_offset, ids_.begin() + s.ids_offset + s.ids_length);
      return true;
    }
  }
}

void WordCache::insert(std::string_view word, std::uint64_t hash, const TokenId* ids, std::size_t count) {
  constexpr std::size_t kMaxArena = std::size_t{16} << 20;
  if (slots_.empty()) slots_.resize(kSlots);
  if (count_ >= kSlots / 2 || keys_.size() + word.size() > kMaxArena || ids_.size() + count > kMaxArena) clear();
  std::size_t i = hash & (kSlots - 1);
  while (slots_[i].hash != 0) i = (i + 1) & (kSlots - 1);
  slots_[i] = Slot{hash, static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(word.size()),
                   static_cast<std::uint32_t>(ids_.size()), static_cast<std::uint32_t>(count)};
  keys_.append(word);
  ids_.insert(ids_.end(), ids, ids + count);
  ++count_;
}

// ---- BpeModel ----

BpeModel::BpeModel(BpeConfig config)
    : fuse_unk_(config.fuse_unk),
      byte_fallback_(config.byte_fallback),
      ignore_merges_(config.ignore_merges),
      byte_level_(config.byte_level) {
  load_vocab(config.vocab);
  load_merges(config.merges);
  if (config.unk_token) {
    unk_id_ = token_to_id(*config.unk_token);
    if (!unk_id_) malformed("unk_token \"" + *config.unk_token + "\" is not in the vocabulary");
  }
}

void BpeModel::load_vocab(std::vector<std::pair<std::string, TokenId>>& vocab) {
  std::size_t limit = 0;
  for (const auto& [token, id] : vocab) {
    if (id < 0) malformed("vocab: token \"" + token + "\" has negative id " + std::to_string(id));
    limit = std::max(limit, static_cast<std::size_t>(id) + 1);
  }
  if (limit > vocab.size() + kMaxHoles) malformed("vocab: ids are too sparse (largest is " + std::to_string(limit - 1) + ")");
  tokens_.assign(limit, std::string());
  present_.assign(limit, 0);
  for (auto& [token, id] : vocab) {
    const auto slot = static_cast<std::size_t>(id);
    if (present_[slot] != 0) {
      malformed("vocab: id " + std::to_string(id) + " is used by both \"" + tokens_[slot] + "\" and \"" + token + "\"");
    }
    present_[slot] = 1;
    tokens_[slot] = std::move(token);
  }
  index_.build(tokens_, present_);
  byte_ids_.fill(-1);
  fallback_ids_.fill(-1);
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    fallback_ids_[static_cast<std::size_t>(b)] = token_to_id(name).value_or(-1);
  }
  if (!byte_level_) return;
  // Tokens outside the byte alphabet can never come out of byte-level BPE: not indexed.
  raw_tokens_.assign(limit, std::string());
  std::vector<std::uint8_t> decodable(limit, 0);
  for (std::size_t id = 0; id < limit; ++id) {
    if (present_[id] != 0 && byte_level_decode(tokens_[id], raw_tokens_[id])) decodable[id] = 1;
  }
  raw_index_.build(raw_tokens_, decodable);
  for (int b = 0; b < 256; ++b) {
    const char byte = static_cast<char>(b);
    byte_ids_[static_cast<std::size_t>(b)] = raw_index_.find(std::string_view(&byte, 1));
  }
}

void BpeModel::load_merges(const std::vector<std::pair<std::string, std::string>>& merges) {
  merges_.reserve(merges.size());
  std::string joined;
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    // Plain references, not a structured binding: C++17 does not let the lambda below
    // capture bindings (GCC allows it; clang, which builds the fuzzers, refuses).
    const std::string& left = merges[rank].first;
    const std::string& right = merges[rank].second;
    const auto describe = [&] { return "merges[" + std::to_string(rank) + "] (\"" + left + "\", \"" + right + "\")"; };
    const auto left_id = token_to_id(left);
    const auto right_id = token_to_id(right);
    if (!left_id || !right_id) {
      malformed(describe() + " refers to \"" + (left_id ? right : left) + "\", which is not in the vocabulary");
    }
    joined.assign(left).append(right);
    const auto merged_id = token_to_id(joined);
    if (!merged_id) malformed(describe() + " makes \"" + joined + "\", which is not in the vocabulary");
    merges_.assign(*left_id, *right_id, PairTable::Entry{static_cast<std::uint32_t>(rank), *merged_id});
  }
}

std::optional<TokenId> BpeModel::token_to_id(std::string_view token) const {
  const TokenId id = index_.find(token);
  if (id < 0) return std::nullopt;
  return id;
}

const std::string* BpeModel::id_to_token(TokenId id) const noexcept {
  if (id < 0 || static_cast<std::size_t>(id) >= tokens_.size() || present_[static_cast<std::size_t>(id)] == 0) {
    return nullptr;
  }
  return &tokens_[static_cast<std::size_t>(id)];
}

std::optional<TokenId> BpeModel::word_to_id(std::string_view word) const {
  if (!byte_level_) return token_to_id(word);
  const TokenId id = raw_index_.find(word);
  if (id < 0) return std::nullopt;
  return id;
}

// A character that is not in the vocabulary becomes its "<0xAB>" byte tokens (byte_fallback),
// else the unknown token (fused with a preceding one when fuse_unk), else nothing: HF's order.
void BpeModel::unknown_symbol(std::string_view spelled, std::vector<TokenId>& symbols, bool& pending_unk) const {
  if (byte_fallback_) {
    const bool all_known = std::all_of(spelled.begin(), spelled.end(),
                                       [&](char c) { return fallback_ids_[static_cast<unsigned char>(c)] >= 0; });
    if (all_known) {
      // Like HF, a pending unknown token is not flushed before the fallback bytes.
      for (const char c : spelled) symbols.push_back(fallback_ids_[static_cast<unsigned char>(c)]);
      return;
    }
  }
  if (!unk_id_) return;
  if (pending_unk && !fuse_unk_) symbols.push_back(*unk_id_);
  pending_unk = true;
}

void BpeModel::initial_symbols(std::string_view word, std::vector<TokenId>& symbols) const {
  bool pending_unk = false;
  std::string spelled;  // only used for unknown characters
  std::size_t i = 0;
  while (i < word.size()) {
    const auto lead = static_cast<unsigned char>(word[i]);
    const std::size_t length = byte_level_ ? 1 : std::min(utf8_length(lead), word.size() - i);
    const std::optional<TokenId> id =
        byte_level_ ? (byte_ids_[lead] >= 0 ? std::optional<TokenId>(byte_ids_[lead]) : std::nullopt)
                    : token_to_id(word.substr(i, length));
    if (id) {
      if (pending_unk) symbols.push_back(*unk_id_);
      pending_unk = false;
      symbols.push_back(*id);
    } else {
      spelled.clear();
      if (byte_level_) {
        append_utf8(spelled, byte_level_char(lead));
      } else {
        spelled.assign(word.substr(i, length));
      }
      unknown_symbol(spelled, symbols, pending_unk);
    }
    i += length;
  }
  if (pending_unk) symbols.push_back(*unk_id_);
}

void BpeModel::merge(std::vector<TokenId>& symbols) const {
  if (symbols.size() < 2) return;
  MergeScratch& s = scratch();
  const auto n = static_cast<std::int32_t>(symbols.size());
  s.nodes.resize(symbols.size());
  s.heap.clear();
  for (std::int32_t i = 0; i < n; ++i) {
    s.nodes[static_cast<std::size_t>(i)] = {symbols[static_cast<std::size_t>(i)], i - 1, i + 1 < n ? i + 1 : -1};
    if (i + 1 < n) {
      if (const auto* e = merges_.find(symbols[static_cast<std::size_t>(i)], symbols[static_cast<std::size_t>(i) + 1])) {
        s.heap.push_back({e->rank, i, e->merged});
      }
    }
  }
  std::make_heap(s.heap.begin(), s.heap.end(), pops_later);
  const auto push = [&](std::int32_t pos, TokenId left, TokenId right) {
    if (const auto* e = merges_.find(left, right)) {
      s.heap.push_back({e->rank, pos, e->merged});
      std::push_heap(s.heap.begin(), s.heap.end(), pops_later);
    }
  };
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), pops_later);
    const MergeScratch::Candidate top = s.heap.back();
    s.heap.pop_back();
    auto& left = s.nodes[static_cast<std::size_t>(top.pos)];
    if (left.id == kRemoved || left.next < 0) continue;
    auto& right = s.nodes[static_cast<std::size_t>(left.next)];
    // A stale candidate: the pair at this position changed since it was queued.
    const auto* current = merges_.find(left.id, right.id);
    if (current == nullptr || current->merged != top.merged) continue;
    left.id = top.merged;
    right.id = kRemoved;
    left.next = right.next;
    if (left.next >= 0) s.nodes[static_cast<std::size_t>(left.next)].prev = top.pos;
    if (left.prev >= 0) push(left.prev, s.nodes[static_cast<std::size_t>(left.prev)].id, left.id);
    if (left.next >= 0) push(top.pos, left.id, s.nodes[static_cast<std::size_t>(left.next)].id);
  }
  symbols.clear();
  for (std::int32_t i = 0; i >= 0; i = s.nodes[static_cast<std::size_t>(i)].next) {
    symbols.push_back(s.nodes[static_cast<std::size_t>(i)].id);
  }
  // One huge word must not pin its scratch memory to the thread for good.
  constexpr std::size_t kKeep = std::size_t{1} << 16;
  if (s.nodes.capacity() > kKeep) std::vector<MergeScratch::Node>().swap(s.nodes);
  if (s.heap.capacity() > kKeep) std::vector<MergeScratch::Candidate>().swap(s.heap);
}

void BpeModel::encode_word(std::string_view word, std::vector<TokenId>& out, WordCache* cache) const {
  if (word.empty()) return;
  if (word.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(ErrorCode::invalid_argument, "a single word of " + std::to_string(word.size()) + " bytes is too long to encode");
  }
  // The cache comes first: it is small and hot, while the vocabulary lookup of
  // ignore_merges is a likely cache miss. Either way the result is the same.
  const bool cacheable = cache != nullptr && word.size() < kMaxCachedWord;
  const std::uint64_t hash = cacheable ? (std::hash<std::string_view>{}(word) | 1u) : 0;
  if (cacheable && cache->find(word, hash, out)) return;
  std::vector<TokenId>& symbols = scratch().symbols;
  symbols.clear();
  const std::optional<TokenId> whole = ignore_merges_ ? word_to_id(word) : std::nullopt;
  if (whole) {
    symbols.push_back(*whole);
  } else {
    initial_symbols(word, symbols);
    merge(symbols);
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
  if (cacheable) cache->insert(word, hash, symbols.data(), symbols.size());
}

}  // namespace petalsln::text
