// petalsln-random-checkpoint: writes a Llama checkpoint of any shape with random weights, in
// Hugging Face format (config.json + safetensors, sharded with an index when asked), for
// benchmarks and swarm tests that need a model bigger than the fixtures.
//
//   petalsln-random-checkpoint --out DIR --preset smollm2-135m [--dtype bf16] [--shard-mb 100]

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "petalsln/model/model_config.hpp"
#include "safetensors_writer/safetensors_writer.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"

using namespace petalsln;

namespace {

// xoshiro256** with splitmix64 seeding: fast and the same on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      s = z ^ (z >> 31);
    }
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Box-Muller; the second value is discarded for simplicity (speed is not critical here).
  float normal(float std) {
    const double u1 = std::max(uniform(), 1e-300), u2 = uniform();
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2)) * std;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  std::uint64_t s_[4]{};
};

struct Shape {
  std::int64_t layers = 2, hidden = 64, heads = 4, kv_heads = 2, intermediate = 128, vocab = 512, head_dim = 0, max_positions = 8192;
  double rope_theta = 100000.0;
  bool tied = true;
};

// The command line, as parsed: one field per flag (unset optionals keep the preset's value).
struct CheckpointFlags {
  std::string out;
  std::string preset = "tiny";
  std::optional<std::int64_t> layers, hidden, heads, kv_heads, intermediate, vocab, head_dim, max_positions;
  std::optional<double> rope_theta;
  bool untied = false;
  std::string dtype = "bf16";
  std::int64_t shard_mb = 0;
  std::int64_t seed = 1;
  std::optional<std::string> tokenizer_from;
};

// Adds shape option @p name (e.g. "--layers") shown as "--layers N", an integer in [lo, hi].
void add_shape_option(CLI::App& app, const std::string& name, std::optional<std::int64_t>& target, const std::string& value_name,
                      std::int64_t lo, std::int64_t hi, const std::string& description) {
  app.add_option(name, target, description)->option_text(value_name)->transform(cli::integer_in(lo, hi));
}

void declare_shape(CLI::App& app, CheckpointFlags& f) {
  app.add_option("--preset", f.preset,
                 "smollm2-135m (30 layers, hidden 576, 9 heads, 3 KV heads,\n"
                 "intermediate 1536, vocab 49152, tied) or tiny")->option_text("NAME");
  constexpr std::int64_t big = 1 << 20;
  add_shape_option(app, "--layers", f.layers, "N", 1, 1024, "decoder layers (overrides the preset)");
  add_shape_option(app, "--hidden", f.hidden, "H", 2, big, "hidden size (overrides the preset)");
  add_shape_option(app, "--heads", f.heads, "A", 1, 1024, "attention heads (overrides the preset)");
  add_shape_option(app, "--kv-heads", f.kv_heads, "K", 1, 1024, "key/value heads (overrides the preset)");
  add_shape_option(app, "--intermediate", f.intermediate, "I", 1, big, "MLP intermediate size (overrides the preset)");
  add_shape_option(app, "--vocab", f.vocab, "V", 1, big, "vocabulary size (overrides the preset)");
  add_shape_option(app, "--head-dim", f.head_dim, "D", 2, 4096, "size of one head (overrides the preset; tiny: hidden / heads)");
  add_shape_option(app, "--max-positions", f.max_positions, "N", 1, big, "max_position_embeddings (default 8192)");
  app.add_option("--rope-theta", f.rope_theta, "RoPE base (default 100000)")->option_text("X")->check(cli::number_in());
  cli::add_flag(app, "--untied", f.untied, "give the LM head its own matrix (default: tied, as SmolLM2)");
}

// Declares every flag of petalsln-random-checkpoint on @p app, bound to the fields of @p f.
void declare_flags(CLI::App& app, CheckpointFlags& f) {
  cli::configure(app, "petalsln-random-checkpoint --out DIR [shape options]");
  app.add_option("--out", f.out, "folder to create or fill (required)")->option_text("DIR")->required();
  declare_shape(app, f);
  app.add_option("--dtype", f.dtype, "storage dtype (default bf16)")->option_text("bf16|f16|f32");
  app.add_option("--shard-mb", f.shard_mb, "split into shards of about N MiB with an index (default: one file)")
      ->option_text("N")->transform(cli::integer_in(0, 1 << 20));
  app.add_option("--seed", f.seed, "random seed (default 1)")->option_text("S")->transform(cli::integer_in(0, INT64_MAX));
  app.add_option("--tokenizer-from", f.tokenizer_from,
                 "copy tokenizer.json, tokenizer_config.json and chat_template.jinja\n"
                 "from DIR (its vocabulary must fit in --vocab)")->option_text("DIR");
  cli::add_help_flag(app, "Options");
}

Shape shape_from(const CheckpointFlags& f) {
  Shape s;
  if (f.preset == "smollm2-135m") {
    s = Shape{30, 576, 9, 3, 1536, 49152, 64, 8192, 100000.0, true};
  } else if (f.preset != "tiny") {
    throw cli::UsageError("unknown --preset \"" + f.preset + "\" (known: smollm2-135m, tiny)");
  }
  s.layers = f.layers.value_or(s.layers);
  s.hidden = f.hidden.value_or(s.hidden);
  s.heads = f.heads.value_or(s.heads);
  s.kv_heads = f.kv_heads.value_or(s.kv_heads);
  s.intermediate = f.intermediate.value_or(s.intermediate);
  s.vocab = f.vocab.value_or(s.vocab);
  s.head_dim = f.head_dim.value_or(s.head_dim == 0 ? s.hidden / s.heads : s.head_dim);
  s.max_positions = f.max_positions.value_or(s.max_positions);
  s.rope_theta = f.rope_theta.value_or(s.rope_theta);
  if (f.untied) s.tied = false;
  return s;
}

nlohmann::ordered_json config_json(const Shape& s, const std::string& dtype_name) {
  return {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"vocab_size", s.vocab}, {"hidden_size", s.hidden},
          {"intermediate_size", s.intermediate}, {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
          {"num_key_value_heads", s.kv_heads}, {"head_dim", s.head_dim}, {"hidden_act", "silu"},
          {"max_position_embeddings", s.max_positions}, {"rms_norm_eps", 1e-5}, {"rope_theta", s.rope_theta},
          {"rope_scaling", nullptr}, {"tie_word_embeddings", s.tied}, {"attention_bias", false}, {"mlp_bias", false},
          {"bos_token_id", 1}, {"eos_token_id", 2}, {"torch_dtype", dtype_name}, {"initializer_range", 0.02}};
}

// Accumulates tensors into shards of about `shard_bytes` and writes the index at the end.
class ShardedWriter {
 public:
  ShardedWriter(std::string dir, StorageDType dtype, std::uint64_t shard_bytes) : dir_(std::move(dir)), dtype_(dtype), shard_bytes_(shard_bytes) {}

  void add(const std::string& name, const std::vector<std::int64_t>& shape, Rng& rng, bool ones) {
    std::size_t n = 1;
    for (auto d : shape) n *= static_cast<std::size_t>(d);
    std::vector<float> v(n, 1.0f);
    if (!ones)
      for (auto& x : v) x = rng.normal(0.02f);
    const std::string bytes = dtype_ == StorageDType::bf16 ? to_bf16_bytes(v) : dtype_ == StorageDType::f16 ? to_f16_bytes(v) : to_f32_bytes(v);
    if (shard_bytes_ > 0 && current_.data_bytes() > 0 && current_.data_bytes() + bytes.size() > shard_bytes_) flush();
    current_.add(name, dtype_, shape, bytes);
    pending_names_.push_back(name);
  }

  void finish() {
    flush();
    if (shard_bytes_ == 0) {
      std::rename(util::join_path(dir_, shard_name(1)).c_str(), util::join_path(dir_, "model.safetensors").c_str());
      return;
    }
    nlohmann::ordered_json index = {{"metadata", {{"total_size", total_}}}, {"weight_map", nlohmann::ordered_json::object()}};
    for (const auto& [name, shard] : weight_map_) {
      index["weight_map"][name] = rename_shard(shard);
    }
    std::vector<std::string> finals;
    for (int i = 1; i <= shards_; ++i) {
      std::rename(util::join_path(dir_, shard_name(i)).c_str(), util::join_path(dir_, rename_shard(i)).c_str());
    }
    write_text(util::join_path(dir_, "model.safetensors.index.json"), index.dump(2));
  }

  static void write_text(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0) {
      throw Error(ErrorCode::io, "cannot write " + path);
    }
  }

 private:
  std::string shard_name(int i) const { return "shard-" + std::to_string(i) + ".tmp.safetensors"; }
  std::string rename_shard(int i) const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i, shards_);
    return buf;
  }
  void flush() {
    if (current_.data_bytes() == 0) return;
    ++shards_;
    total_ += current_.data_bytes();
    current_.write(util::join_path(dir_, shard_name(shards_)), {{"format", "pt"}});
    for (const auto& n : pending_names_) weight_map_[n] = shards_;
    pending_names_.clear();
    current_ = SafetensorsWriter();
  }

  std::string dir_;
  StorageDType dtype_;
  std::uint64_t shard_bytes_;
  SafetensorsWriter current_;
  std::vector<std::string> pending_names_;
  std::map<std::string, int> weight_map_;
  int shards_ = 0;
  std::uint64_t total_ = 0;
};

void copy_tokenizer(const std::string& from, const std::string& to, std::int64_t vocab) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}) {
    const std::string src = util::join_path(from, name);
    if (!util::is_regular_file(src)) continue;
    const std::string text = util::read_file(src, 64u << 20);
    if (std::string(name) == "tokenizer.json") {
      auto j = nlohmann::json::parse(text);
      std::int64_t max_id = -1;
      for (const auto& [tok, id] : j["model"]["vocab"].items()) max_id = std::max<std::int64_t>(max_id, id.get<std::int64_t>());
      for (const auto& t : j["added_tokens"]) max_id = std::max<std::int64_t>(max_id, t["id"].get<std::int64_t>());
      if (max_id >= vocab) throw cli::UsageError("the tokenizer in " + from + " has ids up to " + std::to_string(max_id) + ", beyond --vocab");
    }
    ShardedWriter::write_text(util::join_path(to, name), text);
  }
}

int run(const CheckpointFlags& f) {
  const std::string& out = f.out;
  const Shape s = shape_from(f);
  const std::string& dtype_name = f.dtype;
  StorageDType dtype;
  if (dtype_name == "bf16") dtype = StorageDType::bf16;
  else if (dtype_name == "f16") dtype = StorageDType::f16;
  else if (dtype_name == "f32") dtype = StorageDType::f32;
  else throw cli::UsageError("--dtype must be bf16, f16 or f32");
  const std::int64_t shard_mb = f.shard_mb;
  Rng rng(static_cast<std::uint64_t>(f.seed));

  ::mkdir(out.c_str(), 0755);
  if (!util::is_directory(out)) throw Error(ErrorCode::io, "cannot create " + out);
  const auto cfg = config_json(s, dtype_name == "bf16" ? "bfloat16" : dtype_name == "f16" ? "float16" : "float32");
  ModelConfig::parse(cfg.dump(), "generated config").validate();  // refuse shapes petalsln cannot load
  ShardedWriter::write_text(util::join_path(out, "config.json"), cfg.dump(2));
  ShardedWriter::write_text(util::join_path(out, "generation_config.json"),
                            nlohmann::ordered_json{{"bos_token_id", 1}, {"eos_token_id", 2}}.dump(2));

  ShardedWriter w(out, dtype, static_cast<std::uint64_t>(shard_mb) << 20);
  const auto H = s.hidden, I = s.intermediate, D = s.head_dim;
  w.add("model.embed_tokens.weight", {s.vocab, H}, rng, false);
  for (std::int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w.add(p + "input_layernorm.weight", {H}, rng, true);
    w.add(p + "self_attn.q_proj.weight", {s.heads * D, H}, rng, false);
    w.add(p + "self_attn.k_proj.weight", {s.kv_heads * D, H}, rng, false);
    w.add(p + "self_attn.v_proj.weight", {s.kv_heads * D, H}, rng, false);
    w.add(p + "self_attn.o_proj.weight", {H, s.heads * D}, rng, false);
    w.add(p + "post_attention_layernorm.weight", {H}, rng, true);
    w.add(p + "mlp.gate_proj.weight", {I, H}, rng, false);
    w.add(p + "mlp.up_proj.weight", {I, H}, rng, false);
    w.add(p + "mlp.down_proj.weight", {H, I}, rng, false);
  }
  w.add("model.norm.weight", {H}, rng, true);
  if (!s.tied) w.add("lm_head.weight", {s.vocab, H}, rng, false);
  w.finish();
  if (f.tokenizer_from) copy_tokenizer(*f.tokenizer_from, out, s.vocab);
  std::printf("wrote %s (%lld layers, hidden %lld, vocab %lld, %s)\n", out.c_str(), static_cast<long long>(s.layers),
              static_cast<long long>(s.hidden), static_cast<long long>(s.vocab), dtype_name.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Writes a Llama checkpoint with random weights (normal, std 0.02; norms 1) in Hugging Face\n"
      "format: config.json, generation_config.json and safetensors files.",
      "petalsln-random-checkpoint"};
  CheckpointFlags flags;
  declare_flags(app, flags);
  return cli::run_main("petalsln-random-checkpoint", [&] {
    if (!cli::parse(app, argc, argv)) return 0;
    return run(flags);
  });
}
