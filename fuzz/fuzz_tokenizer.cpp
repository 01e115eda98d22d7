// Fuzzes tokenizer.json loading (from downloaded checkpoints) and, with the fixture's
// tokenizer, encoding hostile prompt text and decoding hostile ids (a gateway tokenizes what
// users type and detokenizes what servers return).
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "petalsln/text/tokenizer.hpp"

namespace {

const petalsln::Tokenizer& fixture_tokenizer() {
  static const petalsln::Tokenizer t = petalsln::Tokenizer::load(PETALSLN_FIXTURES_DIR "/tiny-llama3");
  return t;
}

void use(const petalsln::Tokenizer& t, std::string_view text) {
  using namespace petalsln;
  fuzz::expect_rejection([&] {
    const std::vector<TokenId> ids = t.encode(text);
    (void)t.decode(ids, true);
  });
  fuzz::expect_rejection([&] { (void)t.encode(text, false); });
  // The text's bytes, read as ids (some out of the vocabulary, some special).
  std::vector<TokenId> ids;
  for (std::size_t i = 0; i + 2 <= text.size() && ids.size() < 256; i += 2) {
    ids.push_back(static_cast<TokenId>(static_cast<std::uint8_t>(text[i]) << 8 | static_cast<std::uint8_t>(text[i + 1])));
  }
  fuzz::expect_rejection([&] { (void)t.decode(ids); });
  for (const TokenId id : ids) {
    (void)t.is_special(id);
    fuzz::expect_rejection([&] { (void)t.token_to_id(t.id_to_token(id)); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  if (size == 0) return 0;
  const std::string_view body = fuzz::as_text(data + 1, size - 1);
  // The first byte picks the role of the rest: a tokenizer.json, or text for the fixture's.
  if ((data[0] & 1) == 0) {
    fuzz::expect_rejection([&] {
      const Tokenizer t = Tokenizer::from_json(std::string(body));
      (void)t.vocab_size();
      use(t, "Hello, world! 123 h\xc3\xa9llo  \n\t<|eot_id|> <s>");
    });
  } else {
    use(fixture_tokenizer(), body);
  }
  return 0;
}
