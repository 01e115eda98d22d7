#include "petalsln/client/local_model.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/util/hex.hpp"
#include "util/random.hpp"

namespace petalsln {
namespace {

// generation_config.json may add stop ids (e.g. Llama 3.1's <|eom_id|>); a broken one is
// ignored with the config's ids kept, since it only refines the defaults.
std::vector<TokenId> generation_config_eos(const std::string& dir) {
  const std::string path = util::join_path(dir, "generation_config.json");
  std::vector<TokenId> ids;
  if (!util::is_regular_file(path)) return ids;
  auto j = nlohmann::json::parse(util::read_file(path, 1u << 20), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return ids;
  auto it = j.find("eos_token_id");
  if (it == j.end()) return ids;
  if (it->is_number_integer()) ids.push_back(it->get<TokenId>());
  if (it->is_array()) {
    for (const auto& v : *it)
      if (v.is_number_integer()) ids.push_back(v.get<TokenId>());
  }
  return ids;
}

// True when the tokenizer would read special or added tokens inside @p text.
bool holds_special_text(const Tokenizer& tokenizer, const std::string& text) {
  return tokenizer.encode(text, /*parse_special=*/true) != tokenizer.encode(text, /*parse_special=*/false);
}

// Length of the whitespace character (as Python's str.isspace() counts it) at @p s's start or
// end, 0 if none: the ASCII ones and the common Unicode spaces.
std::size_t space_at(std::string_view s, bool at_end) {
  static const std::string_view kSpaces[] = {" ", "\t", "\n", "\v", "\f", "\r", "\x1c", "\x1d", "\x1e", "\x1f",
                                             "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
                                             "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86",
                                             "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8",
                                             "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"};
  for (const auto sp : kSpaces) {
    if (s.size() < sp.size()) continue;
    if ((at_end ? s.substr(s.size() - sp.size()) : s.substr(0, sp.size())) == sp) return sp.size();
  }
  return 0;
}

// Python's str.strip(), which the Llama 3 templates apply to every content.
std::string python_strip(std::string_view s) {
  while (std::size_t n = space_at(s, false)) s.remove_prefix(n);
  while (std::size_t n = space_at(s, true)) s.remove_suffix(n);
  return std::string(s);
}

// A placeholder no user can guess, of letters and digits only, so no template filter (trim,
// escape) changes it.
std::string fresh_marker() {
  std::uint8_t bytes[12];
  util::random_bytes(bytes, sizeof bytes);
  return "PETALSLNCONTENT" + util::to_hex(bytes, sizeof bytes) + "X";
}

// Renders @p messages with a marker in place of every content, then tokenizes the template's
// markup with special tokens recognised and each content as plain text between them.
std::vector<TokenId> encode_marked(const ChatTemplate& tmpl, const Tokenizer& tokenizer, const std::vector<ChatMessage>& messages) {
  const std::string marker = fresh_marker();
  std::vector<ChatMessage> marked = messages;
  for (std::size_t i = 0; i < marked.size(); ++i) marked[i].content = marker + std::to_string(i) + "Z";
  const std::string rendered = tmpl.render(marked, /*add_generation_prompt=*/true);
  std::vector<TokenId> ids;
  std::size_t at = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string slot = marker + std::to_string(i) + "Z";
    const std::size_t found = rendered.find(slot, at);
    if (found == std::string::npos) continue;  // a template that drops a turn
    auto markup = tokenizer.encode(std::string_view(rendered).substr(at, found - at), /*parse_special=*/true);
    ids.insert(ids.end(), markup.begin(), markup.end());
    const std::string content = tmpl.family() == ChatTemplateFamily::llama3 ? python_strip(messages[i].content) : messages[i].content;
    auto text = tokenizer.encode(content, /*parse_special=*/false);
    ids.insert(ids.end(), text.begin(), text.end());
    at = found + slot.size();
  }
  auto tail = tokenizer.encode(std::string_view(rendered).substr(at), /*parse_special=*/true);
  ids.insert(ids.end(), tail.begin(), tail.end());
  return ids;
}

}  // namespace

std::unique_ptr<LocalModel> LocalModel::open(const std::string& model_dir, ComputeOptions options, const LoadProgress& progress,
                                             bool load_blocks) {
  auto report = [&](const char* stage, int done, int total) {
    if (progress) progress(stage, done, total);
  };
  std::unique_ptr<LocalModel> m(new LocalModel());
  m->dir_ = model_dir;
  report("config", 0, 1);
  m->config_ = ModelConfig::load(model_dir);
  m->checkpoint_ = std::make_unique<Checkpoint>(Checkpoint::open(model_dir));
  report("config", 1, 1);
  report("tokenizer", 0, 1);
  m->tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(model_dir));
  try {
    m->chat_template_ = ChatTemplate::load(model_dir);
  } catch (const Error& e) {
    // Raw prompts still work without a template; chat prompts report this message.
    m->chat_template_error_ = e.what();
  }
  report("tokenizer", 1, 1);
  report("head", 0, 1);
  m->head_ = std::make_unique<LocalHead>(m->config_, *m->checkpoint_, options);
  report("head", 1, 1);
  if (load_blocks) {
    const int layers = static_cast<int>(m->config_.num_hidden_layers);
    for (int i = 0; i < layers; ++i) {
      report("blocks", i, layers);
      m->blocks_.push_back(std::make_unique<BlockStack>(m->config_, *m->checkpoint_, i, i + 1, options));
    }
    report("blocks", layers, layers);
  }
  for (auto id : m->config_.eos_token_ids) m->stop_ids_.push_back(static_cast<TokenId>(id));
  for (auto id : generation_config_eos(model_dir)) {
    if (id >= 0 && id < m->config_.vocab_size && std::find(m->stop_ids_.begin(), m->stop_ids_.end(), id) == m->stop_ids_.end()) {
      m->stop_ids_.push_back(id);
    }
  }
  return m;
}

std::unique_ptr<BlockPipeline> LocalModel::new_pipeline() const {
  if (blocks_.empty()) throw Error(ErrorCode::invalid_argument, "this model was opened without its blocks");
  std::vector<const BlockStack*> stacks;
  for (const auto& b : blocks_) stacks.push_back(b.get());
  return std::make_unique<LocalPipeline>(std::move(stacks));
}

std::vector<TokenId> LocalModel::encode_prompt(const std::string& text, bool raw) const {
  // As transformers' tokenizer does: special tokens written in the text (<|im_end|>) are
  // recognised, so a client that builds its own prompt (chat.petals.dev's) gets its turns.
  if (raw) return tokenizer_->encode(text, /*parse_special=*/true);
  return encode_chat({ChatMessage{"user", text}});
}

std::vector<TokenId> LocalModel::encode_chat(const std::vector<ChatMessage>& messages) const {
  if (!chat_template_) {
    throw Error(ErrorCode::unsupported, "this model has no usable chat template (" + chat_template_error_ + "); use a raw prompt");
  }
  // The contents are the users' words: written special tokens in them stay text, so nobody can
  // forge a turn or a system prompt. Without any, rendering and parsing the whole is exactly
  // transformers' apply_chat_template(tokenize=True).
  bool any_special = false;
  for (const auto& m : messages) any_special = any_special || holds_special_text(*tokenizer_, m.content);
  if (any_special) return encode_marked(*chat_template_, *tokenizer_, messages);
  return tokenizer_->encode(chat_template_->render(messages, /*add_generation_prompt=*/true), /*parse_special=*/true);
}

}  // namespace petalsln
