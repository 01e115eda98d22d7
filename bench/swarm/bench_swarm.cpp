// petalsln-bench-swarm: decode throughput through a 3-server loopback swarm against local
// decoding in the same run, and the per-hop overhead (a hop's round trip minus the compute the
// server reports), median and p95.
//
//   petalsln-bench-swarm --model DIR [--decode-tokens 64] [--prompt-tokens 16] [--runs 5]
//
// The three BlockServers run in this process but talk real gRPC over 127.0.0.1. Sharing the
// process, they share gRPC's pollers with the client, which costs each reply a thread hand-off
// (about 50 us per hop, measured once against servers in a child process); a child process
// instead puts a second pool of compute threads on the same cores, and measured the same ratio.
// Local, paid and free decoding take turns run by run; the ratios are taken per run.

#include <torch/torch.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <thread>
#include <cstdio>
#include <vector>

#include "common/cli.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/block_stack.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/server/block_server.hpp"

using namespace petalsln;
using Clock = std::chrono::steady_clock;

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

// Greedy decoding through @p pipeline; returns tokens/s of the decode phase.
double decode_rate(const LocalHead& head, BlockPipeline& pipeline, const std::vector<TokenId>& prompt, std::int64_t n) {
  pipeline.begin_sequence(static_cast<std::int64_t>(prompt.size()) + n);
  auto out = pipeline.step(head.embed({prompt}));
  auto next = static_cast<TokenId>(head.last_logits(out)[0].argmax().item<std::int64_t>());
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    out = pipeline.step(head.embed({{next}}));
    next = static_cast<TokenId>(head.last_logits(out)[0].argmax().item<std::int64_t>());
  }
  return static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count();
}

// The command line, as parsed.
struct BenchFlags {
  std::string model_dir;
  std::int64_t decode_tokens = 64;
  std::int64_t prompt_tokens = 16;
  std::int64_t runs = 5;
};

void declare_flags(CLI::App& app, BenchFlags& f) {
  cli::configure(app, "petalsln-bench-swarm --model DIR [--decode-tokens 64] [--prompt-tokens 16] [--runs 5]");
  app.add_option("--model", f.model_dir, "checkpoint folder (required)")->option_text("DIR")->required();
  app.add_option("--decode-tokens", f.decode_tokens, "tokens decoded per run (default 64)")
      ->option_text("N")->transform(cli::integer_in(1, 100000));
  app.add_option("--prompt-tokens", f.prompt_tokens, "prompt length (default 16)")->option_text("N")->transform(cli::integer_in(1, 4096));
  app.add_option("--runs", f.runs, "runs to take the median of (default 5)")->option_text("N")->transform(cli::integer_in(1, 100));
  cli::add_help_flag(app, "Options");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Decode throughput through a 3-server loopback swarm (free and paid) against local decoding in\n"
      "the same run, and the per-hop overhead (a hop's round trip minus the server's compute).",
      "petalsln-bench-swarm"};
  BenchFlags flags;
  declare_flags(app, flags);
  try {
    if (!cli::parse(app, argc, argv)) return 0;
    const std::string& dir = flags.model_dir;
    const std::int64_t n = flags.decode_tokens;
    const std::int64_t prompt_tokens = flags.prompt_tokens;
    const int runs = static_cast<int>(flags.runs);
    set_compute_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
    const auto config = ModelConfig::load(dir);
    const auto checkpoint = Checkpoint::open(dir);
    const int L = static_cast<int>(config.num_hidden_layers);
    LocalHead head(config, checkpoint);
    BlockStack whole(config, checkpoint, 0, L);
    LocalPipeline local({&whole});

    // A devnet for the paid swarm: three server accounts and a funded client.
    char tmp[] = "/tmp/petalsln-bench-swarm-XXXXXX";
    if (::mkdtemp(tmp) == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string db = std::string(tmp) + "/devnet.db";
    create_devnet_account(db, "client", 1000000000);
    std::vector<std::unique_ptr<BlockServer>> servers;
    std::vector<ServerRecord> records, paid_records;
    const int cuts[4] = {0, L / 3, 2 * L / 3, L};
    for (int paid = 0; paid < 2; ++paid) {
      for (int s = 0; s < 3; ++s) {
        BlockServerOptions o;
        o.model_dir = dir;
        o.block_begin = cuts[s];
        o.block_end = cuts[s + 1];
        o.throughput = 1000;
        auto identity = NodeIdentity::generate();
        if (paid == 1) {
          const std::string account = "server" + std::to_string(s);
          create_devnet_account(db, account, 0);
          PaywallOptions po;
          po.price_msat = 1000;
          po.model = "bench";
          po.peer_hex = identity.peer_id_hex();
          po.block_begin = static_cast<std::uint32_t>(o.block_begin);
          po.block_end = static_cast<std::uint32_t>(o.block_end);
          po.store_path = std::string(tmp) + "/paywall" + std::to_string(s) + ".db";
          o.paywall = std::make_shared<Paywall>(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=" + account)));
          o.price_msat = po.price_msat;
        }
        servers.push_back(std::make_unique<BlockServer>(o, std::move(identity)));
        (paid == 1 ? paid_records : records).push_back(servers.back()->record());
      }
    }
    RemoteSequenceOptions ro;
    ro.ping_servers = false;
    RemoteSequence remote([&] { return records; }, static_cast<std::uint32_t>(L), config.hidden_size, ro);
    ro.wallet = std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=client"));
    ro.budget_msat = 1000000000;
    RemoteSequence paid_remote([&] { return paid_records; }, static_cast<std::uint32_t>(L), config.hidden_size, ro);

    std::vector<TokenId> prompt(static_cast<std::size_t>(prompt_tokens));
    for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<TokenId>((i * 7919 + 13) % static_cast<std::size_t>(config.vocab_size));
    decode_rate(head, local, prompt, 4);  // warm up both paths
    decode_rate(head, remote, prompt, 4);
    decode_rate(head, paid_remote, prompt, 4);

    std::vector<double> local_rates, swarm_rates, paid_rates, overhead_us;
    for (int r = 0; r < runs; ++r) {  // interleaved, so drift on a shared machine hits all three
      local_rates.push_back(decode_rate(head, local, prompt, n));
      paid_rates.push_back(decode_rate(head, paid_remote, prompt, n));
      swarm_rates.push_back(decode_rate(head, remote, prompt, n));
      for (const auto& t : remote.timings()) {
        if (t.tokens == 1) overhead_us.push_back(static_cast<double>((t.round_trip - t.compute).count()));
      }
    }
    const double local_tps = percentile(local_rates, 0.5), swarm_tps = percentile(swarm_rates, 0.5);
    // The ratios are taken run by run (each run decodes locally, paid and free back to back), so
    // that the host's drift between runs cancels; their median and range are reported.
    std::vector<double> swarm_ratios, paid_ratios;
    for (int r = 0; r < runs; ++r) {
      swarm_ratios.push_back(swarm_rates[static_cast<std::size_t>(r)] / local_rates[static_cast<std::size_t>(r)]);
      paid_ratios.push_back(paid_rates[static_cast<std::size_t>(r)] / swarm_rates[static_cast<std::size_t>(r)]);
    }
    std::printf("| metric | value |\n|---|---|\n");
    std::printf("| model | %s (%d blocks, hidden %lld) |\n", dir.c_str(), L, static_cast<long long>(config.hidden_size));
    std::printf("| swarm | 3 servers on 127.0.0.1: blocks %d-%d, %d-%d, %d-%d |\n", cuts[0], cuts[1] - 1, cuts[1], cuts[2] - 1, cuts[2], cuts[3] - 1);
    std::printf("| local decode, median of %d runs x %lld tokens | %.2f tokens/s |\n", runs, static_cast<long long>(n), local_tps);
    std::printf("| swarm decode, median of %d runs x %lld tokens | %.2f tokens/s |\n", runs, static_cast<long long>(n), swarm_tps);
    std::printf("| swarm / local, median of the runs' ratios (range) | %.3f (%.3f-%.3f) (target >= 0.9) |\n", percentile(swarm_ratios, 0.5),
                percentile(swarm_ratios, 0), percentile(swarm_ratios, 1));
    const double paid_tps = percentile(paid_rates, 0.5);
    std::printf("| paid swarm decode (L402 paywall on every server, devnet wallet), median | %.2f tokens/s (%zu payments) |\n", paid_tps,
                paid_remote.payments().size());
    std::printf("| paid swarm / free swarm, median of the runs' ratios (range) | %.3f (%.3f-%.3f) (target >= 0.97) |\n", percentile(paid_ratios, 0.5),
                percentile(paid_ratios, 0), percentile(paid_ratios, 1));
    std::printf("| per-hop overhead (round trip - server compute), %zu decode steps | median %.0f us, p95 %.0f us (target median <= 200 us) |\n",
                overhead_us.size(), percentile(overhead_us, 0.5), percentile(overhead_us, 0.95));
    for (auto& s : servers) s->shutdown();
    const std::string cleanup = std::string("rm -rf ") + tmp;
    if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", tmp);
    return 0;
  } catch (const cli::UsageError& e) {
    std::fprintf(stderr, "petalsln-bench-swarm: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "petalsln-bench-swarm: error: %s\n", e.what());
    return 1;
  }
}
