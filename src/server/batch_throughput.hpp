#pragma once
// How fast a server's blocks compute when several sessions decode at once: the batched figure
// a server announces beside its single-session throughput (model's measure_block_throughput).
// It lives in the server layer because batching concurrent sessions is the server's policy;
// the model layer only offers BlockStack::forward_batch().

#include "petalsln/model/block_stack.hpp"

namespace petalsln::rpc {

/// Sessions in the batch a server measures and announces (ServerRecord::batch_sessions): a
/// busy server's typical batch, small enough to measure in a few steps' time at start-up.
constexpr int kBatchThroughputSessions = 8;

/// Measures the aggregate block-tokens per second of @p sessions sessions each decoding one
/// token through every block of @p stack in one BlockStack::forward_batch() call: one warm-up
/// batch, then the best of six (each session on its own scratch cache; the stack is not
/// changed). It uses @p stack as it is, so the figure reflects the weight format and compute
/// options the server really serves with. Returns sessions × blocks / the best batch's
/// seconds. Throws Error(invalid_argument) for @p sessions < 1, and what forward_batch() throws.
double measure_batch_throughput(const BlockStack& stack, int sessions);

}  // namespace petalsln::rpc
