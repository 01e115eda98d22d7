#include "gateway/chat_prompt.hpp"

#include <string>
#include <string_view>

#include "petalsln/client/local_model.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/random.hpp"

namespace petalsln::gateway {

namespace {

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

std::string fresh_marker() {
  std::uint8_t bytes[12];
  util::random_bytes(bytes, sizeof bytes);
  // Letters and digits only: no template filter (trim, escape) changes it.
  return "PETALSLNCONTENT" + util::to_hex(bytes, sizeof bytes) + "X";
}

}  // namespace

std::vector<TokenId> encode_chat_messages(const LocalModel& model, const std::vector<ChatMessage>& messages) {
  const ChatTemplate* tmpl = model.chat_template();
  if (tmpl == nullptr) throw Error(ErrorCode::unsupported, "this model has no usable chat template (" + model.chat_template_error() + ")");
  const Tokenizer& tokenizer = model.tokenizer();
  bool any_special = false;
  for (const auto& m : messages) any_special = any_special || holds_special_text(tokenizer, m.content);
  if (!any_special) return model.encode_chat(messages);  // exactly transformers' tokens

  // Render with a marker in place of every content, then tokenize around the markers.
  const std::string marker = fresh_marker();
  std::vector<ChatMessage> marked = messages;
  for (std::size_t i = 0; i < marked.size(); ++i) marked[i].content = marker + std::to_string(i) + "Z";
  const std::string rendered = tmpl->render(marked, /*add_generation_prompt=*/true);
  std::vector<TokenId> ids;
  std::size_t at = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const std::string slot = marker + std::to_string(i) + "Z";
    const std::size_t found = rendered.find(slot, at);
    if (found == std::string::npos) continue;  // a template that drops a turn
    auto markup = tokenizer.encode(std::string_view(rendered).substr(at, found - at), /*parse_special=*/true);
    ids.insert(ids.end(), markup.begin(), markup.end());
    const std::string content =
        tmpl->family() == ChatTemplateFamily::llama3 ? python_strip(messages[i].content) : messages[i].content;
    auto text = tokenizer.encode(content, /*parse_special=*/false);
    ids.insert(ids.end(), text.begin(), text.end());
    at = found + slot.size();
  }
  auto tail = tokenizer.encode(std::string_view(rendered).substr(at), /*parse_special=*/true);
  ids.insert(ids.end(), tail.begin(), tail.end());
  return ids;
}

}  // namespace petalsln::gateway
