// Fuzzes chat template recognition (templates come with downloaded checkpoints) and
// rendering of hostile conversations (a gateway renders what its users send).
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "petalsln/text/chat_template.hpp"

namespace {

// Splits @p text at NUL bytes into at most @p max parts.
std::vector<std::string> split(std::string_view text, std::size_t max) {
  std::vector<std::string> parts(1);
  for (const char c : text) {
    if (c == '\0' && parts.size() < max) {
      parts.emplace_back();
    } else {
      parts.back().push_back(c);
    }
  }
  return parts;
}

void render(const petalsln::ChatTemplate& t, const std::vector<petalsln::ChatMessage>& messages) {
  petalsln::fuzz::expect_rejection([&] {
    (void)t.render(messages, true);
    (void)t.render(messages, false);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  if (size == 0) return 0;
  const std::vector<std::string> parts = split(fuzz::as_text(data + 1, size - 1), 8);
  if ((data[0] & 1) == 0) {
    // template \0 bos \0 eos: recognise it, then render a fixed conversation.
    fuzz::expect_rejection([&] {
      const ChatTemplate t = ChatTemplate::from_text(parts[0], parts.size() > 1 ? parts[1] : "",
                                                     parts.size() > 2 ? parts[2] : "");
      render(t, {{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}, {"user", " x "}});
    });
  } else {
    // role \0 content \0 role \0 content ...: render with a fixture's template (Llama 3 or ChatML).
    static const ChatTemplate llama3 = ChatTemplate::load(PETALSLN_FIXTURES_DIR "/tiny-llama3");
    static const ChatTemplate smollm2 = ChatTemplate::load(PETALSLN_FIXTURES_DIR "/tiny-smollm2");
    std::vector<ChatMessage> messages;
    for (std::size_t i = 0; i + 1 < parts.size(); i += 2) messages.push_back({parts[i], parts[i + 1]});
    render((data[0] & 2) != 0 ? smollm2 : llama3, messages);
  }
  return 0;
}
