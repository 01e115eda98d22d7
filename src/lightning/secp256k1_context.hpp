#pragma once
// The lightning layer's libsecp256k1 context, shared by every signing and verifying call
// (invoice signatures and public-key recovery).

#include <secp256k1.h>

namespace petalsln::lightning {

/// Returns the shared context, created and randomized (blinding against side channels) on
/// first use and never modified afterwards, which makes concurrent use safe.
/// Throws Error(internal) if it cannot be created, Error(io) without randomness.
const secp256k1_context* secp256k1_ctx();

}  // namespace petalsln::lightning
