// The contributor server under attack: every malformed or hostile request gets a precise
// status, and an honest session running alongside is unaffected. Real gRPC on loopback.

#include "torch_doctest.hpp"

#include <grpcpp/grpcpp.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/tensor_codec.hpp"
#include "test_support.hpp"

using namespace petalsln;
using Stream = grpc::ClientReaderWriter<v1::InferenceRequest, v1::InferenceResponse>;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64

BlockServerOptions options(int begin, int end) {
  BlockServerOptions o;
  o.model_dir = kModel;
  o.block_begin = begin;
  o.block_end = end;
  o.throughput = 1000;  // skip measuring
  o.max_sessions = 4;
  o.max_sessions_per_peer = 4;  // every test client comes from 127.0.0.1
  o.cache_mb = 64;
  o.max_length = 256;
  return o;
}

struct Client {
  std::unique_ptr<v1::Blocks::Stub> stub;
  explicit Client(int port)
      : stub(v1::Blocks::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()))) {}
};

// One Inference stream, driven message by message.
struct Session {
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
  std::int64_t position = 0;

  bool finished = false;

  explicit Session(Client& c) { stream = c.stub->Inference(&ctx); }
  ~Session() {
    if (!finished) {
      ctx.TryCancel();
      stream->Finish();
    }
  }

  bool open(std::uint32_t begin, std::uint32_t end, std::uint32_t max_length, std::uint32_t batch = 1) {
    v1::InferenceRequest req;
    auto* o = req.mutable_open();
    o->set_block_begin(begin);
    o->set_block_end(end);
    o->set_max_length(max_length);
    o->set_batch(batch);
    v1::InferenceResponse resp;
    return stream->Write(req) && stream->Read(&resp) && resp.has_opened();
  }

  // Sends a raw tensor message; returns the output or an undefined tensor if the stream ended.
  at::Tensor step(const v1::Tensor& t, std::int64_t seq) {
    v1::InferenceRequest req;
    *req.mutable_step()->mutable_hidden() = t;
    req.mutable_step()->set_position(static_cast<std::uint64_t>(position));
    v1::InferenceResponse resp;
    if (!stream->Write(req) || !stream->Read(&resp)) return {};
    position += seq;
    return rpc::decode_tensor(resp.hidden(), {64, 8, 4096});
  }

  at::Tensor step(const at::Tensor& x) {
    v1::Tensor t;
    rpc::encode_tensor(x, v1::DTYPE_F32, &t);
    return step(t, x.size(1));
  }

  grpc::Status finish() {
    stream->WritesDone();
    return end();
  }

  // Collects the final status (after the server ended the stream).
  grpc::Status end() {
    finished = true;
    return stream->Finish();
  }
};

v1::Tensor wire(const at::Tensor& x, v1::DType dtype = v1::DTYPE_F32) {
  v1::Tensor t;
  rpc::encode_tensor(x, dtype, &t);
  return t;
}

// Opens a session, sends one bad step, and returns the status the server ended it with.
grpc::Status status_of_bad_step(Client& c, const v1::Tensor& bad, std::uint32_t max_length = 64) {
  Session s(c);
  REQUIRE(s.open(1, 4, max_length));
  CHECK_FALSE(s.step(bad, 1).defined());
  return s.end();
}

void check_status(const grpc::Status& s, grpc::StatusCode code, const std::string& mentions) {
  CAPTURE(s.error_message());
  CHECK(s.error_code() == code);
  CHECK(s.error_message().find(mentions) != std::string::npos);
}

}  // namespace

TEST_CASE("block server: hostile requests get precise statuses while an honest session carries on") {
  BlockServer server(options(1, 4), NodeIdentity::generate());
  Client client(server.port());
  const auto config = ModelConfig::load(kModel);
  const auto checkpoint = Checkpoint::open(kModel);
  BlockStack local(config, checkpoint, 1, 4);
  auto local_cache = local.new_cache(1, 64);

  // The honest session: prefill 5 positions, then steps interleaved with attacks below.
  Session honest(client);
  REQUIRE(honest.open(1, 4, 64));
  torch::manual_seed(3);
  auto honest_step = [&](std::int64_t seq) {
    auto x = torch::randn({1, seq, 64});
    auto got = honest.step(x);
    REQUIRE(got.defined());
    CHECK((got - local.forward(x, local_cache)).abs().max().item<double>() < 1e-5);
  };
  honest_step(5);

  SUBCASE("malformed tensors") {
    check_status(status_of_bad_step(client, wire(torch::zeros({1, 1, 65}))), grpc::StatusCode::INVALID_ARGUMENT, "hidden size 65");
    auto short_bytes = wire(torch::zeros({1, 2, 64}));
    short_bytes.mutable_data()->resize(100);
    check_status(status_of_bad_step(client, short_bytes), grpc::StatusCode::INVALID_ARGUMENT, "bytes");
    auto nan = torch::zeros({1, 1, 64});
    nan[0][0][3] = std::numeric_limits<float>::quiet_NaN();
    check_status(status_of_bad_step(client, wire(nan)), grpc::StatusCode::INVALID_ARGUMENT, "finite");
    auto inf = torch::zeros({1, 1, 64});
    inf[0][0][0] = std::numeric_limits<float>::infinity();
    check_status(status_of_bad_step(client, wire(inf, v1::DTYPE_F16)), grpc::StatusCode::INVALID_ARGUMENT, "finite");
    v1::Tensor huge;
    huge.set_dtype(v1::DTYPE_F32);
    for (std::uint64_t d : {std::uint64_t{1}, std::uint64_t{1} << 40, std::uint64_t{64}}) huge.add_shape(d);
    huge.set_data(std::string(256, '\0'));
    check_status(status_of_bad_step(client, huge), grpc::StatusCode::INVALID_ARGUMENT, "sequence length");
    auto rank2 = wire(torch::zeros({1, 64}));
    check_status(status_of_bad_step(client, rank2), grpc::StatusCode::INVALID_ARGUMENT, "rank 2");
    auto no_dtype = wire(torch::zeros({1, 1, 64}));
    no_dtype.set_dtype(v1::DTYPE_UNSPECIFIED);
    check_status(status_of_bad_step(client, no_dtype), grpc::StatusCode::INVALID_ARGUMENT, "dtype");
  }

  SUBCASE("session misuse") {
    {  // a step on a stream with no session
      Session s(client);
      v1::InferenceRequest req;
      *req.mutable_step()->mutable_hidden() = wire(torch::zeros({1, 1, 64}));
      v1::InferenceResponse resp;
      s.stream->Write(req);
      CHECK_FALSE(s.stream->Read(&resp));
      check_status(s.end(), grpc::StatusCode::FAILED_PRECONDITION, "no session");
    }
    {  // a range outside the server's blocks
      Session s(client);
      CHECK_FALSE(s.open(0, 2, 16));
      check_status(s.end(), grpc::StatusCode::INVALID_ARGUMENT, "[1, 4)");
    }
    {  // longer than allowed
      Session s(client);
      CHECK_FALSE(s.open(1, 4, 100000));
      check_status(s.end(), grpc::StatusCode::INVALID_ARGUMENT, "max_length");
    }
    {  // a step past the session's own max_length
      Session s(client);
      REQUIRE(s.open(1, 4, 4));
      CHECK_FALSE(s.step(wire(torch::zeros({1, 5, 64})), 5).defined());
      check_status(s.end(), grpc::StatusCode::OUT_OF_RANGE, "max_length of 4");
    }
    {  // a position that skips ahead
      Session s(client);
      REQUIRE(s.open(1, 4, 16));
      s.position = 3;
      CHECK_FALSE(s.step(torch::zeros({1, 1, 64})).defined());
      check_status(s.end(), grpc::StatusCode::INVALID_ARGUMENT, "position");
    }
    {  // a batch larger than the session declared
      Session s(client);
      REQUIRE(s.open(1, 4, 16, 1));
      CHECK_FALSE(s.step(wire(torch::zeros({2, 1, 64})), 1).defined());
      check_status(s.end(), grpc::StatusCode::INVALID_ARGUMENT, "batch");
    }
  }

  SUBCASE("too many sessions") {
    std::vector<std::unique_ptr<Session>> held;
    for (int i = 0; i < 3; ++i) {  // the honest one is the fourth
      held.push_back(std::make_unique<Session>(client));
      REQUIRE(held.back()->open(1, 4, 8));
    }
    Session extra(client);
    CHECK_FALSE(extra.open(1, 4, 8));
    check_status(extra.end(), grpc::StatusCode::RESOURCE_EXHAUSTED, "maximum of 4 sessions");
    for (auto& s : held) CHECK(s->finish().ok());
  }

  SUBCASE("stateless forward") {
    v1::ForwardRequest req;
    req.set_block_begin(2);
    req.set_block_end(4);
    auto x = torch::randn({2, 3, 64});
    *req.mutable_hidden() = wire(x);
    v1::ForwardResponse resp;
    grpc::ClientContext ctx;
    REQUIRE(client.stub->Forward(&ctx, req, &resp).ok());
    BlockStack part(config, checkpoint, 2, 4);
    CHECK((rpc::decode_tensor(resp.hidden(), {64, 8, 64}) - part.forward(x)).abs().max().item<double>() < 1e-4);
    req.set_block_end(5);
    grpc::ClientContext ctx2;
    check_status(client.stub->Forward(&ctx2, req, &resp), grpc::StatusCode::INVALID_ARGUMENT, "[2, 5)");
  }

  // Whatever happened above, the honest session continues with correct outputs.
  for (int i = 0; i < 3; ++i) honest_step(1);
  CHECK(honest.finish().ok());
}

TEST_CASE("block server: the KV-cache budget is enforced") {
  auto o = options(0, 6);
  o.cache_mb = 1;  // 6 blocks × 2 (k, v) × 2 heads × 16 dims × 4 bytes = 1536 bytes per position: 682 fit
  o.max_length = 1024;
  BlockServer server(o, NodeIdentity::generate());
  Client client(server.port());
  Session small(client);
  CHECK(small.open(0, 6, 400));
  Session big(client);
  CHECK_FALSE(big.open(0, 6, 400));  // each fits alone, not both together
  check_status(big.end(), grpc::StatusCode::RESOURCE_EXHAUSTED, "budget");
  CHECK(small.finish().ok());
  Session again(client);  // the budget is released when a session ends
  CHECK(again.open(0, 6, 400));
  CHECK(again.finish().ok());
}

TEST_CASE("block server: Info returns a signed, verifiable record") {
  auto o = options(2, 5);
  o.public_name = "test-server";
  auto identity = NodeIdentity::generate();
  const auto peer = identity.peer_id();
  BlockServer server(o, std::move(identity));
  const auto info = fetch_server_info("127.0.0.1:" + std::to_string(server.port()));
  CHECK(info.record.peer_id == peer);
  CHECK(info.record.block_begin == 2);
  CHECK(info.record.block_end == 5);
  CHECK(info.record.public_name == "test-server");
  CHECK(info.record.endpoint == server.endpoint());
  CHECK(info.max_sessions == 4);
  CHECK_THROWS_AS(fetch_server_info("127.0.0.1:1", std::chrono::milliseconds(500)), Error);
  CHECK_THROWS_AS(parse_endpoint_list("localhost"), Error);
  CHECK_THROWS_AS(parse_endpoint_list("a:1,:2"), Error);
  CHECK_THROWS_AS(parse_endpoint_list("a:99999"), Error);
  CHECK(parse_endpoint_list("a:1,b:2").size() == 2);
}

TEST_CASE("remote sequence: three in-process servers give the local model's outputs") {
  const auto config = ModelConfig::load(kModel);
  const auto checkpoint = Checkpoint::open(kModel);
  BlockServer a(options(0, 2), NodeIdentity::generate()), b(options(2, 5), NodeIdentity::generate()), c(options(5, 6), NodeIdentity::generate());
  std::vector<ServerRecord> records = {a.record(), b.record(), c.record()};
  RemoteSequence remote([&] { return records; }, 6, 64);
  BlockStack whole(config, checkpoint, 0, 6);
  auto cache = whole.new_cache(1, 32);
  remote.begin_sequence(32);
  CHECK(remote.route().size() == 3);
  torch::manual_seed(5);
  for (std::int64_t seq : {4, 1, 1, 2}) {
    auto x = torch::randn({1, seq, 64});
    CHECK((remote.step(x) - whole.forward(x, cache)).abs().max().item<double>() < 1e-4);
  }
  CHECK(remote.failovers() == 0);

  // A route that cannot be covered names the missing blocks.
  records = {a.record(), c.record()};
  RemoteSequence gap([&] { return records; }, 6, 64);
  try {
    gap.begin_sequence(8);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    CHECK(std::string(e.what()).find("2-4") != std::string::npos);
  }
}
