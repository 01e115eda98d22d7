#pragma once
/// @file petalsln.hpp
/// The whole C++ API in one include: `#include <petalsln/petalsln.hpp>`. Each header below is
/// one concept, under its layer's folder (docs/DESIGN.md, "Layers"); include just the ones you
/// use to compile faster (only model's headers, and the client and server headers that use
/// them, pull in libtorch).

// Util: errors, token ids, hex, files
#include "petalsln/util/duration.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/util/hex.hpp"
#include "petalsln/util/schnorr_signature.hpp"
#include "petalsln/util/token.hpp"

// Model: configs, checkpoints, blocks, the head (libtorch)
#include "petalsln/model/block_pipeline.hpp"
#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/block_throughput.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/model/weight_format.hpp"

// Text: tokenizer, chat templates, sampling
#include "petalsln/text/chat_template.hpp"
#include "petalsln/text/sampler.hpp"
#include "petalsln/text/tokenizer.hpp"

// Swarm: identity, announcements, discovery, routes
#include "petalsln/swarm/discovery.hpp"
#include "petalsln/swarm/model_fingerprint.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/route_planner.hpp"
#include "petalsln/swarm/server_record.hpp"

// Lightning: invoices, macaroons, L402, wallets, paywalls, payouts
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/lightning/macaroon.hpp"
#include "petalsln/lightning/payout_ledger.hpp"
#include "petalsln/lightning/payout_splitter.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/lightning/wallet.hpp"

// Wire: what a server says about itself
#include "petalsln/rpc/server_info.hpp"

// Server: the contributor role
#include "petalsln/server/block_server.hpp"
#include "petalsln/server/contributor_server.hpp"

// Client: remote sessions, generation, the local model, the swarm chat
#include "petalsln/client/conversation.hpp"
#include "petalsln/client/generator.hpp"
#include "petalsln/client/receipt.hpp"
#include "petalsln/client/local_model.hpp"
#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/client/server_tokens.hpp"
#include "petalsln/client/swarm_chat.hpp"

// Gateway: chat over HTTP and WebSocket, sold per message
#include "petalsln/gateway/gateway.hpp"
#include "petalsln/gateway/gateway_options.hpp"

namespace petalsln {

/// The library version, "MAJOR.MINOR.PATCH" (the same as the C ABI's pln_version()).
inline constexpr const char* kVersion = "0.1.0";

}  // namespace petalsln
