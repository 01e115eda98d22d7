// Fuzzes a live contributor server the way a hostile peer would: raw bytes as gRPC messages
// (so protobuf that does not parse is exercised too) on Blocks.Forward and on an
// Blocks.Inference stream, each call under a short deadline. After every input the server
// must still answer Blocks.Info.
//
// Input: a flags byte, then messages, each a 2-byte big-endian length and that many bytes
// (the last one takes what is left). Flag bit 0: send the first message to Forward as well;
// bit 1: talk to the priced server instead of the free one; bit 2: the first "message" is
// instead the `authorization` metadata (an L402 token) of both calls.
#include <ATen/Parallel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <stdlib.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fuzz_common.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "util/log.hpp"

namespace {

using Clock = std::chrono::system_clock;
constexpr auto kCallDeadline = std::chrono::milliseconds(500);
constexpr std::size_t kMaxMessages = 8;

// One server and the stubs that reach it.
struct Target {
  std::unique_ptr<petalsln::BlockServer> server;
  std::unique_ptr<grpc::GenericStub> generic;
  std::unique_ptr<petalsln::v1::Blocks::Stub> typed;
};

// [0]: a free server; [1]: a priced one behind an L402 paywall (devnet wallet), where
// `authorize` messages and unpaid calls take the paywall's paths.
Target g_targets[2];
Target* g_target = &g_targets[0];

Target& target() { return *g_target; }

// Waits for the one operation in flight on @p cq; returns its ok flag.
// PETALSLN_FUZZ_VERBOSE=1 prints each call's status (to see what a reproducer does).
void report(const char* call, const grpc::Status& status) {
  static const bool verbose = std::getenv("PETALSLN_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "%s: %d %s\n", call, static_cast<int>(status.error_code()), status.error_message().c_str());
}

bool wait(grpc::CompletionQueue& cq) {
  void* tag = nullptr;
  bool ok = false;
  return cq.Next(&tag, &ok) && ok;
}

void drain(grpc::CompletionQueue& cq) {
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

grpc::ByteBuffer buffer(const std::string& bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());  // copies
  return grpc::ByteBuffer(&slice, 1);
}

std::vector<std::string> split_messages(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < size && out.size() < kMaxMessages) {
    std::size_t len = size - at;
    if (len >= 2) {
      len = std::min<std::size_t>(static_cast<std::size_t>(data[at] << 8 | data[at + 1]), size - at - 2);
      at += 2;
    } else {
      at = size - len;
    }
    out.emplace_back(reinterpret_cast<const char*>(data + at), len);
    at += len;
  }
  return out;
}

std::string g_authorization;  // metadata for this input's calls ("" = none)

// Sets the deadline and the authorization metadata, printable ASCII only (gRPC refuses other
// bytes on the client side, before anything reaches the server).
void prepare(grpc::ClientContext& ctx) {
  ctx.set_deadline(Clock::now() + kCallDeadline);
  if (g_authorization.empty()) return;
  std::string value;
  for (const char c : g_authorization) {
    if (c >= 0x20 && c <= 0x7e) value.push_back(c);
  }
  ctx.AddMetadata("authorization", value);
}

void forward(const std::string& request) {
  grpc::ClientContext ctx;
  prepare(ctx);
  grpc::CompletionQueue cq;
  auto call = target().generic->PrepareUnaryCall(&ctx, "/petalsln.v1.Blocks/Forward", buffer(request), &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, &status);
  wait(cq);
  drain(cq);
  report("Forward", status);
}

void inference(const std::vector<std::string>& messages) {
  grpc::ClientContext ctx;
  prepare(ctx);
  grpc::CompletionQueue cq;
  auto call = target().generic->PrepareCall(&ctx, "/petalsln.v1.Blocks/Inference", &cq);
  call->StartCall(&ctx);
  bool alive = wait(cq);
  // Everything is written before anything is read, so a server that answers nothing to a
  // message costs no deadline; its answers wait in flow-control buffers meanwhile.
  for (std::size_t i = 0; alive && i < messages.size(); ++i) {
    call->Write(buffer(messages[i]), &ctx);
    alive = wait(cq);
  }
  if (alive) {
    call->WritesDone(&ctx);
    alive = wait(cq);
  }
  grpc::ByteBuffer response;
  for (int n = 0; alive && n < 64; ++n) {
    call->Read(&response, &ctx);
    alive = wait(cq);
  }
  grpc::Status status;
  call->Finish(&status, &ctx);
  wait(cq);
  drain(cq);
  report("Inference", status);
}

// The server documents that everything a call holds is released when the call ends. Waiting
// for that after each input also keeps libFuzzer's leak check from counting a call the server
// is still finishing (the client gives up at its deadline, the server notices a moment later).
void require_calls_released() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (target().server->active_calls() != 0 || target().server->active_sessions() != 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "active_calls %d, active_sessions %d\n", target().server->active_calls(),
                   target().server->active_sessions());
      petalsln::fuzz::require(false, "a call still held by the server 5 s after it ended");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void require_alive() {
  grpc::ClientContext ctx;
  ctx.set_deadline(Clock::now() + std::chrono::seconds(5));
  petalsln::v1::InfoRequest request;
  petalsln::v1::InfoResponse response;
  const grpc::Status status = target().typed->Info(&ctx, request, &response);
  if (!status.ok()) std::fprintf(stderr, "Info failed: %s\n", status.error_message().c_str());
  petalsln::fuzz::require(status.ok() && response.has_record(), "server stopped answering Info");
}

petalsln::BlockServerOptions server_options() {
  petalsln::BlockServerOptions o;
  o.model_dir = PETALSLN_FIXTURES_DIR "/tiny-llama3";  // 6 blocks, hidden 64
  o.model_name = "tiny-llama3";
  o.block_begin = 1;
  o.block_end = 4;
  o.throughput = 1000;  // skip measuring
  o.max_sessions = 4;
  o.cache_mb = 16;
  o.max_batch = 2;
  o.max_length = 64;
  return o;
}

// A paywall over a devnet wallet in a fresh temporary folder.
std::shared_ptr<petalsln::Paywall> make_paywall(const petalsln::NodeIdentity& identity) {
  using namespace petalsln;
  char dir_template[] = "/tmp/petalsln-fuzz-paywall-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  create_devnet_account(dir + "/devnet.db", "server", 0);
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 100;
  po.model = "tiny-llama3";
  po.peer_hex = identity.peer_id_hex();
  po.block_begin = 1;
  po.block_end = 4;
  po.store_path = dir + "/paywall.db";
  return std::make_shared<Paywall>(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + dir + "/devnet.db?account=server")));
}

void start(Target& t, petalsln::BlockServerOptions o, petalsln::NodeIdentity identity) {
  t.server = std::make_unique<petalsln::BlockServer>(std::move(o), std::move(identity));
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(t.server->port()), grpc::InsecureChannelCredentials());
  t.generic = std::make_unique<grpc::GenericStub>(channel);
  t.typed = petalsln::v1::Blocks::NewStub(channel);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  using namespace petalsln;
  util::set_log_level(util::LogLevel::error);  // every refused request would log a line
  at::set_num_threads(1);  // the fuzzer drives one call at a time
  start(g_targets[0], server_options(), NodeIdentity::generate());
  NodeIdentity identity = NodeIdentity::generate();
  BlockServerOptions priced = server_options();
  priced.paywall = make_paywall(identity);
  priced.price_msat = 1000;
  start(g_targets[1], std::move(priced), std::move(identity));
  for (Target& t : g_targets) {
    g_target = &t;
    require_alive();
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  g_target = &g_targets[(data[0] >> 1) & 1];
  std::vector<std::string> messages = split_messages(data + 1, size - 1);
  g_authorization.clear();
  if ((data[0] & 4) != 0 && !messages.empty()) {
    g_authorization = std::move(messages.front());
    messages.erase(messages.begin());
  }
  if ((data[0] & 1) != 0 && !messages.empty()) forward(messages.front());
  inference(messages);
  require_calls_released();
  require_alive();
  return 0;
}
