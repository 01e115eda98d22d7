#include "util/secp256k1_context.hpp"

#include <array>
#include <cstdint>

#include "petalsln/util/error.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::util {
namespace {

secp256k1_context* create_randomized_context() {
  secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  if (ctx == nullptr) throw Error(ErrorCode::internal, "secp256k1: cannot create a context");
  std::array<std::uint8_t, 32> seed{};
  random_bytes(seed.data(), seed.size());
  const bool randomized = secp256k1_context_randomize(ctx, seed.data()) == 1;
  secure_wipe(seed.data(), seed.size());
  if (!randomized) {
    secp256k1_context_destroy(ctx);
    throw Error(ErrorCode::internal, "secp256k1: cannot randomize the context");
  }
  return ctx;
}

}  // namespace

const secp256k1_context* secp256k1_ctx() {
  // Never destroyed: other static objects may still sign or verify during exit.
  static const secp256k1_context* const ctx = create_randomized_context();
  return ctx;
}

}  // namespace petalsln::util
