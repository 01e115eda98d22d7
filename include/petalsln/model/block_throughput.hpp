#pragma once
/// @file block_throughput.hpp
/// How fast a BlockStack computes, measured on this machine: the throughput a server announces.

#include "petalsln/model/block_stack.hpp"

namespace petalsln {

/// Measures the block-tokens per second of batch-1 decoding through every block of @p stack:
/// one warm-up step, then the best of six single-token steps on random hidden states (the
/// stack's weights and caches are not changed; a scratch cache is used). Takes a few forward
/// steps of time. Returns (end - begin) / the best step's seconds. Throws what
/// BlockStack::forward() throws.
double measure_block_throughput(const BlockStack& stack);

}  // namespace petalsln
