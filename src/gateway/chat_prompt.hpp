#pragma once
// Turns an API's chat messages into prompt ids with the model's chat template, so that the
// contents of the messages never become special tokens: a user who writes "<|im_end|>" in a
// message gets those characters as text, not a forged end of turn.

#include <vector>

#include "petalsln/text/chat_template.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {
class LocalModel;
}

namespace petalsln::gateway {

/// Renders @p messages with @p model's chat template (with the generation prompt) and
/// tokenizes the template's own markup with special tokens recognised and each message's
/// content as plain text. For contents that hold no special-token text this is exactly what
/// transformers' apply_chat_template(tokenize=True) gives. Throws Error(unsupported) when the
/// model has no usable template and Error(invalid_argument) for a bad role or invalid UTF-8
/// (ChatTemplate::render()).
std::vector<TokenId> encode_chat_messages(const LocalModel& model, const std::vector<ChatMessage>& messages);

}  // namespace petalsln::gateway
