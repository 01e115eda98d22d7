#include "petalsln/model/local_head.hpp"

#include <torch/torch.h>

#include "model/llama_ops.hpp"
#include "model/packed_matrix.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {

struct LocalHead::Impl {
  ModelConfig config;
  ComputeOptions options;
  at::Tensor embeddings;  // [vocab, hidden]
  at::Tensor norm;        // [hidden]
  at::Tensor lm_head;     // [vocab, hidden]; the embeddings themselves when tied
  // float32 on the CPU: the CPU engine's packed matrices instead of the two tensors above.
  bool cpu_engine = false;
  model::PackedMatrix packed_embeddings;
  model::PackedMatrix packed_lm_head;  // undefined when tied (the embeddings serve)

  const model::PackedMatrix& head_matrix() const { return packed_lm_head.defined() ? packed_lm_head : packed_embeddings; }

  void check_hidden(const at::Tensor& hidden) const {
    if (!hidden.defined() || hidden.dim() != 3 || hidden.size(2) != config.hidden_size || hidden.size(1) == 0) {
      throw Error(ErrorCode::invalid_argument, "hidden states must have shape [batch, seq, " + std::to_string(config.hidden_size) + "]");
    }
  }
};

LocalHead::LocalHead(const ModelConfig& config, const Checkpoint& checkpoint, ComputeOptions options)
    : impl_(std::make_unique<Impl>()) {
  config.validate();
  c10::InferenceMode guard;
  impl_->config = config;
  impl_->options = options;
  const auto V = config.vocab_size, H = config.hidden_size;
  impl_->cpu_engine = options.device.is_cpu() && options.dtype == at::kFloat;
  if (!impl_->cpu_engine && options.weights != WeightFormat::f32) {
    throw Error(ErrorCode::invalid_argument, std::string("weights in ") + std::string(to_string(options.weights)) +
                                                 " need float32 compute on the CPU");
  }
  impl_->norm = checkpoint.load("model.norm.weight", options.dtype, {H}).to(options.device);
  if (impl_->cpu_engine) {
    // Both matrices in one region of huge pages (the LM head is read whole for every token).
    const auto one = model::PackedMatrix::arena_footprint(options.weights, V, H);
    const auto arena = std::make_shared<model::WeightArena>(config.tie_word_embeddings ? one : 2 * one);
    impl_->packed_embeddings =
        model::PackedMatrix::pack(checkpoint.load("model.embed_tokens.weight", at::kFloat, {V, H}), options.weights, arena);
    // Some tied checkpoints still ship lm_head.weight; tie_word_embeddings decides, as in HF.
    if (!config.tie_word_embeddings) {
      impl_->packed_lm_head = model::PackedMatrix::pack(checkpoint.load("lm_head.weight", at::kFloat, {V, H}), options.weights, arena);
    }
    return;
  }
  impl_->embeddings = checkpoint.load("model.embed_tokens.weight", options.dtype, {V, H}).to(options.device);
  impl_->lm_head = config.tie_word_embeddings ? impl_->embeddings
                                              : checkpoint.load("lm_head.weight", options.dtype, {V, H}).to(options.device);
}

LocalHead::~LocalHead() = default;
LocalHead::LocalHead(LocalHead&&) noexcept = default;
LocalHead& LocalHead::operator=(LocalHead&&) noexcept = default;

const ModelConfig& LocalHead::config() const noexcept { return impl_->config; }

at::Tensor LocalHead::embed(const std::vector<std::vector<TokenId>>& ids) const {
  if (ids.empty() || ids[0].empty()) throw Error(ErrorCode::invalid_argument, "embed needs at least one token");
  const auto batch = static_cast<std::int64_t>(ids.size());
  const auto seq = static_cast<std::int64_t>(ids[0].size());
  std::vector<std::int64_t> flat;
  flat.reserve(static_cast<std::size_t>(batch * seq));
  for (const auto& row : ids) {
    if (static_cast<std::int64_t>(row.size()) != seq) throw Error(ErrorCode::invalid_argument, "embed: every sequence in a batch must have the same length");
    for (TokenId id : row) {
      if (id < 0 || id >= impl_->config.vocab_size) {
        throw Error(ErrorCode::out_of_range, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                 std::to_string(impl_->config.vocab_size) + ")");
      }
      flat.push_back(id);
    }
  }
  c10::InferenceMode guard;
  if (impl_->cpu_engine) {
    auto out = at::empty({batch, seq, impl_->config.hidden_size}, at::kFloat);
    for (std::size_t i = 0; i < flat.size(); ++i) {
      impl_->packed_embeddings.unpack_row(flat[i], out.data_ptr<float>() + static_cast<std::int64_t>(i) * impl_->config.hidden_size);
    }
    return out;
  }
  auto index = torch::tensor(flat, torch::kInt64).to(impl_->options.device);
  return impl_->embeddings.index_select(0, index).view({batch, seq, impl_->config.hidden_size});
}

at::Tensor LocalHead::logits(const at::Tensor& hidden) const {
  impl_->check_hidden(hidden);
  c10::InferenceMode guard;
  auto x = hidden.to(impl_->options.device, impl_->options.dtype);
  auto normed = model::rms_norm(x, impl_->norm, impl_->config.rms_norm_eps);
  if (!impl_->cpu_engine) return at::linear(normed, impl_->lm_head).to(at::kFloat);
  const auto& head = impl_->head_matrix();
  normed = normed.contiguous();
  auto out = at::empty({x.size(0), x.size(1), head.rows()}, at::kFloat);
  head.multiply(normed.data_ptr<float>(), x.size(0) * x.size(1), out.data_ptr<float>(), head.rows());
  return out;
}

at::Tensor LocalHead::last_logits(const at::Tensor& hidden) const {
  impl_->check_hidden(hidden);
  return logits(hidden.narrow(1, hidden.size(1) - 1, 1)).squeeze(1);
}

}  // namespace petalsln
