#include "model/cpu_decoder.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "model/dot_kernels.hpp"
#include "model/work_pool.hpp"
#include "petalsln/model/compute_threads.hpp"

namespace petalsln::model {
namespace {

// Below this many multiply-adds attention runs on the calling thread (a decode step's
// attention over a short context is cheaper than a hand-off).
constexpr std::int64_t kMinSplitAttention = std::int64_t{1} << 16;

std::vector<float> to_floats(const at::Tensor& t) {
  if (!t.defined()) return {};
  auto c = t.to(at::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

const float* bias_or_null(const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); }

// out = weight * (x / sqrt(mean(x^2) + eps)), in float32 as transformers' LlamaRMSNorm.
void rms_norm_rows(const float* x, float* out, std::int64_t rows, std::int64_t width, const std::vector<float>& weight, double eps) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * width;
    float* o = out + r * width;
    const float mean = kernels::dot(in, in, width) / static_cast<float>(width);
    const float scale = 1.0f / std::sqrt(mean + static_cast<float>(eps));
    for (std::int64_t i = 0; i < width; ++i) o[i] = weight[static_cast<std::size_t>(i)] * (in[i] * scale);
  }
}

// Rotates one head in place: (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin), cos/sin of half.
void rotate_head(float* h, const float* cos, const float* sin, std::int64_t half) {
  for (std::int64_t i = 0; i < half; ++i) {
    const float a = h[i], b = h[i + half];
    h[i] = a * cos[i] - b * sin[i];
    h[i + half] = b * cos[i] + a * sin[i];
  }
}

// Rows at which a call's per-row work (rotary, cache writes, norms, SiLU, residuals) is split
// between the threads: below it a hand-off costs more than it saves.
constexpr std::int64_t kMinSplitRows = 5;

// Runs @p f(first, last) over the rows [0, rows): split into one part per thread for a batch,
// on the calling thread otherwise. Each row's result is the same either way.
template <class F>
void for_rows(std::int64_t rows, const F& f) {
  const int threads = petalsln::compute_threads();
  if (threads <= 1 || rows < kMinSplitRows) return f(std::int64_t{0}, rows);
  struct Context {
    const F* f;
    std::int64_t rows;
    int parts;
  } context{&f, rows, static_cast<int>(std::min<std::int64_t>(threads, rows))};
  run_parts(context.parts, threads, [](void* c, int part) {
    const auto& ctx = *static_cast<const Context*>(c);
    (*ctx.f)(ctx.rows * part / ctx.parts, ctx.rows * (part + 1) / ctx.parts);
  }, &context);
}

struct AttentionJob {
  const CpuDecoder* decoder;
  const float* qkv;
  float* attn;
  const RowBatch* batch;
  const std::vector<RowCache>* caches;
  std::int64_t heads, kv_heads, head_dim, qkv_width;
  int parts;
};

// Single-query attention of (row, head) pairs [begin, end): softmax(q k^T / sqrt(d)) v over
// the row's cache positions [0, position].
void attend_pairs(const AttentionJob& job, std::int64_t begin, std::int64_t end) {
  thread_local std::vector<float> scores;
  const auto D = job.head_dim, groups = job.heads / job.kv_heads;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  for (std::int64_t pair = begin; pair < end; ++pair) {
    const auto r = pair / job.heads, h = pair % job.heads, g = h / groups;
    const RowCache& c = (*job.caches)[static_cast<std::size_t>(r)];
    const auto T = job.batch->positions[static_cast<std::size_t>(r)] + 1;
    const float* q = job.qkv + r * job.qkv_width + h * D;
    const float* keys = c.keys + g * c.max_length * D;
    const float* values = c.values + g * c.max_length * D;
    scores.resize(static_cast<std::size_t>(T + 8));
    kernels::attend(q, keys, values, T, D, scale, scores.data(), job.attn + r * job.heads * D + h * D);
  }
}

void run_attention_part(void* context, int part) {
  const auto& job = *static_cast<const AttentionJob*>(context);
  const auto pairs = job.batch->rows * job.heads;
  attend_pairs(job, pairs * part / job.parts, pairs * (part + 1) / job.parts);
}

}  // namespace

std::int64_t PackedBlock::bytes() const noexcept {
  std::int64_t floats = 0;
  for (const auto* v : {&input_norm, &post_norm, &qkv_bias, &o_bias, &gate_up_bias, &down_bias}) floats += static_cast<std::int64_t>(v->size());
  return floats * 4 + qkv.bytes() + o.bytes() + gate_up.bytes() + down.bytes();
}

CpuDecoder::CpuDecoder(const ModelConfig& config, const at::Tensor& inv_freq) : config_(config), inv_freq_(to_floats(inv_freq)) {}

PackedBlock CpuDecoder::pack_block(const at::Tensor& input_norm, const at::Tensor& post_norm, const at::Tensor& qkv, const at::Tensor& qkv_bias,
                                   const at::Tensor& o, const at::Tensor& o_bias, const at::Tensor& gate_up, const at::Tensor& gate_up_bias,
                                   const at::Tensor& down, const at::Tensor& down_bias, WeightFormat format,
                                   const std::shared_ptr<WeightArena>& arena) const {
  PackedBlock b;
  b.input_norm = to_floats(input_norm);
  b.post_norm = to_floats(post_norm);
  b.qkv = PackedMatrix::pack(qkv, format, arena);
  b.o = PackedMatrix::pack(o, format, arena);
  b.gate_up = PackedMatrix::pack(gate_up, format, arena);
  b.down = PackedMatrix::pack(down, format, arena);
  b.qkv_bias = to_floats(qkv_bias);
  b.o_bias = to_floats(o_bias);
  b.gate_up_bias = to_floats(gate_up_bias);
  b.down_bias = to_floats(down_bias);
  return b;
}

std::int64_t CpuDecoder::block_footprint(WeightFormat format) const noexcept {
  const auto H = config_.hidden_size, D = config_.head_dim, I = config_.intermediate_size;
  const auto q = config_.num_attention_heads * D, kv = config_.num_key_value_heads * D;
  return PackedMatrix::arena_footprint(format, q + 2 * kv, H) + PackedMatrix::arena_footprint(format, H, q) +
         PackedMatrix::arena_footprint(format, 2 * I, H) + PackedMatrix::arena_footprint(format, H, I);
}

void CpuDecoder::run(const std::vector<const PackedBlock*>& blocks, float* x, const RowBatch& batch) const {
  // Rotary tables per row, shared by every block: cos/sin(position * inv_freq) in float32.
  const auto half = static_cast<std::int64_t>(inv_freq_.size());
  std::vector<float> cos(static_cast<std::size_t>(batch.rows * half)), sin(cos.size());
  for (std::int64_t r = 0; r < batch.rows; ++r) {
    const auto pos = static_cast<float>(batch.positions[static_cast<std::size_t>(r)]);
    for (std::int64_t i = 0; i < half; ++i) {
      const float angle = pos * inv_freq_[static_cast<std::size_t>(i)];
      cos[static_cast<std::size_t>(r * half + i)] = std::cos(angle);
      sin[static_cast<std::size_t>(r * half + i)] = std::sin(angle);
    }
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) run_block(*blocks[i], x, batch, batch.caches[i], cos, sin);
}

void CpuDecoder::run_block(const PackedBlock& w, float* x, const RowBatch& batch, const std::vector<RowCache>& caches,
                           const std::vector<float>& cos, const std::vector<float>& sin) const {
  const auto M = batch.rows, H = config_.hidden_size, D = config_.head_dim, I = config_.intermediate_size;
  const auto heads = config_.num_attention_heads, kv_heads = config_.num_key_value_heads;
  const auto qkv_width = (heads + 2 * kv_heads) * D, half = D / 2;
  // Scratch of the calling thread; the parts that for_rows hands to workers reach it through
  // these pointers (a thread_local named in a lambda would be the worker's own).
  thread_local std::vector<float> normed_buffer, qkv_buffer, attn_buffer, gate_up_buffer, act_buffer;
  normed_buffer.resize(static_cast<std::size_t>(M * H));
  qkv_buffer.resize(static_cast<std::size_t>(M * qkv_width));
  attn_buffer.resize(static_cast<std::size_t>(M * heads * D));
  gate_up_buffer.resize(static_cast<std::size_t>(M * 2 * I));
  act_buffer.resize(static_cast<std::size_t>(M * I));
  float* const normed = normed_buffer.data();
  float* const qkv = qkv_buffer.data();
  float* const attn = attn_buffer.data();
  float* const gate_up = gate_up_buffer.data();
  float* const act = act_buffer.data();

  for_rows(M, [&](std::int64_t first, std::int64_t last) {
    rms_norm_rows(x + first * H, normed + first * H, last - first, H, w.input_norm, config_.rms_norm_eps);
  });
  w.qkv.multiply(normed, M, qkv, qkv_width, bias_or_null(w.qkv_bias));
  for_rows(M, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t r = first; r < last; ++r) {
      float* row = qkv + r * qkv_width;
      const float* c = cos.data() + r * half;
      const float* s = sin.data() + r * half;
      for (std::int64_t h = 0; h < heads + kv_heads; ++h) rotate_head(row + h * D, c, s, half);  // q heads, then k heads
      // Keys and values into the cache first, so rows of one session see each other causally.
      const RowCache& rc = caches[static_cast<std::size_t>(r)];
      const auto pos = batch.positions[static_cast<std::size_t>(r)];
      for (std::int64_t g = 0; g < kv_heads; ++g) {
        std::copy_n(row + (heads + g) * D, D, rc.keys + (g * rc.max_length + pos) * D);
        std::copy_n(row + (heads + kv_heads + g) * D, D, rc.values + (g * rc.max_length + pos) * D);
      }
    }
  });
  attend(qkv, attn, batch, caches);

  // x += o(attn): the product goes to `normed` (free now), then the residual is added and the
  // result normed for the MLP.
  w.o.multiply(attn, M, normed, H, bias_or_null(w.o_bias));
  for_rows(M, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t i = first * H; i < last * H; ++i) x[i] += normed[i];
    rms_norm_rows(x + first * H, normed + first * H, last - first, H, w.post_norm, config_.rms_norm_eps);
  });

  w.gate_up.multiply(normed, M, gate_up, 2 * I, bias_or_null(w.gate_up_bias));
  for_rows(M, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t r = first; r < last; ++r) {
      const float* g = gate_up + r * 2 * I;
      kernels::silu_times(g, g + I, act + r * I, I);
    }
  });
  w.down.multiply(act, M, normed, H, bias_or_null(w.down_bias));
  for_rows(M, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t i = first * H; i < last * H; ++i) x[i] += normed[i];
  });
}

void CpuDecoder::attend(const float* qkv, float* attn, const RowBatch& batch, const std::vector<RowCache>& caches) const {
  const auto heads = config_.num_attention_heads, D = config_.head_dim;
  AttentionJob job{this, qkv, attn, &batch, &caches, heads, config_.num_key_value_heads, D, (heads + 2 * config_.num_key_value_heads) * D, 1};
  std::int64_t work = 0;
  for (auto p : batch.positions) work += (p + 1) * heads * D * 2;
  const int threads = petalsln::compute_threads();
  if (threads > 1 && work >= kMinSplitAttention) job.parts = static_cast<int>(std::min<std::int64_t>(batch.rows * heads, 4 * threads));
  run_parts(job.parts, threads, run_attention_part, &job);
}

}  // namespace petalsln::model
