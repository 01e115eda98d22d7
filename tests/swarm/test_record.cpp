// ServerRecord: signing, verification, and every way a record is refused.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "petalsln/swarm/server_record.hpp"
#include "petalsln/util/error.hpp"
#include "swarm_test_support.hpp"
#include "test_support.hpp"

using namespace petalsln;
using petalsln::test::kNow;
using petalsln::test::sample_record;

namespace {

RecordProblem problem_of(const std::string& bytes, std::uint64_t now = kNow,
                         std::size_t max_bytes = kMaxSignedRecordBytes) {
  return ServerRecord::check_signed(bytes, now, max_bytes).problem;
}

void check_same(const ServerRecord& a, const ServerRecord& b) {
  CHECK(a.peer_id == b.peer_id);
  CHECK(a.endpoint == b.endpoint);
  CHECK(a.model == b.model);
  CHECK(a.model_fingerprint == b.model_fingerprint);
  CHECK(a.block_begin == b.block_begin);
  CHECK(a.block_end == b.block_end);
  CHECK(a.throughput == b.throughput);
  CHECK(a.free_cache_tokens == b.free_cache_tokens);
  CHECK(a.price_msat == b.price_msat);
  CHECK(a.lightning_address == b.lightning_address);
  CHECK(a.public_name == b.public_name);
  CHECK(a.version == b.version);
  CHECK(a.issued_at == b.issued_at);
  CHECK(a.expires_at == b.expires_at);
  CHECK(a.weights == b.weights);
  CHECK(a.weight_bytes_per_block == b.weight_bytes_per_block);
  CHECK(a.batch_throughput == b.batch_throughput);
  CHECK(a.batch_sessions == b.batch_sessions);
}

// The 8 little-endian bytes protobuf writes for a double field's value.
std::string double_bytes(double value) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &value, 8);
  return out;
}

}  // namespace

TEST_CASE("a signed record round-trips through verify_signed") {
  const NodeIdentity id = NodeIdentity::generate();
  const ServerRecord r = sample_record(id);
  const std::string bytes = r.sign(id);
  CHECK(bytes.size() < 400);
  check_same(ServerRecord::verify_signed(bytes, kNow), r);
  check_same(ServerRecord::verify_signed(bytes, kNow + 299), r);
  const RecordCheck c = ServerRecord::check_signed(bytes, kNow);
  CHECK(c.ok());
  CHECK(c.reason.empty());
  REQUIRE(c.record.has_value());
}

TEST_CASE("every single flipped byte of a signed record is refused") {
  const NodeIdentity id = NodeIdentity::generate();
  const std::string bytes = sample_record(id).sign(id);
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string tampered = bytes;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    const RecordCheck c = ServerRecord::check_signed(tampered, kNow);
    CAPTURE(i);
    CHECK_FALSE(c.ok());
    // A flip inside the record body or signature that still parses is caught by the signature.
    const bool allowed = c.problem == RecordProblem::bad_signature || c.problem == RecordProblem::malformed;
    CHECK(allowed);
  }
}

TEST_CASE("a tampered field value is a bad signature") {
  const NodeIdentity id = NodeIdentity::generate();
  const std::string bytes = sample_record(id).sign(id);
  const std::string tampered = test::replace_bytes(bytes, "127.0.0.1:31337", "127.0.0.1:31338");
  REQUIRE(tampered != bytes);
  CHECK(problem_of(tampered) == RecordProblem::bad_signature);
  try {
    ServerRecord::verify_signed(tampered, kNow);
    FAIL("tampered record accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_format);
    CHECK(std::string(e.what()).find("bad_signature") != std::string::npos);
  }
}

TEST_CASE("a record claiming another peer id than its signer's is a bad signature") {
  const NodeIdentity signer = NodeIdentity::generate();
  const NodeIdentity victim = NodeIdentity::generate();
  const std::string bytes = sample_record(signer).sign(signer);
  const std::string forged = test::replace_bytes(bytes, test::as_string(signer.peer_id()), test::as_string(victim.peer_id()));
  REQUIRE(forged != bytes);
  CHECK(problem_of(forged) == RecordProblem::bad_signature);
}

TEST_CASE("sign() refuses a record whose peer id is not the signer's") {
  const NodeIdentity a = NodeIdentity::generate();
  const NodeIdentity b = NodeIdentity::generate();
  CHECK_THROWS_AS(sample_record(a).sign(b), Error);
}

TEST_CASE("expired and future records are refused, tombstones are expired with their record") {
  const NodeIdentity id = NodeIdentity::generate();
  const std::string bytes = sample_record(id).sign(id);
  CHECK(problem_of(bytes, kNow + 300) == RecordProblem::expired);
  CHECK(problem_of(bytes, kNow + 10000) == RecordProblem::expired);
  CHECK(problem_of(bytes, kNow - kMaxClockSkewSeconds) == RecordProblem::none);
  CHECK(problem_of(bytes, kNow - kMaxClockSkewSeconds - 1) == RecordProblem::issued_in_future);
  try {
    ServerRecord::verify_signed(bytes, kNow + 300);
    FAIL("expired record accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::out_of_range);
    CHECK(std::string(e.what()).find("expired") != std::string::npos);
  }
  const RecordCheck c = ServerRecord::check_signed(bytes, kNow + 301);
  REQUIRE(c.record.has_value());  // authentic, so callers can still see who it is

  ServerRecord tomb = sample_record(id);
  tomb.expires_at = tomb.issued_at;
  CHECK(tomb.is_tombstone());
  const RecordCheck t = ServerRecord::check_signed(tomb.sign(id), kNow);
  CHECK(t.problem == RecordProblem::expired);
  REQUIRE(t.record.has_value());
  CHECK(t.record->is_tombstone());
  // A tombstone is never a valid record, even when its time is still ahead of the reader's.
  CHECK(ServerRecord::check_signed(tomb.sign(id), kNow - 10).problem == RecordProblem::expired);
}

TEST_CASE("oversized and malformed bytes are refused without a record") {
  const NodeIdentity id = NodeIdentity::generate();
  const std::string bytes = sample_record(id).sign(id);
  CHECK(problem_of(bytes, kNow, bytes.size()) == RecordProblem::none);
  CHECK(problem_of(bytes, kNow, bytes.size() - 1) == RecordProblem::oversized);
  CHECK(problem_of(std::string(5000, 'x')) == RecordProblem::oversized);
  CHECK(problem_of("") == RecordProblem::malformed);                 // empty: no peer id
  CHECK(problem_of("\xff\xff\xff\xff") == RecordProblem::malformed);  // not protobuf
  CHECK(problem_of(bytes.substr(0, bytes.size() / 2)) == RecordProblem::malformed);
  CHECK(problem_of(bytes.substr(0, bytes.size() - 1)) == RecordProblem::malformed);  // 63-byte signature
  const RecordCheck c = ServerRecord::check_signed("garbage", kNow);
  CHECK_FALSE(c.record.has_value());
  CHECK_FALSE(c.reason.empty());
  CHECK_THROWS_AS(ServerRecord::verify_signed("garbage", kNow), Error);
}

TEST_CASE("field limits: sign() refuses what readers would refuse") {
  const NodeIdentity id = NodeIdentity::generate();
  struct Case {
    const char* name;
    void (*mutate)(ServerRecord&);
  };
  const Case cases[] = {
      {"empty endpoint", [](ServerRecord& r) { r.endpoint.clear(); }},
      {"long endpoint", [](ServerRecord& r) { r.endpoint = std::string(256, 'a'); }},
      {"empty model", [](ServerRecord& r) { r.model.clear(); }},
      {"long model", [](ServerRecord& r) { r.model = std::string(129, 'm'); }},
      {"long public name", [](ServerRecord& r) { r.public_name = std::string(65, 'n'); }},
      {"long lightning address", [](ServerRecord& r) { r.lightning_address = std::string(129, 'l'); }},
      {"long version", [](ServerRecord& r) { r.version = std::string(65, 'v'); }},
      {"non-UTF-8 name", [](ServerRecord& r) { r.public_name = "bad \xc3\x28"; }},
      {"overlong UTF-8", [](ServerRecord& r) { r.public_name = "\xc0\xaf"; }},
      {"control character", [](ServerRecord& r) { r.endpoint = "host\n:1"; }},
      {"empty range", [](ServerRecord& r) { r.block_begin = r.block_end = 3; }},
      {"reversed range", [](ServerRecord& r) { r.block_begin = 5; r.block_end = 2; }},
      {"absurd block", [](ServerRecord& r) { r.block_end = kMaxBlockIndex + 1; }},
      {"negative throughput", [](ServerRecord& r) { r.throughput = -1.0; }},
      {"NaN throughput", [](ServerRecord& r) { r.throughput = std::nan(""); }},
      {"infinite throughput", [](ServerRecord& r) { r.throughput = std::numeric_limits<double>::infinity(); }},
      {"expires before issued", [](ServerRecord& r) { r.expires_at = r.issued_at - 1; }},
      {"lifetime too long", [](ServerRecord& r) { r.expires_at = r.issued_at + kMaxRecordLifetimeSeconds + 1; }},
      {"unknown weights", [](ServerRecord& r) { r.weights = "q4_0"; }},
      {"weights in capitals", [](ServerRecord& r) { r.weights = "INT8"; }},
      {"weights with a NUL", [](ServerRecord& r) { r.weights = std::string("f32\0", 4); }},
      {"absurd weight bytes", [](ServerRecord& r) { r.weight_bytes_per_block = kMaxWeightBytesPerBlock + 1; }},
      {"NaN batch throughput", [](ServerRecord& r) { r.batch_throughput = std::nan(""); r.batch_sessions = 8; }},
      {"negative batch throughput", [](ServerRecord& r) { r.batch_throughput = -5; r.batch_sessions = 8; }},
      {"batch throughput without sessions", [](ServerRecord& r) { r.batch_throughput = 100; r.batch_sessions = 0; }},
      {"batch sessions without throughput", [](ServerRecord& r) { r.batch_throughput = 0; r.batch_sessions = 8; }},
      {"too many batch sessions", [](ServerRecord& r) { r.batch_throughput = 100; r.batch_sessions = kMaxBatchSessions + 1; }},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    ServerRecord r = sample_record(id);
    c.mutate(r);
    CHECK_FALSE(r.field_problem().empty());
    CHECK_THROWS_AS(r.sign(id), Error);
  }
  ServerRecord at_limits = sample_record(id);
  at_limits.endpoint = std::string(kMaxEndpointBytes, 'e');
  at_limits.public_name = std::string(kMaxPublicNameBytes, 'n');
  at_limits.lightning_address.clear();
  at_limits.block_begin = kMaxBlockIndex - 1;
  at_limits.block_end = kMaxBlockIndex;
  at_limits.throughput = 0.0;
  CHECK(at_limits.field_problem().empty());
  CHECK(ServerRecord::check_signed(at_limits.sign(id), kNow).ok());
}

TEST_CASE("readers refuse out-of-domain fields even when properly signed") {
  // Field domains are checked before the signature: a record whose block range was patched to
  // a reversed one is reported as malformed, whoever signed it.
  const NodeIdentity id = NodeIdentity::generate();
  ServerRecord r = sample_record(id, 2, 3);
  const std::string bytes = r.sign(id);
  // block_begin = 2 is field 5 varint: 0x28 0x02; block_end = 3 is 0x30 0x03.
  const std::string reversed = test::replace_bytes(bytes, std::string("\x28\x02\x30\x03", 4), std::string("\x28\x03\x30\x02", 4));
  REQUIRE(reversed != bytes);
  CHECK(problem_of(reversed) == RecordProblem::malformed);  // field checks run before the signature
}

TEST_CASE("to_string names every problem") {
  CHECK(std::string(to_string(RecordProblem::none)) == "none");
  CHECK(std::string(to_string(RecordProblem::oversized)) == "oversized");
  CHECK(std::string(to_string(RecordProblem::malformed)) == "malformed");
  CHECK(std::string(to_string(RecordProblem::bad_signature)) == "bad_signature");
  CHECK(std::string(to_string(RecordProblem::expired)) == "expired");
  CHECK(std::string(to_string(RecordProblem::issued_in_future)) == "issued_in_future");
}

TEST_CASE("invalid UTF-8 on the wire is malformed, not a bad signature") {
  const NodeIdentity id = NodeIdentity::generate();
  const std::string bytes = sample_record(id).sign(id);
  const std::string patched = test::replace_bytes(bytes, "node \xc3\xa9", "node \xc3\x28");
  REQUIRE(patched != bytes);
  CHECK(problem_of(patched) == RecordProblem::malformed);
}

TEST_CASE("weight format, weight bytes and batched throughput round-trip") {
  const NodeIdentity id = NodeIdentity::generate();
  for (const char* weights : {"f32", "bf16", "f16", "int8"}) {
    CAPTURE(weights);
    ServerRecord r = sample_record(id);
    r.weights = weights;
    r.weight_bytes_per_block = 1234567;
    r.batch_throughput = 4321.25;
    r.batch_sessions = 8;
    check_same(ServerRecord::verify_signed(r.sign(id), kNow), r);
  }
  ServerRecord at_limits = sample_record(id);
  at_limits.weight_bytes_per_block = kMaxWeightBytesPerBlock;
  at_limits.batch_throughput = 1e12;
  at_limits.batch_sessions = kMaxBatchSessions;
  CHECK(ServerRecord::check_signed(at_limits.sign(id), kNow).ok());
}

TEST_CASE("a record without the weights field (an older server's) reads as f32, nothing measured") {
  const NodeIdentity id = NodeIdentity::generate();
  ServerRecord old = sample_record(id);
  old.weights.clear();  // proto3 writes no field for an empty value: the bytes an older server signs
  const std::string bytes = old.sign(id);
  CHECK(bytes.find("f32") == std::string::npos);
  const ServerRecord read = ServerRecord::verify_signed(bytes, kNow);
  CHECK(read.weights == "f32");
  CHECK(read.weight_bytes_per_block == 0);
  CHECK(read.batch_throughput == 0.0);
  CHECK(read.batch_sessions == 0);
}

TEST_CASE("hostile weights and batch fields on the wire are malformed, whoever signed them") {
  const NodeIdentity id = NodeIdentity::generate();
  ServerRecord r = sample_record(id);
  r.weights = "int8";
  r.batch_throughput = 4321.25;
  r.batch_sessions = 8;
  const std::string bytes = r.sign(id);
  for (const char* name : {"int9", "INT8", "i\x01t8", "in\xff" "8"}) {
    CAPTURE(name);
    const std::string patched = test::replace_bytes(bytes, "int8", name);
    REQUIRE(patched != bytes);
    const RecordCheck c = ServerRecord::check_signed(patched, kNow);
    CHECK(c.problem == RecordProblem::malformed);
    CHECK(c.reason.find("weights") != std::string::npos);
  }
  const std::string rate = double_bytes(4321.25);
  REQUIRE(bytes.find(rate) != std::string::npos);
  for (double hostile : {std::nan(""), -1.0, std::numeric_limits<double>::infinity(), 1e300}) {
    CAPTURE(hostile);
    const RecordCheck c = ServerRecord::check_signed(test::replace_bytes(bytes, rate, double_bytes(hostile)), kNow);
    CHECK(c.problem == RecordProblem::malformed);
    CHECK(c.reason.find("batch_throughput") != std::string::npos);
  }
  CHECK(is_record_weight_format(""));
  CHECK(is_record_weight_format("bf16"));
  CHECK_FALSE(is_record_weight_format("f64"));
}
