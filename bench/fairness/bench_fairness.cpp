// petalsln-bench-fairness: how much a peer flooding a server with maximum-size Forward calls
// slows an honest peer's decoding on the same server. The honest peer decodes one token at a
// time over an Inference session from 127.0.0.1; the flooders send Forward calls of
// [max_batch, max_length, hidden] from ::1 (another address, as far as the server can tell).
//
//   petalsln-bench-fairness --model DIR [--steps 32] [--flooders 0,2,4] [--flood-length 256]
//
// Prints, per number of flooders, the honest peer's per-token latency (median, p95, max) and
// how many flood calls the server completed meanwhile.

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/cli.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/tensor_codec.hpp"

using namespace petalsln;
using Clock = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

std::unique_ptr<v1::Blocks::Stub> stub(const std::string& target) {
  return v1::Blocks::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

// Per-token latencies (ms) of @p steps decode steps after a 16-token prefill.
std::vector<double> honest_decode(v1::Blocks::Stub& s, int blocks, std::int64_t hidden, int steps) {
  grpc::ClientContext ctx;
  auto stream = s.Inference(&ctx);
  v1::InferenceRequest req;
  req.mutable_open()->set_block_begin(0);
  req.mutable_open()->set_block_end(static_cast<std::uint32_t>(blocks));
  req.mutable_open()->set_max_length(static_cast<std::uint32_t>(16 + steps));
  v1::InferenceResponse resp;
  if (!stream->Write(req) || !stream->Read(&resp) || !resp.has_opened()) throw std::runtime_error("cannot open the honest session");
  std::vector<double> ms;
  std::int64_t position = 0;
  for (int i = -1; i < steps; ++i) {
    const std::int64_t seq = i < 0 ? 16 : 1;
    v1::InferenceRequest step;
    rpc::encode_tensor(torch::randn({1, seq, hidden}) * 0.1, v1::DTYPE_F32, step.mutable_step()->mutable_hidden());
    step.mutable_step()->set_position(static_cast<std::uint64_t>(position));
    const auto t0 = Clock::now();
    if (!stream->Write(step) || !stream->Read(&resp) || !resp.has_hidden()) throw std::runtime_error("the honest step failed");
    if (i >= 0) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    position += seq;
  }
  stream->WritesDone();
  stream->Finish();
  return ms;
}

// The command line, as parsed.
struct BenchFlags {
  std::string model_dir;
  std::int64_t steps = 32;
  std::vector<std::int64_t> flooders;
  std::int64_t flood_length = 256;
  std::int64_t flood_batch = 8;
};

void declare_flags(CLI::App& app, BenchFlags& f) {
  cli::configure(app, "petalsln-bench-fairness --model DIR [--steps N] [--flooders 0,2,4] [--flood-length L] [--flood-batch B]");
  app.add_option("--model", f.model_dir, "checkpoint folder (required)")->option_text("DIR")->required();
  app.add_option("--steps", f.steps, "tokens the honest peer decodes per measurement (default 32)")
      ->option_text("N")->transform(cli::integer_in(1, 10000));
  app.add_option("--flooders", f.flooders, "numbers of flooding peers to measure with (default 0,2,4)")
      ->option_text("LIST")->delimiter(',')->allow_extra_args(false)->transform(cli::integer_in(0, 1024));
  app.add_option("--flood-length", f.flood_length, "tokens per flood call (default 256)")
      ->option_text("L")->transform(cli::integer_in(1, 1 << 16));
  app.add_option("--flood-batch", f.flood_batch, "batch per flood call (default 8)")->option_text("B")->transform(cli::integer_in(1, 64));
  cli::add_help_flag(app, "Options");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "How much a peer flooding a server with maximum-size Forward calls slows an honest peer's\n"
      "decoding on the same server.",
      "petalsln-bench-fairness"};
  BenchFlags flags;
  declare_flags(app, flags);
  return cli::run_main("petalsln-bench-fairness", [&] {
    if (!cli::parse(app, argc, argv)) return 0;
    const auto config = ModelConfig::load(flags.model_dir);
    const int steps = static_cast<int>(flags.steps);
    const std::int64_t flood_length = flags.flood_length;
    const std::int64_t flood_batch = flags.flood_batch;
    if (flags.flooders.empty()) flags.flooders = {0, 2, 4};
    BlockServerOptions o;
    o.model_dir = flags.model_dir;
    o.block_begin = 0;
    o.block_end = config.num_hidden_layers;
    o.listen_host = "[::]";
    o.max_batch = static_cast<int>(flood_batch);
    o.max_length = static_cast<int>(std::max<std::int64_t>(flood_length, 16 + steps));
    o.cache_mb = 4096;
    o.max_streams_per_peer = 64;
    BlockServer server(o, NodeIdentity::generate());
    const std::string port = std::to_string(server.port());
    auto honest = stub("127.0.0.1:" + port);
    std::printf("| flooders | honest ms/token median | p95 | max | flood calls done |\n|---:|---:|---:|---:|---:|\n");
    for (const std::int64_t flooders : flags.flooders) {
      std::atomic<bool> stop{false};
      std::atomic<int> done{0};
      std::vector<std::thread> threads;
      for (std::int64_t f = 0; f < flooders; ++f) {
        threads.emplace_back([&] {
          auto s = stub("[::1]:" + port);
          v1::ForwardRequest req;
          req.set_block_begin(0);
          req.set_block_end(static_cast<std::uint32_t>(config.num_hidden_layers));
          rpc::encode_tensor(torch::randn({flood_batch, flood_length, config.hidden_size}) * 0.1, v1::DTYPE_F32, req.mutable_hidden());
          while (!stop) {
            grpc::ClientContext ctx;
            v1::ForwardResponse resp;
            if (s->Forward(&ctx, req, &resp).ok()) ++done;
          }
        });
      }
      if (flooders > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the flood fill the queue
      const auto ms = honest_decode(*honest, config.num_hidden_layers, config.hidden_size, steps);
      stop = true;
      for (auto& t : threads) t.join();
      std::printf("| %lld | %.2f | %.2f | %.2f | %d |\n", static_cast<long long>(flooders), percentile(ms, 0.5), percentile(ms, 0.95), percentile(ms, 1.0), done.load());
      std::fflush(stdout);
    }
    return 0;
  });
}
