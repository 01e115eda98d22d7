#pragma once
// One memory region for many packed weight matrices, backed by transparent huge pages where the
// kernel allows. Decoding streams every weight once per token; with 4 KiB pages that is a TLB
// miss per 4 KiB, and on the development machine (THP in `madvise` mode) huge pages took decode
// of a SmolLM2-135M-shaped model from 41 to 44 tokens/s.

#include <cstdint>

namespace petalsln::model {

/// A fixed-size region handing out 64-byte-aligned slices; freed as a whole when destroyed.
/// Not thread-safe (filled while loading).
class WeightArena {
 public:
  /// Reserves @p bytes (rounded up to whole 2 MiB pages), asking for huge pages.
  /// Throws Error(io) when the memory cannot be mapped.
  explicit WeightArena(std::int64_t bytes);
  ~WeightArena();
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  /// A slice of @p bytes, 64-byte aligned. Throws Error(internal) when the region is used up
  /// (its size was computed wrong).
  std::uint8_t* take(std::int64_t bytes);

  /// Bytes a slice of @p bytes uses up in an arena (with its alignment).
  static std::int64_t footprint(std::int64_t bytes) noexcept { return (bytes + 63) / 64 * 64; }

 private:
  std::uint8_t* base_ = nullptr;
  std::int64_t size_ = 0;
  std::int64_t used_ = 0;
  void* mapping_ = nullptr;
  std::int64_t mapping_size_ = 0;
};

}  // namespace petalsln::model
