// Finding servers when some are dead, full or wrong: static discovery says why it left each
// candidate out, and a client waits (with backoff, up to its timeout) for a server that is
// unreachable or full, but gives up at once when waiting cannot help. Real gRPC on loopback.

#include "torch_doctest.hpp"

#include <grpcpp/grpcpp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/swarm/model_fingerprint.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/call_failure.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64
const std::string kName = "tiny-llama3";

BlockServerOptions options(int max_sessions) {
  BlockServerOptions o;
  o.model_dir = kModel;
  o.block_begin = 0;
  o.block_end = 6;
  o.throughput = 1000;  // skip measuring
  o.max_sessions = max_sessions;
  o.cache_mb = 64;
  o.max_length = 256;
  return o;
}

// An endpoint on which nothing listens: a port the kernel just handed out and took back.
std::string dead_endpoint() {
  BlockServer s(options(1), NodeIdentity::generate());
  const std::string e = s.endpoint();
  s.shutdown();
  return e;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A RemoteSequence over a static peer list, as petalsln-chat --peers builds it.
struct StaticClient {
  StaticDiscovery discovery;
  RemoteSequence remote;
  StaticClient(std::vector<std::string> endpoints, double timeout_s, ModelFingerprint fingerprint = compute_model_fingerprint(kModel))
      : discovery(std::move(endpoints), std::chrono::milliseconds(static_cast<int>(timeout_s * 1000))),
        remote(CandidateLookup([this, fingerprint] { return discovery.lookup(kName, fingerprint); }), 6, 64, remote_options(timeout_s)) {}
  static RemoteSequenceOptions remote_options(double timeout_s) {
    RemoteSequenceOptions o;
    const auto timeout = std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
    o.route_timeout = timeout;
    o.ping_timeout = timeout;
    return o;
  }
};

// A session opened by hand over a connection of its own (a server may cap concurrent streams
// per connection at its session limit, and the held stream would then queue the Info calls
// of the client under test if they shared one, as clients in one process do).
struct HeldSession {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Blocks::Stub> stub;
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::InferenceRequest, v1::InferenceResponse>> stream;

  explicit HeldSession(int port) {
    grpc::ChannelArguments args;
    args.SetInt("petalsln.test.own_connection", 1);  // a distinct argument: a distinct connection
    channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args);
    stub = v1::Blocks::NewStub(channel);
    stream = stub->Inference(&ctx);
    v1::InferenceRequest req;
    req.mutable_open()->set_block_begin(0);
    req.mutable_open()->set_block_end(6);
    req.mutable_open()->set_max_length(8);
    req.mutable_open()->set_batch(1);
    v1::InferenceResponse resp;
    REQUIRE(stream->Write(req));
    REQUIRE(stream->Read(&resp));
    REQUIRE(resp.has_opened());
  }
  ~HeldSession() {
    ctx.TryCancel();
    stream->Finish();
  }
};

// A TCP proxy to a local port that lets the kernel accept the connection but relays nothing
// for @p delay: to the client, a server that is slow to finish the HTTP/2 handshake (as a
// loaded machine is). One connection, relayed until either side closes.
class SlowHandshakeProxy {
 public:
  SlowHandshakeProxy(int target_port, std::chrono::milliseconds delay) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), len) == 0);
    REQUIRE(::listen(listen_fd_, 4) == 0);
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, target_port, delay] { relay(target_port, delay); });
  }
  ~SlowHandshakeProxy() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void relay(int target_port, std::chrono::milliseconds delay) {
    std::this_thread::sleep_for(delay);
    const int client = ::accept(listen_fd_, nullptr, nullptr);
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in t{};
    t.sin_family = AF_INET;
    t.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t.sin_port = htons(static_cast<std::uint16_t>(target_port));
    if (client >= 0 && ::connect(server, reinterpret_cast<sockaddr*>(&t), sizeof t) == 0) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      char buf[16384];
      while (!stop_) {
        if (::poll(fds, 2, 50) <= 0) continue;
        bool closed = false;
        for (int i = 0; i < 2; ++i) {
          if (fds[i].revents == 0) continue;
          const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
          if (n <= 0 || ::write(fds[1 - i].fd, buf, static_cast<std::size_t>(n)) != n) closed = true;
        }
        if (closed) break;
      }
    }
    if (client >= 0) ::close(client);
    ::close(server);
  }
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string message_of(RemoteSequence& remote, std::int64_t max_length = 16) {
  try {
    remote.begin_sequence(max_length);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    return e.what();
  }
  FAIL("begin_sequence() succeeded");
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("call failures: statuses map to reasons a user can act on") {
  auto e = rpc::exclusion_from_status("h:1", grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                                          "failed to connect to all addresses; last error: UNKNOWN: "
                                                          "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"),
                                      0.01);
  CHECK(e.describe() == "h:1 unreachable (connection refused)");
  CHECK(is_transient(e.reason));
  e = rpc::exclusion_from_status("h:1", grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded"), 3);
  CHECK(e.describe() == "h:1 timed out (no answer within 3 s)");
  CHECK(is_transient(e.reason));
  e = rpc::exclusion_from_status("h:1", grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "the server already has its maximum"), 0);
  CHECK(e.reason == ExclusionReason::full);
  CHECK(is_transient(e.reason));
  e = rpc::exclusion_from_status("h:1", grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no such method"), 0);
  CHECK(e.reason == ExclusionReason::refused);
  CHECK_FALSE(is_transient(e.reason));
  CHECK_FALSE(is_transient(ExclusionReason::wrong_model));
  CHECK_FALSE(is_transient(ExclusionReason::bad_record));
}

TEST_CASE("static discovery: every candidate left out is named with its reason") {
  BlockServer live(options(4), NodeIdentity::generate());
  const std::string dead = dead_endpoint();
  StaticDiscovery d({live.endpoint(), dead}, std::chrono::milliseconds(5000));
  const auto t0 = std::chrono::steady_clock::now();
  LookupResult r = d.lookup(kName, compute_model_fingerprint(kModel));
  CHECK(seconds_since(t0) < 2.0);  // a refused connection is not waited for
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].endpoint == live.endpoint());
  CHECK(r.round_trip.count(r.records[0].peer_id) == 1);
  REQUIRE(r.excluded.size() == 1);
  CHECK(r.excluded[0].describe() == dead + " unreachable (connection refused)");
  CHECK(r.dropped.unreachable == 1);
  CHECK(r.dropped.total() == 1);

  // The same server, asked for another model: a permanent reason, counted as before.
  r = d.lookup("other-model", compute_model_fingerprint(kModel));
  CHECK(r.records.empty());
  REQUIRE(r.excluded.size() == 2);
  CHECK(r.excluded[0].reason == ExclusionReason::wrong_model);
  CHECK(contains(r.excluded[0].detail, "serves \"tiny-llama3\""));
  CHECK(r.dropped.wrong_fingerprint == 1);

  CHECK_THROWS_AS(StaticDiscovery({live.endpoint()}, std::chrono::milliseconds(0)), Error);
  CHECK_THROWS_WITH_AS(fetch_server_info(dead, std::chrono::milliseconds(500)),
                       doctest::Contains("unreachable (connection refused)"), Error);
}

TEST_CASE("channels: a server slow to finish the connection handshake is waited for, not cut off") {
  // Under load (30 clients starting on two cores) handshakes took longer than the 100 ms
  // gRPC was once allowed for a connection attempt, and healthy servers were reported
  // unreachable ("tcp handshaker shutdown"). The call's own deadline is what bounds it.
  BlockServer server(options(4), NodeIdentity::generate());
  SlowHandshakeProxy proxy(server.port(), std::chrono::milliseconds(600));
  const InfoOutcome o = try_fetch_server_info(proxy.endpoint(), std::chrono::milliseconds(10000));
  CAPTURE(o.failure ? o.failure->describe() : std::string());
  REQUIRE(o.info);
  CHECK(o.info->round_trip >= std::chrono::milliseconds(500));
  CHECK(o.info->record.endpoint == server.endpoint());
}

TEST_CASE("remote sequence: a stopped server is retried until the timeout, then named") {
  const std::string dead = dead_endpoint();
  SUBCASE("with a timeout, it keeps trying for that long") {
    StaticClient client({dead}, 1.5);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string msg = message_of(client.remote);
    CAPTURE(msg);
    CHECK(seconds_since(t0) >= 1.5);
    CHECK(seconds_since(t0) < 5.0);
    CHECK(contains(msg, "no server covers blocks 0-5 (of 0-5): " + dead + " unreachable (connection refused)"));
    CHECK(contains(msg, "attempts in"));
  }
  SUBCASE("with no retry time, it fails at once") {
    StaticClient client({dead}, 0.001);
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(contains(message_of(client.remote), dead + " unreachable"));
    CHECK(seconds_since(t0) < 1.0);
  }
}

TEST_CASE("remote sequence: a server that comes up while the client waits is used") {
  // Reserve a port, start the client against it, then start the server there.
  BlockServerOptions o = options(4);
  BlockServer probe(o, NodeIdentity::generate());
  o.port = probe.port();
  const std::string endpoint = probe.endpoint();
  probe.shutdown();
  StaticClient client({endpoint}, 20);
  auto started = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    return std::make_unique<BlockServer>(o, NodeIdentity::generate());
  });
  client.remote.begin_sequence(8);
  CHECK(client.remote.route().size() == 1);
  CHECK(client.remote.failovers() == 0);
  auto server = started.get();
  CHECK(client.remote.step(torch::randn({1, 3, 64})).sizes() == at::IntArrayRef({1, 3, 64}));
}

TEST_CASE("remote sequence: a full server is waited for, within the timeout") {
  BlockServer server(options(1), NodeIdentity::generate());
  auto holder = std::make_unique<HeldSession>(server.port());  // takes the only session

  SUBCASE("it is named as full when it stays full") {
    StaticClient client({server.endpoint()}, 1);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string msg = message_of(client.remote);
    CAPTURE(msg);
    CHECK(seconds_since(t0) >= 1.0);
    CHECK(contains(msg, server.endpoint() + " full ("));
  }
  SUBCASE("it is used as soon as a session frees up") {
    auto release = std::async(std::launch::async, [&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      holder.reset();
    });
    StaticClient client({server.endpoint()}, 20);
    const auto t0 = std::chrono::steady_clock::now();
    client.remote.begin_sequence(8);
    release.get();
    CHECK(seconds_since(t0) >= 0.5);
    CHECK(client.remote.failovers() == 0);
    CHECK(client.remote.step(torch::randn({1, 2, 64})).sizes() == at::IntArrayRef({1, 2, 64}));
  }
}

TEST_CASE("remote sequence: a wrong model fails at once, whatever the timeout") {
  BlockServer server(options(4), NodeIdentity::generate());
  ModelFingerprint other{};
  other.fill(0x42);
  StaticClient client({server.endpoint()}, 30, other);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string msg = message_of(client.remote);
  CAPTURE(msg);
  CHECK(seconds_since(t0) < 5.0);
  CHECK(contains(msg, server.endpoint() + " wrong model"));
  CHECK_FALSE(contains(msg, "attempts"));
}
