#include "petalsln/model/block_pipeline.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {

LocalPipeline::LocalPipeline(std::vector<const BlockStack*> stacks) : stacks_(std::move(stacks)) {
  if (stacks_.empty()) throw Error(ErrorCode::invalid_argument, "a pipeline needs at least one block stack");
  int next = 0;
  for (const auto* s : stacks_) {
    if (s == nullptr) throw Error(ErrorCode::invalid_argument, "null block stack");
    if (s->begin() != next) {
      throw Error(ErrorCode::invalid_argument, "block stacks must be contiguous: expected one starting at block " + std::to_string(next) +
                                                   ", got [" + std::to_string(s->begin()) + ", " + std::to_string(s->end()) + ")");
    }
    next = s->end();
  }
  const auto layers = stacks_.front()->config().num_hidden_layers;
  if (next != layers) {
    throw Error(ErrorCode::invalid_argument, "block stacks cover [0, " + std::to_string(next) + ") but the model has " +
                                                 std::to_string(layers) + " blocks");
  }
}

void LocalPipeline::begin_sequence(std::int64_t max_length) {
  caches_.clear();
  for (const auto* s : stacks_) caches_.push_back(s->new_cache(1, max_length));
}

at::Tensor LocalPipeline::step(const at::Tensor& hidden) {
  if (caches_.size() != stacks_.size()) throw Error(ErrorCode::invalid_argument, "step() called before begin_sequence()");
  at::Tensor x = hidden;
  for (std::size_t i = 0; i < stacks_.size(); ++i) x = stacks_[i]->forward(x, caches_[i]);
  return x;
}

}  // namespace petalsln
