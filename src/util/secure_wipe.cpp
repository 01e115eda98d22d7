#include "util/secure_wipe.hpp"

#include <openssl/crypto.h>

namespace petalsln::util {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

}  // namespace petalsln::util
