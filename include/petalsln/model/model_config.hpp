#pragma once
/// @file model_config.hpp
/// The shape of a Llama-family checkpoint, read from its Hugging Face `config.json`.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace petalsln {

/// Rotary-embedding frequency scaling. `rope_type` is "default" (none), "linear" or "llama3".
struct RopeScaling {
  std::string rope_type = "default";  ///< Scaling law; anything else is rejected at load.
  double factor = 1.0;                ///< Context extension factor (linear, llama3).
  double low_freq_factor = 1.0;       ///< llama3: wavelengths above original/low are divided by factor.
  double high_freq_factor = 4.0;      ///< llama3: wavelengths below original/high are kept.
  std::int64_t original_max_position_embeddings = 0;  ///< llama3: the pre-extension context length.
};

/// Hyper-parameters of a Llama-family decoder (LlamaForCausalLM and its look-alikes).
/// Both the classic keys (`rope_theta`, `rope_scaling`) and the newer `rope_parameters`
/// object are understood.
struct ModelConfig {
  std::string architecture;        ///< e.g. "LlamaForCausalLM".
  std::string model_type;          ///< e.g. "llama".
  std::int64_t vocab_size = 0;     ///< Rows of the embedding matrix.
  std::int64_t hidden_size = 0;    ///< Width of the residual stream.
  std::int64_t intermediate_size = 0;   ///< Width of the SwiGLU MLP.
  std::int64_t num_hidden_layers = 0;   ///< Number of decoder blocks.
  std::int64_t num_attention_heads = 0; ///< Query heads.
  std::int64_t num_key_value_heads = 0; ///< Key/value heads (GQA when fewer than query heads).
  std::int64_t head_dim = 0;            ///< Per-head width (defaults to hidden / heads).
  std::int64_t max_position_embeddings = 0;  ///< Longest context the model was built for.
  double rms_norm_eps = 1e-6;        ///< RMSNorm epsilon.
  double rope_theta = 10000.0;       ///< RoPE base.
  RopeScaling rope_scaling;          ///< RoPE scaling, "default" when absent.
  bool tie_word_embeddings = false;  ///< LM head shares the embedding matrix.
  bool attention_bias = false;       ///< q/k/v/o projections carry a bias.
  bool mlp_bias = false;             ///< gate/up/down projections carry a bias.
  std::optional<std::int64_t> bos_token_id;  ///< Beginning-of-sequence id, if declared.
  std::vector<std::int64_t> eos_token_ids;   ///< End-of-sequence ids (config may give one or a list).
  std::string torch_dtype;           ///< Declared storage dtype ("float32", "bfloat16", ...), informative.

  /// Parses config.json text. @p source names the file in error messages.
  /// Integer fields are range-checked before conversion: sizes, counts and context lengths
  /// must lie in [1, 2^24], token ids in [0, 2^24 - 1]; anything else (a negative number, a
  /// float, 2^63) is refused with a message naming the field, its allowed range and the value.
  /// Throws Error(invalid_format) for malformed JSON, a missing/ill-typed key or an
  /// out-of-range integer,
  /// Error(unsupported) for a non-Llama architecture, an unknown rope type or activation,
  /// Error(invalid_argument) for inconsistent values (e.g. heads not dividing evenly).
  static ModelConfig parse(const std::string& json_text, const std::string& source = "config.json");

  /// Reads and parses `<model_dir>/config.json`. Throws as parse(), and Error(not_found)
  /// when the file is missing.
  static ModelConfig load(const std::string& model_dir);

  /// Checks that the values are consistent; throws Error(invalid_argument) naming the field.
  void validate() const;

  /// Number of query heads sharing one key/value head.
  std::int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
};

}  // namespace petalsln
