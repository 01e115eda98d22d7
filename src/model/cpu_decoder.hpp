#pragma once
// The CPU engine's decoder blocks: float32 activations, weights packed in the chosen format,
// and every row of a call (any mix of sessions, batch items and positions) pushed through each
// weight matrix together, so decoding several sessions reads the weights once.
//
// It computes what llama_ops.hpp and BlockStack's libtorch path compute (transformers'
// LlamaDecoderLayer), without libtorch's per-op dispatch and allocations: a decode step of
// SmolLM2-135M issued ~60 small libtorch ops per block (docs/BENCHMARKS.md, "Engine decode").

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "model/packed_matrix.hpp"
#include "petalsln/model/model_config.hpp"

namespace petalsln::model {

/// One decoder block's weights for the CPU engine (q/k/v and gate/up fused into one matrix).
struct PackedBlock {
  std::vector<float> input_norm, post_norm;
  PackedMatrix qkv, o, gate_up, down;
  std::vector<float> qkv_bias, o_bias, gate_up_bias, down_bias;  // empty without biases

  /// Bytes held.
  std::int64_t bytes() const noexcept;
};

/// Where one row of a call keeps its keys and values in one block: the session's cache of
/// that block for the row's batch item, [kv_heads, max_length, head_dim] float32.
struct RowCache {
  float* keys = nullptr;
  float* values = nullptr;
  std::int64_t max_length = 0;
};

/// The rows of one call: their positions, and (per block, row-major) their caches.
struct RowBatch {
  std::int64_t rows = 0;
  std::vector<std::int64_t> positions;      // [rows]
  std::vector<std::vector<RowCache>> caches;  // [blocks][rows]
};

/// Decoder blocks of one model on the CPU.
class CpuDecoder {
 public:
  /// Takes the model's config and the rotary inverse frequencies (float32, head_dim / 2).
  CpuDecoder(const ModelConfig& config, const at::Tensor& inv_freq);

  /// Packs one block's float32 tensors (shapes as BlockStack loads them) in @p format, the
  /// matrices into @p arena.
  PackedBlock pack_block(const at::Tensor& input_norm, const at::Tensor& post_norm, const at::Tensor& qkv, const at::Tensor& qkv_bias,
                         const at::Tensor& o, const at::Tensor& o_bias, const at::Tensor& gate_up, const at::Tensor& gate_up_bias,
                         const at::Tensor& down, const at::Tensor& down_bias, WeightFormat format,
                         const std::shared_ptr<WeightArena>& arena) const;

  /// Bytes of arena one block's matrices take in @p format.
  std::int64_t block_footprint(WeightFormat format) const noexcept;

  /// Runs @p x ([rows, hidden] float32, updated in place) through @p blocks in order; block i
  /// writes each row's keys and values at its position in batch.caches[i] and attends to
  /// positions [0, position] of that cache. A row's result does not depend on the other rows.
  void run(const std::vector<const PackedBlock*>& blocks, float* x, const RowBatch& batch) const;

 private:
  void run_block(const PackedBlock& w, float* x, const RowBatch& batch, const std::vector<RowCache>& caches,
                 const std::vector<float>& cos, const std::vector<float>& sin) const;
  void attend(const float* qkv, float* attn, const RowBatch& batch, const std::vector<RowCache>& caches) const;

  ModelConfig config_;
  std::vector<float> inv_freq_;
};

}  // namespace petalsln::model
