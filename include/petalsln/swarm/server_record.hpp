#pragma once
/// @file server_record.hpp
/// A contributor server's signed announcement: who it is, where to reach it, which blocks of
/// which model it serves, how fast, and at what price. Its wire form is the protobuf
/// petalsln.v1.SignedServerRecord (proto/petalsln/v1/swarm.proto).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "petalsln/swarm/model_fingerprint.hpp"
#include "petalsln/swarm/node_identity.hpp"

namespace petalsln {

/// Largest signed record (in bytes) accepted by default. Honest records are a few hundred bytes.
inline constexpr std::size_t kMaxSignedRecordBytes = 4096;

/// Largest clock difference tolerated between a record's issuer and its reader: a record
/// issued more than this far in the future is refused.
inline constexpr std::uint64_t kMaxClockSkewSeconds = 300;

/// Longest lifetime (expires_at - issued_at) a record may claim: servers re-announce well
/// before this, and a stolen record cannot be replayed for longer.
inline constexpr std::uint64_t kMaxRecordLifetimeSeconds = 3600;

// Field limits enforced on every record, in bytes; strings must also be valid UTF-8 without
// control characters.
inline constexpr std::size_t kMaxEndpointBytes = 255;          ///< endpoint: 1 to 255 bytes.
inline constexpr std::size_t kMaxModelNameBytes = 128;         ///< model: 1 to 128 bytes.
inline constexpr std::size_t kMaxLightningAddressBytes = 128;  ///< lightning_address: at most 128 bytes.
inline constexpr std::size_t kMaxPublicNameBytes = 64;         ///< public_name: at most 64 bytes.
inline constexpr std::size_t kMaxVersionBytes = 64;            ///< version: at most 64 bytes.
/// No model has this many blocks; a larger block_end is refused as absurd.
inline constexpr std::uint32_t kMaxBlockIndex = 100000;
/// No block holds a terabyte of weights; a larger weight_bytes_per_block is refused as absurd.
inline constexpr std::uint64_t kMaxWeightBytesPerBlock = std::uint64_t{1} << 40;
/// Largest batch_sessions a record may claim (no server batches more sessions in one step).
inline constexpr std::uint32_t kMaxBatchSessions = 4096;

/// Returns true if @p name is a weight format a record may announce: "f32", "bf16", "f16" or
/// "int8" (the names of the model layer's WeightFormat, which this layer does not see), or ""
/// (a record from a server that predates the field; it computed in f32).
bool is_record_weight_format(std::string_view name) noexcept;

/// Why a signed record was refused (see ServerRecord::check_signed).
enum class RecordProblem {
  none,              ///< The record is valid now.
  oversized,         ///< The signed bytes exceed the size limit.
  malformed,         ///< Not parseable, or a field is out of its domain.
  bad_signature,     ///< The signature does not verify under the record's own peer id.
  expired,           ///< Valid signature, but now >= expires_at (tombstones always are).
  issued_in_future,  ///< Valid signature, but issued more than kMaxClockSkewSeconds ahead.
};

/// Returns a stable lower-case name for @p problem (e.g. "bad_signature").
const char* to_string(RecordProblem problem) noexcept;

struct RecordCheck;

/// A contributor server's announcement (mirrors petalsln.v1.ServerRecord field for field).
/// A record is signed by the server's NodeIdentity; its signature covers the tagged hash
///   SHA-256(SHA-256(tag) || SHA-256(tag) || record_bytes), tag = "petalsln/v1/record",
/// of the exact serialized ServerRecord bytes carried inside the SignedServerRecord.
struct ServerRecord {
  PeerId peer_id{};                    ///< The signer's x-only public key.
  std::string endpoint;                ///< "host:port" of the server's gRPC service.
  std::string model;                   ///< Model name; the DHT key is derived from it.
  ModelFingerprint model_fingerprint{};  ///< See compute_model_fingerprint().
  std::uint32_t block_begin = 0;       ///< First block served.
  std::uint32_t block_end = 0;         ///< One past the last block served.
  /// Block-tokens per second of one session's decode steps, measured with the weight format
  /// the server uses: what a client's latency over this server is planned with.
  double throughput = 0.0;
  std::uint64_t free_cache_tokens = 0;  ///< KV-cache tokens it can still hold, per block.
  std::uint64_t price_msat = 0;        ///< Millisatoshis per 1000 block-tokens (0 = free).
  std::string lightning_address;       ///< LUD-16 payout address ("" = none).
  std::string public_name;             ///< Human-readable name ("" = none).
  std::string version;                 ///< petalsln version of the server.
  std::uint64_t issued_at = 0;         ///< Unix seconds when signed.
  std::uint64_t expires_at = 0;        ///< Unix seconds from which readers ignore it.
  /// How the server keeps its weights in memory: "f32", "bf16", "f16" or "int8" (what the
  /// answers' precision depends on). Readers get "f32" for a record without the field.
  std::string weights = "f32";
  /// Bytes of weights the server holds per served block (0 = not announced).
  std::uint64_t weight_bytes_per_block = 0;
  /// Aggregate block-tokens per second of batch_sessions sessions' decode steps run as one
  /// batch (what the server can sell when busy; 0 = not measured).
  double batch_throughput = 0.0;
  /// Sessions in the batch batch_throughput was measured with (0 exactly when it was not).
  std::uint32_t batch_sessions = 0;

  /// Returns true if this record withdraws its peer: a tombstone has expires_at == issued_at,
  /// and as the newest record of its peer it removes that peer from lookups at once.
  bool is_tombstone() const noexcept { return expires_at == issued_at; }

  /// Returns the problem with this record's fields (lengths, UTF-8, block range, peer id and
  /// fingerprint sizes are fixed by the type), or an empty string if there is none.
  /// Time is not checked here.
  std::string field_problem() const;

  /// Serializes and signs this record with @p identity; returns the serialized
  /// petalsln.v1.SignedServerRecord bytes. Throws Error(invalid_argument) if peer_id is not
  /// @p identity's peer id or a field is out of its domain (see field_problem()), Error(io)
  /// without randomness.
  std::string sign(const NodeIdentity& identity) const;

  /// Parses and checks signed record bytes in this order: size (> @p max_bytes: oversized),
  /// protobuf parse and field domains (malformed), signature under the carried peer id
  /// (bad_signature), then time against @p now in unix seconds (expired, issued_in_future).
  /// Never throws for bad input (only std::bad_alloc). The result carries the record whenever
  /// the signature verified, even if it is expired or from the future, so callers can honour
  /// tombstones.
  static RecordCheck check_signed(std::string_view bytes, std::uint64_t now,
                                  std::size_t max_bytes = kMaxSignedRecordBytes);

  /// Returns the record in @p bytes if check_signed() finds no problem. Throws
  /// Error(invalid_format) for oversized, malformed or badly signed bytes and
  /// Error(out_of_range) for a record that is expired or issued in the future; the message
  /// starts with "server record rejected (<problem>): ".
  static ServerRecord verify_signed(std::string_view bytes, std::uint64_t now,
                                    std::size_t max_bytes = kMaxSignedRecordBytes);
};

/// The outcome of checking one signed record (ServerRecord::check_signed).
struct RecordCheck {
  /// What is wrong, or RecordProblem::none.
  RecordProblem problem = RecordProblem::none;
  /// Human-readable reason (empty when problem is none).
  std::string reason;
  /// The record, present whenever its signature verified (problem is none, expired or
  /// issued_in_future); absent for oversized, malformed or badly signed bytes.
  std::optional<ServerRecord> record;

  /// Returns true if the record is valid now.
  bool ok() const noexcept { return problem == RecordProblem::none; }
};

}  // namespace petalsln
