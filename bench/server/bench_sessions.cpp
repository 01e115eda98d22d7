// petalsln-bench-sessions: aggregate decode tokens/s of N concurrent sessions on one server
// (issue 16, item 3). One BlockServer serves every block of the model on loopback; N clients,
// each with its own Inference stream over real gRPC, prefill a short prompt and then decode
// one token per step as fast as the server answers. The same sessions run against a server
// that batches their waiting steps (--max-batch-sessions) and one that runs each step alone.
//
//   petalsln-bench-sessions --model DIR [--sessions 1,2,4,8,16] [--decode-tokens 32]
//                           [--prompt-tokens 16] [--runs 3] [--threads N] [--warmup-steps 4]
//
// Prints a markdown table: per session count, the aggregate decode tokens/s (median of the
// runs) batched and unbatched, the batched rate over the first row's (one session's by
// default), and the mean steps per batch the batching server ran. Clients send prepared
// hidden states and do not decode the replies, so the client side costs the server's cores as
// little as it can.
//
// The rates are steady-state: steps completed between the moment the last session finished
// its --warmup-steps and the moment the first session finished its last step, over that
// window. Sessions that all start at one instant are not how a serving server sees them: the
// first step to arrive runs alone while the others queue, and the phases settle only after a
// few steps. The last column gives the batched rate over the whole run (first decode step to
// last) for comparison.

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/cli.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/tensor_codec.hpp"

using namespace petalsln;
using Clock = std::chrono::steady_clock;

namespace {

// The command line, as parsed.
struct BenchFlags {
  std::string model_dir;
  std::vector<std::int64_t> sessions;
  std::int64_t decode_tokens = 32;
  std::int64_t prompt_tokens = 16;
  std::int64_t runs = 3;
  std::int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::int64_t max_batch_sessions = 16;
  std::int64_t warmup_steps = 4;
};

void declare_flags(CLI::App& app, BenchFlags& f) {
  cli::configure(app, "petalsln-bench-sessions --model DIR [--sessions 1,2,4,8,16] [--decode-tokens N] [--prompt-tokens N] [--runs N] [--warmup-steps N]");
  app.add_option("--model", f.model_dir, "checkpoint folder (required)")->option_text("DIR")->required();
  app.add_option("--sessions", f.sessions, "numbers of concurrent sessions to measure (default 1,2,4,8,16)")
      ->option_text("LIST")->delimiter(',')->allow_extra_args(false)->transform(cli::integer_in(1, 256));
  app.add_option("--decode-tokens", f.decode_tokens, "tokens each session decodes per run, warm-up included (default 32)")
      ->option_text("N")->transform(cli::integer_in(1, 4096));
  app.add_option("--prompt-tokens", f.prompt_tokens, "prompt each session prefills first (default 16)")
      ->option_text("N")->transform(cli::integer_in(1, 4096));
  app.add_option("--runs", f.runs, "runs per measurement, median taken (default 3)")->option_text("N")->transform(cli::integer_in(1, 100));
  app.add_option("--threads", f.threads, "compute threads (default: every hardware thread)")
      ->option_text("N")->transform(cli::integer_in(1, 1024));
  app.add_option("--max-batch-sessions", f.max_batch_sessions, "the batching server's limit (default 16)")
      ->option_text("N")->transform(cli::integer_in(2, 1024));
  app.add_option("--warmup-steps", f.warmup_steps, "decode steps per session before the steady-state window opens (default 4)")
      ->option_text("N")->transform(cli::integer_in(0, 4096));
  cli::add_help_flag(app, "Options");
}

// Waits until every party has arrived (a C++17 stand-in for std::barrier, used once).
class StartLine {
 public:
  explicit StartLine(int parties) : waiting_(parties) {}
  void arrive_and_wait() {
    if (waiting_.fetch_sub(1) == 1) return;
    while (waiting_.load() > 0) std::this_thread::yield();
  }

 private:
  std::atomic<int> waiting_;
};

// One client session: opens, prefills, waits at @p start (setting @p started), then decodes.
// Records in @p done_at when each decode step's reply arrived.
void run_session(v1::Blocks::Stub& stub, const ModelConfig& config, const BenchFlags& f, StartLine& start, bool* started,
                 std::vector<Clock::time_point>* done_at) {
  grpc::ClientContext ctx;
  auto stream = stub.Inference(&ctx);
  v1::InferenceRequest req;
  req.mutable_open()->set_block_begin(0);
  req.mutable_open()->set_block_end(static_cast<std::uint32_t>(config.num_hidden_layers));
  req.mutable_open()->set_max_length(static_cast<std::uint32_t>(f.prompt_tokens + f.decode_tokens));
  v1::InferenceResponse resp;
  if (!stream->Write(req) || !stream->Read(&resp) || !resp.has_opened()) throw std::runtime_error("cannot open a session");
  v1::InferenceRequest step;
  rpc::encode_tensor(torch::randn({1, f.prompt_tokens, config.hidden_size}) * 0.1, v1::DTYPE_F32, step.mutable_step()->mutable_hidden());
  step.mutable_step()->set_position(0);
  if (!stream->Write(step) || !stream->Read(&resp) || !resp.has_hidden()) throw std::runtime_error("the prefill failed");
  rpc::encode_tensor(torch::randn({1, 1, config.hidden_size}) * 0.1, v1::DTYPE_F32, step.mutable_step()->mutable_hidden());
  *started = true;
  start.arrive_and_wait();
  for (std::int64_t i = 0; i < f.decode_tokens; ++i) {
    step.mutable_step()->set_position(static_cast<std::uint64_t>(f.prompt_tokens + i));
    if (!stream->Write(step) || !stream->Read(&resp) || !resp.has_hidden()) throw std::runtime_error("a decode step failed");
    done_at->push_back(Clock::now());
  }
  stream->WritesDone();
  stream->Finish();
}

// A measurement's aggregate decode tokens/s.
struct Rates {
  double steady = 0;  // in the window where every session is past its warm-up and none has finished
  double whole = 0;   // from the start line to the last session's last step
};

// Steps completed per second between the last session's @p warmup-th step and the first
// session's last step (0 when that window is empty).
double steady_rate(const std::vector<std::vector<Clock::time_point>>& done_at, std::int64_t warmup) {
  Clock::time_point open{}, close = Clock::time_point::max();
  for (const auto& steps : done_at) {
    if (static_cast<std::int64_t>(steps.size()) <= warmup + 1) return 0;
    if (warmup > 0) open = std::max(open, steps[static_cast<std::size_t>(warmup - 1)]);
    else open = std::max(open, steps.front());
    close = std::min(close, steps.back());
  }
  if (close <= open) return 0;
  std::int64_t count = 0;
  for (const auto& steps : done_at) count += std::count_if(steps.begin(), steps.end(), [&](Clock::time_point t) { return t > open && t <= close; });
  return static_cast<double>(count) / std::chrono::duration<double>(close - open).count();
}

// A server for the benchmark and what its batches looked like during the decode phase.
struct BenchServer {
  std::atomic<std::int64_t> batches{0}, steps{0};
  std::unique_ptr<BlockServer> server;
  std::unique_ptr<v1::Blocks::Stub> stub;

  BenchServer(const BenchFlags& f, const ModelConfig& config, int max_batch_sessions, int max_sessions) {
    BlockServerOptions o;
    o.model_dir = f.model_dir;
    o.block_end = config.num_hidden_layers;
    o.throughput = 1;  // not measured: this process measures it better
    o.max_sessions = max_sessions;
    o.max_sessions_per_peer = max_sessions;
    o.max_streams_per_peer = max_sessions + 8;
    o.cache_mb = 4096;
    o.max_length = static_cast<int>(f.prompt_tokens + f.decode_tokens);
    o.max_batch_sessions = max_batch_sessions;
    o.on_batch = [this](int n, std::int64_t) {
      ++batches;
      steps += n;
    };
    server = std::make_unique<BlockServer>(o, NodeIdentity::generate());
    stub = v1::Blocks::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()), grpc::InsecureChannelCredentials()));
  }

  // Aggregate decode tokens/s of @p sessions sessions decoding at once, steady-state and over
  // the whole run; adds their batches' steps.
  Rates measure(const BenchFlags& f, const ModelConfig& config, int sessions, std::int64_t* batch_steps, std::int64_t* batch_count) {
    StartLine start(sessions + 1);
    std::mutex mu;
    std::string failure;
    std::vector<std::vector<Clock::time_point>> done_at(static_cast<std::size_t>(sessions));
    std::vector<std::thread> clients;
    for (int i = 0; i < sessions; ++i) {
      clients.emplace_back([&, i] {
        bool started = false;
        try {
          run_session(*stub, config, f, start, &started, &done_at[static_cast<std::size_t>(i)]);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mu);
          failure = e.what();
        }
        if (!started) start.arrive_and_wait();  // the others are not left waiting for this one
      });
    }
    start.arrive_and_wait();
    const auto s0 = steps.load(), b0 = batches.load();
    const auto t0 = Clock::now();
    for (auto& c : clients) c.join();
    if (!failure.empty()) throw std::runtime_error(failure);
    *batch_steps += steps.load() - s0;
    *batch_count += batches.load() - b0;
    Rates rates;
    rates.whole = static_cast<double>(sessions * f.decode_tokens) / std::chrono::duration<double>(Clock::now() - t0).count();
    rates.steady = steady_rate(done_at, f.warmup_steps);
    if (rates.steady <= 0) rates.steady = rates.whole;  // too few steps for a window
    return rates;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Aggregate decode tokens/s of concurrent sessions on one server, batched and not.", "petalsln-bench-sessions"};
  BenchFlags flags;
  declare_flags(app, flags);
  return cli::run_main("petalsln-bench-sessions", [&] {
    if (!cli::parse(app, argc, argv)) return 0;
    if (flags.sessions.empty()) flags.sessions = {1, 2, 4, 8, 16};
    set_compute_threads(static_cast<int>(flags.threads));
    const auto config = ModelConfig::load(flags.model_dir);
    const int most = static_cast<int>(*std::max_element(flags.sessions.begin(), flags.sessions.end()));
    BenchServer batched(flags, config, static_cast<int>(flags.max_batch_sessions), most);
    BenchServer alone(flags, config, 1, most);
    std::int64_t unused = 0;
    for (auto* server : {&batched, &alone}) server->measure(flags, config, std::min(most, 2), &unused, &unused);  // warm up
    std::printf("| sessions | batched tok/s | × %lld session(s) | steps per batch | unbatched tok/s | batched ÷ unbatched | batched tok/s, whole run |\n",
                static_cast<long long>(flags.sessions.front()));
    std::printf("|---:|---:|---:|---:|---:|---:|---:|\n");
    double single = 0;
    for (const auto n : flags.sessions) {
      std::vector<double> with, without, whole;
      std::int64_t steps = 0, batches = 0;
      for (std::int64_t r = 0; r < flags.runs; ++r) {  // interleaved, so both see the same machine
        const auto rates = batched.measure(flags, config, static_cast<int>(n), &steps, &batches);
        with.push_back(rates.steady);
        whole.push_back(rates.whole);
        without.push_back(alone.measure(flags, config, static_cast<int>(n), &unused, &unused).steady);
      }
      const double rate = median(with), base = median(without);
      if (single == 0) single = rate;  // the first row is the reference
      std::printf("| %lld | %.1f | %.2f | %.2f | %.1f | %.2f | %.1f |\n", static_cast<long long>(n), rate, rate / single,
                  static_cast<double>(steps) / static_cast<double>(std::max<std::int64_t>(1, batches)), base, rate / base, median(whole));
      std::fflush(stdout);
    }
    return 0;
  });
}
