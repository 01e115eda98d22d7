// Sessions batched into one step, through the real server: concurrent Inference streams over
// gRPC on loopback, whose steps the server runs together, must each get exactly what the same
// steps give alone; a long prefill must not hold up another session's decoding; a session
// that overflows fails alone. (test_step_batcher.cpp checks the batcher's rules directly.)

#include "torch_doctest.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/tensor_codec.hpp"
#include "test_support.hpp"

using namespace petalsln;
using Stream = grpc::ClientReaderWriter<v1::InferenceRequest, v1::InferenceResponse>;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64

// Every batch the server ran: its step count and block-rows.
struct BatchLog {
  std::mutex mu;
  std::vector<std::pair<int, std::int64_t>> batches;
  std::function<void(int, std::int64_t)> hook(std::chrono::microseconds pause = {}) {
    return [this, pause](int steps, std::int64_t rows) {
      {
        std::lock_guard<std::mutex> lock(mu);
        batches.emplace_back(steps, rows);
      }
      // Stands in for a larger model's compute time, so that steps sent at once meet in the queue.
      if (pause.count() > 0) std::this_thread::sleep_for(pause);
    };
  }
  int largest() {
    std::lock_guard<std::mutex> lock(mu);
    int most = 0;
    for (const auto& b : batches) most = std::max(most, b.first);
    return most;
  }
};

BlockServerOptions options(BatchLog& log, std::chrono::microseconds pause = {}) {
  BlockServerOptions o;
  o.model_dir = kModel;
  o.block_begin = 0;
  o.block_end = 6;
  o.throughput = 1000;  // skip measuring
  o.max_sessions = 8;
  o.max_sessions_per_peer = 8;  // every test client comes from 127.0.0.1
  o.cache_mb = 64;
  o.max_length = 2048;
  o.on_batch = log.hook(pause);
  return o;
}

// One Inference stream, with the same session computed alone beside it for reference.
struct Session {
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
  KVCache alone;
  std::int64_t batch;
  bool finished = false;

  Session(v1::Blocks::Stub& stub, const BlockStack& local, std::uint32_t begin, std::uint32_t end, std::uint32_t max_length,
          std::int64_t batch_size = 1)
      : alone(local.new_cache(batch_size, max_length, static_cast<int>(begin), static_cast<int>(end))), batch(batch_size) {
    stream = stub.Inference(&ctx);
    v1::InferenceRequest req;
    req.mutable_open()->set_block_begin(begin);
    req.mutable_open()->set_block_end(end);
    req.mutable_open()->set_max_length(max_length);
    req.mutable_open()->set_batch(static_cast<std::uint32_t>(batch_size));
    v1::InferenceResponse resp;
    REQUIRE(stream->Write(req));
    REQUIRE(stream->Read(&resp));
    REQUIRE(resp.has_opened());
  }
  ~Session() {
    if (finished) return;
    ctx.TryCancel();
    stream->Finish();
  }

  // Sends one step; returns the server's output, or an undefined tensor if the stream ended.
  at::Tensor send(const at::Tensor& x, std::int64_t position) {
    v1::InferenceRequest req;
    rpc::encode_tensor(x, v1::DTYPE_F32, req.mutable_step()->mutable_hidden());
    req.mutable_step()->set_position(static_cast<std::uint64_t>(position));
    v1::InferenceResponse resp;
    if (!stream->Write(req) || !stream->Read(&resp) || !resp.has_hidden()) return {};
    return rpc::decode_tensor(resp.hidden(), {64, 8, 4096});
  }
  grpc::Status close() {
    stream->WritesDone();
    finished = true;
    return stream->Finish();
  }
};

std::unique_ptr<v1::Blocks::Stub> stub_for(const BlockServer& server) {
  return v1::Blocks::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(server.port()), grpc::InsecureChannelCredentials()));
}

}  // namespace

TEST_CASE("batched sessions: concurrent steps through the server equal the same steps run alone") {
  BatchLog log;
  BlockServer server(options(log, std::chrono::microseconds(2000)), NodeIdentity::generate());
  auto stub = stub_for(server);
  const BlockStack local(ModelConfig::load(kModel), Checkpoint::open(kModel), 0, 6);
  // Steps per round for each session (0: not in the session's life). "leaver" leaves after
  // round 4 and "joiner" joins at round 5; "part" covers blocks [2, 5) with a batch of 2.
  struct Script {
    std::uint32_t begin, end;
    std::int64_t batch;
    std::vector<std::int64_t> steps;
  };
  const std::map<std::string, Script> scripts = {
      {"leaver", {0, 6, 1, {7, 1, 1, 1, 1, 0, 0, 0, 0, 0}}},
      {"steady", {0, 6, 1, {3, 1, 1, 2, 1, 1, 1, 1, 1, 1}}},
      {"part", {2, 5, 2, {12, 1, 1, 1, 3, 1, 1, 1, 1, 1}}},
      {"long", {0, 6, 1, {40, 1, 1, 1, 1, 1, 1, 1, 1, 1}}},
      {"joiner", {0, 6, 1, {0, 0, 0, 0, 0, 5, 1, 1, 1, 1}}},
  };
  std::map<std::string, std::unique_ptr<Session>> open;
  std::map<std::string, std::int64_t> position;
  torch::manual_seed(21);
  for (std::size_t round = 0; round < 10; ++round) {
    std::map<std::string, at::Tensor> inputs;
    for (const auto& [name, script] : scripts) {
      const auto seq = script.steps[round];
      if (seq == 0) {
        if (open.count(name) != 0) CHECK(open.at(name)->close().ok());
        open.erase(name);
        continue;
      }
      if (open.count(name) == 0) open[name] = std::make_unique<Session>(*stub, local, script.begin, script.end, 64, script.batch);
      inputs[name] = torch::randn({script.batch, seq, 64});
    }
    // Every session sends its step at once, each from its own thread.
    std::map<std::string, std::future<at::Tensor>> replies;
    for (const auto& [name, x] : inputs) {
      replies[name] = std::async(std::launch::async, [session = open.at(name).get(), x = x, at = position[name]] { return session->send(x, at); });
    }
    for (auto& [name, reply] : replies) {
      CAPTURE(name);
      CAPTURE(round);
      const auto got = reply.get();
      REQUIRE(got.defined());
      CHECK(torch::equal(got, local.forward(inputs.at(name), open.at(name)->alone)));
      position[name] += inputs.at(name).size(1);
    }
  }
  for (auto& [name, s] : open) CHECK(s->close().ok());
  // The steps really were batched (sessions sent at once meet while a batch computes).
  MESSAGE("largest batch: " << log.largest() << " steps");
  CHECK(log.largest() >= 2);
}

TEST_CASE("batched sessions: a long prefill does not hold up another session's decode steps") {
  BatchLog log;
  BlockServer server(options(log, std::chrono::microseconds(1000)), NodeIdentity::generate());
  auto stub = stub_for(server);
  const BlockStack local(ModelConfig::load(kModel), Checkpoint::open(kModel), 0, 6);
  Session decoder(*stub, local, 0, 6, 64);
  torch::manual_seed(22);
  auto first = torch::randn({1, 4, 64});
  REQUIRE(torch::equal(decoder.send(first, 0), local.forward(first, decoder.alone)));

  // 8 × 1600 positions × 6 blocks: 77 chunks of 21 positions (1008 block-rows) each.
  Session prefiller(*stub, local, 0, 6, 1600, 8);
  const auto prompt = torch::randn({8, 1600, 64});
  std::atomic<bool> prefill_done{false};
  auto prefill = std::async(std::launch::async, [&] {
    auto out = prefiller.send(prompt, 0);
    prefill_done = true;
    return out;
  });
  // Decoding starts once the prefill's first chunk has run.
  const auto started = [&] {
    std::lock_guard<std::mutex> lock(log.mu);
    for (const auto& b : log.batches) {
      if (b.second >= 1008) return true;
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!started() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(started());
  int decoded_during_prefill = 0;
  for (std::int64_t i = 0; i < 3; ++i) {
    auto x = torch::randn({1, 1, 64});
    const auto got = decoder.send(x, 4 + i);
    REQUIRE(got.defined());
    CHECK(torch::equal(got, local.forward(x, decoder.alone)));
    if (!prefill_done) ++decoded_during_prefill;
  }
  const auto prefill_out = prefill.get();
  REQUIRE(prefill_out.defined());
  CHECK(prefill_out.sizes() == prompt.sizes());
  // Each decode step took one batch's turn beside a chunk of the prefill: all three were
  // answered while the prefill (77 chunks) still had chunks to run.
  CHECK(decoded_during_prefill == 3);
  bool rode_along = false;
  {
    std::lock_guard<std::mutex> lock(log.mu);
    for (const auto& b : log.batches) rode_along = rode_along || (b.first == 2 && b.second == 1008 + 6);
  }
  CHECK(rode_along);
  CHECK(decoder.close().ok());
  CHECK(prefiller.close().ok());
}

TEST_CASE("batched sessions: a step past its session's max_length fails that session only") {
  BatchLog log;
  BlockServer server(options(log, std::chrono::microseconds(2000)), NodeIdentity::generate());
  auto stub = stub_for(server);
  const BlockStack local(ModelConfig::load(kModel), Checkpoint::open(kModel), 0, 6);
  Session a(*stub, local, 0, 6, 32), b(*stub, local, 1, 6, 32), bad(*stub, local, 0, 6, 8);
  torch::manual_seed(23);
  std::int64_t pos = 0;
  for (std::int64_t round = 0; round < 4; ++round) {
    const std::int64_t seq = round == 0 ? 5 : 1;
    auto xa = torch::randn({1, seq, 64}), xb = torch::randn({1, seq, 64});
    auto ra = std::async(std::launch::async, [&] { return a.send(xa, pos); });
    auto rb = std::async(std::launch::async, [&] { return b.send(xb, pos); });
    if (round == 1) {  // the bad session asks for 9 positions in a session of 8, beside the others' steps
      auto rbad = std::async(std::launch::async, [&] { return bad.send(torch::randn({1, 9, 64}), 0); });
      CHECK_FALSE(rbad.get().defined());
      const auto status = bad.close();
      CHECK(status.error_code() == grpc::StatusCode::OUT_OF_RANGE);
      CHECK(status.error_message().find("max_length of 8") != std::string::npos);
    }
    const auto got_a = ra.get(), got_b = rb.get();
    REQUIRE(got_a.defined());
    REQUIRE(got_b.defined());
    CHECK(torch::equal(got_a, local.forward(xa, a.alone)));
    CHECK(torch::equal(got_b, local.forward(xb, b.alone)));
    pos += seq;
  }
  CHECK(a.close().ok());
  CHECK(b.close().ok());
}

TEST_CASE("batched sessions: max_batch_sessions is validated, and 1 runs every step alone") {
  BatchLog log;
  auto o = options(log, std::chrono::microseconds(2000));
  o.max_batch_sessions = 0;
  CHECK_THROWS_AS(BlockServer(o, NodeIdentity::generate()), Error);
  o.max_batch_sessions = 1;
  BlockServer server(o, NodeIdentity::generate());
  auto stub = stub_for(server);
  const BlockStack local(ModelConfig::load(kModel), Checkpoint::open(kModel), 0, 6);
  Session a(*stub, local, 0, 6, 16), b(*stub, local, 0, 6, 16);
  torch::manual_seed(24);
  for (std::int64_t i = 0; i < 4; ++i) {
    auto xa = torch::randn({1, 1, 64}), xb = torch::randn({1, 1, 64});
    auto ra = std::async(std::launch::async, [&] { return a.send(xa, i); });
    auto rb = std::async(std::launch::async, [&] { return b.send(xb, i); });
    CHECK(torch::equal(ra.get(), local.forward(xa, a.alone)));
    CHECK(torch::equal(rb.get(), local.forward(xb, b.alone)));
  }
  CHECK(log.largest() == 1);
  CHECK(a.close().ok());
  CHECK(b.close().ok());
}
