#include "petalsln/model/block_stack.hpp"

#include <torch/torch.h>

#include <string>

#include "model/cpu_decoder.hpp"
#include "model/llama_ops.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

// One decoder block's weights, with q/k/v and gate/up fused so each needs one matmul.
struct BlockWeights {
  at::Tensor input_norm;
  at::Tensor qkv_weight, qkv_bias;  // [(heads + 2 * kv_heads) * head_dim, hidden]
  at::Tensor o_weight, o_bias;
  at::Tensor post_norm;
  at::Tensor gate_up_weight, gate_up_bias;  // [2 * intermediate, hidden]
  at::Tensor down_weight, down_bias;
};

std::string layer_prefix(int i) { return "model.layers." + std::to_string(i) + "."; }

BlockWeights load_block(const ModelConfig& c, const Checkpoint& ck, int i, const ComputeOptions& o) {
  const std::string p = layer_prefix(i);
  const auto H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  const auto q_out = c.num_attention_heads * D, kv_out = c.num_key_value_heads * D;
  auto get = [&](const std::string& name, std::vector<std::int64_t> shape) {
    return ck.load(p + name, o.dtype, shape).to(o.device);
  };
  BlockWeights w;
  w.input_norm = get("input_layernorm.weight", {H});
  w.post_norm = get("post_attention_layernorm.weight", {H});
  w.qkv_weight = torch::cat({get("self_attn.q_proj.weight", {q_out, H}), get("self_attn.k_proj.weight", {kv_out, H}),
                             get("self_attn.v_proj.weight", {kv_out, H})}, 0).contiguous();
  w.o_weight = get("self_attn.o_proj.weight", {H, q_out});
  if (c.attention_bias) {
    w.qkv_bias = torch::cat({get("self_attn.q_proj.bias", {q_out}), get("self_attn.k_proj.bias", {kv_out}),
                             get("self_attn.v_proj.bias", {kv_out})}, 0);
    w.o_bias = get("self_attn.o_proj.bias", {H});
  }
  w.gate_up_weight = torch::cat({get("mlp.gate_proj.weight", {I, H}), get("mlp.up_proj.weight", {I, H})}, 0).contiguous();
  w.down_weight = get("mlp.down_proj.weight", {H, I});
  if (c.mlp_bias) {
    w.gate_up_bias = torch::cat({get("mlp.gate_proj.bias", {I}), get("mlp.up_proj.bias", {I})}, 0);
    w.down_bias = get("mlp.down_proj.bias", {H});
  }
  return w;
}

std::string shape_string(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

struct BlockStack::Impl {
  ModelConfig config;
  ComputeOptions options;
  int begin = 0;
  int end = 0;
  // float32 on the CPU runs the CPU engine on packed weights; anything else (a GPU, another
  // compute dtype) runs libtorch ops on `blocks`, which also serve as the engine's reference.
  bool cpu_engine = false;
  std::vector<BlockWeights> blocks;
  std::vector<model::PackedBlock> packed;
  std::unique_ptr<model::CpuDecoder> decoder;
  at::Tensor inv_freq;

  void load(const Checkpoint& checkpoint);
  at::Tensor check_step(const SessionStep& step) const;
  std::vector<at::Tensor> run_engine(const std::vector<SessionStep>& steps) const;

  at::Tensor check_hidden(const at::Tensor& hidden) const {
    if (!hidden.defined() || hidden.dim() != 3 || hidden.size(2) != config.hidden_size || hidden.size(0) <= 0 ||
        hidden.size(1) <= 0) {
      throw Error(ErrorCode::invalid_argument, "hidden states must have shape [batch, seq, " + std::to_string(config.hidden_size) +
                                                   "] with batch, seq > 0; got " + (hidden.defined() ? shape_string(hidden) : "none"));
    }
    if (!at::isFloatingType(hidden.scalar_type())) throw Error(ErrorCode::invalid_argument, "hidden states must be a floating-point tensor");
    return hidden.to(options.device, options.dtype).contiguous();
  }

  // Runs block @p index. With @p k_cache/@p v_cache defined, new keys/values are written at
  // positions [start, start + seq) and attention sees [0, start + seq).
  at::Tensor run_block(int index, const at::Tensor& x, std::int64_t start, const at::Tensor& k_cache, const at::Tensor& v_cache,
                       const at::Tensor& cos, const at::Tensor& sin) const {
    const BlockWeights& w = blocks[static_cast<std::size_t>(index - begin)];
    const auto B = x.size(0), S = x.size(1);
    const auto heads = config.num_attention_heads, kv_heads = config.num_key_value_heads, D = config.head_dim;
    const auto groups = heads / kv_heads;

    auto h = model::rms_norm(x, w.input_norm, config.rms_norm_eps);
    auto qkv = at::linear(h, w.qkv_weight, w.qkv_bias);
    auto q = qkv.narrow(-1, 0, heads * D).view({B, S, heads, D}).transpose(1, 2);
    auto k = qkv.narrow(-1, heads * D, kv_heads * D).view({B, S, kv_heads, D}).transpose(1, 2);
    auto v = qkv.narrow(-1, (heads + kv_heads) * D, kv_heads * D).view({B, S, kv_heads, D}).transpose(1, 2);
    q = model::apply_rope(q, cos, sin);
    k = model::apply_rope(k, cos, sin);

    at::Tensor keys = k, values = v;
    if (k_cache.defined()) {
      k_cache.narrow(2, start, S).copy_(k);
      v_cache.narrow(2, start, S).copy_(v);
      keys = k_cache.narrow(2, 0, start + S);
      values = v_cache.narrow(2, 0, start + S);
    }
    const auto T = keys.size(2);
    // Query head h uses kv head h / groups (transformers' repeat_kv): fold the group into the
    // query rows so one batched matmul per kv head does the work, without copying keys.
    auto qg = q.reshape({B, kv_heads, groups * S, D});
    auto scores = torch::matmul(qg, keys.transpose(2, 3)) * (1.0 / std::sqrt(static_cast<double>(D)));
    if (S > 1) {
      // Query i sits at position start + i and may see keys 0..start + i.
      auto qpos = torch::arange(start, start + S, torch::TensorOptions().dtype(torch::kInt64).device(x.device())).unsqueeze(1);
      auto kpos = torch::arange(0, T, torch::TensorOptions().dtype(torch::kInt64).device(x.device())).unsqueeze(0);
      auto mask = (kpos > qpos).repeat({groups, 1});  // [groups * S, T]
      scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
    }
    auto probs = torch::softmax(scores, -1, torch::kFloat).to(q.scalar_type());
    auto attn = torch::matmul(probs, values);  // [B, kv_heads, groups * S, D]
    attn = attn.view({B, heads, S, D}).transpose(1, 2).reshape({B, S, heads * D});
    auto out = x + at::linear(attn, w.o_weight, w.o_bias);

    auto m = model::rms_norm(out, w.post_norm, config.rms_norm_eps);
    auto gate_up = at::linear(m, w.gate_up_weight, w.gate_up_bias);
    const auto I = config.intermediate_size;
    auto act = torch::silu(gate_up.narrow(-1, 0, I)) * gate_up.narrow(-1, I, I);
    return out + at::linear(act, w.down_weight, w.down_bias);
  }
};

void BlockStack::Impl::load(const Checkpoint& checkpoint) {
  if (!cpu_engine) {
    for (int i = begin; i < end; ++i) blocks.push_back(load_block(config, checkpoint, i, options));
    return;
  }
  decoder = std::make_unique<model::CpuDecoder>(config, inv_freq);
  // Every block's matrices in one region of huge pages (weight_arena.hpp says why).
  const auto arena = std::make_shared<model::WeightArena>((end - begin) * decoder->block_footprint(options.weights));
  ComputeOptions f32 = options;
  for (int i = begin; i < end; ++i) {
    // One block at a time in float32, packed, then dropped: peak memory stays one block above
    // the packed size.
    const BlockWeights w = load_block(config, checkpoint, i, f32);
    packed.push_back(decoder->pack_block(w.input_norm, w.post_norm, w.qkv_weight, w.qkv_bias, w.o_weight, w.o_bias, w.gate_up_weight,
                                         w.gate_up_bias, w.down_weight, w.down_bias, options.weights, arena));
  }
}

BlockStack::BlockStack(const ModelConfig& config, const Checkpoint& checkpoint, int begin, int end, ComputeOptions options)
    : impl_(std::make_unique<Impl>()) {
  config.validate();
  if (begin < 0 || end > config.num_hidden_layers || begin >= end) {
    throw Error(ErrorCode::out_of_range, "block range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                             ") is empty or outside the model's " + std::to_string(config.num_hidden_layers) +
                                             " blocks");
  }
  const bool cpu_float = options.device.is_cpu() && options.dtype == at::kFloat;
  if (!cpu_float && options.weights != WeightFormat::f32) {
    throw Error(ErrorCode::invalid_argument, std::string("weights in ") + std::string(to_string(options.weights)) +
                                                 " need float32 compute on the CPU");
  }
  c10::InferenceMode guard;
  impl_->config = config;
  impl_->options = options;
  impl_->begin = begin;
  impl_->end = end;
  impl_->cpu_engine = cpu_float;
  impl_->inv_freq = model::rope_inverse_frequencies(config).to(options.device);
  impl_->load(checkpoint);
}

BlockStack::~BlockStack() = default;
BlockStack::BlockStack(BlockStack&&) noexcept = default;
BlockStack& BlockStack::operator=(BlockStack&&) noexcept = default;

int BlockStack::begin() const noexcept { return impl_->begin; }
int BlockStack::end() const noexcept { return impl_->end; }
const ModelConfig& BlockStack::config() const noexcept { return impl_->config; }
const ComputeOptions& BlockStack::options() const noexcept { return impl_->options; }

at::Tensor BlockStack::forward(const at::Tensor& hidden) const {
  c10::InferenceMode guard;
  auto x = impl_->check_hidden(hidden);
  if (impl_->cpu_engine) {
    KVCache scratch = new_cache(x.size(0), x.size(1));
    return forward(x, scratch);
  }
  auto [cos, sin] = model::rope_cos_sin(impl_->inv_freq, 0, x.size(1), impl_->options.dtype);
  for (int i = impl_->begin; i < impl_->end; ++i) x = impl_->run_block(i, x, 0, {}, {}, cos, sin);
  return x;
}

std::int64_t BlockStack::cache_bytes(std::int64_t batch, std::int64_t max_length, int num_blocks) const noexcept {
  const auto& c = impl_->config;
  return 2 * static_cast<std::int64_t>(num_blocks) * batch * c.num_key_value_heads * max_length * c.head_dim *
         static_cast<std::int64_t>(c10::elementSize(impl_->options.dtype));
}

KVCache BlockStack::new_cache(std::int64_t batch, std::int64_t max_length, int begin, int end) const {
  if (begin < 0) begin = impl_->begin;
  if (end < 0) end = impl_->end;
  if (begin < impl_->begin || end > impl_->end || begin >= end) {
    throw Error(ErrorCode::out_of_range, "cache range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                             ") is not a non-empty part of this stack's blocks [" + std::to_string(impl_->begin) +
                                             ", " + std::to_string(impl_->end) + ")");
  }
  if (batch <= 0 || max_length <= 0 || max_length > impl_->config.max_position_embeddings * 64) {
    throw Error(ErrorCode::invalid_argument, "cache batch and max_length must be positive and max_length sane; got batch " +
                                                 std::to_string(batch) + ", max_length " + std::to_string(max_length));
  }
  c10::InferenceMode guard;
  KVCache cache;
  cache.begin_ = begin;
  cache.end_ = end;
  cache.batch_ = batch;
  cache.max_length_ = max_length;
  const auto& c = impl_->config;
  auto opts = torch::TensorOptions().dtype(impl_->options.dtype).device(impl_->options.device);
  for (int i = begin; i < end; ++i) {
    cache.keys_.push_back(torch::zeros({batch, c.num_key_value_heads, max_length, c.head_dim}, opts));
    cache.values_.push_back(torch::zeros({batch, c.num_key_value_heads, max_length, c.head_dim}, opts));
  }
  return cache;
}

at::Tensor BlockStack::forward(const at::Tensor& hidden, KVCache& cache) const {
  return forward_batch({SessionStep{hidden, &cache}}).front();
}

// Checks one step as forward(hidden, cache) documents and returns its hidden states in the
// compute dtype and device. Changes nothing.
at::Tensor BlockStack::Impl::check_step(const SessionStep& step) const {
  if (step.cache == nullptr) throw Error(ErrorCode::invalid_argument, "a step has no cache");
  const KVCache& cache = *step.cache;
  if (cache.keys_.empty() || cache.begin_ < begin || cache.end_ > end) {
    throw Error(ErrorCode::invalid_argument, "this cache was not created by this block stack");
  }
  auto x = check_hidden(step.hidden);
  if (x.size(0) != cache.batch_) {
    throw Error(ErrorCode::invalid_argument, "batch " + std::to_string(x.size(0)) + " does not match the session's batch " +
                                                 std::to_string(cache.batch_));
  }
  if (cache.length_ + x.size(1) > cache.max_length_) {
    throw Error(ErrorCode::invalid_argument, "session length would reach " + std::to_string(cache.length_ + x.size(1)) +
                                                 " positions, over its maximum of " + std::to_string(cache.max_length_));
  }
  return x;
}

std::vector<at::Tensor> BlockStack::forward_batch(const std::vector<SessionStep>& steps) const {
  c10::InferenceMode guard;
  std::vector<SessionStep> checked;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    checked.push_back(SessionStep{impl_->check_step(steps[i]), steps[i].cache});
    for (std::size_t j = 0; j < i; ++j) {
      if (steps[j].cache == steps[i].cache) throw Error(ErrorCode::invalid_argument, "two steps of one batch share a cache");
    }
  }
  if (impl_->cpu_engine) return impl_->run_engine(checked);
  std::vector<at::Tensor> out;
  for (auto& step : checked) {
    KVCache& cache = *step.cache;
    const auto start = cache.length_, seq = step.hidden.size(1);
    auto [cos, sin] = model::rope_cos_sin(impl_->inv_freq, start, seq, impl_->options.dtype);
    at::Tensor x = step.hidden;
    for (int i = cache.begin_; i < cache.end_; ++i) {
      const auto slot = static_cast<std::size_t>(i - cache.begin_);
      x = impl_->run_block(i, x, start, cache.keys_[slot], cache.values_[slot], cos, sin);
    }
    cache.length_ = start + seq;
    out.push_back(x);
  }
  return out;
}

// The CPU engine over checked steps: steps covering the same blocks run as one set of rows.
std::vector<at::Tensor> BlockStack::Impl::run_engine(const std::vector<SessionStep>& steps) const {
  std::vector<at::Tensor> out(steps.size());
  std::vector<bool> done(steps.size(), false);
  const auto H = config.hidden_size, kv = config.num_key_value_heads, D = config.head_dim;
  for (std::size_t first = 0; first < steps.size(); ++first) {
    if (done[first]) continue;
    const int lo = steps[first].cache->begin_, hi = steps[first].cache->end_;
    std::vector<std::size_t> group;
    for (std::size_t i = first; i < steps.size(); ++i) {
      if (!done[i] && steps[i].cache->begin_ == lo && steps[i].cache->end_ == hi) group.push_back(i), done[i] = true;
    }
    model::RowBatch rows;
    rows.caches.resize(static_cast<std::size_t>(hi - lo));
    std::vector<at::Tensor> inputs;
    for (auto i : group) {
      const KVCache& c = *steps[i].cache;
      const auto B = steps[i].hidden.size(0), S = steps[i].hidden.size(1);
      inputs.push_back(steps[i].hidden.reshape({B * S, H}));
      for (std::int64_t b = 0; b < B; ++b) {
        for (std::int64_t s = 0; s < S; ++s) {
          rows.positions.push_back(c.length_ + s);
          for (int blk = lo; blk < hi; ++blk) {
            const auto slot = static_cast<std::size_t>(blk - c.begin_);
            const auto offset = b * kv * c.max_length_ * D;
            rows.caches[static_cast<std::size_t>(blk - lo)].push_back(
                model::RowCache{c.keys_[slot].data_ptr<float>() + offset, c.values_[slot].data_ptr<float>() + offset, c.max_length_});
          }
        }
      }
    }
    rows.rows = static_cast<std::int64_t>(rows.positions.size());
    auto x = torch::cat(inputs, 0).contiguous();
    std::vector<const model::PackedBlock*> blocks;
    for (int blk = lo; blk < hi; ++blk) blocks.push_back(&packed[static_cast<std::size_t>(blk - begin)]);
    decoder->run(blocks, x.data_ptr<float>(), rows);
    std::int64_t row = 0;
    for (auto i : group) {
      KVCache& c = *steps[i].cache;
      const auto B = steps[i].hidden.size(0), S = steps[i].hidden.size(1);
      out[i] = x.narrow(0, row, B * S).view({B, S, H});
      row += B * S;
      c.length_ += S;
    }
  }
  return out;
}

std::int64_t BlockStack::weight_bytes() const noexcept {
  std::int64_t total = 0;
  for (const auto& b : impl_->packed) total += b.bytes();
  for (const auto& b : impl_->blocks) {
    for (const auto* t : {&b.input_norm, &b.qkv_weight, &b.qkv_bias, &b.o_weight, &b.o_bias, &b.post_norm, &b.gate_up_weight,
                          &b.gate_up_bias, &b.down_weight, &b.down_bias}) {
      if (t->defined()) total += static_cast<std::int64_t>(t->nbytes());
    }
  }
  return total;
}

std::int64_t KVCache::bytes() const noexcept {
  std::int64_t total = 0;
  for (const auto& t : keys_) total += static_cast<std::int64_t>(t.nbytes());
  for (const auto& t : values_) total += static_cast<std::int64_t>(t.nbytes());
  return total;
}

}  // namespace petalsln
