#include "model/weight_arena.hpp"

#include <sys/mman.h>

#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln::model {
namespace {

constexpr std::int64_t kHugePage = std::int64_t{2} << 20;

}  // namespace

WeightArena::WeightArena(std::int64_t bytes) {
  if (bytes <= 0) bytes = 64;
  size_ = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  // Map one huge page more than needed and use the 2 MiB-aligned part, so every page of the
  // region can be a huge page.
  mapping_size_ = size_ + kHugePage;
  mapping_ = mmap(nullptr, static_cast<std::size_t>(mapping_size_), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) {
    mapping_ = nullptr;
    throw Error(ErrorCode::io, "cannot map " + std::to_string(size_ >> 20) + " MiB for weights");
  }
  const auto start = reinterpret_cast<std::uintptr_t>(mapping_);
  base_ = reinterpret_cast<std::uint8_t*>((start + kHugePage - 1) / kHugePage * kHugePage);
#if defined(MADV_HUGEPAGE)
  madvise(base_, static_cast<std::size_t>(size_), MADV_HUGEPAGE);  // best effort: THP may be off
#endif
}

WeightArena::~WeightArena() {
  if (mapping_ != nullptr) munmap(mapping_, static_cast<std::size_t>(mapping_size_));
}

std::uint8_t* WeightArena::take(std::int64_t bytes) {
  const auto need = footprint(bytes);
  if (bytes < 0 || used_ + need > size_) throw Error(ErrorCode::internal, "weight arena too small for its matrices");
  auto* slice = base_ + used_;
  used_ += need;
  return slice;
}

}  // namespace petalsln::model
