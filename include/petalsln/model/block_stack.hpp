#pragma once
/// @file block_stack.hpp
/// A contiguous range of Llama decoder blocks with per-session key/value caches.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/model/weight_format.hpp"

namespace petalsln {

/// Where and in which precision blocks compute. Weights are converted once at load time.
struct ComputeOptions {
  at::ScalarType dtype = at::kFloat;  ///< Compute dtype (float32 on CPU; half types on a GPU).
  c10::Device device = c10::Device(c10::kCPU);  ///< Device holding weights and caches.
  /// How weight matrices are kept in memory. Formats other than f32 need a CPU device and
  /// float32 compute (the constructors throw Error(invalid_argument) otherwise).
  WeightFormat weights = WeightFormat::f32;
};

/// The key/value cache of one inference session over blocks [begin, end) of a BlockStack.
/// Preallocated to `max_length` positions so decoding never reallocates; positions continue
/// from one forward call to the next. Owned by the caller; not shared between threads.
class KVCache {
 public:
  /// First block this cache covers.
  int begin() const noexcept { return begin_; }
  /// One past the last block.
  int end() const noexcept { return end_; }
  /// Batch size fixed at creation.
  std::int64_t batch() const noexcept { return batch_; }
  /// Positions filled so far (the next token's position).
  std::int64_t length() const noexcept { return length_; }
  /// Capacity in positions.
  std::int64_t max_length() const noexcept { return max_length_; }
  /// Bytes held by the cache's tensors.
  std::int64_t bytes() const noexcept;

 private:
  friend class BlockStack;
  int begin_ = 0;
  int end_ = 0;
  std::int64_t batch_ = 0;
  std::int64_t length_ = 0;
  std::int64_t max_length_ = 0;
  std::vector<at::Tensor> keys_;    // per block: [batch, kv_heads, max_length, head_dim]
  std::vector<at::Tensor> values_;  // same
};

/// One session's step in BlockStack::forward_batch().
struct SessionStep {
  at::Tensor hidden;        ///< The step's hidden states, [cache batch, seq, hidden_size].
  KVCache* cache = nullptr;  ///< The session's cache; a different one for every step.
};

/// Decoder blocks [begin, end) of a Llama checkpoint: RMSNorm, rotary embeddings (with
/// llama3/linear scaling), grouped-query causal attention and a SwiGLU MLP, computing what
/// transformers' LlamaDecoderLayer computes. Loads only its own blocks' tensors.
/// forward() calls on different caches may run concurrently.
class BlockStack {
 public:
  /// Loads blocks [@p begin, @p end) from @p checkpoint. Throws Error(out_of_range) when the
  /// range is empty or outside [0, num_hidden_layers), and the checkpoint's errors for missing
  /// or malformed tensors.
  BlockStack(const ModelConfig& config, const Checkpoint& checkpoint, int begin, int end, ComputeOptions options = {});
  ~BlockStack();
  BlockStack(BlockStack&&) noexcept;
  BlockStack& operator=(BlockStack&&) noexcept;

  /// First block held.
  int begin() const noexcept;
  /// One past the last block held.
  int end() const noexcept;
  /// The model's configuration.
  const ModelConfig& config() const noexcept;
  /// Compute placement and dtype.
  const ComputeOptions& options() const noexcept;

  /// Runs @p hidden ([batch, seq, hidden_size]) through every block, with positions
  /// 0..seq-1 and no cache. Returns the last block's output (before the final norm).
  /// Throws Error(invalid_argument) for a wrong shape or dtype.
  at::Tensor forward(const at::Tensor& hidden) const;

  /// Creates an empty cache for blocks [@p begin, @p end) (a sub-range of this stack; -1 means
  /// the stack's own bound), @p batch sequences of up to @p max_length positions.
  /// Throws Error(out_of_range) for a bad range, Error(invalid_argument) for a bad size.
  KVCache new_cache(std::int64_t batch, std::int64_t max_length, int begin = -1, int end = -1) const;

  /// Bytes a cache of this shape would hold (for admission control before allocating).
  std::int64_t cache_bytes(std::int64_t batch, std::int64_t max_length, int num_blocks) const noexcept;

  /// Runs @p hidden through the cache's blocks at positions cache.length() onwards, appending
  /// the new keys/values. Throws Error(invalid_argument) for a wrong shape/dtype/batch or when
  /// the cache would overflow max_length; on error the cache is unchanged.
  at::Tensor forward(const at::Tensor& hidden, KVCache& cache) const;

  /// Runs several sessions' steps as one pass over the weights: every weight matrix is read
  /// once for all their rows, which is what makes concurrent decoding cheap. Each step keeps
  /// its own cache, positions and length. Returns one output per step, in order, equal
  /// (bit for bit on the CPU engine) to what forward(step.hidden, *step.cache) gives alone.
  /// Throws Error(invalid_argument) as forward() does for any step, or when two steps share a
  /// cache; on error no cache is changed.
  std::vector<at::Tensor> forward_batch(const std::vector<SessionStep>& steps) const;

  /// Bytes of weights this stack holds in memory (all its blocks, norms included).
  std::int64_t weight_bytes() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
