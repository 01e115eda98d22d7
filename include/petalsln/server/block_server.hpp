#pragma once
/// @file block_server.hpp
/// The contributor server: a range of a model's blocks behind the `petalsln.v1.Blocks` gRPC
/// service, with every request validated and every session's KV cache budgeted.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "petalsln/lightning/paywall.hpp"
#include "petalsln/model/block_stack.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/server_record.hpp"

namespace petalsln {

/// How a BlockServer runs. Limits bound what any one peer can make the server do. A "peer"
/// for the per-address limits is an IPv4 address or an IPv6 /64 prefix.
struct BlockServerOptions {
  std::string model_dir;            ///< Hugging Face model folder (required).
  std::string model_name;           ///< Announced model name ("" = the folder's base name).
  int block_begin = 0;              ///< First block to serve.
  int block_end = 0;                ///< One past the last block to serve.
  std::string listen_host = "127.0.0.1";  ///< Address to bind.
  int port = 0;                     ///< Port to bind (0 = any free port).
  std::string announce_host;        ///< Host to put in the announced endpoint ("" = listen_host).
  int max_sessions = 16;            ///< Concurrent opened Inference sessions, all peers together.
  int max_sessions_per_peer = 0;    ///< Opened sessions from one address (0 = max(1, 3/4 of max_sessions)).
  int max_streams_per_peer = 0;     ///< Calls in progress (streams and Forward calls) from one address (0 = max_sessions_per_peer + 8).
  int max_streams = 0;              ///< Calls in progress from all addresses (0 = 4 × max_sessions + 16).
  std::int64_t cache_mb = 512;      ///< KV-cache memory budget over all sessions, MiB.
  int max_batch = 8;                ///< Largest batch in one request.
  /// Most sessions whose waiting steps run as one batch through the blocks (1 = each step
  /// alone). Decoding is memory-bound, so a batch of sessions costs little more than one.
  int max_batch_sessions = 16;
  int max_length = 0;               ///< Longest session (0 = the model's max_position_embeddings).
  double throughput = 0;            ///< Block-tokens/s to announce (0 = measure at start).
  /// A stream that has not sent a valid `open` this long after it started is closed
  /// (DEADLINE_EXCEEDED), so a stream costs a stranger something to hold.
  std::chrono::milliseconds open_timeout{10000};
  /// An open session that sends nothing for this long is closed (DEADLINE_EXCEEDED).
  std::chrono::milliseconds idle_timeout{300000};
  std::string public_name;          ///< Announced name.
  std::string lightning_address;    ///< Announced payout address.
  std::chrono::seconds record_ttl{180};  ///< Lifetime of each signed record.
  ComputeOptions compute;           ///< Device and dtype of the blocks.
  /// The L402 paywall (null: a free server). Its price is announced in the record, and every
  /// Forward call and Inference session must then carry a token with enough credit.
  std::shared_ptr<Paywall> paywall;
  std::uint64_t price_msat = 0;     ///< Announced price per 1000 block-tokens (the paywall's).
  /// Called after each served Inference step with the blocks and tokens it processed (for
  /// metering and tests). Runs on the server's compute thread; must not throw.
  std::function<void(int blocks, std::int64_t tokens)> on_step;
  /// Called after each batch the compute thread runs, with its number of steps and their
  /// block-rows (blocks × batch × positions), before any of them is answered (for metrics and
  /// tests). Runs on the compute thread; must not throw.
  std::function<void(int steps, std::int64_t block_rows)> on_batch;
};

/// Serves blocks [block_begin, block_end) of one model over gRPC until stopped. The
/// service answers every malformed request with a precise status (INVALID_ARGUMENT for
/// unparseable or out-of-domain messages, FAILED_PRECONDITION, OUT_OF_RANGE,
/// RESOURCE_EXHAUSTED naming the limit reached, DEADLINE_EXCEEDED, UNAUTHENTICATED with an
/// L402 challenge, UNAVAILABLE when its wallet cannot issue an invoice) and keeps serving its
/// other sessions; errors sent to peers never carry internal details (those go to the log).
/// A call takes a session slot only after a valid `open` and, on a priced server, a valid
/// token; everything a call holds is released when it ends, however it ends. Computation is
/// done on one compute thread that takes turns between peers in short chunks, so a peer
/// sending huge requests delays others by one chunk at most; the steps of several sessions
/// that wait at once run as one batch (up to max_batch_sessions), each with its own cache and
/// output exactly as if it ran alone. Thread-safe.
class BlockServer {
 public:
  /// Loads the blocks and binds the port. Throws Error for an unreadable model, a range
  /// outside it, invalid limits, or a port that cannot be bound.
  BlockServer(BlockServerOptions options, NodeIdentity identity);
  ~BlockServer();
  BlockServer(const BlockServer&) = delete;
  BlockServer& operator=(const BlockServer&) = delete;

  /// The port actually bound.
  int port() const noexcept;
  /// "host:port" as announced.
  std::string endpoint() const;
  /// The identity's x-only public key, hex.
  std::string peer_id_hex() const;
  /// A fresh record describing this server now (issued now, expiring after record_ttl).
  ServerRecord record() const;
  /// The signing identity.
  const NodeIdentity& identity() const noexcept;
  /// Opened Inference sessions right now.
  int active_sessions() const noexcept;
  /// Calls in progress right now (streams, opened or not, and Forward calls).
  int active_calls() const noexcept;

  /// Stops accepting calls, cancels open streams, and waits for handlers to finish.
  /// Idempotent; the destructor calls it.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
