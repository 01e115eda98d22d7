#pragma once
/// @file contributor_server.hpp
/// The contributor role as one object: a DHT node, a BlockServer for a range of a model's
/// blocks, an optional L402 paywall, and the signed announcement that lets clients find it.
/// petalsln-server and the C ABI are both built on it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/weight_format.hpp"
#include "petalsln/swarm/server_record.hpp"

namespace petalsln {

/// What a ContributorServer serves, where, and at what price.
struct ContributorServerOptions {
  /// Run only a DHT node (a bootstrap node for others): no model, no gRPC service.
  bool dht_only = false;
  std::string model_dir;          ///< Hugging Face model folder (required unless dht_only).
  std::string model_name;         ///< Announced model name ("" = the folder's base name).
  /// Blocks [block_begin, block_end) to serve. With block_end == 0, num_blocks is used instead.
  int block_begin = 0;
  int block_end = 0;              ///< One past the last block served (0: choose, see num_blocks).
  /// With block_end == 0: serve the num_blocks blocks the swarm covers least (a DHT lookup).
  int num_blocks = 0;
  std::string host = "127.0.0.1"; ///< Address to listen on and announce.
  int port = 0;                   ///< gRPC port (0 = any free port).
  std::uint16_t dht_port = 0;     ///< DHT UDP port (0 = any free port).
  /// DHT nodes ("host:port") to join; empty starts a new swarm that others join through this node.
  std::vector<std::string> initial_peers;
  /// secp256k1 key file, created with mode 0600 when absent ("" = an ephemeral key).
  std::string identity_file;
  std::string public_name;        ///< Name shown to clients.
  std::string lightning_address;  ///< Announced payout address (LUD-16).
  /// How the blocks' weights are kept in memory (announced in the record; the throughput is
  /// measured with it).
  WeightFormat weights = WeightFormat::f32;
  /// Block-tokens/s to announce (0 = measure at start, with the batched figure beside it).
  double throughput = 0;
  int max_sessions = 16;          ///< Concurrent inference sessions.
  int max_sessions_per_peer = 0;  ///< Sessions from one address (0 = see BlockServerOptions).
  int max_streams_per_peer = 0;   ///< Calls in progress from one address (0 = see BlockServerOptions).
  std::uint32_t max_unpaid_per_peer = 4;  ///< Unpaid challenges one address may hold (priced servers).
  /// A stream must send `open` this soon after it starts.
  std::chrono::milliseconds open_timeout{10000};
  /// An open session idle this long is closed.
  std::chrono::milliseconds idle_timeout{300000};
  std::int64_t cache_mb = 512;    ///< KV-cache budget over all sessions, MiB.
  int max_batch = 8;              ///< Largest batch in one request.
  int max_batch_sessions = 16;    ///< Sessions whose steps run as one batch (1 = no batching).
  int max_length = 0;             ///< Longest session in tokens (0 = the model's context).
  /// Price per 1000 block-tokens in millisatoshis (0 = a free server, no paywall).
  std::uint64_t price_msat = 0;
  /// Wallet that issues the paywall's invoices (required when priced).
  std::shared_ptr<Wallet> wallet;
  /// The paywall's credit ledger and macaroon root key, created 0600 ("" = identity_file +
  /// ".paywall.db"; a priced server needs one of the two).
  std::string paywall_store;
  std::uint64_t credit_block_tokens = 20000;  ///< Block-tokens sold per invoice.
  /// Called after each served inference step (see BlockServerOptions::on_step); must not throw.
  std::function<void(int blocks, std::int64_t tokens)> on_step;
};

/// A running contributor: serving and announced from construction until stop(). Thread-safe.
class ContributorServer {
 public:
  /// Starts the DHT node (waiting up to 10 s to reach an initial peer), loads the blocks, binds
  /// the port, opens the paywall and announces the signed record. Throws Error(invalid_argument)
  /// for contradictory options (no blocks, a range outside the model, a price without a wallet
  /// or store, a wallet or store without a price), Error(io) when no initial peer answers or a
  /// port cannot be bound, and whatever loading the model or opening the store throws.
  explicit ContributorServer(ContributorServerOptions options);
  /// Calls stop().
  ~ContributorServer();
  ContributorServer(const ContributorServer&) = delete;             ///< Owns sessions, sockets and threads.
  ContributorServer& operator=(const ContributorServer&) = delete;  ///< Owns sessions, sockets and threads.

  /// "host:port" of the gRPC service as announced ("" for a DHT-only node).
  std::string endpoint() const;
  /// The server's peer id, 64 hex digits ("" for a DHT-only node).
  std::string peer_id_hex() const;
  /// "host:port" of the DHT node, for others' initial peers.
  std::string dht_address() const;
  /// First block served (0 for a DHT-only node).
  int block_begin() const noexcept;
  /// One past the last block served (0 for a DHT-only node).
  int block_end() const noexcept;
  /// The record this server announces, as it would be signed now (weights, memory per block
  /// and measured throughputs included); an empty record (no blocks) for a DHT-only node.
  ServerRecord record() const;

  /// Withdraws the announcement (a failure is reported through the returned message, the record
  /// then simply expires), stops serving and leaves the DHT. Idempotent. Returns "" or the
  /// reason the withdrawal failed.
  std::string stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
