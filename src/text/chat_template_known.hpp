#pragma once
// The chat templates petalsln recognises, and how each one renders.

#include <optional>
#include <string>
#include <string_view>

#include "petalsln/text/chat_template.hpp"

namespace petalsln::text {

/// How a recognised template renders; ChatTemplate's renderers follow these rules.
struct ChatTemplateRules {
  std::string name;                          ///< e.g. "Llama 3.1", for messages and logs.
  ChatTemplateFamily family = ChatTemplateFamily::chatml;
  std::optional<std::string> default_system; ///< ChatML: system turn when none comes first.
  bool dated_system_turn = false;            ///< Llama 3.1's dated opening system turn.
  bool always_generation_prompt = false;     ///< First Llama 3 release: header always added.
};

/// Returns the rules of the known template that @p template_text is (modulo formatting that
/// cannot change the output), or std::nullopt if it is none of them.
/// Throws Error(internal) if a built-in template text fails to canonicalise (a bug).
std::optional<ChatTemplateRules> recognise_chat_template(std::string_view template_text);

/// Lists the known templates by family, for the message of an "unsupported" error.
std::string known_chat_templates_summary();

}  // namespace petalsln::text
