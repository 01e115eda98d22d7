// The contributor server against strangers who do not pay or do not talk: ranges past 2^31,
// streams that never open, one address holding many calls, a wallet that cannot issue
// invoices. Each was a way to crash the server or lock everyone out; each must now get a
// precise status, hold nothing, and leave the server serving others. Real gRPC on loopback.

#include "torch_doctest.hpp"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <thread>

#include "down_wallet.hpp"
#include "lightning/wallet/devnet/devnet_wallet.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/tensor_codec.hpp"
#include "test_support.hpp"

using namespace petalsln;
using namespace std::chrono_literals;
using Stream = grpc::ClientReaderWriter<v1::InferenceRequest, v1::InferenceResponse>;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64

BlockServerOptions options() {
  BlockServerOptions o;
  o.model_dir = kModel;
  o.block_begin = 0;
  o.block_end = 6;
  o.throughput = 1000;
  o.max_sessions = 4;
  o.cache_mb = 1;
  o.max_length = 256;
  return o;
}

std::unique_ptr<v1::Blocks::Stub> stub_for(const BlockServer& s) {
  return v1::Blocks::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(s.port()), grpc::InsecureChannelCredentials()));
}

struct Call {
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
  bool finished = false;
  explicit Call(v1::Blocks::Stub& stub, const std::string& authorization = "") {
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    stream = stub.Inference(&ctx);
  }
  // Sends `open` and returns the final status if the server refused it (OK if it opened).
  grpc::Status open(std::uint32_t begin, std::uint32_t end, std::uint32_t max_length = 16) {
    v1::InferenceRequest req;
    req.mutable_open()->set_block_begin(begin);
    req.mutable_open()->set_block_end(end);
    req.mutable_open()->set_max_length(max_length);
    v1::InferenceResponse resp;
    if (stream->Write(req) && stream->Read(&resp) && resp.has_opened()) return grpc::Status::OK;
    return finish();
  }
  grpc::Status finish() {
    finished = true;
    return stream->Finish();
  }
  ~Call() {
    if (finished) return;
    ctx.TryCancel();
    stream->Finish();
  }
};

void wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
}

// A session that opens and computes one step: proof that the server serves honest clients.
void honest_step(v1::Blocks::Stub& stub) {
  Call c(stub);
  REQUIRE(c.open(0, 6).ok());
  v1::InferenceRequest req;
  rpc::encode_tensor(torch::randn({1, 2, 64}), v1::DTYPE_F32, req.mutable_step()->mutable_hidden());
  v1::InferenceResponse resp;
  REQUIRE(c.stream->Write(req));
  REQUIRE(c.stream->Read(&resp));
  CHECK(resp.has_hidden());
}


}  // namespace

TEST_CASE("server limits: block ranges at and past 2^31 are refused before any narrowing") {
  BlockServer server(options(), NodeIdentity::generate());
  auto stub = stub_for(server);
  const auto free_before = server.record().free_cache_tokens;
  for (std::uint32_t end : {std::uint32_t{1} << 31, (std::uint32_t{1} << 31) + 6, std::uint32_t{0xffffffff}}) {
    Call c(*stub);
    const auto s = c.open(0, end);
    CAPTURE(s.error_message());
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find(std::to_string(end)) != std::string::npos);

    v1::ForwardRequest req;
    req.set_block_begin(0);
    req.set_block_end(end);
    rpc::encode_tensor(torch::zeros({1, 1, 64}), v1::DTYPE_F32, req.mutable_hidden());
    v1::ForwardResponse resp;
    grpc::ClientContext ctx;
    CHECK(stub->Forward(&ctx, req, &resp).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  CHECK(server.record().free_cache_tokens == free_before);
  CHECK(server.active_sessions() == 0);
  honest_step(*stub);
}

TEST_CASE("server limits: a stream that never opens is closed at the open deadline and holds no session") {
  auto o = options();
  o.open_timeout = 300ms;
  BlockServer server(o, NodeIdentity::generate());
  auto stub = stub_for(server);
  std::vector<std::unique_ptr<Call>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<Call>(*stub));
  wait_until([&] { return server.active_calls() == 3; });
  CHECK(server.active_calls() == 3);
  CHECK(server.active_sessions() == 0);
  honest_step(*stub);  // idle streams took no session slot
  for (auto& c : idle) {
    const auto s = c->finish();
    CHECK(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    CHECK(s.error_message().find("no `open` message within 300 ms") != std::string::npos);
  }
  wait_until([&] { return server.active_calls() == 0; });
  CHECK(server.active_calls() == 0);
}

TEST_CASE("server limits: an open session that goes quiet is closed at the idle deadline") {
  auto o = options();
  o.idle_timeout = 300ms;
  BlockServer server(o, NodeIdentity::generate());
  auto stub = stub_for(server);
  Call quiet(*stub);
  REQUIRE(quiet.open(0, 6).ok());
  CHECK(server.active_sessions() == 1);
  const auto s = quiet.finish();
  CHECK(s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
  CHECK(s.error_message().find("sent nothing for 300 ms") != std::string::npos);
  wait_until([&] { return server.active_sessions() == 0; });
  CHECK(server.active_sessions() == 0);
}

TEST_CASE("server limits: one address cannot hold more calls or sessions than its share") {
  auto o = options();
  o.max_streams_per_peer = 3;
  o.max_sessions_per_peer = 2;
  BlockServer server(o, NodeIdentity::generate());
  auto stub = stub_for(server);
  Call a(*stub), b(*stub);
  REQUIRE(a.open(0, 6).ok());
  REQUIRE(b.open(0, 6).ok());
  {
    Call c(*stub);
    const auto s = c.open(0, 6);
    CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(s.error_message().find("2 sessions per address") != std::string::npos);
  }
  wait_until([&] { return server.active_calls() == 2; });
  Call c(*stub);
  wait_until([&] { return server.active_calls() == 3; });
  Call d(*stub);
  const auto s = d.open(0, 6);
  CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(s.error_message().find("3 calls in progress per address") != std::string::npos);
}

TEST_CASE("server limits: a wallet that cannot issue invoices costs no slot, leaks nothing, crashes nothing") {
  test::TempDir dir;
  auto identity = NodeIdentity::generate();
  PaywallOptions po;
  po.price_msat = 1000;
  po.model = "tiny-llama3";
  po.peer_hex = identity.peer_id_hex();
  po.block_begin = 0;
  po.block_end = 6;
  po.store_path = dir.file("paywall.db");
  auto o = options();
  o.model_name = "tiny-llama3";
  o.paywall = std::make_shared<Paywall>(po, std::make_shared<test::DownWallet>());
  o.price_msat = 1000;
  o.idle_timeout = 200ms;
  o.open_timeout = 200ms;
  BlockServer server(o, std::move(identity));
  auto stub = stub_for(server);
  // More unpaid calls than the server has sessions: each one is answered, none holds a slot.
  for (int i = 0; i < 8; ++i) {
    for (const std::string auth : {"", "L402 garbage:00"}) {
      Call c(*stub, auth);
      const auto s = c.open(0, 6);
      CAPTURE(s.error_message());
      CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
      CHECK(s.error_message().find("cannot issue an invoice") != std::string::npos);
      CHECK(s.error_message().find(test::kDownWalletHost) == std::string::npos);
      CHECK(s.error_message().find("HTTP") == std::string::npos);
    }
    v1::ForwardRequest req;
    req.set_block_begin(0);
    req.set_block_end(6);
    rpc::encode_tensor(torch::zeros({1, 1, 64}), v1::DTYPE_F32, req.mutable_hidden());
    v1::ForwardResponse resp;
    grpc::ClientContext ctx;
    const auto s = stub->Forward(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(s.error_message().find(test::kDownWalletHost) == std::string::npos);
  }
  CHECK(server.active_sessions() == 0);
  wait_until([&] { return server.active_calls() == 0; });
  CHECK(server.active_calls() == 0);
  std::this_thread::sleep_for(600ms);  // past every deadline: the reaper finds nothing to touch
  grpc::ClientContext ctx;
  v1::InfoResponse info;
  CHECK(stub->Info(&ctx, v1::InfoRequest{}, &info).ok());
}
