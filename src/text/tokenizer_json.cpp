// Reading tokenizer.json into Tokenizer::Impl: every field is type-checked, and anything
// petalsln does not implement is refused by name rather than silently mis-tokenized.

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "petalsln/util/error.hpp"
#include "text/bpe_byte_level.hpp"
#include "text/tokenizer_impl.hpp"
#include "text/tokenizer_json_reader.hpp"

namespace petalsln {

namespace {

using nlohmann::json;

[[noreturn]] void malformed(const std::string& what) { throw Error(ErrorCode::invalid_format, "tokenizer.json: " + what); }

[[noreturn]] void unsupported(const std::string& what) { throw Error(ErrorCode::unsupported, "tokenizer.json: " + what); }

const json& field(const json& object, const char* key) {
  static const json null_value;
  const auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

bool flag(const json& object, const char* key, bool fallback, const std::string& where) {
  const json& v = field(object, key);
  if (v.is_null()) return fallback;
  if (!v.is_boolean()) malformed(where + "." + key + " must be a boolean");
  return v.get<bool>();
}

// @p where names the field for messages; it is only called on failure (the vocabulary has
// 100k+ entries and building a name for each would dominate loading).
template <typename Where>
TokenId token_id(const json& v, Where&& where) {
  if (!v.is_number_integer()) malformed(where() + " must be an integer id");
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<TokenId>::max())) malformed(where() + " is too large");
    return static_cast<TokenId>(u);
  }
  const auto s = v.get<std::int64_t>();
  if (s < 0) malformed(where() + " is negative (" + std::to_string(s) + ")");
  if (s > std::numeric_limits<TokenId>::max()) malformed(where() + " is too large");
  return static_cast<TokenId>(s);
}

std::string type_of(const json& config, const std::string& where) {
  if (!config.is_object()) malformed(where + " must be an object or null");
  const json& t = field(config, "type");
  if (!t.is_string()) malformed(where + " needs a string \"type\"");
  return t.get<std::string>();
}

// Real files nest one Sequence at most; the depth limit keeps a hostile file off the stack.
constexpr int kMaxNesting = 16;

void add_normalizers(const json& config, std::vector<text::NormalForm>& out, int depth = 0) {
  if (config.is_null()) return;
  if (depth > kMaxNesting) malformed("normalizer Sequences are nested too deeply");
  const std::string type = type_of(config, "normalizer");
  if (type == "NFC") {
    out.push_back(text::NormalForm::nfc);
  } else if (type == "NFD") {
    out.push_back(text::NormalForm::nfd);
  } else if (type == "NFKC") {
    out.push_back(text::NormalForm::nfkc);
  } else if (type == "NFKD") {
    out.push_back(text::NormalForm::nfkd);
  } else if (type == "Sequence") {
    const json& list = field(config, "normalizers");
    if (!list.is_array()) malformed("normalizer Sequence needs a \"normalizers\" array");
    for (const auto& n : list) add_normalizers(n, out, depth + 1);
  } else {
    unsupported("unsupported normalizer type \"" + type + "\"");
  }
}

std::vector<text::NormalForm> parse_normalizers(const json& config) {
  std::vector<text::NormalForm> out;
  add_normalizers(config, out);
  return out;
}

void check_model_options(const json& model) {
  const json& dropout = field(model, "dropout");
  if (!dropout.is_null()) {
    if (!dropout.is_number()) malformed("model.dropout must be a number or null");
    if (dropout.get<double>() > 0.0) unsupported("BPE dropout (random merges) is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& v = field(model, key);
    if (v.is_null()) continue;
    if (!v.is_string()) malformed(std::string("model.") + key + " must be a string or null");
    if (!v.get<std::string>().empty()) {
      unsupported(std::string("model.") + key + " \"" + v.get<std::string>() + "\" is not supported");
    }
  }
}

text::BpeConfig parse_model(text::TokenizerJsonDocument& doc, bool byte_level) {
  const json& model = field(doc.root, "model");
  if (!model.is_object()) malformed("missing \"model\" object");
  const json& type = field(model, "type");
  if (type.is_null() ? !doc.has_merges : (!type.is_string() || type.get<std::string>() != "BPE")) {
    const std::string name = type.is_string() ? "\"" + type.get<std::string>() + "\"" : type.dump();
    unsupported("model type " + name + " is not supported (only \"BPE\")");
  }
  check_model_options(model);
  if (!doc.has_vocab) malformed("model.vocab must be an object mapping tokens to ids");
  const json& merges = field(model, "merges");
  if (!doc.has_merges && !merges.is_null()) malformed("model.merges must be an array");
  text::BpeConfig config;
  config.byte_level = byte_level;
  config.vocab = std::move(doc.vocab);
  config.merges = std::move(doc.merges);
  const json& unk = field(model, "unk_token");
  if (!unk.is_null() && !unk.is_string()) malformed("model.unk_token must be a string or null");
  if (unk.is_string()) config.unk_token = unk.get<std::string>();
  config.fuse_unk = flag(model, "fuse_unk", false, "model");
  config.byte_fallback = flag(model, "byte_fallback", false, "model");
  config.ignore_merges = flag(model, "ignore_merges", false, "model");
  return config;
}

text::AddedToken parse_added_token(const json& entry, std::size_t index) {
  const std::string where = "added_tokens[" + std::to_string(index) + "]";
  if (!entry.is_object()) malformed(where + " must be an object");
  text::AddedToken token;
  token.id = token_id(field(entry, "id"), [&] { return where + ".id"; });
  const json& content = field(entry, "content");
  if (!content.is_string()) malformed(where + ".content must be a string");
  token.content = content.get<std::string>();
  token.single_word = flag(entry, "single_word", false, where);
  token.lstrip = flag(entry, "lstrip", false, where);
  token.rstrip = flag(entry, "rstrip", false, where);
  token.normalized = flag(entry, "normalized", true, where);
  token.special = flag(entry, "special", false, where);
  return token;
}

// Returns true for a ByteLevel decoder, false for none; refuses anything else.
bool parse_decoder(const json& config, int depth = 0) {
  if (config.is_null()) return false;
  if (depth > kMaxNesting) malformed("decoder Sequences are nested too deeply");
  const std::string type = type_of(config, "decoder");
  if (type == "ByteLevel") return true;
  if (type == "Sequence") {
    const json& list = field(config, "decoders");
    if (!list.is_array()) malformed("decoder Sequence needs a \"decoders\" array");
    bool byte_level = false;
    for (const auto& d : list) {
      if (!parse_decoder(d, depth + 1)) continue;
      if (byte_level) unsupported("two ByteLevel decoders in one Sequence");
      byte_level = true;
    }
    return byte_level;
  }
  unsupported("unsupported decoder type \"" + type + "\"");
}

}  // namespace

Tokenizer::Impl::Impl(text::TokenizerJsonDocument& doc)
    : normalizers(parse_normalizers(field(doc.root, "normalizer"))),
      pre_tokenizer(field(doc.root, "pre_tokenizer")),
      model(parse_model(doc, pre_tokenizer.byte_level())) {
  const bool byte_level_decoder = parse_decoder(field(doc.root, "decoder"));
  join_with_space = !byte_level_decoder;
  const json& post = field(doc.root, "post_processor");
  post_processor = post.is_null() ? "none" : type_of(post, "post_processor");
  vocab_size = model.id_limit();
  load_added_tokens(field(doc.root, "added_tokens"));
  build_decode_tables(byte_level_decoder);
}

// Returns false for a repeat of a token already registered; throws on a conflicting one.
bool Tokenizer::Impl::register_added(const text::AddedToken& token) {
  const auto [by_id, new_id] = added_by_id.emplace(token.id, token.content);
  const auto [by_content, new_content] = added_by_content.emplace(token.content, token.id);
  if ((!new_id && by_id->second != token.content) || (!new_content && by_content->second != token.id)) {
    malformed("added token \"" + token.content + "\" (id " + std::to_string(token.id) +
              ") conflicts with another added token");
  }
  if (!new_id) return false;
  vocab_size = std::max(vocab_size, static_cast<std::size_t>(token.id) + 1);
  if (vocab_size > model.id_limit() + (std::size_t{1} << 20)) malformed("added token ids are too sparse");
  added_tokens.push_back(token);
  return true;
}

// Like HF, tokens with normalized == false are found in the raw text first, the others in
// the normalized text that remains (by their normalized spelling).
void Tokenizer::Impl::load_added_tokens(const json& added) {
  if (!added.is_null() && !added.is_array()) malformed("added_tokens must be an array");
  std::vector<text::AddedToken> raw;
  std::vector<text::AddedToken> normalized;
  std::vector<std::string> raw_patterns;
  std::vector<std::string> normalized_patterns;
  for (std::size_t i = 0; added.is_array() && i < added.size(); ++i) {
    text::AddedToken token = parse_added_token(added[i], i);
    if (token.content.empty() || !register_added(token)) continue;  // HF ignores empty ones too
    if (token.normalized) {
      std::string pattern = token.content;
      for (const auto form : normalizers) pattern = text::normalize_unicode(form, pattern);
      normalized_patterns.push_back(std::move(pattern));
      normalized.push_back(std::move(token));
    } else {
      raw_patterns.push_back(token.content);
      raw.push_back(std::move(token));
    }
  }
  raw_matcher = text::AddedTokenMatcher(std::move(raw), raw_patterns);
  normalized_matcher = text::AddedTokenMatcher(std::move(normalized), normalized_patterns);
}

void Tokenizer::Impl::build_decode_tables(bool byte_level_decoder) {
  known_.assign(vocab_size, 0);
  special_.assign(vocab_size, 0);
  piece_offsets_.assign(vocab_size + 1, 0);
  for (const auto& t : added_tokens) special_[static_cast<std::size_t>(t.id)] = t.special ? 1 : 0;
  for (std::size_t id = 0; id < vocab_size; ++id) {
    piece_offsets_[id] = static_cast<std::uint32_t>(pieces_.size());
    const auto tid = static_cast<TokenId>(id);
    const auto added = added_by_id.find(tid);
    const std::string* token = added != added_by_id.end() ? &added->second : model.id_to_token(tid);
    if (token == nullptr) continue;
    known_[id] = 1;
    // HF runs added tokens through the decoder too; a token outside the byte alphabet is
    // taken as it is.
    if (!byte_level_decoder || !text::byte_level_decode(*token, pieces_)) pieces_ += *token;
    if (pieces_.size() > std::numeric_limits<std::uint32_t>::max()) malformed("vocabulary is too large");
  }
  piece_offsets_[vocab_size] = static_cast<std::uint32_t>(pieces_.size());
}

Tokenizer Tokenizer::from_json(const std::string& tokenizer_json_text) {
  text::TokenizerJsonDocument doc = text::read_tokenizer_json(tokenizer_json_text);
  if (!doc.root.is_object()) malformed("the top level must be an object");
  try {
    return Tokenizer(std::make_shared<const Impl>(doc));
  } catch (const json::exception& e) {
    // The type checks should catch everything; this keeps a surprise from escaping as a
    // foreign exception type.
    throw Error(ErrorCode::invalid_format, std::string("tokenizer.json: ") + e.what());
  }
}

}  // namespace petalsln
