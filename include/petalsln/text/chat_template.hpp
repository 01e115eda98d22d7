#pragma once
/// @file chat_template.hpp
/// Turns a conversation into the prompt text a chat model was trained on.
///
/// Hugging Face checkpoints ship their prompt format as a Jinja template. petalsln does not run
/// a Jinja engine: it recognises a fixed set of well-known templates from their text (after
/// normalising away differences that cannot change the output, such as whitespace inside tags,
/// quote style or escapes) and renders each of them with hand-written code that reproduces
/// transformers' `apply_chat_template` byte for byte. A template that is not recognised is an
/// error, never a guess.
///
/// Recognised templates (see chat_template_known.cpp for the exact texts):
///  - ChatML: transformers' classic ChatML template (no default system prompt); the
///    SmolLM2-style ChatML template that inserts a default system turn when the first message is
///    not "system" (any default prompt text); Qwen2.5-Instruct's template (no tools).
///  - Llama 3: Meta-Llama-3-Instruct's template (both releases); the compact form with
///    `{{ bos_token }}` first; Llama-3.1-Instruct's template (no tools, default date
///    "26 Jul 2024").

#include <optional>
#include <string>
#include <vector>

namespace petalsln {

/// One turn of a conversation.
struct ChatMessage {
  std::string role;     ///< "system", "user" or "assistant".
  std::string content;  ///< The turn's text, valid UTF-8.
};

/// The prompt-format families petalsln can render.
enum class ChatTemplateFamily {
  chatml,  ///< `<|im_start|>role\n...<|im_end|>\n` turns (SmolLM2, Qwen2.5, ...).
  llama3,  ///< `<|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>` turns (Llama 3.x).
};

/// Returns a stable lower-case name for @p family ("chatml", "llama3").
const char* to_string(ChatTemplateFamily family) noexcept;

/// A recognised chat template, ready to render conversations. Immutable and cheap to copy;
/// safe to share between threads.
class ChatTemplate {
 public:
  /// Loads the template of the checkpoint in @p model_dir: `chat_template.jinja` if present,
  /// else the "chat_template" entry of `tokenizer_config.json` (a string, or a list of
  /// {"name", "template"} objects of which "default" is taken). The bos/eos token strings come
  /// from `tokenizer_config.json` ("bos_token"/"eos_token" as a string or {"content": ...};
  /// empty when absent or null, as transformers renders a missing token).
  /// Throws Error(not_found) if the folder has no template, Error(invalid_format) if
  /// `tokenizer_config.json` or the template file is malformed (bad JSON, wrong types,
  /// invalid UTF-8), Error(unsupported) if the template is none of the known ones (the message
  /// names the known families), Error(io) if a file cannot be read.
  static ChatTemplate load(const std::string& model_dir);

  /// Recognises @p template_text, which will render with the given special-token strings.
  /// Throws Error(invalid_argument) if any argument is not valid UTF-8, Error(unsupported) if
  /// the template is none of the known ones.
  static ChatTemplate from_text(const std::string& template_text, const std::string& bos_token,
                                const std::string& eos_token);

  /// Returns the family of the recognised template.
  ChatTemplateFamily family() const noexcept { return family_; }

  /// Returns a short human-readable name of the recognised template, e.g. "Llama 3.1".
  const std::string& name() const noexcept { return name_; }

  /// Returns the beginning-of-sequence token string the template renders (may be empty).
  const std::string& bos_token() const noexcept { return bos_token_; }

  /// Returns the end-of-sequence token string of the checkpoint (may be empty).
  const std::string& eos_token() const noexcept { return eos_token_; }

  /// Renders @p messages exactly as transformers' `apply_chat_template(messages,
  /// tokenize=False, add_generation_prompt=...)` does with this template, and returns the
  /// prompt text (special tokens appear as text; tokenize it with special-token parsing on).
  /// @p add_generation_prompt appends the header of an assistant turn.
  /// Throws Error(invalid_argument) if @p messages is empty, a role is not one of "system",
  /// "user", "assistant", or a content is not valid UTF-8 (the message names the turn).
  std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

 private:
  ChatTemplate() = default;
  static ChatTemplate recognise(const std::string& template_text, const std::string& bos_token,
                                const std::string& eos_token, const std::string& origin);
  std::string render_chatml(const std::vector<ChatMessage>& messages,
                            bool add_generation_prompt) const;
  std::string render_llama3(const std::vector<ChatMessage>& messages,
                            bool add_generation_prompt) const;

  ChatTemplateFamily family_ = ChatTemplateFamily::chatml;
  std::string name_;
  std::string bos_token_;
  std::string eos_token_;
  // ChatML: the system turn inserted when the first message is not "system" (none if empty).
  std::optional<std::string> default_system_;
  // Llama 3.1: every prompt opens with a system turn carrying the knowledge-cutoff and date
  // lines, into which the first "system" message (trimmed) is folded.
  bool dated_system_turn_ = false;
  // The first Meta-Llama-3-Instruct release ends every prompt with the assistant header,
  // whatever add_generation_prompt says.
  bool always_generation_prompt_ = false;
};

}  // namespace petalsln
