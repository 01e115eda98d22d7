#include "petalsln/swarm/server_record.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "petalsln/v1/swarm.pb.h"
#include "util/sha256.hpp"
#include "util/utf8.hpp"

namespace petalsln {
namespace {

constexpr const char* kRecordTag = "petalsln/v1/record";
constexpr double kMaxThroughput = 1e12;  // block-tokens/s; anything above is a lie or a bug

// Checks one text field; returns "" if it is acceptable.
std::string text_problem(const std::string& value, const char* name, std::size_t max_bytes, bool required) {
  if (required && value.empty()) return std::string(name) + " is empty";
  if (value.size() > max_bytes) {
    return std::string(name) + " is " + std::to_string(value.size()) + " bytes (limit " + std::to_string(max_bytes) + ")";
  }
  if (util::find_invalid_utf8(value) != std::string_view::npos) return std::string(name) + " is not valid UTF-8";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return std::string(name) + " contains a control character";
  }
  return {};
}

std::string text_fields_problem(const ServerRecord& r) {
  for (std::string p : {text_problem(r.endpoint, "endpoint", kMaxEndpointBytes, true),
                        text_problem(r.model, "model", kMaxModelNameBytes, true),
                        text_problem(r.lightning_address, "lightning_address", kMaxLightningAddressBytes, false),
                        text_problem(r.public_name, "public_name", kMaxPublicNameBytes, false),
                        text_problem(r.version, "version", kMaxVersionBytes, false)}) {
    if (!p.empty()) return p;
  }
  return {};
}

bool plausible_rate(double rate) { return std::isfinite(rate) && rate >= 0.0 && rate <= kMaxThroughput; }

// What the server says about its weights and its batched rate.
std::string measurement_problem(const ServerRecord& r) {
  if (!is_record_weight_format(r.weights)) {
    // Only known names pass, so the name is short printable ASCII when it is quoted back.
    return r.weights.size() <= 16 && text_problem(r.weights, "weights", 16, false).empty()
               ? "weights \"" + r.weights + "\" is not a known weight format"
               : std::string("weights is not a known weight format");
  }
  if (r.weight_bytes_per_block > kMaxWeightBytesPerBlock) {
    return "weight_bytes_per_block " + std::to_string(r.weight_bytes_per_block) + " is absurdly large";
  }
  if (!plausible_rate(r.batch_throughput)) {
    return "batch_throughput " + std::to_string(r.batch_throughput) + " is not a plausible rate";
  }
  const bool measured = r.batch_throughput > 0.0;
  if (measured != (r.batch_sessions > 0) || r.batch_sessions > kMaxBatchSessions) {
    return "batch_sessions " + std::to_string(r.batch_sessions) + " does not fit batch_throughput " + std::to_string(r.batch_throughput) +
           " (0 when not measured, else 1.." + std::to_string(kMaxBatchSessions) + ")";
  }
  return {};
}

std::string numeric_fields_problem(const ServerRecord& r) {
  if (r.block_begin >= r.block_end) {
    return "block range " + std::to_string(r.block_begin) + ":" + std::to_string(r.block_end) + " is empty or reversed";
  }
  if (r.block_end > kMaxBlockIndex) return "block_end " + std::to_string(r.block_end) + " is absurdly large";
  if (!plausible_rate(r.throughput)) {
    return "throughput " + std::to_string(r.throughput) + " is not a plausible rate";
  }
  if (std::string p = measurement_problem(r); !p.empty()) return p;
  if (r.expires_at < r.issued_at) return "expires_at is before issued_at";
  if (r.expires_at - r.issued_at > kMaxRecordLifetimeSeconds) {
    return "lifetime of " + std::to_string(r.expires_at - r.issued_at) + " s exceeds the limit of " +
           std::to_string(kMaxRecordLifetimeSeconds) + " s";
  }
  return {};
}

template <std::size_t N>
void copy_fixed(const std::string& from, std::array<std::uint8_t, N>& to) {
  for (std::size_t i = 0; i < N; ++i) to[i] = static_cast<std::uint8_t>(from[i]);
}

template <std::size_t N>
std::string fixed_bytes(const std::array<std::uint8_t, N>& a) {
  return std::string(reinterpret_cast<const char*>(a.data()), N);
}

v1::ServerRecord to_proto(const ServerRecord& r) {
  v1::ServerRecord p;
  p.set_peer_id(fixed_bytes(r.peer_id));
  p.set_endpoint(r.endpoint);
  p.set_model(r.model);
  p.set_model_fingerprint(fixed_bytes(r.model_fingerprint));
  p.set_block_begin(r.block_begin);
  p.set_block_end(r.block_end);
  p.set_throughput(r.throughput);
  p.set_free_cache_tokens(r.free_cache_tokens);
  p.set_price_msat(r.price_msat);
  p.set_lightning_address(r.lightning_address);
  p.set_public_name(r.public_name);
  p.set_version(r.version);
  p.set_issued_at(r.issued_at);
  p.set_expires_at(r.expires_at);
  p.set_weights(r.weights);
  p.set_weight_bytes_per_block(r.weight_bytes_per_block);
  p.set_batch_throughput(r.batch_throughput);
  p.set_batch_sessions(r.batch_sessions);
  return p;
}

// Returns "" and fills @p r, or returns what is wrong with the fixed-size fields.
std::string from_proto(const v1::ServerRecord& p, ServerRecord& r) {
  if (p.peer_id().size() != r.peer_id.size()) return "peer_id is " + std::to_string(p.peer_id().size()) + " bytes, not 32";
  if (p.model_fingerprint().size() != r.model_fingerprint.size()) {
    return "model_fingerprint is " + std::to_string(p.model_fingerprint().size()) + " bytes, not 32";
  }
  copy_fixed(p.peer_id(), r.peer_id);
  copy_fixed(p.model_fingerprint(), r.model_fingerprint);
  r.endpoint = p.endpoint();
  r.model = p.model();
  r.block_begin = p.block_begin();
  r.block_end = p.block_end();
  r.throughput = p.throughput();
  r.free_cache_tokens = p.free_cache_tokens();
  r.price_msat = p.price_msat();
  r.lightning_address = p.lightning_address();
  r.public_name = p.public_name();
  r.version = p.version();
  r.issued_at = p.issued_at();
  r.expires_at = p.expires_at();
  // Servers from before the field computed in f32, which is what its absence means.
  r.weights = p.weights().empty() ? std::string("f32") : p.weights();
  r.weight_bytes_per_block = p.weight_bytes_per_block();
  r.batch_throughput = p.batch_throughput();
  r.batch_sessions = p.batch_sessions();
  return {};
}

Digest32 record_digest(const std::string& record_bytes) { return util::tagged_hash(kRecordTag, record_bytes); }

RecordCheck rejected(RecordProblem problem, std::string reason) {
  RecordCheck c;
  c.problem = problem;
  c.reason = std::move(reason);
  return c;
}

// Size, parse, fields and signature; time is left to the caller.
RecordCheck check_authentic(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.size() > max_bytes || bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return rejected(RecordProblem::oversized,
                    std::to_string(bytes.size()) + " bytes exceed the limit of " + std::to_string(max_bytes));
  }
  v1::SignedServerRecord signed_pb;
  v1::ServerRecord record_pb;
  if (!signed_pb.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return rejected(RecordProblem::malformed, "not a SignedServerRecord");
  }
  if (!record_pb.ParseFromString(signed_pb.record())) return rejected(RecordProblem::malformed, "not a ServerRecord");
  ServerRecord record;
  std::string problem = from_proto(record_pb, record);
  if (problem.empty()) problem = record.field_problem();
  if (problem.empty() && signed_pb.signature().size() != SchnorrSignature().size()) {
    problem = "signature is " + std::to_string(signed_pb.signature().size()) + " bytes, not 64";
  }
  if (!problem.empty()) return rejected(RecordProblem::malformed, problem);
  SchnorrSignature sig{};
  copy_fixed(signed_pb.signature(), sig);
  if (!NodeIdentity::verify(record.peer_id, record_digest(signed_pb.record()), sig)) {
    return rejected(RecordProblem::bad_signature, "signature does not verify under the record's peer id");
  }
  RecordCheck ok;
  ok.record = std::move(record);
  return ok;
}

void check_time(RecordCheck& c, std::uint64_t now) {
  const ServerRecord& r = *c.record;
  if (r.is_tombstone()) {  // even one issued a little ahead of this clock
    c.problem = RecordProblem::expired;
    c.reason = "tombstone (the peer withdrew)";
  } else if (now >= r.expires_at) {
    c.problem = RecordProblem::expired;
    c.reason = "expired " + std::to_string(now - r.expires_at) + " s ago";
  } else if (r.issued_at > now && r.issued_at - now > kMaxClockSkewSeconds) {
    c.problem = RecordProblem::issued_in_future;
    c.reason = "issued " + std::to_string(r.issued_at - now) + " s in the future (tolerance " +
               std::to_string(kMaxClockSkewSeconds) + " s)";
  }
}

}  // namespace

bool is_record_weight_format(std::string_view name) noexcept {
  return name.empty() || name == "f32" || name == "bf16" || name == "f16" || name == "int8";
}

const char* to_string(RecordProblem problem) noexcept {
  switch (problem) {
    case RecordProblem::none: return "none";
    case RecordProblem::oversized: return "oversized";
    case RecordProblem::malformed: return "malformed";
    case RecordProblem::bad_signature: return "bad_signature";
    case RecordProblem::expired: return "expired";
    case RecordProblem::issued_in_future: return "issued_in_future";
  }
  return "unknown";
}

std::string ServerRecord::field_problem() const {
  std::string p = text_fields_problem(*this);
  return p.empty() ? numeric_fields_problem(*this) : p;
}

std::string ServerRecord::sign(const NodeIdentity& identity) const {
  if (peer_id != identity.peer_id()) {
    throw Error(ErrorCode::invalid_argument, "record peer_id " + util::to_hex(peer_id.data(), peer_id.size()) + " is not the signer's peer id " +
                                                 identity.peer_id_hex());
  }
  if (std::string p = field_problem(); !p.empty()) throw Error(ErrorCode::invalid_argument, "cannot sign record: " + p);
  v1::SignedServerRecord signed_pb;
  if (!to_proto(*this).SerializeToString(signed_pb.mutable_record())) {
    throw Error(ErrorCode::internal, "cannot serialize ServerRecord");
  }
  const SchnorrSignature sig = identity.sign(record_digest(signed_pb.record()));
  signed_pb.set_signature(fixed_bytes(sig));
  std::string out;
  if (!signed_pb.SerializeToString(&out)) throw Error(ErrorCode::internal, "cannot serialize SignedServerRecord");
  return out;
}

RecordCheck ServerRecord::check_signed(std::string_view bytes, std::uint64_t now, std::size_t max_bytes) {
  RecordCheck c = check_authentic(bytes, max_bytes);
  if (c.record) check_time(c, now);
  return c;
}

ServerRecord ServerRecord::verify_signed(std::string_view bytes, std::uint64_t now, std::size_t max_bytes) {
  RecordCheck c = check_signed(bytes, now, max_bytes);
  if (c.ok()) return std::move(*c.record);
  const bool timing = c.problem == RecordProblem::expired || c.problem == RecordProblem::issued_in_future;
  throw Error(timing ? ErrorCode::out_of_range : ErrorCode::invalid_format,
              std::string("server record rejected (") + to_string(c.problem) + "): " + c.reason);
}

}  // namespace petalsln
