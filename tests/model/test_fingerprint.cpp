// compute_model_fingerprint over the fixture checkpoints.
#include <doctest/doctest.h>

#include <string>

#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using petalsln::compute_model_fingerprint;
using petalsln::Error;
using petalsln::ErrorCode;
using petalsln::test::fixture_dir;
using petalsln::test::TempDir;

TEST_CASE("fingerprints are stable and differ between fixtures") {
  const auto llama = compute_model_fingerprint(fixture_dir("tiny-llama3"));
  const auto smollm = compute_model_fingerprint(fixture_dir("tiny-smollm2"));
  CHECK(llama != smollm);
  CHECK(compute_model_fingerprint(fixture_dir("tiny-llama3")) == llama);
  CHECK(petalsln::fingerprint_hex(llama).size() == 64);
}

TEST_CASE("a single-file checkpoint is fingerprinted by config and safetensors header only") {
  TempDir dir;
  const std::string src = fixture_dir("tiny-llama3");
  dir.copy_in(src + "/config.json", "config.json");
  dir.copy_in(src + "/model.safetensors", "model.safetensors");
  const auto base = compute_model_fingerprint(dir.path());
  CHECK(base == compute_model_fingerprint(src));  // tokenizer files and the rest do not count

  SUBCASE("changing config.json changes it") {
    std::string config = petalsln::test::slurp(dir.file("config.json"));
    const std::size_t brace = config.rfind('}');
    REQUIRE(brace != std::string::npos);
    config.insert(brace, ",\"petalsln_test\": 1");
    petalsln::test::write_file(dir.file("config.json"), config);
    CHECK(compute_model_fingerprint(dir.path()) != base);
  }
  SUBCASE("changing the safetensors header changes it; weight bytes past it do not") {
    std::string weights = petalsln::test::slurp(dir.file("model.safetensors"));
    weights.back() = static_cast<char>(weights.back() ^ 0x01);
    petalsln::test::write_file(dir.file("model.safetensors"), weights);
    CHECK(compute_model_fingerprint(dir.path()) == base);
    weights[9] = static_cast<char>(weights[9] == ' ' ? '\t' : ' ');  // inside the JSON header
    petalsln::test::write_file(dir.file("model.safetensors"), weights);
    CHECK(compute_model_fingerprint(dir.path()) != base);
  }
}

TEST_CASE("a sharded checkpoint is fingerprinted through its index") {
  TempDir dir;
  const std::string src = fixture_dir("tiny-smollm2");
  dir.copy_in(src + "/config.json", "config.json");
  dir.copy_in(src + "/model.safetensors.index.json", "model.safetensors.index.json");
  CHECK(compute_model_fingerprint(dir.path()) == compute_model_fingerprint(src));
}

TEST_CASE("missing files and broken headers are reported") {
  TempDir dir;
  try {
    compute_model_fingerprint(dir.path());
    FAIL("fingerprint of an empty folder");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
  }
  petalsln::test::write_file(dir.file("config.json"), "{}");
  try {
    compute_model_fingerprint(dir.path());
    FAIL("fingerprint without weights");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
  }
  petalsln::test::write_file(dir.file("model.safetensors"), std::string("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10));
  try {
    compute_model_fingerprint(dir.path());
    FAIL("fingerprint of a broken header");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_format);
  }
}
