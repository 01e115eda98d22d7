#pragma once
// The process-wide libsecp256k1 context, shared by every signing and verifying call of every
// layer (BIP-340 in util, invoices and the devnet's node keys in lightning).

#include <secp256k1.h>

namespace petalsln::util {

/// Returns the shared context, created and randomized (blinding against side channels) on
/// first use. libsecp256k1 allows concurrent use of a context that is no longer modified,
/// which holds here: it is randomized once, before anyone else can see it.
/// Throws Error(internal) if the context cannot be created, Error(io) without randomness.
const secp256k1_context* secp256k1_ctx();

}  // namespace petalsln::util
