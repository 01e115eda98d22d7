#pragma once
/// @file petalsln.hpp
/// The whole C++ API in one include: `#include <petalsln/petalsln.hpp>`. Each header below is
/// one concept; include just the ones you use to compile faster (only the model, wire and
/// client headers pull in libtorch).

// Errors
#include "petalsln/error.hpp"

// Model: configs, checkpoints, blocks, the head (libtorch)
#include "petalsln/model_config.hpp"
#include "petalsln/checkpoint.hpp"
#include "petalsln/block_stack.hpp"
#include "petalsln/block_pipeline.hpp"
#include "petalsln/local_head.hpp"
#include "petalsln/safetensors_writer.hpp"

// Text: tokenizer, chat templates, sampling
#include "petalsln/token.hpp"
#include "petalsln/tokenizer.hpp"
#include "petalsln/chat_template.hpp"
#include "petalsln/sampler.hpp"

// Swarm: identity, announcements, discovery, routes
#include "petalsln/node_identity.hpp"
#include "petalsln/model_fingerprint.hpp"
#include "petalsln/server_record.hpp"
#include "petalsln/discovery.hpp"
#include "petalsln/route_planner.hpp"

// Lightning: invoices, macaroons, L402, wallets, paywalls, payouts
#include "petalsln/bolt11.hpp"
#include "petalsln/macaroon.hpp"
#include "petalsln/l402_identifier.hpp"
#include "petalsln/l402_caveats.hpp"
#include "petalsln/l402.hpp"
#include "petalsln/wallet.hpp"
#include "petalsln/rest_endpoint.hpp"
#include "petalsln/rest_endpoint.hpp"
#include "petalsln/devnet_wallet.hpp"
#include "petalsln/lnd_rest_wallet.hpp"
#include "petalsln/cln_rest_wallet.hpp"
#include "petalsln/lnbits_wallet.hpp"
#include "petalsln/nwc_wallet.hpp"
#include "petalsln/lightning_address.hpp"
#include "petalsln/paywall.hpp"
#include "petalsln/payout_splitter.hpp"
#include "petalsln/payout_ledger.hpp"

// Wire: the gRPC service and remote sessions
#include "petalsln/block_server.hpp"
#include "petalsln/server_info.hpp"
#include "petalsln/remote_sequence.hpp"

// Client: generation and the two roles as objects
#include "petalsln/generator.hpp"
#include "petalsln/local_model.hpp"
#include "petalsln/swarm_chat.hpp"
#include "petalsln/contributor_server.hpp"

namespace petalsln {

/// The library version, "MAJOR.MINOR.PATCH" (the same as the C ABI's pln_version()).
inline constexpr const char* kVersion = "0.1.0";

}  // namespace petalsln
