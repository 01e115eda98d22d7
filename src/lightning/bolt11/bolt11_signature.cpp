// The invoice signature: a compact recoverable ECDSA signature over secp256k1 of the SHA-256
// of the human-readable part and the data part (BOLT #11, "Data Part").

#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "lightning/bolt11/bolt11_codec.hpp"
#include "util/secp256k1_context.hpp"

namespace petalsln::lightning {
namespace {

Bolt11NodeId serialize(const secp256k1_pubkey& key) {
  Bolt11NodeId out{};
  std::size_t len = out.size();
  secp256k1_ec_pubkey_serialize(util::secp256k1_ctx(), out.data(), &len, &key, SECP256K1_EC_COMPRESSED);
  return out;
}

// With an `n` field the payee is stated, so the signature is verified against it; libsecp256k1
// verifies low-S signatures only, which is exactly what the specification requires here.
std::optional<std::string> verify_against_node_id(const Bolt11Hash& digest, const Bolt11Invoice& inv) {
  secp256k1_pubkey key;
  if (secp256k1_ec_pubkey_parse(util::secp256k1_ctx(), &key, inv.payee_node_id->data(), inv.payee_node_id->size()) != 1) {
    return "field 'n' (payee node id) is not a valid public key";
  }
  secp256k1_ecdsa_signature sig;
  if (secp256k1_ecdsa_signature_parse_compact(util::secp256k1_ctx(), &sig, inv.signature.data()) != 1) {
    return "signature R or S is not below the curve order";
  }
  secp256k1_ecdsa_signature normalized;
  if (secp256k1_ecdsa_signature_normalize(util::secp256k1_ctx(), &normalized, &sig) == 1) {
    return "signature is not low-S, which readers must refuse when the invoice has an 'n' field";
  }
  if (secp256k1_ecdsa_verify(util::secp256k1_ctx(), &sig, digest.data(), &key) != 1) {
    return "signature does not verify against the 'n' field's public key";
  }
  return std::nullopt;
}

// Without `n`, the payee is whoever signed: recover the key (high-S accepted, per the spec).
std::optional<std::string> recover_payee(const Bolt11Hash& digest, Bolt11Invoice& inv) {
  secp256k1_ecdsa_recoverable_signature sig;
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(util::secp256k1_ctx(), &sig, inv.signature.data(),
                                                          inv.recovery_id) != 1) {
    return "signature is not recoverable (R or S is not below the curve order)";
  }
  secp256k1_pubkey key;
  if (secp256k1_ecdsa_recover(util::secp256k1_ctx(), &key, &sig, digest.data()) != 1) {
    return "signature is not recoverable";
  }
  inv.payee = serialize(key);
  return std::nullopt;
}

}  // namespace

std::optional<std::string> check_signature(const Bolt11Hash& digest, Bolt11Invoice& inv) {
  inv.payee.reset();
  // libsecp256k1 treats a recovery id above 3 as a caller bug and aborts; refuse it first.
  if (inv.recovery_id > 3) return "signature recovery id " + std::to_string(inv.recovery_id) + " is not 0..3";
  if (inv.payee_node_id) {
    auto reason = verify_against_node_id(digest, inv);
    if (!reason) inv.payee = inv.payee_node_id;
    return reason;
  }
  return recover_payee(digest, inv);
}

Bolt11NodeId public_key_of(const Bolt11SecretKey& secret_key) {
  secp256k1_pubkey key;
  if (secp256k1_ec_pubkey_create(util::secp256k1_ctx(), &key, secret_key.data()) != 1) {
    fail(ErrorCode::invalid_argument, "the signing key is not a valid secp256k1 secret key");
  }
  return serialize(key);
}

Bolt11NodeId sign_digest(const Bolt11Hash& digest, const Bolt11SecretKey& secret_key, Bolt11Invoice& inv) {
  const Bolt11NodeId pubkey = public_key_of(secret_key);
  secp256k1_ecdsa_recoverable_signature sig;
  // A null nonce function means RFC 6979, so the same invoice and key give the same signature.
  if (secp256k1_ecdsa_sign_recoverable(util::secp256k1_ctx(), &sig, digest.data(), secret_key.data(), nullptr, nullptr) != 1) {
    fail(ErrorCode::internal, "secp256k1 could not sign the invoice");
  }
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(util::secp256k1_ctx(), inv.signature.data(), &recid, &sig);
  inv.recovery_id = static_cast<std::uint8_t>(recid);
  return pubkey;
}

}  // namespace petalsln::lightning
