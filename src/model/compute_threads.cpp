#include "petalsln/model/compute_threads.hpp"

#include <ATen/Parallel.h>

#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln {

void set_compute_threads(int threads) {
  if (threads < 1 || threads > 1024) {
    throw Error(ErrorCode::invalid_argument,
                "compute threads must be in [1, 1024], got " + std::to_string(threads));
  }
  at::set_num_threads(threads);
}

int compute_threads() noexcept { return at::get_num_threads(); }

}  // namespace petalsln
