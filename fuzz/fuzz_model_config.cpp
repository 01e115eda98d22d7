// Fuzzes config.json parsing (a server reads it from a downloaded checkpoint, and its values
// size every tensor the server allocates).
#include <string>

#include "fuzz_common.hpp"
#include "petalsln/model/model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  const std::string text(fuzz::as_text(data, size));
  fuzz::expect_rejection([&] {
    const ModelConfig c = ModelConfig::parse(text, "fuzz/config.json");
    fuzz::require(c.hidden_size > 0 && c.num_hidden_layers > 0 && c.num_attention_heads > 0,
                  "config accepted with a non-positive size");
  });
  return 0;
}
