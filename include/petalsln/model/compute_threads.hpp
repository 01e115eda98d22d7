#pragma once
/// @file compute_threads.hpp
/// How many CPU threads the model's matrix products use (one setting for the process).

namespace petalsln {

/// Sets the number of threads the model layer's CPU engine computes with in this process (the
/// calling thread plus persistent workers). libtorch's own intra-op pool is set to one thread,
/// because its spinning OpenMP team would compete with the engine for the same cores.
/// Call it at start-up, before the first forward pass.
/// Throws Error(invalid_argument) if @p threads is outside [1, 1024].
void set_compute_threads(int threads);

/// Returns the number of threads the model layer computes with. When never set, the first
/// call takes libtorch's count (at::get_num_threads()) and then leaves libtorch one thread.
int compute_threads() noexcept;

}  // namespace petalsln
