// petalsln-bench-transport: the floor under the swarm's per-hop overhead on this machine.
//
// One "hop" is what RemoteSequence does per server per token: send a hidden-state-sized
// message, wait while the server computes, receive the answer. The overhead is the round trip
// minus the server's compute. This program measures it with no petalsln code at all:
//   - raw TCP on loopback (TCP_NODELAY, blocking reads): the kernel and the machine;
//   - gRPC with the shape of Blocks.Inference (a bidirectional stream, sync client), served by
//     the sync API (what BlockServer uses) and by the callback API;
//   - gRPC with a client that polls its completion queue instead of blocking.
// Each runs with the server busy for 0, 5 and 20 ms per request (a decode step of a real model
// is milliseconds), because waiting in the kernel is what costs on a virtual machine: a thread
// that slept for milliseconds takes far longer to wake than one that slept for microseconds.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "petalsln_bench/ping.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kMessageBytes = 576 * 4;  // one token of SmolLM2-135M's hidden state, f32
constexpr int kWarmup = 10;

// Keeps the calling thread busy for @p ms and returns the microseconds it really took; the
// server sends this back in the message so the client subtracts exactly what was spent.
double busy_for(double ms) {
  const auto t0 = Clock::now();
  volatile double sink = 0;
  while (std::chrono::duration<double, std::milli>(Clock::now() - t0).count() < ms) sink = sink + 1;
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

void put_micros(std::string& data, double micros) { std::memcpy(data.data(), &micros, sizeof micros); }
double get_micros(const std::string& data) {
  double micros = 0;
  std::memcpy(&micros, data.data(), sizeof micros);
  return micros;
}

struct Stats {
  double median = 0, p95 = 0;
};

Stats summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 95 / 100]};
}

int rounds_for(double busy_ms) { return busy_ms >= 20 ? 150 : busy_ms >= 5 ? 300 : 2000; }

// ---- raw TCP ---------------------------------------------------------------------------

bool transfer(int fd, char* buf, std::size_t n, bool receive) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t k = receive ? ::recv(fd, buf + done, n - done, 0) : ::send(fd, buf + done, n - done, MSG_NOSIGNAL);
    if (k <= 0) return false;
    done += static_cast<std::size_t>(k);
  }
  return true;
}

Stats raw_tcp(double busy_ms) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("listen");
    std::exit(1);
  }
  std::thread server([&] {
    const int c = ::accept(listener, nullptr, nullptr);
    const int one = 1;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::string buf(kMessageBytes, '\0');
    while (transfer(c, buf.data(), buf.size(), true)) {
      put_micros(buf, busy_for(busy_ms));
      if (!transfer(c, buf.data(), buf.size(), false)) break;
    }
    ::close(c);
  });
  const int c = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  std::string buf(kMessageBytes, 'x');
  std::vector<double> us;
  for (int i = 0; i < kWarmup + rounds_for(busy_ms); ++i) {
    const auto t0 = Clock::now();
    if (!transfer(c, buf.data(), buf.size(), false) || !transfer(c, buf.data(), buf.size(), true)) std::exit(1);
    const double rt = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    if (i >= kWarmup) us.push_back(rt - get_micros(buf));
  }
  ::shutdown(c, SHUT_RDWR);
  ::close(c);
  server.join();
  ::close(listener);
  return summarize(us);
}

// ---- gRPC ------------------------------------------------------------------------------

double g_busy_ms = 0;  // set before each gRPC server starts; read by its handlers

class SyncEcho final : public petalsln_bench::Echo::Service {
  grpc::Status Chat(grpc::ServerContext*, grpc::ServerReaderWriter<petalsln_bench::Ping, petalsln_bench::Ping>* stream) override {
    petalsln_bench::Ping ping;
    while (stream->Read(&ping)) {
      put_micros(*ping.mutable_data(), busy_for(g_busy_ms));
      if (!stream->Write(ping)) break;
    }
    return grpc::Status::OK;
  }
};

class CallbackEcho final : public petalsln_bench::Echo::CallbackService {
  class Reactor final : public grpc::ServerBidiReactor<petalsln_bench::Ping, petalsln_bench::Ping> {
   public:
    Reactor() { StartRead(&in_); }
    void OnReadDone(bool ok) override {
      if (!ok) return Finish(grpc::Status::OK);
      out_ = in_;
      put_micros(*out_.mutable_data(), busy_for(g_busy_ms));  // computes on the reaction thread
      StartWrite(&out_);
    }
    void OnWriteDone(bool ok) override {
      if (!ok) return Finish(grpc::Status::OK);
      StartRead(&in_);
    }
    void OnDone() override { delete this; }

   private:
    petalsln_bench::Ping in_, out_;
  };
  grpc::ServerBidiReactor<petalsln_bench::Ping, petalsln_bench::Ping>* Chat(grpc::CallbackServerContext*) override {
    return new Reactor;
  }
};

enum class ServerApi { sync, callback };
enum class ClientWait { blocking, polling };

Stats grpc_hop(ServerApi api, ClientWait wait, double busy_ms) {
  g_busy_ms = busy_ms;
  SyncEcho sync_service;
  CallbackEcho callback_service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  if (api == ServerApi::sync) {
    builder.RegisterService(&sync_service);
  } else {
    builder.RegisterService(&callback_service);
  }
  auto server = builder.BuildAndStart();
  auto stub = petalsln_bench::Echo::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));

  petalsln_bench::Ping ping, pong;
  ping.set_data(std::string(kMessageBytes, 'x'));
  std::vector<double> us;
  const int rounds = kWarmup + rounds_for(busy_ms);
  if (wait == ClientWait::blocking) {
    grpc::ClientContext ctx;
    auto stream = stub->Chat(&ctx);
    for (int i = 0; i < rounds; ++i) {
      const auto t0 = Clock::now();
      if (!stream->Write(ping) || !stream->Read(&pong)) std::exit(1);
      const double rt = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      if (i >= kWarmup) us.push_back(rt - get_micros(pong.data()));
    }
    stream->WritesDone();
    (void)stream->Finish();
  } else {
    // Spins on the completion queue with a zero deadline instead of sleeping in the kernel.
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    auto await = [&cq](void* wanted) {
      void* tag = nullptr;
      bool ok = false;
      for (;;) {
        if (cq.AsyncNext(&tag, &ok, gpr_time_0(GPR_CLOCK_MONOTONIC)) == grpc::CompletionQueue::GOT_EVENT && tag == wanted) {
          if (!ok) std::exit(1);
          return;
        }
      }
    };
    int start_tag = 0, write_tag = 0, read_tag = 0, done_tag = 0, finish_tag = 0;
    auto stream = stub->AsyncChat(&ctx, &cq, &start_tag);
    await(&start_tag);
    for (int i = 0; i < rounds; ++i) {
      const auto t0 = Clock::now();
      stream->Write(ping, &write_tag);
      await(&write_tag);
      stream->Read(&pong, &read_tag);
      await(&read_tag);
      const double rt = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      if (i >= kWarmup) us.push_back(rt - get_micros(pong.data()));
    }
    stream->WritesDone(&done_tag);
    await(&done_tag);
    grpc::Status status;
    stream->Finish(&status, &finish_tag);
    await(&finish_tag);
    cq.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok)) {
    }
  }
  server->Shutdown(std::chrono::system_clock::now());
  return summarize(us);
}

}  // namespace

int main(int argc, char**) {
  if (argc > 1) {
    std::fprintf(stderr, "usage: petalsln-bench-transport (no arguments)\n");
    return 2;
  }
  std::printf("| transport (one hop, %zu-byte messages, loopback) | server busy | overhead median | p95 |\n|---|---|---|---|\n",
              kMessageBytes);
  for (const double busy_ms : {0.0, 5.0, 20.0}) {
    struct Row {
      const char* name;
      Stats stats;
    };
    const Row rows[] = {
        {"raw TCP, blocking client", raw_tcp(busy_ms)},
        {"gRPC sync server, blocking client", grpc_hop(ServerApi::sync, ClientWait::blocking, busy_ms)},
        {"gRPC callback server, blocking client", grpc_hop(ServerApi::callback, ClientWait::blocking, busy_ms)},
        {"gRPC sync server, polling client", grpc_hop(ServerApi::sync, ClientWait::polling, busy_ms)},
    };
    for (const auto& r : rows) {
      std::printf("| %s | %.0f ms | %.0f us | %.0f us |\n", r.name, busy_ms, r.stats.median, r.stats.p95);
      std::fflush(stdout);
    }
  }
  return 0;
}
