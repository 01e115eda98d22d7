// petalsln-server: the contributor role. Serves a range of a model's blocks over gRPC,
// announces itself in the DHT, and withdraws on SIGINT/SIGTERM.
//
//   petalsln-server --model DIR --blocks 0:3 --identity server.key [--initial-peers HOST:PORT]
//
// Once serving and announced it prints exactly one line to stdout:
//   ready endpoint=HOST:PORT peer=PEER_ID blocks=A:B dht=HOST:PORT

#include <signal.h>



#include <atomic>
#include <thread>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "common/cli.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/contributor_server.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

const char* kUsage = R"(usage: petalsln-server --model DIR (--blocks A:B | --num-blocks N) [options]
       petalsln-server --dht-only [--dht-port Q] [--initial-peers HOST:PORT,...]

Serve a range of a model's transformer blocks to the swarm (the contributor role).

Model and blocks:
  --model DIR              Hugging Face model folder
  --model-name NAME        name to announce (default: the folder's base name)
  --blocks A:B             serve blocks A..B-1
  --num-blocks N           serve the N blocks the swarm covers least (needs the DHT)

Network:
  --host H                 address to listen on and announce (default 127.0.0.1)
  --port P                 gRPC port (default 0 = any free port)
  --dht-port Q             DHT port (default 0 = any free port)
  --initial-peers LIST     DHT bootstrap nodes HOST:PORT[,...] (none: start a new swarm)
  --dht-only               run only a DHT node (a bootstrap node), no model

Identity and announcement:
  --identity FILE          secp256k1 key file, created (mode 0600) on first run
                           (default: an ephemeral key)
  --public-name NAME       name shown to clients
  --lightning-address A    LUD-16 address for payouts
  --throughput X           block-tokens/s to announce (default: measured at start)

Payment (L402):
  --price-msat N           price per 1000 block-tokens (default 0 = free)
  --wallet URI             wallet that issues invoices, e.g. devnet:FILE?account=NAME
  --paywall-store FILE     credit ledger and macaroon root key, created 0600
                           (default: the identity file's path + ".paywall.db")
  --credit-block-tokens N  block-tokens sold per invoice (default 20000)

Limits:
  --max-sessions N         concurrent inference sessions (default 16)
  --max-sessions-per-peer N  sessions from one address (default 3/4 of --max-sessions)
  --max-streams-per-peer N   calls in progress from one address (default 8 more than
                             the sessions per address)
  --max-unpaid-per-peer N    unpaid invoices one address may hold (default 4)
  --open-timeout S         a stream must send `open` within S seconds (default 10)
  --idle-timeout S         an open session idle for S seconds is closed (default 300)
  --cache-mb N             KV-cache budget in MiB (default 512)
  --max-batch N            largest batch per request (default 8)
  --max-length N           longest session in tokens (default: the model's context)
  --threads N              compute threads (default: every hardware thread)

Testing:
  --exit-after-steps N     exit abruptly, as if crashed (no withdrawal, exit status 3),
                           after serving N inference steps; for failover tests
  -h, --help               show this help

Stops cleanly (withdrawing its announcement) on SIGINT or SIGTERM.
)";

std::pair<int, int> parse_blocks(const std::string& s) {
  const auto colon = s.find(':');
  try {
    if (colon == std::string::npos) throw std::invalid_argument(s);
    std::size_t a_end = 0, b_end = 0;
    const int a = std::stoi(s.substr(0, colon), &a_end);
    const int b = std::stoi(s.substr(colon + 1), &b_end);
    if (a_end != colon || b_end != s.size() - colon - 1 || a < 0 || b <= a) throw std::invalid_argument(s);
    return {a, b};
  } catch (const std::exception&) {
    throw cli::UsageError("--blocks must be A:B with 0 <= A < B, got \"" + s + "\"");
  }
}

// Blocks SIGINT/SIGTERM in every thread (set before any thread starts) so main can sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

// A duration flag in seconds (fractions allowed), at least 1 ms and at most a day.
std::chrono::milliseconds seconds_flag(const cli::Args& args, const std::string& name, double fallback) {
  const double s = args.number(name, fallback);
  if (!(s >= 0.001 && s <= 86400)) throw cli::UsageError("--" + name + " must be between 0.001 and 86400 seconds");
  return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000));
}

// The contributor's settings from the command line. What a user can get wrong is a usage
// error here (exit 2); ContributorServer checks the same things again for other callers.
ContributorServerOptions server_options(const cli::Args& args) {
  ContributorServerOptions o;
  o.dht_only = args.has("dht-only");
  o.host = args.str("host", "127.0.0.1");
  o.dht_port = static_cast<std::uint16_t>(args.integer("dht-port", 0, 0, 65535));
  if (args.has("initial-peers")) o.initial_peers = parse_endpoint_list(args.str("initial-peers"));
  if (o.dht_only) return o;
  o.model_dir = args.required("model");
  o.model_name = args.str("model-name");
  if (args.has("blocks") == args.has("num-blocks")) throw cli::UsageError("give exactly one of --blocks A:B and --num-blocks N");
  const auto config = ModelConfig::load(o.model_dir);
  if (args.has("blocks")) {
    std::tie(o.block_begin, o.block_end) = parse_blocks(args.str("blocks"));
    if (o.block_end > config.num_hidden_layers) {
      throw cli::UsageError("--blocks " + args.str("blocks") + " goes past the model's " + std::to_string(config.num_hidden_layers) + " blocks");
    }
  } else {
    o.num_blocks = static_cast<int>(args.integer("num-blocks", 1, 1, config.num_hidden_layers));
  }
  o.port = static_cast<int>(args.integer("port", 0, 0, 65535));
  o.max_sessions = static_cast<int>(args.integer("max-sessions", 16, 1, 100000));
  o.max_sessions_per_peer = static_cast<int>(args.integer("max-sessions-per-peer", 0, 1, 100000));
  o.max_streams_per_peer = static_cast<int>(args.integer("max-streams-per-peer", 0, 1, 100000));
  o.max_unpaid_per_peer = static_cast<std::uint32_t>(args.integer("max-unpaid-per-peer", 4, 1, 100000));
  o.open_timeout = seconds_flag(args, "open-timeout", 10);
  o.idle_timeout = seconds_flag(args, "idle-timeout", 300);
  o.cache_mb = args.integer("cache-mb", 512, 1, 1 << 24);
  o.max_batch = static_cast<int>(args.integer("max-batch", 8, 1, 4096));
  o.max_length = static_cast<int>(args.integer("max-length", 0, 0, 1 << 24));
  o.throughput = args.number("throughput", 0);
  if (o.throughput < 0) throw cli::UsageError("--throughput must be positive");
  o.public_name = args.str("public-name");
  o.lightning_address = args.str("lightning-address");
  o.identity_file = args.str("identity");
  if (args.has("exit-after-steps")) {
    const auto limit = args.integer("exit-after-steps", 1, 1, INT64_MAX);
    auto served = std::make_shared<std::atomic<std::int64_t>>(0);
    o.on_step = [limit, served](int, std::int64_t) {
      if (served->fetch_add(1) + 1 >= limit) {
        std::fprintf(stderr, "petalsln-server: --exit-after-steps %lld reached, exiting abruptly\n", static_cast<long long>(limit));
        std::_Exit(3);
      }
    };
  }
  o.price_msat = static_cast<std::uint64_t>(args.integer("price-msat", 0, 0, INT64_MAX / 1000000));
  if (o.price_msat > 0) {
    if (!args.has("wallet")) throw cli::UsageError("--price-msat needs --wallet to issue invoices");
    o.paywall_store = args.str("paywall-store");
    if (o.paywall_store.empty() && !args.has("identity")) throw cli::UsageError("a priced server needs --paywall-store FILE (or --identity)");
    o.credit_block_tokens = static_cast<std::uint64_t>(args.integer("credit-block-tokens", 20000, 1, INT64_MAX / 1000000));
    o.wallet = std::shared_ptr<Wallet>(open_wallet(args.str("wallet")));
  } else if (args.has("wallet") || args.has("paywall-store")) {
    throw cli::UsageError("--wallet and --paywall-store only apply with --price-msat");
  }
  return o;
}

int run(const cli::Args& args, const sigset_t& stop_signals) {
  if (!args.has("dht-only")) {
    petalsln::set_compute_threads(static_cast<int>(args.integer("threads", std::max(1u, std::thread::hardware_concurrency()), 1, 1024)));
  }
  ContributorServer server(server_options(args));
  if (args.has("dht-only")) {
    std::printf("ready endpoint=none peer=none blocks=none dht=%s\n", server.dht_address().c_str());
  } else {
    std::printf("ready endpoint=%s peer=%s blocks=%d:%d dht=%s\n", server.endpoint().c_str(), server.peer_id_hex().c_str(),
                server.block_begin(), server.block_end(), server.dht_address().c_str());
  }
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (!args.has("dht-only")) {
    std::fprintf(stderr, "petalsln-server: %s received, withdrawing and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  }
  const std::string failure = server.stop();
  if (!failure.empty()) std::fprintf(stderr, "petalsln-server: could not withdraw the announcement (%s); it will expire\n", failure.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t stop_signals = block_stop_signals();
  cli::Args args;
  args.option("model").option("model-name").option("blocks").option("num-blocks").option("host").option("port");
  args.option("dht-port").option("initial-peers").flag("dht-only").option("identity").option("public-name");
  args.option("lightning-address").option("throughput").option("max-sessions").option("cache-mb").option("max-batch");
  args.option("max-length").option("exit-after-steps").option("price-msat").option("wallet").option("paywall-store");
  args.option("credit-block-tokens").option("threads").option("max-sessions-per-peer").option("max-streams-per-peer");
  args.option("max-unpaid-per-peer").option("open-timeout").option("idle-timeout").flag("help");
  return cli::run_main("petalsln-server", [&] {
    if (!cli::parse_without_operands(args, argc, argv, kUsage)) return 0;
    return run(args, stop_signals);
  });
}
