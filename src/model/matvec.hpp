#pragma once
// Matrix-vector products for decoding (one token, one row of activations).
//
// Why not at::linear: for a single row libtorch 1.13 calls OpenBLAS sgemm with M = 1, which
// first copies (packs) the whole weight matrix, so every weight byte is read twice and written
// once; a decode step spent ~77 % of its time there (perf, docs/BENCHMARKS.md "Engine decode").
// sgemv reads each weight once, but OpenBLAS's own two-thread sgemv barely beats one thread, and
// OpenMP worker hand-offs under OMP_WAIT_POLICY=passive cost more than they save. So the rows
// are split between the calling thread and persistent worker threads, each running a
// single-threaded sgemv (at::mv_out) on its slice: the kernel stays OpenBLAS's.

#include <torch/torch.h>

namespace petalsln::model {

/// out = weight · x (+ bias) for a 2-D @p weight [N, K], 1-D @p x [K] and 1-D @p out [N], all
/// of one floating dtype on the CPU, weight contiguous. Uses at::get_num_threads() threads (the
/// caller's plus persistent workers); when another thread is already using the workers the
/// product runs on the calling thread alone. @p bias may be undefined.
void matvec_out(at::Tensor& out, const at::Tensor& weight, const at::Tensor& x, const at::Tensor& bias = {});

/// at::linear(x, weight, bias) for any @p x whose rows (all dimensions but the last) number
/// one, through matvec_out; otherwise at::linear itself (prefill and batches keep sgemm).
at::Tensor project(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias = {});

}  // namespace petalsln::model
