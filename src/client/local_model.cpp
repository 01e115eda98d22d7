#include "petalsln/client/local_model.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"

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
  // The rendered prompt already holds BOS and the role markers as text; parse them as specials.
  return tokenizer_->encode(chat_template_->render(messages, /*add_generation_prompt=*/true), /*parse_special=*/true);
}

}  // namespace petalsln
