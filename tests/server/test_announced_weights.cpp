// What a server announces about its weights and speed: the format it was started with, the
// memory its blocks take, and throughputs measured on its own blocks (single-session and
// batched), all in a record that readers accept.

#include "torch_doctest.hpp"

#include <algorithm>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/model/weight_format.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/swarm/server_record.hpp"
#include "petalsln/util/error.hpp"
#include "server/batch_throughput.hpp"
#include "test_support.hpp"
#include "util/clock.hpp"

using namespace petalsln;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64

BlockServerOptions measured_options(WeightFormat weights) {
  BlockServerOptions o;
  o.model_dir = kModel;
  o.block_begin = 2;
  o.block_end = 5;
  o.throughput = 0;  // measure, as a real server does
  o.max_sessions = 4;
  o.cache_mb = 16;
  o.max_length = 64;
  o.compute.weights = weights;
  return o;
}

// The bytes per block a stack of blocks [2, 5) holds in @p weights, loaded apart from any server.
std::uint64_t stack_bytes_per_block(WeightFormat weights) {
  ComputeOptions compute;
  compute.weights = weights;
  const BlockStack stack(ModelConfig::load(kModel), Checkpoint::open(kModel), 2, 5, compute);
  return static_cast<std::uint64_t>(stack.weight_bytes() / 3);
}

}  // namespace

TEST_CASE("every weight format of the model layer is a name server records accept") {
  for (const auto format : {WeightFormat::f32, WeightFormat::bf16, WeightFormat::f16, WeightFormat::int8}) {
    CAPTURE(std::string(to_string(format)));
    CHECK(is_record_weight_format(to_string(format)));
  }
}

TEST_CASE("block server: the record announces the weight format it serves with, its memory per block and measured rates") {
  std::uint64_t f32_bytes = 0;
  for (const auto format : {WeightFormat::f32, WeightFormat::int8}) {
    CAPTURE(std::string(to_string(format)));
    BlockServer server(measured_options(format), NodeIdentity::generate());
    const ServerRecord r = server.record();
    CHECK(r.weights == to_string(format));
    CHECK(r.weight_bytes_per_block == stack_bytes_per_block(format));
    CHECK(r.weight_bytes_per_block > 0);
    CHECK(r.throughput > 0);
    CHECK(r.batch_sessions == 4);  // kBatchThroughputSessions, capped by max_sessions
    CHECK(r.batch_throughput > 0);
    const ServerRecord read = ServerRecord::verify_signed(r.sign(server.identity()), util::unix_seconds());
    CHECK(read.weights == r.weights);
    CHECK(read.weight_bytes_per_block == r.weight_bytes_per_block);
    CHECK(read.batch_throughput == r.batch_throughput);
    if (format == WeightFormat::f32) f32_bytes = r.weight_bytes_per_block;
    // int8 keeps a byte and a 32nd of a float32 scale per weight: well under half of f32.
    if (format == WeightFormat::int8) CHECK(r.weight_bytes_per_block * 2 < f32_bytes);
  }
}

TEST_CASE("block server: a given throughput is announced as given, with no batch figure beside it") {
  auto o = measured_options(WeightFormat::f32);
  o.throughput = 1234.5;
  BlockServer server(o, NodeIdentity::generate());
  const ServerRecord r = server.record();
  CHECK(r.throughput == 1234.5);
  CHECK(r.batch_sessions == 0);
  CHECK(r.batch_throughput == 0.0);
  CHECK(r.field_problem().empty());
}

TEST_CASE("measure_batch_throughput counts every session's block-tokens and refuses an empty batch") {
  const BlockStack stack(ModelConfig::load(kModel), Checkpoint::open(kModel), 0, 6);
  CHECK(rpc::measure_batch_throughput(stack, 1) > 0);
  CHECK(rpc::measure_batch_throughput(stack, rpc::kBatchThroughputSessions) > 0);
  CHECK_THROWS_AS(rpc::measure_batch_throughput(stack, 0), Error);
}
