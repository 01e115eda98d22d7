#include "lightning/wallet/nwc/nostr_schnorr.hpp"

#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include <cstring>

#include "lightning/secp256k1_context.hpp"
#include "petalsln/util/error.hpp"
#include "util/random.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::lightning {
namespace {

// A keypair embeds the secret: wipe it however the scope is left.
struct KeypairGuard {
  secp256k1_keypair keypair{};
  ~KeypairGuard() { util::secure_wipe(&keypair, sizeof keypair); }
};

void make_keypair(const NostrSecretKey& secret, KeypairGuard& out) {
  if (secp256k1_keypair_create(secp256k1_ctx(), &out.keypair, secret.data()) != 1) {
    throw Error(ErrorCode::invalid_argument, "Nostr secret key is not a valid secp256k1 secret key (zero or not below the curve order)");
  }
}

// secp256k1_ecdh's hash callback, made to hand back the shared point's x coordinate as is
// (NIP-04 and NIP-44 hash it themselves, differently from libsecp256k1's default).
int copy_x(unsigned char* output, const unsigned char* x32, const unsigned char* /*y32*/, void* /*data*/) {
  std::memcpy(output, x32, 32);
  return 1;
}

}  // namespace

bool is_valid_secret_key(const NostrSecretKey& secret) noexcept {
  return secp256k1_ec_seckey_verify(secp256k1_ctx(), secret.data()) == 1;
}

bool is_valid_xonly_public_key(const XOnlyPublicKey& key) noexcept {
  secp256k1_xonly_pubkey parsed;
  return secp256k1_xonly_pubkey_parse(secp256k1_ctx(), &parsed, key.data()) == 1;
}

XOnlyPublicKey xonly_public_key(const NostrSecretKey& secret) {
  KeypairGuard kp;
  make_keypair(secret, kp);
  secp256k1_xonly_pubkey pub;
  XOnlyPublicKey out{};
  if (secp256k1_keypair_xonly_pub(secp256k1_ctx(), &pub, nullptr, &kp.keypair) != 1 ||
      secp256k1_xonly_pubkey_serialize(secp256k1_ctx(), out.data(), &pub) != 1) {
    throw Error(ErrorCode::internal, "secp256k1: cannot derive an x-only public key");
  }
  return out;
}

SchnorrSignature schnorr_sign(const NostrSecretKey& secret, std::string_view message,
                              const std::array<std::uint8_t, 32>* aux_rand) {
  KeypairGuard kp;
  make_keypair(secret, kp);
  std::array<std::uint8_t, 32> aux{};
  if (aux_rand != nullptr) {
    aux = *aux_rand;
  } else {
    util::random_bytes(aux.data(), aux.size());
  }
  secp256k1_schnorrsig_extraparams params = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
  params.ndata = aux.data();
  SchnorrSignature sig{};
  const int ok = secp256k1_schnorrsig_sign_custom(secp256k1_ctx(), sig.data(),
                                                  reinterpret_cast<const unsigned char*>(message.data()),
                                                  message.size(), &kp.keypair, &params);
  util::secure_wipe(aux.data(), aux.size());
  if (ok != 1) throw Error(ErrorCode::internal, "secp256k1: Schnorr signing failed");
  return sig;
}

bool schnorr_verify(const XOnlyPublicKey& key, std::string_view message, const SchnorrSignature& signature) noexcept {
  secp256k1_xonly_pubkey parsed;
  if (secp256k1_xonly_pubkey_parse(secp256k1_ctx(), &parsed, key.data()) != 1) return false;
  return secp256k1_schnorrsig_verify(secp256k1_ctx(), signature.data(),
                                     reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                                     &parsed) == 1;
}

std::array<std::uint8_t, 32> ecdh_shared_x(const NostrSecretKey& secret, const XOnlyPublicKey& peer) {
  if (!is_valid_secret_key(secret)) {
    throw Error(ErrorCode::invalid_argument, "Nostr secret key is not a valid secp256k1 secret key (zero or not below the curve order)");
  }
  // An x-only key stands for the point with even y: its compressed form is 0x02 || x.
  std::array<std::uint8_t, 33> compressed{};
  compressed[0] = 0x02;
  std::memcpy(compressed.data() + 1, peer.data(), 32);
  secp256k1_pubkey point;
  if (secp256k1_ec_pubkey_parse(secp256k1_ctx(), &point, compressed.data(), compressed.size()) != 1) {
    throw Error(ErrorCode::invalid_argument, "Nostr public key is not the x coordinate of a point on secp256k1");
  }
  std::array<std::uint8_t, 32> shared{};
  if (secp256k1_ecdh(secp256k1_ctx(), shared.data(), &point, secret.data(), copy_x, nullptr) != 1) {
    throw Error(ErrorCode::internal, "secp256k1: ECDH failed");
  }
  return shared;
}

}  // namespace petalsln::lightning
