// Fuzzes safetensors header validation (a contributor server opens checkpoints downloaded
// from anywhere) and the index JSON reader of sharded checkpoints.
// Property: every tensor a valid header declares lies inside the file.
#include "fuzz_common.hpp"
#include "model/safetensors_header.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace petalsln;
  fuzz::expect_rejection([&] {
    const model::SafetensorsHeader h = model::parse_safetensors_header(data, size, "fuzz.safetensors");
    fuzz::require(h.data_offset >= 8 && h.data_offset <= size, "safetensors data section outside the file");
    for (const auto& [name, t] : h.tensors) {
      fuzz::require(t.begin <= t.end && t.end <= size - h.data_offset, "safetensors tensor outside the data section");
    }
  });
  // The same bytes as a model.safetensors.index.json.
  const char* text = reinterpret_cast<const char*>(data);
  fuzz::expect_rejection(
      [&] { (void)model::parse_json_object_without_duplicates(text, text + size, "fuzz.index.json"); });
  return 0;
}
