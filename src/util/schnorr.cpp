#include "util/schnorr.hpp"

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "petalsln/util/error.hpp"
#include "util/random.hpp"
#include "util/secp256k1_context.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::util {
namespace {

// A keypair embeds the secret: wipe it however the scope is left.
struct KeypairGuard {
  secp256k1_keypair keypair{};
  ~KeypairGuard() { secure_wipe(&keypair, sizeof keypair); }
};

void make_keypair(const SecretKey& secret, KeypairGuard& out) {
  if (secp256k1_keypair_create(secp256k1_ctx(), &out.keypair, secret.data()) != 1) {
    throw Error(ErrorCode::invalid_argument,
                "the secret key is not a valid secp256k1 secret key (zero or not below the curve order)");
  }
}

const unsigned char* bytes_of(std::string_view text) { return reinterpret_cast<const unsigned char*>(text.data()); }

}  // namespace

bool is_valid_secret_key(const SecretKey& secret) noexcept {
  try {
    return secp256k1_ec_seckey_verify(secp256k1_ctx(), secret.data()) == 1;
  } catch (...) {
    return false;  // no context: nothing can be used as a key
  }
}

bool is_valid_xonly_public_key(const XOnlyPublicKey& key) noexcept {
  try {
    secp256k1_xonly_pubkey parsed;
    return secp256k1_xonly_pubkey_parse(secp256k1_ctx(), &parsed, key.data()) == 1;
  } catch (...) {
    return false;
  }
}

XOnlyPublicKey xonly_public_key(const SecretKey& secret) {
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

SchnorrSignature schnorr_sign(const SecretKey& secret, std::string_view message, const AuxRandom* aux_random) {
  KeypairGuard kp;
  make_keypair(secret, kp);
  AuxRandom aux{};
  if (aux_random != nullptr) {
    aux = *aux_random;
  } else {
    random_bytes(aux.data(), aux.size());
  }
  secp256k1_schnorrsig_extraparams params = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
  params.ndata = aux.data();  // with the default nonce function: BIP-340's aux_rand
  SchnorrSignature sig{};
  const int signed_ok = secp256k1_schnorrsig_sign_custom(secp256k1_ctx(), sig.data(), bytes_of(message),
                                                         message.size(), &kp.keypair, &params);
  secure_wipe(aux.data(), aux.size());
  if (signed_ok != 1) throw Error(ErrorCode::internal, "secp256k1: Schnorr signing failed");
  return sig;
}

bool schnorr_verify(const XOnlyPublicKey& key, std::string_view message, const SchnorrSignature& signature) noexcept {
  try {
    const secp256k1_context* ctx = secp256k1_ctx();
    secp256k1_xonly_pubkey parsed;
    if (secp256k1_xonly_pubkey_parse(ctx, &parsed, key.data()) != 1) return false;
    return secp256k1_schnorrsig_verify(ctx, signature.data(), bytes_of(message), message.size(), &parsed) == 1;
  } catch (...) {
    return false;  // no context: nothing can be verified
  }
}

}  // namespace petalsln::util
