#include "petalsln/text/tokenizer.hpp"

#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "text/tokenizer_impl.hpp"
#include "util/utf8.hpp"

namespace petalsln {

namespace {

// The largest tokenizer.json we read (real ones are 2-35 MB).
constexpr std::size_t kMaxTokenizerJson = std::size_t{512} << 20;

}  // namespace

void Tokenizer::Impl::require_id(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= vocab_size || known_[static_cast<std::size_t>(id)] == 0) {
    throw Error(ErrorCode::out_of_range, "token id " + std::to_string(id) + " is not in the vocabulary (size " +
                                             std::to_string(vocab_size) + ")");
  }
}

// Normalizes the text between raw added tokens, then finds the added tokens that match
// normalized text, then pre-tokenizes and encodes what is left.
void Tokenizer::Impl::apply_normalized(std::string_view raw, bool skip_special, std::vector<TokenId>& out,
                                       text::WordCache* cache) const {
  const auto on_word = [&](std::string_view word) { model.encode_word(word, out, cache); };
  const auto on_text = [&](std::string_view piece) { pre_tokenizer.run(piece, on_word); };
  const auto on_token = [&](TokenId id) { out.push_back(id); };
  std::string normalized;
  std::string_view view = raw;
  if (!normalizers.empty()) {
    normalized.assign(raw);
    for (const auto form : normalizers) normalized = text::normalize_unicode(form, normalized);
    view = normalized;
  }
  if (normalized_matcher.empty()) {
    on_text(view);
  } else {
    normalized_matcher.split(view, skip_special, on_text, on_token);
  }
}

void Tokenizer::Impl::encode(std::string_view text, bool skip_special, std::vector<TokenId>& out,
                             text::WordCache* cache) const {
  const auto on_text = [&](std::string_view piece) { apply_normalized(piece, skip_special, out, cache); };
  const auto on_token = [&](TokenId id) { out.push_back(id); };
  if (raw_matcher.empty()) {
    on_text(text);
  } else {
    raw_matcher.split(text, skip_special, on_text, on_token);
  }
}

Tokenizer Tokenizer::load(const std::string& model_dir) {
  const std::string path = util::join_path(model_dir, "tokenizer.json");
  const std::string text = util::read_file(path, kMaxTokenizerJson);
  try {
    return from_json(text);
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  }
}

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool parse_special) const {
  util::require_valid_utf8(text, "text to encode");
  std::vector<TokenId> ids;
  ids.reserve(text.size() / 4 + 4);
  // One encode at a time uses the shared word cache; a concurrent one runs without it
  // rather than wait.
  const auto lock = impl_->model.try_lock_cache();
  impl_->encode(text, !parse_special, ids, lock.owns_lock() ? &impl_->model.cache() : nullptr);
  return ids;
}

bool Tokenizer::Impl::decodable(TokenId id) const {
  if (id < 0) throw Error(ErrorCode::out_of_range, "token id " + std::to_string(id) + " is negative");
  // A model's embedding matrix is often padded past the tokenizer's vocabulary (e.g. 448
  // rows for 420 tokens). A model can emit those ids; `tokenizers` decodes them to nothing,
  // and so do we, so generated text matches transformers'.
  return static_cast<std::size_t>(id) < vocab_size && known_[static_cast<std::size_t>(id)] != 0;
}

std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool skip_special) const {
  std::string bytes;
  bool first = true;
  for (const TokenId id : ids) {
    if (!impl_->decodable(id)) continue;
    if (skip_special && impl_->special(id)) continue;
    if (impl_->join_with_space && !first) bytes += ' ';
    first = false;
    bytes += impl_->piece(id);
  }
  std::string text;
  text.reserve(bytes.size());
  text::append_utf8_lossy(text, bytes);
  return text;
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
  // Added tokens take precedence, as in HF.
  const auto it = impl_->added_by_content.find(std::string(token));
  if (it != impl_->added_by_content.end()) return it->second;
  return impl_->model.token_to_id(token);
}

std::string Tokenizer::id_to_token(TokenId id) const {
  impl_->require_id(id);
  const auto it = impl_->added_by_id.find(id);
  if (it != impl_->added_by_id.end()) return it->second;
  return *impl_->model.id_to_token(id);
}

std::size_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

bool Tokenizer::is_special(TokenId id) const { return impl_->special(id); }

// ---- TokenStreamDecoder ----

TokenStreamDecoder::TokenStreamDecoder(const Tokenizer& tokenizer, bool skip_special)
    : impl_(tokenizer.impl_), skip_special_(skip_special) {}

std::string TokenStreamDecoder::push(TokenId id) {
  if (!impl_->decodable(id)) return {};
  if (skip_special_ && impl_->special(id)) return {};
  if (impl_->join_with_space && any_token_) pending_ += ' ';
  any_token_ = true;
  pending_ += impl_->piece(id);
  // Emit up to the last complete character; the held-back tail is at most 3 bytes.
  const std::size_t ready = util::complete_utf8_prefix(pending_);
  std::string text;
  text::append_utf8_lossy(text, std::string_view(pending_).substr(0, ready));
  pending_.erase(0, ready);
  return text;
}

std::string TokenStreamDecoder::finish() {
  std::string text;
  text::append_utf8_lossy(text, pending_);
  pending_.clear();
  any_token_ = false;
  return text;
}

}  // namespace petalsln
