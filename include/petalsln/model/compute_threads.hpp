#pragma once
/// @file compute_threads.hpp
/// How many CPU threads the model's matrix products use (one setting for the process).

namespace petalsln {

/// Sets the number of threads the model layer computes with in this process (libtorch's
/// intra-op pool). Call it once at start-up, before the first forward pass.
/// Throws Error(invalid_argument) if @p threads is outside [1, 1024].
void set_compute_threads(int threads);

/// Returns the number of threads the model layer computes with.
int compute_threads() noexcept;

}  // namespace petalsln
