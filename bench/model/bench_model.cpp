// petalsln-bench-model: load time, prefill and decode throughput of the local engine on a
// checkpoint folder, beside the memory-bandwidth floor for decoding.
//
//   petalsln-bench-model --model DIR [--prompt-tokens 128] [--decode-tokens 64] [--runs 5]
//
// Decoding one token reads every block weight and the LM head once, so
// floor = bytes of those weights / measured read bandwidth is the fastest any implementation
// keeping these weights in this dtype could decode. The table reports the ratio.

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <thread>
#include <vector>

#include "common/cli.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/model/model_config.hpp"

using namespace petalsln;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The command line, as parsed.
struct BenchFlags {
  std::string model_dir;
  std::int64_t prompt_tokens = 128;
  std::int64_t decode_tokens = 64;
  std::int64_t runs = 5;
  std::int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::string dtype;  // "": f32
  std::string quant;  // "": none
  std::vector<std::int64_t> sessions;  // batched decode: session counts to measure
};

void declare_flags(CLI::App& app, BenchFlags& f) {
  cli::configure(app,
                 "petalsln-bench-model --model DIR [--prompt-tokens 128] [--decode-tokens 64] [--runs 5] [--threads N]\n"
                 "                            [--dtype f32|bf16|f16] [--quant none|int8] [--sessions 1,2,4,8,16]");
  app.add_option("--model", f.model_dir, "checkpoint folder (required)")->option_text("DIR")->required();
  app.add_option("--prompt-tokens", f.prompt_tokens, "prompt length for the prefill (default 128)")
      ->option_text("N")->transform(cli::integer_in(1, 1 << 16));
  app.add_option("--decode-tokens", f.decode_tokens, "tokens decoded per run (default 64)")
      ->option_text("N")->transform(cli::integer_in(1, 1 << 16));
  app.add_option("--runs", f.runs, "runs to take the median of (default 5)")->option_text("N")->transform(cli::integer_in(1, 1000));
  app.add_option("--threads", f.threads, "compute threads (default: every hardware thread)")
      ->option_text("N")->transform(cli::integer_in(1, 1024));
  app.add_option("--sessions", f.sessions,
                 "also decode this many sessions at once through BlockStack::forward_batch (one pass over the weights per step) and "
                 "print aggregate tokens/s, e.g. 1,2,4,8,16")
      ->option_text("N,...")->delimiter(',')->check(CLI::Range(1, 256));
  cli::add_weight_format_options(app, f.dtype, f.quant, "Options");
  cli::add_help_flag(app, "Options");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Aggregate decode tokens/s of n sessions stepping together: each prefilled alone with the
// first 32 prompt tokens, then every step one token per session through one forward_batch and
// one head call over all n rows (the engine's view of what a server's batcher does).
double batched_decode_tps(const LocalHead& head, const BlockStack& blocks, const std::vector<TokenId>& prompt, std::int64_t n,
                          std::int64_t steps) {
  const std::vector<TokenId> start(prompt.begin(), prompt.begin() + std::min<std::size_t>(prompt.size(), 32));
  std::vector<KVCache> caches;
  std::vector<TokenId> next;
  for (std::int64_t s = 0; s < n; ++s) {
    caches.push_back(blocks.new_cache(1, static_cast<std::int64_t>(start.size()) + steps));
    auto out = blocks.forward(head.embed({start}), caches.back());
    next.push_back(static_cast<TokenId>((head.last_logits(out)[0].argmax().item<std::int64_t>() + s) % head.config().vocab_size));
  }
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < steps; ++i) {
    std::vector<SessionStep> batch;
    for (std::int64_t s = 0; s < n; ++s) batch.push_back(SessionStep{head.embed({{next[static_cast<std::size_t>(s)]}}), &caches[static_cast<std::size_t>(s)]});
    const auto out = torch::cat(blocks.forward_batch(batch), 0);  // [n, 1, hidden]
    const auto ids = head.last_logits(out).argmax(1);
    for (std::int64_t s = 0; s < n; ++s) next[static_cast<std::size_t>(s)] = static_cast<TokenId>(ids[s].item<std::int64_t>());
  }
  return static_cast<double>(n * steps) / seconds_since(t0);
}

void print_batched_decode(const LocalHead& head, const BlockStack& blocks, const std::vector<TokenId>& prompt, std::int64_t steps, int runs,
                          const std::vector<std::int64_t>& sessions) {
  std::printf("\n| sessions decoding together | aggregate decode tokens/s (median of %d) | x one session |\n|---:|---:|---:|\n", runs);
  double one = 0;
  for (auto n : sessions) {
    std::vector<double> v;
    for (int r = 0; r < runs + 1; ++r) {
      const double tps = batched_decode_tps(head, blocks, prompt, n, steps);
      if (r > 0) v.push_back(tps);
    }
    const double m = median(v);
    if (one == 0) one = m / static_cast<double>(n);  // one session's rate, from the first entry
    std::printf("| %lld | %.1f | %.2f |\n", static_cast<long long>(n), m, m / one);
    std::fflush(stdout);
  }
}

// Read bandwidth in bytes/s: every hardware thread sums its slice of a buffer far larger than
// the caches; best of several passes (the floor should be optimistic, not pessimistic).
double read_bandwidth() {
  const std::size_t n = std::size_t{512} << 20 >> 3;  // 512 MiB of uint64
  std::vector<std::uint64_t> buf(n, 1);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    std::vector<std::uint64_t> sums(threads);
    const auto t0 = Clock::now();
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const std::size_t lo = n * t / threads, hi = n * (t + 1) / threads;
        std::uint64_t a = 0, b = 0, c = 0, d = 0;
        for (std::size_t i = lo; i + 4 <= hi; i += 4) {
          a += buf[i];
          b += buf[i + 1];
          c += buf[i + 2];
          d += buf[i + 3];
        }
        sums[t] = a + b + c + d;
      });
    }
    for (auto& th : pool) th.join();
    const double s = seconds_since(t0);
    if (std::accumulate(sums.begin(), sums.end(), std::uint64_t{0}) != n - n % 4 * 0) { /* keep the sums live */ }
    best = std::max(best, static_cast<double>(n * 8) / s);
  }
  return best;
}

// Bytes one decoded token reads: every block's weights as the stack holds them, the LM head
// matrix in the same format, and the final norm (float32 in every format).
std::int64_t decode_weight_bytes(const ModelConfig& c, const BlockStack& blocks, WeightFormat format) {
  return blocks.weight_bytes() + weight_matrix_bytes(format, c.vocab_size, c.hidden_size) + c.hidden_size * 4;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Load time, prefill and decode throughput of the local engine on a checkpoint folder, beside\n"
      "the memory-bandwidth floor for decoding.",
      "petalsln-bench-model"};
  BenchFlags flags;
  declare_flags(app, flags);
  try {
    if (!cli::parse(app, argc, argv)) return 0;
    const std::string& dir = flags.model_dir;
    const std::int64_t prompt_tokens = flags.prompt_tokens;
    const std::int64_t decode_tokens = flags.decode_tokens;
    const int runs = static_cast<int>(flags.runs);
    ComputeOptions compute;
    compute.weights = cli::weight_format(flags.dtype, flags.quant);
    // libtorch defaults to one thread per physical core (1 on this 2-vCPU machine); use every
    // hardware thread, as the examples do.
    set_compute_threads(static_cast<int>(flags.threads));
    c10::InferenceMode guard;

    auto t0 = Clock::now();
    const auto config = ModelConfig::load(dir);
    const auto checkpoint = Checkpoint::open(dir);
    LocalHead head(config, checkpoint, compute);
    BlockStack blocks(config, checkpoint, 0, static_cast<int>(config.num_hidden_layers), compute);
    const double load_s = seconds_since(t0);

    std::vector<TokenId> prompt(static_cast<std::size_t>(prompt_tokens));
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<TokenId>((i * 7919 + 13) % static_cast<std::size_t>(config.vocab_size));

    std::vector<double> prefill, decode;
    for (int r = 0; r < runs + 1; ++r) {  // the first run warms caches and allocators
      auto cache = blocks.new_cache(1, prompt_tokens + decode_tokens);
      t0 = Clock::now();
      auto out = blocks.forward(head.embed({prompt}), cache);
      auto next = static_cast<TokenId>(head.last_logits(out)[0].argmax().item<std::int64_t>());
      const double p = seconds_since(t0);
      t0 = Clock::now();
      for (std::int64_t i = 0; i < decode_tokens; ++i) {
        out = blocks.forward(head.embed({{next}}), cache);
        next = static_cast<TokenId>(head.last_logits(out)[0].argmax().item<std::int64_t>());
      }
      const double d = seconds_since(t0);
      if (r == 0) continue;
      prefill.push_back(static_cast<double>(prompt_tokens) / p);
      decode.push_back(static_cast<double>(decode_tokens) / d);
    }

    const double bandwidth = read_bandwidth();
    const auto bytes = decode_weight_bytes(config, blocks, compute.weights);
    const double floor_s = static_cast<double>(bytes) / bandwidth;
    const double decode_tps = median(decode);
    std::printf("| metric | value |\n|---|---|\n");
    std::printf("| model | %s (%lld layers, hidden %lld, vocab %lld) |\n", dir.c_str(), static_cast<long long>(config.num_hidden_layers),
                static_cast<long long>(config.hidden_size), static_cast<long long>(config.vocab_size));
    std::printf("| compute threads | %d |\n", compute_threads());
    std::printf("| load time | %.2f s |\n", load_s);
    std::printf("| prefill (%lld-token prompt), median of %d | %.0f tokens/s |\n", static_cast<long long>(prompt_tokens), runs, median(prefill));
    std::printf("| decode with KV cache (%lld tokens), median of %d | %.1f tokens/s (%.1f ms/token) |\n",
                static_cast<long long>(decode_tokens), runs, decode_tps, 1000.0 / decode_tps);
    std::printf("| weights read per decoded token (%s) | %.1f MB |\n", std::string(to_string(compute.weights)).c_str(),
                static_cast<double>(bytes) / 1e6);
    std::printf("| measured read bandwidth | %.2f GB/s |\n", bandwidth / 1e9);
    std::printf("| bandwidth floor | %.1f ms/token (%.1f tokens/s) |\n", floor_s * 1000, 1.0 / floor_s);
    std::printf("| decode time / floor | %.2fx (target <= 3x) |\n", (1.0 / decode_tps) / floor_s);
    if (!flags.sessions.empty()) print_batched_decode(head, blocks, prompt, decode_tokens, runs, flags.sessions);
    return 0;
  } catch (const cli::UsageError& e) {
    std::fprintf(stderr, "petalsln-bench-model: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "petalsln-bench-model: error: %s\n", e.what());
    return 1;
  }
}
