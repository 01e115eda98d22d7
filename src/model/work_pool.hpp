#pragma once
// Persistent worker threads that share one parallel job at a time with the calling thread.
//
// Why not OpenMP or at::parallel_for: a decode step issues a few hundred short products (tens
// of microseconds each); waking OpenMP's team under OMP_WAIT_POLICY=passive costs about as
// much as a product, and libtorch's pool does the same. These workers poll for a while before
// they sleep, and the caller claims any part that no worker has taken, so a late or
// descheduled worker costs nothing.

#include <cstdint>

namespace petalsln::model {

/// Runs @p run(@p context, part) for every part in [0, @p parts) on the calling thread and up
/// to @p threads - 1 persistent workers, and returns when all are done. The parts must be
/// independent. When another thread is already using the workers, or @p threads <= 1, every
/// part runs on the calling thread. An exception thrown by a part is rethrown here (the first).
void run_parts(int parts, int threads, void (*run)(void* context, int part), void* context);

}  // namespace petalsln::model
