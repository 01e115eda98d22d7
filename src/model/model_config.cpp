#include "petalsln/model/model_config.hpp"

#include <nlohmann/json.hpp>

#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"

namespace petalsln {
namespace {

using nlohmann::json;

[[noreturn]] void bad_field(const std::string& source, const std::string& key, const std::string& why) {
  throw Error(ErrorCode::invalid_format, source + ": field \"" + key + "\" " + why);
}

// The largest dimension, layer count, context length or token id a config may declare. It
// keeps every product that sizes weights and caches far from 64-bit overflow, and it is 100x
// the largest real value (a 256k vocabulary, a 128k context).
constexpr std::int64_t kMaxDim = std::int64_t{1} << 24;

std::string range_text(std::int64_t lo, std::int64_t hi) { return "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]"; }

// Returns @p v, the value of field @p key, if it is an integer in [lo, hi]. nlohmann stores
// integers above INT64_MAX as unsigned, and get<int64_t>() would wrap them to negative
// numbers ("hidden_size: 2^63" read as -9223372036854775808), so the range is checked on the
// stored type before any conversion.
std::int64_t int_in_range(const json& v, const std::string& key, const std::string& source, std::int64_t lo, std::int64_t hi) {
  const auto refuse = [&] { bad_field(source, key, "must be an integer in " + range_text(lo, hi) + ", got " + v.dump()); };
  if (!v.is_number_integer()) refuse();
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) refuse();
  const auto n = v.get<std::int64_t>();  // exact now: an unsigned value is at most hi
  if (n < lo || n > hi) refuse();
  return n;
}

// Reads integer field @p key, which must lie in [lo, hi]; @p fallback when absent or null.
std::int64_t get_int(const json& j, const std::string& key, const std::string& source, std::int64_t lo, std::int64_t hi,
                     std::optional<std::int64_t> fallback = std::nullopt) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback) return *fallback;
    bad_field(source, key, "is missing");
  }
  return int_in_range(*it, key, source, lo, hi);
}

double get_number(const json& j, const std::string& key, const std::string& source, std::optional<double> fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (fallback) return *fallback;
    bad_field(source, key, "is missing");
  }
  if (!it->is_number()) bad_field(source, key, "must be a number");
  return it->get<double>();
}

bool get_bool(const json& j, const std::string& key, const std::string& source, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) bad_field(source, key, "must be true or false");
  return it->get<bool>();
}

std::string get_string(const json& j, const std::string& key, const std::string& source, const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) bad_field(source, key, "must be a string");
  return it->get<std::string>();
}

// Reads the rope scaling object (classic "rope_scaling" or the "rope_parameters" form, which
// also carries rope_theta). "type" is the pre-2024 spelling of "rope_type".
RopeScaling parse_rope(const json& r, const std::string& key, const std::string& source) {
  if (!r.is_object()) bad_field(source, key, "must be an object or null");
  RopeScaling s;
  std::string type = get_string(r, "rope_type", source, "");
  if (type.empty()) type = get_string(r, "type", source, "default");
  s.rope_type = type;
  if (type == "default") return s;
  if (type == "linear") {
    s.factor = get_number(r, "factor", source + " " + key, std::nullopt);
  } else if (type == "llama3") {
    const std::string where = source + " " + key;
    s.factor = get_number(r, "factor", where, std::nullopt);
    s.low_freq_factor = get_number(r, "low_freq_factor", where, std::nullopt);
    s.high_freq_factor = get_number(r, "high_freq_factor", where, std::nullopt);
    s.original_max_position_embeddings = get_int(r, "original_max_position_embeddings", where, 1, kMaxDim);
  } else {
    throw Error(ErrorCode::unsupported,
                source + ": rope type \"" + type + "\" is not supported (supported: default, linear, llama3)");
  }
  return s;
}

std::vector<std::int64_t> parse_eos(const json& j, const std::string& source) {
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_array()) return {int_in_range(*it, "eos_token_id", source, 0, kMaxDim - 1)};
  std::vector<std::int64_t> ids;
  for (const auto& v : *it) ids.push_back(int_in_range(v, "eos_token_id", source, 0, kMaxDim - 1));
  return ids;
}

void require_positive(std::int64_t v, const char* name) {
  if (v <= 0) throw Error(ErrorCode::invalid_argument, std::string("config: ") + name + " must be positive, got " + std::to_string(v));
}

}  // namespace

ModelConfig ModelConfig::parse(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double ("1e999") throws out_of_range.
    throw Error(ErrorCode::invalid_format, source + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(ErrorCode::invalid_format, source + " must hold a JSON object");

  ModelConfig c;
  c.model_type = get_string(j, "model_type", source, "");
  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->empty() || !(*it)[0].is_string()) bad_field(source, "architectures", "must be a list of strings");
    c.architecture = (*it)[0].get<std::string>();
  }
  // The Llama decoder is shared by these architectures; anything else computes differently.
  const bool llama_arch = c.architecture.empty() || c.architecture == "LlamaForCausalLM";
  const bool llama_type = c.model_type.empty() || c.model_type == "llama";
  if (!llama_arch || !llama_type || (c.architecture.empty() && c.model_type.empty())) {
    throw Error(ErrorCode::unsupported, source + ": architecture \"" + c.architecture + "\" (model_type \"" +
                                            c.model_type + "\") is not supported; petalsln runs LlamaForCausalLM");
  }
  const std::string act = get_string(j, "hidden_act", source, "silu");
  if (act != "silu") throw Error(ErrorCode::unsupported, source + ": hidden_act \"" + act + "\" is not supported (only silu)");

  c.vocab_size = get_int(j, "vocab_size", source, 1, kMaxDim);
  c.hidden_size = get_int(j, "hidden_size", source, 1, kMaxDim);
  c.intermediate_size = get_int(j, "intermediate_size", source, 1, kMaxDim);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", source, 1, kMaxDim);
  c.num_attention_heads = get_int(j, "num_attention_heads", source, 1, kMaxDim);
  c.num_key_value_heads = get_int(j, "num_key_value_heads", source, 1, kMaxDim, c.num_attention_heads);
  c.head_dim = get_int(j, "head_dim", source, 1, kMaxDim, c.hidden_size / c.num_attention_heads);
  c.max_position_embeddings = get_int(j, "max_position_embeddings", source, 1, kMaxDim, 2048);
  c.rms_norm_eps = get_number(j, "rms_norm_eps", source, 1e-6);
  c.tie_word_embeddings = get_bool(j, "tie_word_embeddings", source, false);
  c.attention_bias = get_bool(j, "attention_bias", source, false);
  c.mlp_bias = get_bool(j, "mlp_bias", source, false);
  c.torch_dtype = get_string(j, "torch_dtype", source, get_string(j, "dtype", source, ""));
  if (auto it = j.find("bos_token_id"); it != j.end() && !it->is_null()) {
    c.bos_token_id = int_in_range(*it, "bos_token_id", source, 0, kMaxDim - 1);
  }
  c.eos_token_ids = parse_eos(j, source);

  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) {
    c.rope_scaling = parse_rope(*it, "rope_parameters", source);
    c.rope_theta = get_number(*it, "rope_theta", source + " rope_parameters", get_number(j, "rope_theta", source, 10000.0));
  } else {
    c.rope_theta = get_number(j, "rope_theta", source, 10000.0);
    if (auto rs = j.find("rope_scaling"); rs != j.end() && !rs->is_null()) c.rope_scaling = parse_rope(*rs, "rope_scaling", source);
  }
  c.validate();
  return c;
}

ModelConfig ModelConfig::load(const std::string& model_dir) {
  const std::string path = util::join_path(model_dir, "config.json");
  return parse(util::read_file(path, 1u << 20), path);
}

void ModelConfig::validate() const {
  require_positive(vocab_size, "vocab_size");
  require_positive(hidden_size, "hidden_size");
  require_positive(intermediate_size, "intermediate_size");
  require_positive(num_hidden_layers, "num_hidden_layers");
  require_positive(num_attention_heads, "num_attention_heads");
  require_positive(num_key_value_heads, "num_key_value_heads");
  require_positive(head_dim, "head_dim");
  require_positive(max_position_embeddings, "max_position_embeddings");
  if (num_attention_heads % num_key_value_heads != 0) {
    throw Error(ErrorCode::invalid_argument, "config: num_attention_heads (" + std::to_string(num_attention_heads) +
                                                 ") is not a multiple of num_key_value_heads (" +
                                                 std::to_string(num_key_value_heads) + ")");
  }
  if (head_dim % 2 != 0) throw Error(ErrorCode::invalid_argument, "config: head_dim must be even for rotary embeddings");
  if (!(rms_norm_eps > 0.0)) throw Error(ErrorCode::invalid_argument, "config: rms_norm_eps must be positive");
  if (!(rope_theta > 0.0)) throw Error(ErrorCode::invalid_argument, "config: rope_theta must be positive");
  if (!(rope_scaling.factor > 0.0)) throw Error(ErrorCode::invalid_argument, "config: rope scaling factor must be positive");
  if (rope_scaling.rope_type == "llama3") {
    if (rope_scaling.original_max_position_embeddings <= 0 || !(rope_scaling.high_freq_factor > rope_scaling.low_freq_factor) ||
        !(rope_scaling.low_freq_factor > 0.0)) {
      throw Error(ErrorCode::invalid_argument,
                  "config: llama3 rope scaling needs 0 < low_freq_factor < high_freq_factor and a positive "
                  "original_max_position_embeddings");
    }
  }
  for (auto id : eos_token_ids) {
    if (id < 0 || id >= vocab_size) throw Error(ErrorCode::invalid_argument, "config: eos_token_id " + std::to_string(id) + " is outside the vocabulary");
  }
  if (bos_token_id && (*bos_token_id < 0 || *bos_token_id >= vocab_size)) {
    throw Error(ErrorCode::invalid_argument, "config: bos_token_id " + std::to_string(*bos_token_id) + " is outside the vocabulary");
  }
  // Guard the arithmetic that sizes weights and caches against absurd declarations.
  for (auto [v, name] : {std::pair{vocab_size, "vocab_size"}, {hidden_size, "hidden_size"}, {intermediate_size, "intermediate_size"},
                         {num_hidden_layers, "num_hidden_layers"}, {head_dim, "head_dim"}, {num_attention_heads, "num_attention_heads"},
                         {num_key_value_heads, "num_key_value_heads"},
                         {max_position_embeddings, "max_position_embeddings"}}) {
    if (v > kMaxDim) throw Error(ErrorCode::invalid_argument, std::string("config: ") + name + " is " + std::to_string(v) +
                                                          ", outside " + range_text(1, kMaxDim));
  }
}

}  // namespace petalsln
