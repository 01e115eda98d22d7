// The AVX2+FMA+F16C build of dot_kernels.hpp. Compiled with -mavx2 -mfma -mf16c and called
// only when the CPU has them (dot_kernels.cpp). Includes no library header but the
// intrinsics: every function here stays in this file (see dot_kernels.hpp).

#include <immintrin.h>

#include <type_traits>

#include "model/dot_kernels.hpp"

// glibc's libmvec: expf of eight floats, for AVX2 (the x86_64 vector ABI's name for it).
extern "C" __m256 _ZGVdN8v_expf(__m256 x);

namespace petalsln::model::kernels {
namespace {

using std::int64_t;

// The bytes of some consecutive weight rows: their weights, and (int8) their scales.
struct Span {
  const void* data;
  int64_t bytes;
  const void* more;
  int64_t more_bytes;
};

// Spreads prefetches of a span over the iterations of a k loop. Weight rows are short (a few
// KiB), so a tile's rows are too brief a stream for the hardware prefetcher to ramp up: the LM
// head (49152 x 576) read at 13.6 GB/s in float32 and 5.2 GB/s in int8 without this.
class SpanPrefetcher {
 public:
  SpanPrefetcher(const Span& s, int64_t iterations)
      : p_(static_cast<const char*>(s.data)), end_(p_ + s.bytes), q_(static_cast<const char*>(s.more)), q_end_(q_ + s.more_bytes) {
    const int64_t lines = (s.bytes + s.more_bytes + 63) / 64;
    per_iteration_ = iterations > 0 ? (lines + iterations - 1) / iterations : 0;
  }
  void step() {
    for (int64_t i = 0; i < per_iteration_; ++i) {
      if (p_ < end_) {
        _mm_prefetch(p_, _MM_HINT_T0);
        p_ += 64;
      } else if (q_ < q_end_) {
        _mm_prefetch(q_, _MM_HINT_T0);
        q_ += 64;
      }
    }
  }

 private:
  const char* p_;
  const char* end_;
  const char* q_;
  const char* q_end_;
  int64_t per_iteration_ = 0;
};

// Weight readers. row(n) gives a cursor on row n, computed once per tile; load(cursor, k) gives
// eight consecutive weights from column k (a multiple of 8) as float32, scalar(cursor, k) one
// weight of the tail, rounded the same way.
struct F32Rows {
  const float* base;
  int64_t cols;
  int64_t first = 0;  // the row stored at base
  using Row = const float*;
  static constexpr int kRowsPerVectorTile = 2;  // rows per tile for one row of x (2, 4, 8: 2 streamed fastest)
  static constexpr int64_t kUnpackFromRows = 0;  // never: batches read the stored rows in place
  Row row(int64_t n) const { return base + (n - first) * cols; }
  Span span(int64_t n, int64_t rows) const { return Span{base + (n - first) * cols, rows * cols * 4, nullptr, 0}; }
  static __m256 load(Row r, int64_t k) { return _mm256_loadu_ps(r + k); }
  static constexpr int kChunksPerScale = 1;  // no scales
  static float scalar(Row r, int64_t k) { return r[k]; }
};

// What the two 16-bit formats share: rows of uint16, no scales; they differ in the conversion.
struct Rows16 {
  const std::uint16_t* base;
  int64_t cols;
  using Row = const std::uint16_t*;
  static constexpr int kRowsPerVectorTile = 4;  // (2, 4, 8: 4 streamed fastest)
  // Rows of x from which a batch converts its weights once into a buffer (a two-op conversion:
  // at 8 rows, converting per group of four was 6 % faster; at 16, 7 % slower).
  static constexpr int64_t kUnpackFromRows = 9;
  Row row(int64_t n) const { return base + n * cols; }
  Span span(int64_t n, int64_t rows) const { return Span{base + n * cols, rows * cols * 2, nullptr, 0}; }
  static constexpr int kChunksPerScale = 1;  // no scales
};

struct BF16Rows : Rows16 {
  static __m256 load(Row r, int64_t k) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static float scalar(Row r, int64_t k) { return _mm_cvtss_f32(_mm_castsi128_ps(_mm_cvtsi32_si128(static_cast<int>(r[k]) << 16))); }
};

struct F16Rows : Rows16 {
  static __m256 load(Row r, int64_t k) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + k))); }
  static float scalar(Row r, int64_t k) { return _cvtsh_ss(r[k]); }
};

struct Int8Rows {
  const std::int8_t* base;
  const float* scales;
  int64_t cols;
  int64_t blocks_per_row;
  struct Row {
    const std::int8_t* q;
    const float* scales;
  };
  Row row(int64_t n) const { return Row{base + n * cols, scales + n * blocks_per_row}; }
  Span span(int64_t n, int64_t rows) const {
    return Span{base + n * cols, rows * cols, scales + n * blocks_per_row, rows * blocks_per_row * 4};
  }
  // Converting int8 takes more work than the FMA, so four rows already hide its latency, and
  // their eight pointers stay in registers.
  static constexpr int kRowsPerVectorTile = 4;
  static constexpr int64_t kUnpackFromRows = 5;  // three ops per chunk: always worth converting once
  // A chunk of 8 never straddles two 32-weight blocks, so it has one scale.
  static __m256 load(Row r, int64_t k) { return load(r, k, scale(r, k)); }
  // The four chunks of a 32-weight block share one broadcast scale.
  static constexpr int kChunksPerScale = kInt8Block / 8;
  using Scale = __m256;
  static Scale scale(Row r, int64_t k) { return _mm256_broadcast_ss(r.scales + k / kInt8Block); }
  static __m256 load(Row r, int64_t k, Scale s) {
    const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(r.q + k));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), s);
  }
  static float scalar(Row r, int64_t k) {
    return _mm_cvtss_f32(_mm_mul_ss(_mm_set_ss(static_cast<float>(r.q[k])), _mm_set_ss(r.scales[k / kInt8Block])));
  }
};

// The fixed horizontal sum every output uses.
inline float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

inline float fma_scalar(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}

// The end of every dot product of two float rows: the fixed horizontal sum of the vector
// accumulator over [0, body), then the elements [body, n) one by one.
inline float finish_dot(__m256 acc, const float* a, const float* b, int64_t body, int64_t n) {
  float s = horizontal_sum(acc);
  for (int64_t k = body; k < n; ++k) s = fma_scalar(a[k], b[k], s);
  return s;
}

// Finishes a tile's NR x MR outputs the one way every output is finished: the fixed
// horizontal sum of its accumulator, then the tail of k past the last chunk of 8, then the bias.
template <int NR, int MR, class W>
inline void store_outputs(const __m256 (&acc)[NR][MR], const typename W::Row (&rows)[NR], const Product& p, int64_t n0, int64_t i0,
                          int64_t cols) {
  const int64_t body = cols & ~int64_t{7};
  for (int r = 0; r < NR; ++r) {
    for (int c = 0; c < MR; ++c) {
      float s = horizontal_sum(acc[r][c]);
      for (int64_t k = body; k < cols; ++k) s = fma_scalar(W::scalar(rows[r], k), p.x[(i0 + c) * p.x_stride + k], s);
      if (p.bias) s = _mm_cvtss_f32(_mm_add_ss(_mm_set_ss(s), _mm_set_ss(p.bias[n0 + r])));
      p.out[(i0 + c) * p.out_stride + n0 + r] = s;
    }
  }
}

// NR weight rows from n0 times MR rows of x from i0: NR * MR independent accumulators, each
// weight chunk loaded (and converted) once for the MR rows of x.
template <int NR, int MR, class W>
inline void tile(const W& w, const Product& p, int64_t n0, int64_t i0, int64_t cols, const Span& next) {
  __m256 acc[NR][MR];
  typename W::Row rows[NR];
  for (int r = 0; r < NR; ++r) {
    rows[r] = w.row(n0 + r);
    for (int c = 0; c < MR; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const int64_t body = cols & ~int64_t{7};
  SpanPrefetcher prefetch(next, body / 8);
  // Chunks sharing a scale go together, so each row's scale is loaded once for them; the
  // arithmetic per chunk, and its order, stay those of the plain loop below.
  constexpr int kShared = W::kChunksPerScale;
  int64_t k = 0;
  if constexpr (kShared > 1) {
    const int64_t grouped = body / (8 * kShared) * (8 * kShared);
    for (; k < grouped; k += 8 * kShared) {
      typename W::Scale scale[NR];
      for (int r = 0; r < NR; ++r) scale[r] = W::scale(rows[r], k);
      for (int g = 0; g < kShared; ++g) {
        prefetch.step();
        __m256 xv[MR];
        for (int c = 0; c < MR; ++c) xv[c] = _mm256_loadu_ps(p.x + (i0 + c) * p.x_stride + k + 8 * g);
        for (int r = 0; r < NR; ++r) {
          const __m256 wv = W::load(rows[r], k + 8 * g, scale[r]);
          for (int c = 0; c < MR; ++c) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
        }
      }
    }
  }
  for (; k < body; k += 8) {
    prefetch.step();
    __m256 xv[MR];
    for (int c = 0; c < MR; ++c) xv[c] = _mm256_loadu_ps(p.x + (i0 + c) * p.x_stride + k);
    for (int r = 0; r < NR; ++r) {
      const __m256 wv = W::load(rows[r], k);
      for (int c = 0; c < MR; ++c) acc[r][c] = _mm256_fmadd_ps(wv, xv[c], acc[r][c]);
    }
  }
  store_outputs<NR, MR, W>(acc, rows, p, n0, i0, cols);
}

// Each tile prefetches the rows of the tile after it (up to @p prefetch_end).
template <int NR, int MR, class W>
void rows_times(const W& w, const Product& p, int64_t n_begin, int64_t n_end, int64_t i0, int64_t cols, int64_t prefetch_end) {
  auto next = [&](int64_t n, int64_t rows) {
    const int64_t from = n + rows, to = from + rows < prefetch_end ? from + rows : prefetch_end;
    return to > from ? w.span(from, to - from) : Span{nullptr, 0, nullptr, 0};
  };
  int64_t n = n_begin;
  for (; n + NR <= n_end; n += NR) tile<NR, MR>(w, p, n, i0, cols, next(n, NR));
  for (; n < n_end; ++n) tile<1, MR>(w, p, n, i0, cols, next(n, 1));
}

// Floats of converted weights a batch keeps per block (64 KiB, on the stack).
constexpr int64_t kUnpackedFloats = 16384;

// Rows [nb, ne) of @p w as float32 into @p out (row-major), converted exactly as a tile
// converts them, so products over them round the same.
template <class W>
void unpack_block(const W& w, int64_t nb, int64_t ne, int64_t cols, float* out) {
  const int64_t body = cols & ~int64_t{7};
  for (int64_t n = nb; n < ne; ++n, out += cols) {
    const auto r = w.row(n);
    for (int64_t k = 0; k < body; k += 8) _mm256_storeu_ps(out + k, W::load(r, k));
    for (int64_t k = body; k < cols; ++k) out[k] = W::scalar(r, k);
  }
}

// x rows [i, p.m) in groups of four through tiles of two weight rows, then the rest.
template <class W>
void row_groups(const W& w, const Product& p, int64_t nb, int64_t ne, int64_t cols, int64_t prefetch_end) {
  int64_t i = 0;
  for (; i + 4 <= p.m; i += 4) rows_times<2, 4>(w, p, nb, ne, i, cols, i == 0 ? prefetch_end : ne);
  const int64_t ahead = i == 0 ? prefetch_end : ne;
  switch (p.m - i) {
    case 3: rows_times<2, 3>(w, p, nb, ne, i, cols, ahead); break;
    case 2: rows_times<4, 2>(w, p, nb, ne, i, cols, ahead); break;
    case 1: rows_times<W::kRowsPerVectorTile, 1>(w, p, nb, ne, i, cols, ahead); break;
    default: break;
  }
}

// Weight rows per batch tile. A 3 x 4 tile holds its 12 accumulators, the three rows' weights
// and one chunk of x in the 16 vector registers, so each weight chunk is loaded once for four
// rows of x and each chunk of x once for three weight rows (7 loads per 12 FMA).
constexpr int kBatchTileRows = 3;

// NR weight rows from n0 times MR rows of x from i0, over all of k. With @p prefetch, the tile
// also fetches @p step bytes from there into the cache per 8 weights, as it goes.
template <int NR, int MR, class W>
inline void batch_tile(const W& w, const Product& p, int64_t n0, int64_t i0, int64_t cols, const char* prefetch, int64_t step) {
  __m256 acc[NR][MR];
  typename W::Row rows[NR];
  for (int r = 0; r < NR; ++r) {
    rows[r] = w.row(n0 + r);
    for (int c = 0; c < MR; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const float* x = p.x + i0 * p.x_stride;
  const int64_t body = cols & ~int64_t{7};
  for (int64_t k = 0; k < body; k += 8) {
    if (prefetch) {
      _mm_prefetch(prefetch, _MM_HINT_T0);
      if (step > 64) _mm_prefetch(prefetch + 64, _MM_HINT_T0);
      prefetch += step;
    }
    __m256 wv[NR];
    for (int r = 0; r < NR; ++r) wv[r] = W::load(rows[r], k);
    for (int c = 0; c < MR; ++c) {
      const __m256 xv = _mm256_loadu_ps(x + c * p.x_stride + k);
      for (int r = 0; r < NR; ++r) acc[r][c] = _mm256_fmadd_ps(wv[r], xv, acc[r][c]);
    }
  }
  store_outputs<NR, MR, W>(acc, rows, p, n0, i0, cols);
}

// NR weight rows times every row of x: four at a time, then the rest. The groups share
// fetching @p next (the following rows), so memory keeps busy while they compute.
template <int NR, class W>
void batch_rows(const W& w, const Product& p, int64_t n0, int64_t cols, const Span& next) {
  const int64_t groups = (p.m + 3) / 4, iterations = cols / 8 > 0 ? cols / 8 : 1;
  const int64_t step = (next.bytes + groups * iterations - 1) / (groups * iterations);  // bytes per iteration
  auto part = [&](int64_t g) { return next.bytes > 0 ? static_cast<const char*>(next.data) + g * iterations * step : nullptr; };
  int64_t i = 0;
  for (; i + 4 <= p.m; i += 4) batch_tile<NR, 4>(w, p, n0, i, cols, part(i / 4), step);
  switch (p.m - i) {
    case 3: batch_tile<NR, 3>(w, p, n0, i, cols, part(i / 4), step); break;
    case 2: batch_tile<NR, 2>(w, p, n0, i, cols, part(i / 4), step); break;
    case 1: batch_tile<NR, 1>(w, p, n0, i, cols, part(i / 4), step); break;
    default: break;
  }
}

// Weight rows [nb, ne) times every row of x, tile by tile; the tile of rows n prefetches
// @p next(n), the bytes it should bring into the cache while it computes.
template <class W, class Next>
void batch_block(const W& w, const Product& p, int64_t nb, int64_t ne, int64_t cols, const Next& next) {
  constexpr int NR = kBatchTileRows;
  int64_t n = nb;
  for (; n + NR <= ne; n += NR) batch_rows<NR>(w, p, n, cols, next(n));
  for (; n < ne; ++n) batch_rows<1>(w, p, n, cols, next(n));
}

// Products with up to four rows of x (a decode step) are bound by memory: they stream the
// weights through tiles that convert each chunk once (row_groups). Larger batches are bound by
// arithmetic: they run 3 x 4 tiles over float32 weights, read in place (f32) or converted a
// block at a time into a buffer that stays in cache while every row of x passes over it, and
// spread the fetch of the next tile or block over all the groups of x, so memory and
// arithmetic overlap. Measured with 2 threads on a 2-vCPU Zen 2 (the SmolLM2-135M-shaped
// products of 30 blocks, 16 rows of x): f32 24 ms (39 ms with 2 x 4 tiles over 8-row blocks),
// int8 28 ms (36 ms); bf16 28 ms (30 ms).
template <class W>
void multiply(const W& w, const Product& p, int64_t n_begin, int64_t n_end, int64_t cols) {
  constexpr int NR = kBatchTileRows;
  if (p.m <= 4) return row_groups(w, p, n_begin, n_end, cols, n_end);
  if constexpr (W::kUnpackFromRows == 0) {
    // Each tile fetches the next tile's rows.
    return batch_block(w, p, n_begin, n_end, cols, [&](int64_t n) {
      return n + 2 * NR <= n_end ? w.span(n + NR, NR) : Span{nullptr, 0, nullptr, 0};
    });
  }
  if (p.m < W::kUnpackFromRows || cols > kUnpackedFloats / NR) {
    // Weight rows in blocks of eight, small enough to stay in L1 while every row of x passes.
    for (int64_t nb = n_begin; nb < n_end; nb += 8) row_groups(w, p, nb, nb + 8 < n_end ? nb + 8 : n_end, cols, n_end);
    return;
  }
  const int64_t fit = kUnpackedFloats / cols / NR * NR;
  const int64_t block = fit < 4 * NR ? fit : 4 * NR;
  alignas(32) float unpacked[kUnpackedFloats];
  for (int64_t nb = n_begin; nb < n_end; nb += block) {
    const int64_t ne = nb + block < n_end ? nb + block : n_end;
    unpack_block(w, nb, ne, cols, unpacked);
    // While this block computes from the cache, its tiles fetch the next block's stored rows.
    const int64_t next_rows = ne + block < n_end ? block : n_end - ne;
    const Span ahead = next_rows > 0 ? w.span(ne, next_rows) : Span{nullptr, 0, nullptr, 0};
    const int64_t tiles = (ne - nb + NR - 1) / NR, slice = (ahead.bytes + tiles - 1) / tiles;
    batch_block(F32Rows{unpacked, cols, nb}, p, nb, ne, cols, [&](int64_t n) {
      const int64_t offset = (n - nb) / NR * slice;
      if (offset >= ahead.bytes) return Span{nullptr, 0, nullptr, 0};
      const int64_t bytes = offset + slice <= ahead.bytes ? slice : ahead.bytes - offset;
      return Span{static_cast<const char*>(ahead.data) + offset, bytes, nullptr, 0};
    });
  }
}

// out[c * 8 ...] = sum_t p[t] * v[t * stride + c * 8 ...] for NC chunks of eight, in t order,
// with the NC accumulators in registers.
template <int NC>
void weighted_sum(const float* p, const float* v, int64_t length, int64_t stride, float* out) {
  __m256 acc[NC];
  for (int c = 0; c < NC; ++c) acc[c] = _mm256_setzero_ps();
  for (int64_t t = 0; t < length; ++t, v += stride) {
    const __m256 pv = _mm256_broadcast_ss(p + t);
    for (int c = 0; c < NC; ++c) acc[c] = _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + 8 * c), acc[c]);
  }
  for (int c = 0; c < NC; ++c) _mm256_storeu_ps(out + 8 * c, acc[c]);
}

}  // namespace

void multiply_rows_avx2(const MatrixView& w, const Product& p, int64_t n_begin, int64_t n_end) noexcept {
  switch (w.format) {
    case Format::f32: return multiply(F32Rows{static_cast<const float*>(w.data), w.cols, 0}, p, n_begin, n_end, w.cols);
    case Format::bf16: return multiply(BF16Rows{{static_cast<const std::uint16_t*>(w.data), w.cols}}, p, n_begin, n_end, w.cols);
    case Format::f16: return multiply(F16Rows{{static_cast<const std::uint16_t*>(w.data), w.cols}}, p, n_begin, n_end, w.cols);
    case Format::int8:
      return multiply(Int8Rows{static_cast<const std::int8_t*>(w.data), w.scales, w.cols, w.blocks_per_row}, p, n_begin, n_end,
                      w.cols);
  }
}

float dot_avx2(const float* a, const float* b, int64_t n) noexcept {
  __m256 acc = _mm256_setzero_ps();
  const int64_t body = n & ~int64_t{7};
  for (int64_t k = 0; k < body; k += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
  return finish_dot(acc, a, b, body, n);
}

// Eight at a time; the tail goes through the same vector code from a padded copy, so every
// element is computed the same way.
void silu_times_avx2(const float* gate, const float* up, float* out, int64_t n) noexcept {
  const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
  auto eight = [&](__m256 g, __m256 u) {
    const __m256 e = _ZGVdN8v_expf(_mm256_xor_ps(g, sign));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), u);
  };
  const int64_t body = n & ~int64_t{7};
  for (int64_t i = 0; i < body; i += 8) _mm256_storeu_ps(out + i, eight(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
  if (body == n) return;
  alignas(32) float g[8] = {}, u[8] = {}, o[8];
  for (int64_t i = body; i < n; ++i) g[i - body] = gate[i], u[i - body] = up[i];
  _mm256_store_ps(o, eight(_mm256_load_ps(g), _mm256_load_ps(u)));
  for (int64_t i = body; i < n; ++i) out[i] = o[i - body];
}

// Scores four positions at a time (four accumulators, each in dot_avx2's order), exp through
// libmvec, then the weighted sum of values with the running output in memory (it stays in L1).
void attend_avx2(const float* q, const float* keys, const float* values, int64_t length, int64_t dim, float scale, float* scores,
                 float* out) noexcept {
  const int64_t body = dim & ~int64_t{7};
  auto finish = [&](__m256 acc, const float* k) { return finish_dot(acc, q, k, body, dim) * scale; };
  int64_t t = 0;
  for (; t + 4 <= length; t += 4) {
    const float* k = keys + t * dim;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t j = 0; j < body; j += 8) {
      const __m256 qv = _mm256_loadu_ps(q + j);
      a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + j), a0);
      a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + dim + j), a1);
      a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + 2 * dim + j), a2);
      a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k + 3 * dim + j), a3);
    }
    scores[t] = finish(a0, k), scores[t + 1] = finish(a1, k + dim), scores[t + 2] = finish(a2, k + 2 * dim), scores[t + 3] = finish(a3, k + 3 * dim);
  }
  for (; t < length; ++t) {
    const float* k = keys + t * dim;
    __m256 a = _mm256_setzero_ps();
    for (int64_t j = 0; j < body; j += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_loadu_ps(k + j), a);
    scores[t] = finish(a, k);
  }
  float top = -__builtin_inff();
  for (t = 0; t < length; ++t) top = scores[t] > top ? scores[t] : top;
  // exp(score - top) eight at a time; the scratch's 8 spare floats take the last chunk's padding.
  const __m256 shift = _mm256_set1_ps(top);
  for (t = 0; t < length; t += 8) {
    for (int64_t u = length; u < t + 8; ++u) scores[u] = top;
    _mm256_storeu_ps(scores + t, _ZGVdN8v_expf(_mm256_sub_ps(_mm256_loadu_ps(scores + t), shift)));
  }
  float sum = 0.0f;
  for (t = 0; t < length; ++t) sum += scores[t];
  for (t = 0; t < length; ++t) scores[t] = scores[t] / sum;
  // The output 64 floats at a time in registers, then the tail: each out[j] accumulates over t
  // in order whatever the split.
  int64_t j = 0;
  for (; j + 64 <= body; j += 64) weighted_sum<8>(scores, values + j, length, dim, out + j);
  switch ((body - j) / 8) {
    case 7: weighted_sum<7>(scores, values + j, length, dim, out + j); break;
    case 6: weighted_sum<6>(scores, values + j, length, dim, out + j); break;
    case 5: weighted_sum<5>(scores, values + j, length, dim, out + j); break;
    case 4: weighted_sum<4>(scores, values + j, length, dim, out + j); break;
    case 3: weighted_sum<3>(scores, values + j, length, dim, out + j); break;
    case 2: weighted_sum<2>(scores, values + j, length, dim, out + j); break;
    case 1: weighted_sum<1>(scores, values + j, length, dim, out + j); break;
    default: break;
  }
  for (j = body; j < dim; ++j) {
    float o = 0.0f;
    for (t = 0; t < length; ++t) o = fma_scalar(scores[t], values[t * dim + j], o);
    out[j] = o;
  }
}

}  // namespace petalsln::model::kernels
