#include "lightning/wallet/nwc/nostr_keys.hpp"

#include <secp256k1.h>
#include <secp256k1_ecdh.h>

#include <cstring>

#include "petalsln/util/error.hpp"
#include "util/secp256k1_context.hpp"

namespace petalsln::lightning {
namespace {

// secp256k1_ecdh's hash callback, made to hand back the shared point's x coordinate as is
// (NIP-04 and NIP-44 hash it themselves, differently from libsecp256k1's default).
int copy_x(unsigned char* output, const unsigned char* x32, const unsigned char* /*y32*/, void* /*data*/) {
  std::memcpy(output, x32, 32);
  return 1;
}

}  // namespace

std::array<std::uint8_t, 32> ecdh_shared_x(const NostrSecretKey& secret, const XOnlyPublicKey& peer) {
  if (!is_valid_secret_key(secret)) {
    throw Error(ErrorCode::invalid_argument, "Nostr secret key is not a valid secp256k1 secret key (zero or not below the curve order)");
  }
  // An x-only key stands for the point with even y: its compressed form is 0x02 || x.
  std::array<std::uint8_t, 33> compressed{};
  compressed[0] = 0x02;
  std::memcpy(compressed.data() + 1, peer.data(), 32);
  const secp256k1_context* ctx = util::secp256k1_ctx();
  secp256k1_pubkey point;
  if (secp256k1_ec_pubkey_parse(ctx, &point, compressed.data(), compressed.size()) != 1) {
    throw Error(ErrorCode::invalid_argument, "Nostr public key is not the x coordinate of a point on secp256k1");
  }
  std::array<std::uint8_t, 32> shared{};
  if (secp256k1_ecdh(ctx, shared.data(), &point, secret.data(), copy_x, nullptr) != 1) {
    throw Error(ErrorCode::internal, "secp256k1: ECDH failed");
  }
  return shared;
}

}  // namespace petalsln::lightning
