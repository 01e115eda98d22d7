// petalsln-server: the contributor role. Serves a range of a model's blocks over gRPC,
// announces itself in the DHT, and withdraws on SIGINT/SIGTERM.
//
//   petalsln-server --model DIR --blocks 0:3 --identity server.key [--initial-peers HOST:PORT]
//
// Once serving and announced it prints exactly one line to stdout:
//   ready endpoint=HOST:PORT peer=PEER_ID blocks=A:B dht=HOST:PORT

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>

#include "common/cli.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/compute_threads.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/contributor_server.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

// The command line, as parsed: one field per flag (unset optionals were not given; a zero
// per-peer limit means "derived from --max-sessions").
struct ServerFlags {
  std::optional<std::string> model_dir;
  std::string model_name;
  std::optional<std::string> blocks;
  std::optional<std::int64_t> num_blocks;
  std::string host = "127.0.0.1";
  std::int64_t port = 0;
  std::int64_t dht_port = 0;
  std::optional<std::string> initial_peers;
  bool dht_only = false;
  std::optional<std::string> identity;
  std::string public_name;
  std::string lightning_address;
  double throughput = 0;
  std::int64_t price_msat = 0;
  std::optional<std::string> wallet;
  std::optional<std::string> paywall_store;
  std::int64_t credit_block_tokens = 20000;
  std::int64_t max_sessions = 16;
  std::int64_t max_sessions_per_peer = 0;
  std::int64_t max_streams_per_peer = 0;
  std::int64_t max_unpaid_per_peer = 4;
  double open_timeout_s = 10;
  double idle_timeout_s = 300;
  std::int64_t cache_mb = 512;
  std::int64_t max_batch = 8;
  std::int64_t max_batch_sessions = 16;
  std::int64_t max_length = 0;
  std::int64_t threads = std::max(1u, std::thread::hardware_concurrency());
  std::string dtype;  // "": f32
  std::string quant;  // "": none
  std::optional<std::int64_t> exit_after_steps;
};

void declare_model(CLI::App& app, ServerFlags& f) {
  const std::string group = "Model and blocks";
  app.add_option("--model", f.model_dir, "Hugging Face model folder")->option_text("DIR")->group(group);
  app.add_option("--model-name", f.model_name, "name to announce (default: the folder's base name)")
      ->option_text("NAME")->group(group);
  app.add_option("--blocks", f.blocks, "serve blocks A..B-1")->option_text("A:B")->group(group);
  app.add_option("--num-blocks", f.num_blocks, "serve the N blocks the swarm covers least (needs the DHT)")
      ->option_text("N")->transform(cli::integer_in(1, INT64_MAX))->group(group);
  cli::add_weight_format_options(app, f.dtype, f.quant, group);
}

void declare_network(CLI::App& app, ServerFlags& f) {
  const std::string group = "Network";
  app.add_option("--host", f.host, "address to listen on and announce (default 127.0.0.1)")->option_text("H")->group(group);
  app.add_option("--port", f.port, "gRPC port (default 0 = any free port)")
      ->option_text("P")->transform(cli::integer_in(0, 65535))->group(group);
  app.add_option("--dht-port", f.dht_port, "DHT port (default 0 = any free port)")
      ->option_text("Q")->transform(cli::integer_in(0, 65535))->group(group);
  app.add_option("--initial-peers", f.initial_peers, "DHT bootstrap nodes HOST:PORT[,...] (none: start a new swarm)")
      ->option_text("LIST")->group(group);
  cli::add_flag(app, "--dht-only", f.dht_only, "run only a DHT node (a bootstrap node), no model")->group(group);
}

void declare_identity(CLI::App& app, ServerFlags& f) {
  const std::string group = "Identity and announcement";
  app.add_option("--identity", f.identity,
                 "secp256k1 key file, created (mode 0600) on first run\n"
                 "(default: an ephemeral key)")->option_text("FILE")->group(group);
  app.add_option("--public-name", f.public_name, "name shown to clients")->option_text("NAME")->group(group);
  app.add_option("--lightning-address", f.lightning_address, "LUD-16 address for payouts")->option_text("A")->group(group);
  app.add_option("--throughput", f.throughput, "block-tokens/s to announce (default: measured at start)")
      ->option_text("X")->check(cli::number_in())->group(group);
}

void declare_payment(CLI::App& app, ServerFlags& f) {
  const std::string group = "Payment (L402)";
  app.add_option("--price-msat", f.price_msat, "price per 1000 block-tokens (default 0 = free)")
      ->option_text("N")->transform(cli::integer_in(0, INT64_MAX / 1000000))->group(group);
  app.add_option("--wallet", f.wallet, "wallet that issues invoices, e.g. devnet:FILE?account=NAME")
      ->option_text("URI")->group(group);
  app.add_option("--paywall-store", f.paywall_store,
                 "credit ledger and macaroon root key, created 0600\n"
                 "(default: the identity file's path + \".paywall.db\")")->option_text("FILE")->group(group);
  app.add_option("--credit-block-tokens", f.credit_block_tokens, "block-tokens sold per invoice (default 20000)")
      ->option_text("N")->transform(cli::integer_in(1, INT64_MAX / 1000000))->group(group);
}

void declare_admission_limits(CLI::App& app, ServerFlags& f, const std::string& group) {
  app.add_option("--max-sessions", f.max_sessions, "concurrent inference sessions (default 16)")
      ->option_text("N")->transform(cli::integer_in(1, 100000))->group(group);
  app.add_option("--max-sessions-per-peer", f.max_sessions_per_peer, "sessions from one address (default 3/4 of --max-sessions)")
      ->option_text("N")->transform(cli::integer_in(1, 100000))->group(group);
  app.add_option("--max-streams-per-peer", f.max_streams_per_peer,
                 "calls in progress from one address (default 8 more than\n"
                 "the sessions per address)")->option_text("N")->transform(cli::integer_in(1, 100000))->group(group);
  app.add_option("--max-unpaid-per-peer", f.max_unpaid_per_peer, "unpaid invoices one address may hold (default 4)")
      ->option_text("N")->transform(cli::integer_in(1, 100000))->group(group);
  // A duration in seconds (fractions allowed), at least 1 ms and at most a day.
  app.add_option("--open-timeout", f.open_timeout_s, "a stream must send `open` within S seconds (default 10)")
      ->option_text("S")->check(cli::number_in(0.001, 86400))->group(group);
  app.add_option("--idle-timeout", f.idle_timeout_s, "an open session idle for S seconds is closed (default 300)")
      ->option_text("S")->check(cli::number_in(0.001, 86400))->group(group);
}

void declare_compute_limits(CLI::App& app, ServerFlags& f, const std::string& group) {
  app.add_option("--cache-mb", f.cache_mb, "KV-cache budget in MiB (default 512)")
      ->option_text("N")->transform(cli::integer_in(1, 1 << 24))->group(group);
  app.add_option("--max-batch", f.max_batch, "largest batch per request (default 8)")
      ->option_text("N")->transform(cli::integer_in(1, 4096))->group(group);
  app.add_option("--max-batch-sessions", f.max_batch_sessions,
                 "sessions whose waiting steps run as one batch\n"
                 "(default 16; 1 = each step alone)")->option_text("N")->transform(cli::integer_in(1, 1024))->group(group);
  app.add_option("--max-length", f.max_length, "longest session in tokens (default: the model's context)")
      ->option_text("N")->transform(cli::integer_in(0, 1 << 24))->group(group);
  app.add_option("--threads", f.threads, "compute threads (default: every hardware thread)")
      ->option_text("N")->transform(cli::integer_in(1, 1024))->group(group);
}

void declare_testing(CLI::App& app, ServerFlags& f) {
  const std::string group = "Testing";
  app.add_option("--exit-after-steps", f.exit_after_steps,
                 "exit abruptly, as if crashed (no withdrawal, exit status 3),\n"
                 "after serving N inference steps; for failover tests")
      ->option_text("N")->transform(cli::integer_in(1, INT64_MAX))->group(group);
  cli::add_help_flag(app, group);
}

// Declares every flag of petalsln-server on @p app, bound to the fields of @p f.
void declare_flags(CLI::App& app, ServerFlags& f) {
  cli::configure(app,
                 "petalsln-server --model DIR (--blocks A:B | --num-blocks N) [options]\n"
                 "       petalsln-server --dht-only [--dht-port Q] [--initial-peers HOST:PORT,...]");
  declare_model(app, f);
  declare_network(app, f);
  declare_identity(app, f);
  declare_payment(app, f);
  declare_admission_limits(app, f, "Limits");
  declare_compute_limits(app, f, "Limits");
  declare_testing(app, f);
  app.footer("Stops cleanly (withdrawing its announcement) on SIGINT or SIGTERM.");
}

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

std::chrono::milliseconds milliseconds(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000));
}

// Which blocks to serve: --blocks A:B or --num-blocks N, checked against the model.
void choose_blocks(const ServerFlags& f, ContributorServerOptions& o) {
  if (f.blocks.has_value() == f.num_blocks.has_value()) throw cli::UsageError("give exactly one of --blocks A:B and --num-blocks N");
  const auto config = ModelConfig::load(o.model_dir);
  if (f.blocks) {
    std::tie(o.block_begin, o.block_end) = parse_blocks(*f.blocks);
    if (o.block_end > config.num_hidden_layers) {
      throw cli::UsageError("--blocks " + *f.blocks + " goes past the model's " + std::to_string(config.num_hidden_layers) + " blocks");
    }
  } else {
    o.num_blocks = static_cast<int>(cli::check_range("--num-blocks", *f.num_blocks, 1, config.num_hidden_layers));
  }
}

void set_limits(const ServerFlags& f, ContributorServerOptions& o) {
  o.max_sessions = static_cast<int>(f.max_sessions);
  o.max_sessions_per_peer = static_cast<int>(f.max_sessions_per_peer);
  o.max_streams_per_peer = static_cast<int>(f.max_streams_per_peer);
  o.max_unpaid_per_peer = static_cast<std::uint32_t>(f.max_unpaid_per_peer);
  o.open_timeout = milliseconds(f.open_timeout_s);
  o.idle_timeout = milliseconds(f.idle_timeout_s);
  o.cache_mb = f.cache_mb;
  o.max_batch = static_cast<int>(f.max_batch);
  o.max_batch_sessions = static_cast<int>(f.max_batch_sessions);
  o.max_length = static_cast<int>(f.max_length);
}

// The L402 paywall: a price needs a wallet to issue invoices and a store for the credit.
void set_payment(const ServerFlags& f, ContributorServerOptions& o) {
  o.price_msat = static_cast<std::uint64_t>(f.price_msat);
  if (o.price_msat > 0) {
    if (!f.wallet) throw cli::UsageError("--price-msat needs --wallet to issue invoices");
    o.paywall_store = f.paywall_store.value_or("");
    if (o.paywall_store.empty() && !f.identity) throw cli::UsageError("a priced server needs --paywall-store FILE (or --identity)");
    o.credit_block_tokens = static_cast<std::uint64_t>(f.credit_block_tokens);
    o.wallet = std::shared_ptr<Wallet>(open_wallet(*f.wallet));
  } else if (f.wallet || f.paywall_store) {
    throw cli::UsageError("--wallet and --paywall-store only apply with --price-msat");
  }
}

// --exit-after-steps: ends the process abruptly, as a crash would, after that many steps.
std::function<void(int, std::int64_t)> exit_after(std::int64_t limit) {
  auto served = std::make_shared<std::atomic<std::int64_t>>(0);
  return [limit, served](int, std::int64_t) {
    if (served->fetch_add(1) + 1 >= limit) {
      std::fprintf(stderr, "petalsln-server: --exit-after-steps %lld reached, exiting abruptly\n", static_cast<long long>(limit));
      std::_Exit(3);
    }
  };
}

// The contributor's settings from the command line. What a user can get wrong is a usage
// error here (exit 2); ContributorServer checks the same things again for other callers.
ContributorServerOptions server_options(const ServerFlags& f) {
  ContributorServerOptions o;
  o.dht_only = f.dht_only;
  o.host = f.host;
  o.dht_port = static_cast<std::uint16_t>(f.dht_port);
  if (f.initial_peers) o.initial_peers = parse_endpoint_list(*f.initial_peers);
  if (o.dht_only) return o;
  if (!f.model_dir) throw cli::UsageError("missing required option --model");
  o.model_dir = *f.model_dir;
  o.model_name = f.model_name;
  o.weights = cli::weight_format(f.dtype, f.quant);
  choose_blocks(f, o);
  o.port = static_cast<int>(f.port);
  set_limits(f, o);
  o.throughput = f.throughput;
  if (o.throughput < 0) throw cli::UsageError("--throughput must be positive");
  o.public_name = f.public_name;
  o.lightning_address = f.lightning_address;
  o.identity_file = f.identity.value_or("");
  if (f.exit_after_steps) o.on_step = exit_after(*f.exit_after_steps);
  set_payment(f, o);
  return o;
}

// One line on stderr telling the operator what the blocks cost in memory and what was
// announced for them: the figures clients plan with and the format their answers come from.
void report_serving(const ServerRecord& r) {
  std::fprintf(stderr, "petalsln-server: blocks %u:%u, %s weights, %.2f MiB per block; %.1f block-tokens/s for one session",
               r.block_begin, r.block_end, r.weights.c_str(), static_cast<double>(r.weight_bytes_per_block) / (1 << 20), r.throughput);
  if (r.batch_sessions > 0) std::fprintf(stderr, ", %.1f for %u sessions batched", r.batch_throughput, r.batch_sessions);
  std::fputc('\n', stderr);
}

int run(const ServerFlags& f, const sigset_t& stop_signals) {
  if (!f.dht_only) petalsln::set_compute_threads(static_cast<int>(f.threads));
  ContributorServer server(server_options(f));
  if (f.dht_only) {
    std::printf("ready endpoint=none peer=none blocks=none dht=%s\n", server.dht_address().c_str());
  } else {
    std::printf("ready endpoint=%s peer=%s blocks=%d:%d dht=%s\n", server.endpoint().c_str(), server.peer_id_hex().c_str(),
                server.block_begin(), server.block_end(), server.dht_address().c_str());
  }
  std::fflush(stdout);
  if (!f.dht_only) report_serving(server.record());

  int sig = 0;
  sigwait(&stop_signals, &sig);
  if (!f.dht_only) {
    std::fprintf(stderr, "petalsln-server: %s received, withdrawing and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  }
  const std::string failure = server.stop();
  if (!failure.empty()) std::fprintf(stderr, "petalsln-server: could not withdraw the announcement (%s); it will expire\n", failure.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t stop_signals = block_stop_signals();
  CLI::App app{"Serve a range of a model's transformer blocks to the swarm (the contributor role).", "petalsln-server"};
  ServerFlags flags;
  declare_flags(app, flags);
  return cli::run_main("petalsln-server", [&] {
    if (!cli::parse(app, argc, argv)) return 0;
    return run(flags, stop_signals);
  });
}
