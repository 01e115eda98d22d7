#include "swarm/secp256k1_context.hpp"

#include <array>
#include <cstdint>

#include "petalsln/util/error.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::swarm {
namespace {

secp256k1_context* create_randomized_context() {
  secp256k1_context* ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
  if (ctx == nullptr) throw Error(ErrorCode::internal, "secp256k1_context_create failed");
  std::array<std::uint8_t, 32> seed{};
  util::random_bytes(seed.data(), seed.size());
  const int ok = secp256k1_context_randomize(ctx, seed.data());
  util::secure_wipe(seed.data(), seed.size());
  if (ok != 1) {
    secp256k1_context_destroy(ctx);
    throw Error(ErrorCode::internal, "secp256k1_context_randomize failed");
  }
  return ctx;
}

}  // namespace

const secp256k1_context* secp256k1_ctx() {
  // Never destroyed: other static objects may still sign or verify during exit.
  static const secp256k1_context* const ctx = create_randomized_context();
  return ctx;
}

}  // namespace petalsln::swarm
