#pragma once
/// @file local_model.hpp
/// Everything needed to chat with a checkpoint folder in this process.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/model/block_pipeline.hpp"
#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/text/chat_template.hpp"
#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {

/// Called while a model loads: @p stage names what is loading ("config", "tokenizer",
/// "head", "blocks"), @p done of @p total steps of that stage are finished.
using LoadProgress = std::function<void(const std::string& stage, int done, int total)>;

/// A Hugging Face model folder opened for local use: config, weights, tokenizer, chat
/// template (when the folder has a recognised one), head, and every block.
class LocalModel {
 public:
  /// Opens @p model_dir. With @p load_blocks false only the client side (tokenizer, template,
  /// head) is loaded — what a swarm client needs. Throws Error from any part that fails.
  static std::unique_ptr<LocalModel> open(const std::string& model_dir, ComputeOptions options = {},
                                          const LoadProgress& progress = {}, bool load_blocks = true);

  /// The folder this model was opened from.
  const std::string& dir() const noexcept { return dir_; }
  /// The parsed config.json.
  const ModelConfig& config() const noexcept { return config_; }
  /// The weights.
  const Checkpoint& checkpoint() const noexcept { return *checkpoint_; }
  /// The tokenizer.
  const Tokenizer& tokenizer() const noexcept { return *tokenizer_; }
  /// The chat template, or nullptr when the folder has none petalsln recognises.
  const ChatTemplate* chat_template() const noexcept { return chat_template_ ? &*chat_template_ : nullptr; }
  /// Why chat_template() is null (empty when it is not).
  const std::string& chat_template_error() const noexcept { return chat_template_error_; }
  /// Embeddings, final norm, LM head.
  const LocalHead& head() const noexcept { return *head_; }
  /// A fresh pipeline through this process's blocks. Throws Error(invalid_argument) if the
  /// model was opened without blocks.
  std::unique_ptr<BlockPipeline> new_pipeline() const;
  /// Token ids that end a reply: config.json's and generation_config.json's eos ids.
  const std::vector<TokenId>& stop_ids() const noexcept { return stop_ids_; }

  /// Encodes @p text as one user message through the chat template (with the generation
  /// prompt), or as is when @p raw. Throws Error(unsupported) when a template is needed but
  /// missing, Error(invalid_argument) for invalid UTF-8.
  std::vector<TokenId> encode_prompt(const std::string& text, bool raw) const;

  /// Encodes a whole conversation through the chat template, with the generation prompt.
  /// The template's markup is tokenized with special tokens recognised, each message's content
  /// as plain text: a user who writes "<|im_end|>" gets those characters, never a forged turn.
  /// For contents without special-token text this is exactly transformers'
  /// apply_chat_template(tokenize=True). Throws Error(unsupported) when the model has no
  /// usable template, Error(invalid_argument) for a bad role or invalid UTF-8.
  std::vector<TokenId> encode_chat(const std::vector<ChatMessage>& messages) const;

 private:
  LocalModel() = default;
  std::string dir_;
  ModelConfig config_;
  std::unique_ptr<Checkpoint> checkpoint_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::optional<ChatTemplate> chat_template_;
  std::string chat_template_error_;
  std::unique_ptr<LocalHead> head_;
  std::vector<std::unique_ptr<BlockStack>> blocks_;
  std::vector<TokenId> stop_ids_;
};

}  // namespace petalsln
