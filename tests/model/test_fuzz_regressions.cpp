// Inputs the fuzzers (fuzz/) found, each kept as a test of the fix. The raw inputs are also
// in fuzz/regressions/<target>/, which scripts/fuzz.sh replays on every run.

#include "torch_doctest.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#include "model/safetensors_header.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

// A safetensors file: 8-byte little-endian header length, the header, then @p data_bytes zeros.
std::string safetensors_file(const std::string& header, std::size_t data_bytes) {
  std::string f(8, '\0');
  const std::uint64_t len = header.size();
  std::memcpy(f.data(), &len, 8);
  return f + header + std::string(data_bytes, '\0');
}

}  // namespace

// nlohmann reports a number too large for a double as out_of_range (406), not parse_error;
// the parsers caught only parse_error, so the exception escaped as a non-petalsln type.
TEST_CASE("fuzz regression: JSON numbers that overflow a double are invalid_format") {
  try {
    (void)ModelConfig::parse(std::string("5e95498\0", 8));
    FAIL("parse accepted an overflowing number");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_format);
  }
  const std::string index = R"({"a":1e20323})";
  CHECK_THROWS_AS(model::parse_json_object_without_duplicates(index.data(), index.data() + index.size(), "index"), Error);
  const std::string file = safetensors_file(R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", 4);
  CHECK_THROWS_AS(model::parse_safetensors_header(reinterpret_cast<const std::uint8_t*>(file.data()), file.size(), "f"),
                  Error);
}
