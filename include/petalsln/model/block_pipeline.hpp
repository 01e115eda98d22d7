#pragma once
/// @file block_pipeline.hpp
/// The part of generation between the embeddings and the LM head: all decoder blocks,
/// run locally or (in later layers) across a chain of servers.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "petalsln/model/block_stack.hpp"

namespace petalsln {

/// Carries one sequence's hidden states through every block [0, L), keeping whatever state
/// (KV caches) each block needs between calls. Implementations: LocalPipeline here; the swarm's
/// remote sessions later.
class BlockPipeline {
 public:
  virtual ~BlockPipeline() = default;

  /// Starts a new sequence of at most @p max_length positions, dropping any previous state.
  /// Throws Error on failure (e.g. invalid_argument for a non-positive length).
  virtual void begin_sequence(std::int64_t max_length) = 0;

  /// Runs @p hidden ([1, seq, hidden]) at the next positions and returns the last block's
  /// output for them. Throws Error if no sequence is open or the input is malformed.
  virtual at::Tensor step(const at::Tensor& hidden) = 0;
};

/// A BlockPipeline over BlockStacks held in this process, run one after the other. The
/// stacks must cover [0, L) contiguously; they are borrowed and must outlive the pipeline.
class LocalPipeline final : public BlockPipeline {
 public:
  /// Checks that @p stacks cover the model's blocks contiguously from 0; throws
  /// Error(invalid_argument) naming the first gap otherwise.
  explicit LocalPipeline(std::vector<const BlockStack*> stacks);

  void begin_sequence(std::int64_t max_length) override;
  at::Tensor step(const at::Tensor& hidden) override;

 private:
  std::vector<const BlockStack*> stacks_;
  std::vector<KVCache> caches_;
};

}  // namespace petalsln
