// Config and safetensors loading, including every kind of broken file a user could hand us.

#include "torch_doctest.hpp"

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/model_config.hpp"
#include "safetensors_writer/safetensors_writer.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;
using nlohmann::json;

namespace {

// Runs @p f and returns the Error it throws; fails the test if it throws nothing.
template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    FAIL("threw a non-petalsln exception: " << e.what());
  }
  FAIL("expected an Error");
  return Error(ErrorCode::internal, "unreachable");
}

bool mentions(const Error& e, const std::string& s) { return std::string(e.what()).find(s) != std::string::npos; }

json base_config() { return json::parse(test::slurp(test::fixture_dir("tiny-llama3") + "/config.json")); }

// Writes a safetensors file from a raw header string and data bytes.
void write_raw_safetensors(const std::string& path, const std::string& header, const std::string& data, std::uint64_t declared_len) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &declared_len, 8);
  test::write_file(path, out + header + data);
}

}  // namespace

TEST_CASE("config: fixtures parse with the classic keys") {
  auto c = ModelConfig::load(test::fixture_dir("tiny-llama3"));
  CHECK(c.num_hidden_layers == 6);
  CHECK(c.kv_groups() == 2);
  CHECK(c.rope_scaling.rope_type == "llama3");
  CHECK(c.rope_scaling.original_max_position_embeddings == 64);
  CHECK(c.rope_theta == 500000.0);
  CHECK_FALSE(c.tie_word_embeddings);
  CHECK(c.eos_token_ids == std::vector<std::int64_t>({4}));
  auto s = ModelConfig::load(test::fixture_dir("tiny-smollm2"));
  CHECK(s.tie_word_embeddings);
  CHECK(s.rope_scaling.rope_type == "default");
  CHECK(s.bos_token_id == 1);
}

TEST_CASE("config: the rope_parameters form equals the classic form") {
  json j = base_config();
  json rp = j["rope_scaling"];
  rp["rope_theta"] = j["rope_theta"];
  j.erase("rope_scaling");
  j.erase("rope_theta");
  j["rope_parameters"] = rp;
  j["eos_token_id"] = json::array({4, 1});
  auto c = ModelConfig::parse(j.dump());
  CHECK(c.rope_theta == 500000.0);
  CHECK(c.rope_scaling.rope_type == "llama3");
  CHECK(c.rope_scaling.factor == 8.0);
  CHECK(c.eos_token_ids == std::vector<std::int64_t>({4, 1}));
  // head_dim defaults to hidden / heads when absent.
  j.erase("head_dim");
  CHECK(ModelConfig::parse(j.dump()).head_dim == 16);
}

TEST_CASE("config: bad input is a clear error") {
  test::TempDir dir;
  CHECK(error_of([&] { ModelConfig::load(dir.path()); }).code() == ErrorCode::not_found);
  test::write_file(dir.file("config.json"), "{\"vocab_size\": 12,");
  auto e = error_of([&] { ModelConfig::load(dir.path()); });
  CHECK(e.code() == ErrorCode::invalid_format);
  CHECK(mentions(e, "config.json"));

  json j = base_config();
  j["architectures"] = {"MistralForCausalLM"};
  j["model_type"] = "mistral";
  e = error_of([&] { ModelConfig::parse(j.dump()); });
  CHECK(e.code() == ErrorCode::unsupported);
  CHECK(mentions(e, "MistralForCausalLM"));

  j = base_config();
  j.erase("hidden_size");
  e = error_of([&] { ModelConfig::parse(j.dump()); });
  CHECK(mentions(e, "hidden_size"));

  j = base_config();
  j["num_attention_heads"] = "four";
  CHECK(mentions(error_of([&] { ModelConfig::parse(j.dump()); }), "num_attention_heads"));

  j = base_config();
  j["num_key_value_heads"] = 3;
  CHECK(mentions(error_of([&] { ModelConfig::parse(j.dump()); }), "num_key_value_heads"));

  j = base_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  e = error_of([&] { ModelConfig::parse(j.dump()); });
  CHECK(e.code() == ErrorCode::unsupported);
  CHECK(mentions(e, "yarn"));

  j = base_config();
  j["hidden_act"] = "gelu";
  CHECK(error_of([&] { ModelConfig::parse(j.dump()); }).code() == ErrorCode::unsupported);

  j = base_config();
  j["eos_token_id"] = 100000;
  CHECK(mentions(error_of([&] { ModelConfig::parse(j.dump()); }), "eos_token_id"));

  CHECK(error_of([&] { ModelConfig::parse("[1, 2]"); }).code() == ErrorCode::invalid_format);
}

TEST_CASE("config: integers are range-checked before conversion, not wrapped") {
  json j = base_config();
  // 2^63 is stored by the JSON parser as unsigned; it used to come out as a negative number.
  j["hidden_size"] = std::uint64_t{1} << 63;
  auto e = error_of([&] { ModelConfig::parse(j.dump()); });
  CHECK(e.code() == ErrorCode::invalid_format);
  CHECK(mentions(e, "\"hidden_size\""));
  CHECK(mentions(e, "[1, 16777216]"));
  CHECK(mentions(e, "9223372036854775808"));
  CHECK_FALSE(mentions(e, "-9223372036854775808"));

  for (const char* field : {"vocab_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                            "num_key_value_heads", "head_dim", "max_position_embeddings"}) {
    CAPTURE(field);
    for (const json& v : {json(std::numeric_limits<std::uint64_t>::max()), json(-1), json(0), json(16777217), json(2.5)}) {
      CAPTURE(v.dump());
      j = base_config();
      j[field] = v;
      e = error_of([&] { ModelConfig::parse(j.dump()); });
      CHECK(e.code() == ErrorCode::invalid_format);
      CHECK(mentions(e, std::string("\"") + field + "\" must be an integer in [1, 16777216], got " + v.dump()));
    }
  }
  j = base_config();
  j["bos_token_id"] = std::uint64_t{1} << 63;
  CHECK(mentions(error_of([&] { ModelConfig::parse(j.dump()); }), "\"bos_token_id\" must be an integer in [0, 16777215]"));
  j = base_config();
  j["eos_token_id"] = json::array({4, -1});
  CHECK(mentions(error_of([&] { ModelConfig::parse(j.dump()); }), "\"eos_token_id\" must be an integer in [0, 16777215], got -1"));
  j = base_config();
  j["rope_scaling"]["original_max_position_embeddings"] = std::uint64_t{1} << 63;
  CHECK(mentions(error_of([&] { ModelConfig::parse(j.dump()); }), "original_max_position_embeddings"));
  // The edge of the range is accepted.
  j = base_config();
  j["max_position_embeddings"] = 16777216;
  CHECK(ModelConfig::parse(j.dump()).max_position_embeddings == 16777216);
}

TEST_CASE("checkpoint: sharded bf16 loads only the shards a block range needs") {
  auto ck = Checkpoint::open(test::fixture_dir("tiny-smollm2"));
  CHECK(ck.mapped_files().empty());
  auto info = ck.info("model.layers.3.mlp.up_proj.weight");
  CHECK(info.dtype == StorageDType::bf16);
  CHECK(info.shape == std::vector<std::int64_t>({256, 96}));
  CHECK(ck.mapped_files().size() == 1);
  auto t = ck.load("model.layers.3.mlp.up_proj.weight", at::kFloat);
  CHECK((t.scalar_type() == at::kFloat));
  CHECK((t.sizes() == at::IntArrayRef({256, 96})));
  CHECK_FALSE(ck.contains("lm_head.weight"));
  CHECK(error_of([&] { ck.info("lm_head.weight"); }).code() == ErrorCode::not_found);
}

TEST_CASE("checkpoint: f32, f16 and bf16 on disk read back as float32") {
  test::TempDir dir;
  std::vector<float> v = {1.0f, -2.5f, 0.333333f, 65504.0f, 1e-6f, 0.0f};
  SafetensorsWriter w;
  w.add("a", StorageDType::f32, {2, 3}, to_f32_bytes(v));
  w.add("b", StorageDType::f16, {6}, to_f16_bytes(v));
  w.add("c", StorageDType::bf16, {3, 2}, to_bf16_bytes(v));
  w.write(dir.file("model.safetensors"));
  auto ck = Checkpoint::open(dir.path());
  auto expected = torch::tensor(v);
  CHECK(torch::equal(ck.load("a", at::kFloat).flatten(), expected));
  CHECK(torch::equal(ck.load("b", at::kFloat), expected.to(at::kHalf).to(at::kFloat)));
  CHECK(torch::equal(ck.load("c", at::kFloat).flatten(), expected.to(at::kBFloat16).to(at::kFloat)));
  CHECK((ck.load("c", at::kBFloat16).scalar_type() == at::kBFloat16));
  CHECK(error_of([&] { ck.load("a", at::kFloat, {3, 2}); }).code() == ErrorCode::invalid_format);
}

TEST_CASE("checkpoint: corrupted safetensors files are rejected with the reason") {
  test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const std::string header = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  const std::string data(16, '\0');
  auto open_and_read = [&] { Checkpoint::open(dir.path()).load("w", at::kFloat); };

  SUBCASE("valid") {
    write_raw_safetensors(path, header, data, header.size());
    CHECK_NOTHROW(open_and_read());
  }
  SUBCASE("header length past the end") {
    write_raw_safetensors(path, header, data, 1u << 30);
    auto e = error_of(open_and_read);
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(mentions(e, "header length"));
  }
  SUBCASE("shorter than the length field") {
    test::write_file(path, "abc");
    CHECK(error_of(open_and_read).code() == ErrorCode::invalid_format);
  }
  SUBCASE("header is not JSON") {
    const std::string bad = "{not json";
    write_raw_safetensors(path, bad, data, bad.size());
    CHECK(mentions(error_of(open_and_read), "JSON"));
  }
  SUBCASE("offsets past the end (truncated file)") {
    write_raw_safetensors(path, header, data.substr(0, 8), header.size());
    auto e = error_of(open_and_read);
    CHECK(mentions(e, "data_offsets"));
    CHECK(mentions(e, "truncated"));
  }
  SUBCASE("unknown dtype string") {
    const std::string h = R"({"w":{"dtype":"F33","shape":[2,2],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    auto e = error_of(open_and_read);
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(mentions(e, "F33"));
  }
  SUBCASE("valid but unsupported dtype") {
    const std::string h = R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    CHECK(error_of(open_and_read).code() == ErrorCode::unsupported);
  }
  SUBCASE("shape does not match the byte count") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    CHECK(mentions(error_of(open_and_read), "bytes"));
  }
  SUBCASE("negative or absurd shapes") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    CHECK(error_of(open_and_read).code() == ErrorCode::invalid_format);
    const std::string h2 = R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h2, data, h2.size());
    CHECK(error_of(open_and_read).code() == ErrorCode::invalid_format);
  }
  SUBCASE("two tensors overlap") {
    // Same byte count as a valid file, and each tensor is in bounds and the right size.
    const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
                          R"("c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    auto e = error_of([&] { Checkpoint::open(dir.path()); });
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(mentions(e, "tensors a and b overlap"));
  }
  SUBCASE("two names alias the same bytes") {
    const std::string h = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                          R"("b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    CHECK(mentions(error_of([&] { Checkpoint::open(dir.path()); }), "overlap"));
  }
  SUBCASE("a tensor shifted by a few bytes leaves a gap") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[3,19]}})";
    write_raw_safetensors(path, h, data + "abc", h.size());
    auto e = error_of(open_and_read);
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(mentions(e, "3 bytes before tensor w"));
  }
  SUBCASE("bytes after the last tensor") {
    write_raw_safetensors(path, header, data + "xyz", header.size());
    auto e = error_of(open_and_read);
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(mentions(e, "last 3 bytes"));
  }
  SUBCASE("a zero-size tensor between two others is fine") {
    const std::string h = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                          R"("e":{"dtype":"BF16","shape":[0,3],"data_offsets":[8,8]},)"
                          R"("b":{"dtype":"F16","shape":[4],"data_offsets":[8,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    auto ck = Checkpoint::open(dir.path());
    CHECK((ck.load("e", at::kFloat).sizes() == at::IntArrayRef({0, 3})));
    CHECK(ck.load("b", at::kFloat).numel() == 4);
  }
  SUBCASE("a repeated tensor name") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                          R"("w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    CHECK(mentions(error_of(open_and_read), "key \"w\" appears twice"));
  }
  SUBCASE("header must begin with a brace") {
    const std::string h = std::string(" ") + header;
    write_raw_safetensors(path, h, data, h.size());
    CHECK(mentions(error_of(open_and_read), "begin with '{'"));
  }
  SUBCASE("header longer than the format's limit") {
    write_raw_safetensors(path, header, data, 100'000'001);
    CHECK(mentions(error_of(open_and_read), "100 MB"));
  }
  SUBCASE("metadata must map strings to strings") {
    const std::string h = R"({"__metadata__":{"format":1},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
    write_raw_safetensors(path, h, data, h.size());
    CHECK(mentions(error_of(open_and_read), "__metadata__"));
  }
  SUBCASE("trailing space padding inside the header is allowed") {
    const std::string h = header + "      ";
    write_raw_safetensors(path, h, data, h.size());
    CHECK_NOTHROW(open_and_read());
  }
  SUBCASE("begin after end") {
    const std::string h = R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})";
    write_raw_safetensors(path, h, data, h.size());
    CHECK(error_of(open_and_read).code() == ErrorCode::invalid_format);
  }
}

TEST_CASE("checkpoint: missing files, shards and tensors") {
  test::TempDir dir;
  CHECK(error_of([&] { Checkpoint::open(dir.path()); }).code() == ErrorCode::not_found);

  // An index naming a shard that is not there: opening works, touching the tensor fails.
  test::write_file(dir.file("model.safetensors.index.json"), R"({"weight_map":{"w":"model-00001-of-00002.safetensors"}})");
  auto ck = Checkpoint::open(dir.path());
  auto e = error_of([&] { ck.load("w", at::kFloat); });
  CHECK(e.code() == ErrorCode::not_found);
  CHECK(mentions(e, "model-00001-of-00002.safetensors"));

  // An index whose shard lacks the tensor it claims.
  SafetensorsWriter w;
  w.add("other", StorageDType::f32, {1}, to_f32_bytes({1.0f}));
  w.write(dir.file("model-00001-of-00002.safetensors"));
  CHECK(error_of([&] { Checkpoint::open(dir.path()).load("w", at::kFloat); }).code() == ErrorCode::not_found);

  // Shard names must stay inside the folder.
  test::write_file(dir.file("model.safetensors.index.json"), R"({"weight_map":{"w":"../../etc/passwd"}})");
  CHECK(error_of([&] { Checkpoint::open(dir.path()); }).code() == ErrorCode::invalid_format);
  test::write_file(dir.file("model.safetensors.index.json"), R"({"weight_map":{"w":"a\\b.safetensors"}})");
  CHECK(mentions(error_of([&] { Checkpoint::open(dir.path()); }), "plain file name"));
  // Which shard holds a tensor must not depend on which duplicate the JSON parser keeps.
  test::write_file(dir.file("model.safetensors.index.json"),
                   R"({"weight_map":{"w":"model-00001-of-00002.safetensors","w":"model-00002-of-00002.safetensors"}})");
  CHECK(mentions(error_of([&] { Checkpoint::open(dir.path()); }), "appears twice"));
  test::write_file(dir.file("model.safetensors.index.json"), R"({"weight_map":{}})");
  CHECK(mentions(error_of([&] { Checkpoint::open(dir.path()); }), "lists no tensors"));
  test::write_file(dir.file("model.safetensors.index.json"), R"(["weight_map"])");
  CHECK(error_of([&] { Checkpoint::open(dir.path()); }).code() == ErrorCode::invalid_format);
  test::write_file(dir.file("model.safetensors.index.json"), R"({"no_map":{}})");
  CHECK(mentions(error_of([&] { Checkpoint::open(dir.path()); }), "weight_map"));

  // A block whose weights are absent from an otherwise valid checkpoint.
  test::TempDir model;
  model.copy_in(test::fixture_dir("tiny-llama3") + "/config.json", "config.json");
  w.write(model.file("model.safetensors"));
  auto config = ModelConfig::load(model.path());
  auto ck2 = Checkpoint::open(model.path());
  e = error_of([&] { BlockStack(config, ck2, 0, 1); });
  CHECK(e.code() == ErrorCode::not_found);
  CHECK(mentions(e, "model.layers.0."));
}
