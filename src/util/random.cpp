#include "util/random.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "petalsln/util/error.hpp"

namespace petalsln::util {

void random_bytes(std::uint8_t* out, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    // getrandom returns at most 32 MiB per call and may be interrupted by a signal.
    const ssize_t n = ::getrandom(out + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::io, std::string("getrandom failed: ") + std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace petalsln::util
