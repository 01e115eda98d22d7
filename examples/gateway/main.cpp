// petalsln-gateway: sell chat on the swarm over HTTP and WebSocket, in OpenAI's and
// chat.petals.dev's dialects. A swarm client for one model (through the DHT, a static list of
// servers, or --local), and a server for anyone's chat program.
//
// When it serves it prints exactly one line to stdout:
//   ready url=http://HOST:PORT model=NAME price_msat_per_1k_tokens=N
// (url=https://... with --tls-cert and --tls-key)
// then one line per request on stderr. SIGINT/SIGTERM stop it: no new connections, running
// messages finish (at most --stop-grace seconds), exit 0.

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/gateway/gateway.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/payout_ledger.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/weight_format.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

struct GatewayFlags {
  std::string model_dir;
  std::string model_name;
  std::string listen = "127.0.0.1:0";
  bool local = false;
  std::string dtype;  // "": f32
  std::string quant;  // "": none
  std::vector<std::string> initial_peers;
  std::vector<std::string> peers;
  double timeout_s = 30;
  std::string wallet;
  std::string demo_wallet;  // a devnet account on --wallet's devnet
  std::uint64_t budget_sats = 0;
  std::uint64_t price_msat_per_1k_tokens = 0;
  std::uint64_t credit_tokens = 10000;
  std::string macaroon_key_file;
  std::string credit_store;
  double credit_lifetime_s = 86400;
  double invoice_expiry_s = 600;
  std::size_t max_connections = 256;
  std::size_t max_sessions = 8;
  std::uint64_t max_body_bytes = 1024 * 1024;
  std::uint32_t max_header_bytes = 16 * 1024;
  std::int64_t max_new_tokens = 512;
  double idle_timeout_s = 120;
  double header_timeout_s = 10;
  double body_timeout_s = 30;
  double stop_grace_s = 30;
  std::string web_root;  // "": default_web_root()
  // Servers paid from message income (declare_payout_flags).
  std::string ledger;
  std::uint32_t fee_bps = 0;
  std::uint64_t fee_fixed_msat = 0;
  std::int64_t payout_interval_s = 60;
  std::uint64_t payout_threshold_sats = 1;
  std::int64_t payout_timeout_s = 15;
  bool payout_allow_http_loopback = false;
  std::optional<std::string> token_store;  // unset: default_token_store(); "": in memory
  bool no_token_store = false;
  std::string tls_cert;
  std::string tls_key;
  double tls_handshake_timeout_s = 10;
};

// Where the L402 tokens bought from servers are kept unless --token-store says: beside the
// credit store, else beside the payout ledger, when the gateway has one (a folder the operator
// already keeps private), else in memory ("").
std::string default_token_store(const GatewayFlags& f) {
  std::string beside = f.credit_store;
  if (beside.empty() && !f.macaroon_key_file.empty()) beside = f.macaroon_key_file + ".credit";
  if (beside.empty()) beside = f.ledger;
  if (beside.empty()) return {};
  const auto dir = std::filesystem::path(beside).parent_path();
  return (dir.empty() ? std::filesystem::path("server-tokens.sqlite") : dir / "server-tokens.sqlite").string();
}

// The web chat page's folder: the installed one next to this program (PREFIX/bin ->
// PREFIX/share/petalsln/web/chat), else the source tree's (a build-tree program), else none.
std::string default_web_root() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const auto installed = exe.parent_path().parent_path() / "share" / "petalsln" / "web" / "chat";
    if (std::filesystem::is_regular_file(installed / "index.html", ec)) return installed.string();
  }
#ifdef PETALSLN_WEB_SOURCE_DIR
  if (std::filesystem::is_regular_file(std::filesystem::path(PETALSLN_WEB_SOURCE_DIR) / "index.html", ec)) return PETALSLN_WEB_SOURCE_DIR;
#endif
  return {};
}

std::chrono::milliseconds seconds(double s) { return std::chrono::milliseconds(static_cast<std::int64_t>(s * 1000.0)); }

void declare_payout_flags(CLI::App& app, GatewayFlags& f) {
  const char* group = "Paying servers from message income";
  auto* ledger = app.add_option("--ledger", f.ledger,
                                "payout ledger (SQLite, created 0600): split each message's income among the servers on its route\n"
                                "by block-tokens, accrue it here and pay their Lightning addresses from --wallet")
                     ->group(group);
  // The rest mean nothing without a ledger: given alone they are refused, not ignored.
  app.add_option("--fee-bps", f.fee_bps, "the gateway's fee, basis points of each message's income")
      ->check(CLI::Range(0, 10000))->capture_default_str()->group(group)->needs(ledger);
  app.add_option("--fee-fixed-msat", f.fee_fixed_msat, "fixed part of the fee per message, msat (the fee never exceeds the income)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{2'100'000'000'000'000'000}))->capture_default_str()->group(group)->needs(ledger);
  app.add_option("--payout-interval", f.payout_interval_s, "seconds between payout runs (the first at start)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{7 * 86400}))->capture_default_str()->group(group)->needs(ledger);
  app.add_option("--payout-threshold-sats", f.payout_threshold_sats, "pay an address once it is owed at least this (0: any amount)")
      ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{2'100'000'000'000'000}))->capture_default_str()->group(group)->needs(ledger);
  app.add_option("--payout-timeout", f.payout_timeout_s, "seconds each LNURL request of a payout may take")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{600}))->capture_default_str()->group(group)->needs(ledger);
  app.add_flag("--payout-allow-http-loopback", f.payout_allow_http_loopback,
               "allow plain http:// Lightning addresses on loopback hosts with a port (name@127.0.0.1:8080); tests only")
      ->group(group)->needs(ledger);
}

void declare_flags(CLI::App& app, GatewayFlags& f) {
  app.add_option("--model", f.model_dir, "model folder (in swarm mode only the tokenizer and head are loaded)")->required();
  app.add_option("--model-name", f.model_name, "the name servers announce and clients ask for (default: the folder's base name)");
  app.add_option("--listen", f.listen, "HOST:PORT to serve on (port 0: any free port)")->capture_default_str();
  app.add_flag("--local", f.local, "run every block in this process (no swarm)");
  app.add_option("--dtype", f.dtype, "keep the weights computed here (the head; with --local every block) as f32, bf16 or f16");
  app.add_option("--quant", f.quant, "none, or int8: weight-only int8 with a scale per 32 weights (overrides --dtype)");
  app.add_option("--initial-peers", f.initial_peers, "find the swarm through the DHT via HOST:PORT[,...]")->delimiter(',');
  app.add_option("--peers", f.peers, "use the servers at HOST:PORT[,...] (no DHT)")->delimiter(',');
  app.add_option("--timeout", f.timeout_s, "seconds a server may take for one step")->check(CLI::Range(0.001, 3600.0))->capture_default_str();
  app.add_option("--wallet", f.wallet, "wallet that pays priced servers and receives clients' payments, e.g. devnet:FILE?account=NAME");
  app.add_option("--budget-sats", f.budget_sats, "most the gateway may spend on servers (default 0: free servers only)");
  app.add_option("--price-msat-per-1k-tokens", f.price_msat_per_1k_tokens,
                 "price of 1000 tokens (prompt and generated) to clients, paid over L402 (0: free)")
      ->capture_default_str();
  app.add_option("--credit-tokens", f.credit_tokens, "tokens of credit one payment buys")->check(CLI::Range(1, 1000000000))->capture_default_str();
  app.add_option("--macaroon-key-file", f.macaroon_key_file, "the gateway's secret signing the credit it sells (created 0600 on first run)");
  app.add_option("--credit-store", f.credit_store, "where sold credit is metered (default: the key file's path + .credit)");
  app.add_option("--credit-lifetime", f.credit_lifetime_s, "seconds bought credit stays usable")->check(CLI::Range(1.0, 3.2e9))->capture_default_str();
  app.add_option("--invoice-expiry", f.invoice_expiry_s, "seconds a 402's invoice may be paid")->check(CLI::Range(10.0, 86400.0))->capture_default_str();
  app.add_option("--max-connections", f.max_connections, "open connections at most")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--max-sessions", f.max_sessions, "messages generating at once at most (more get 503)")->check(CLI::Range(1, 10000))->capture_default_str();
  app.add_option("--max-body-bytes", f.max_body_bytes, "largest request body or WebSocket message (larger: 413)")
      ->check(CLI::Range(1024, 64 * 1024 * 1024))->capture_default_str();
  app.add_option("--max-header-bytes", f.max_header_bytes, "largest request head (larger: 431)")->check(CLI::Range(1024, 1024 * 1024))->capture_default_str();
  app.add_option("--max-new-tokens", f.max_new_tokens, "most new tokens any request may ask for")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--idle-timeout", f.idle_timeout_s, "seconds an idle keep-alive connection or WebSocket is kept")
      ->check(CLI::Range(0.01, 86400.0))->capture_default_str();
  app.add_option("--header-timeout", f.header_timeout_s, "seconds to receive a request's head")->check(CLI::Range(0.01, 3600.0))->capture_default_str();
  app.add_option("--body-timeout", f.body_timeout_s, "seconds to receive a request's body")->check(CLI::Range(0.01, 3600.0))->capture_default_str();
  app.add_option("--stop-grace", f.stop_grace_s, "seconds running messages get to finish on SIGINT/SIGTERM")->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  auto* store = app.add_option("--token-store", f.token_store,
                               "file keeping the L402 tokens bought from servers (0600), so unused server credit survives a "
                               "restart (default: server-tokens.sqlite beside the credit store or else the ledger, if any; '': in memory)");
  app.add_flag("--no-token-store", f.no_token_store, "keep the servers' tokens in memory only")->excludes(store);
  auto* cert = app.add_option("--tls-cert", f.tls_cert, "PEM certificate chain: serve HTTPS and WSS (needs --tls-key)")
                   ->check(CLI::ExistingFile);
  auto* key = app.add_option("--tls-key", f.tls_key, "PEM private key of --tls-cert (must not be readable by group or others)")
                  ->check(CLI::ExistingFile);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--tls-handshake-timeout", f.tls_handshake_timeout_s, "seconds a client has to finish the TLS handshake")
      ->check(CLI::Range(0.01, 3600.0))->capture_default_str();
  app.add_option("--demo-wallet", f.demo_wallet,
                 "devnet account (on --wallet's devnet) the web chat may pay this gateway's invoices from: 'Pay from the demo wallet' "
                 "(devnet only: no real money)");
  app.add_option("--web-root", f.web_root, "folder of the web chat page served at / (default: the installed page, else the source tree's)");
  app.footer("Serves POST /v1/chat/completions, POST /v1/completions, GET /v1/models, POST /api/v1/generate,\n"
             "WebSocket /api/v2/generate and GET /api/v1/swarm. Stops cleanly on SIGINT or SIGTERM.");
}

// "HOST:PORT" (HOST may be a bracketed IPv6 literal) into its parts.
void parse_listen(const std::string& listen, GatewayOptions& o) {
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) throw Error(ErrorCode::invalid_argument, "--listen must be HOST:PORT, got \"" + listen + "\"");
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535) {
    throw Error(ErrorCode::invalid_argument, "--listen: bad port \"" + port + "\"");
  }
  o.listen_host = host;
  o.listen_port = static_cast<std::uint16_t>(std::stoul(port));
}

// The --demo-wallet account on the same devnet file as --wallet. Refused for any other wallet:
// the page's button pays on a visitor's word, which only play money may do.
std::shared_ptr<Wallet> open_demo_wallet(const GatewayFlags& f) {
  if (f.wallet.rfind("devnet:", 0) != 0) {
    throw Error(ErrorCode::invalid_argument, "--demo-wallet needs a devnet --wallet (devnet:FILE?account=NAME): the demo wallet pays play money only");
  }
  if (!is_valid_devnet_account_name(f.demo_wallet)) throw Error(ErrorCode::invalid_argument, "--demo-wallet: not a devnet account name: " + f.demo_wallet);
  DevnetUri uri = DevnetUri::parse(f.wallet);
  uri.account = f.demo_wallet;
  return std::shared_ptr<Wallet>(open_wallet(uri.to_string()));
}

// The payout flags into @p o; PETALSLN_PAYOUT_CRASH_AT (before_record, after_record or
// after_pay) ends the process with _exit(77) at that step of the first payout, as
// petalsln-payout does, for crash tests.
void payout_options(const GatewayFlags& f, GatewayOptions& o) {
  o.payout_ledger = f.ledger;
  o.payout_fee = {f.fee_bps, f.fee_fixed_msat};
  o.payout_interval = std::chrono::seconds(f.payout_interval_s);
  o.payout_threshold_msat = std::max<std::uint64_t>(1, f.payout_threshold_sats * 1000);
  o.payout_timeout = std::chrono::seconds(f.payout_timeout_s);
  o.payout_allow_http_loopback = f.payout_allow_http_loopback;
  const char* crash = std::getenv("PETALSLN_PAYOUT_CRASH_AT");
  if (crash == nullptr || *crash == '\0') return;
  const std::string at = crash;
  if (at != "before_record" && at != "after_record" && at != "after_pay") {
    throw Error(ErrorCode::invalid_argument, "PETALSLN_PAYOUT_CRASH_AT must be before_record, after_record or after_pay");
  }
  // No destructors, no flushing: what a kill leaves behind.
  o.payout_on_step = [at](PayoutStep step, const std::string&) {
    if (at == to_string(step)) ::_exit(77);
  };
}

GatewayOptions gateway_options(const GatewayFlags& f) {
  GatewayOptions o;
  o.model_dir = f.model_dir;
  o.model_name = f.model_name;
  parse_listen(f.listen, o);
  o.local = f.local;
  o.weights = weight_format_from_flags(f.dtype, f.quant);
  o.initial_peers = f.initial_peers;
  o.peers = f.peers;
  o.server_timeout = seconds(f.timeout_s);
  if (!f.demo_wallet.empty()) o.demo_wallet = open_demo_wallet(f);  // first: refused before any real wallet is touched
  if (!f.wallet.empty()) o.wallet = std::shared_ptr<Wallet>(open_wallet(f.wallet));
  o.budget_msat = f.budget_sats * 1000;
  o.price_msat_per_1k_tokens = f.price_msat_per_1k_tokens;
  o.credit_tokens = f.credit_tokens;
  o.macaroon_key_file = f.macaroon_key_file;
  o.credit_store = f.credit_store;
  o.credit_lifetime = std::chrono::seconds(static_cast<std::int64_t>(f.credit_lifetime_s));
  o.invoice_expiry = std::chrono::seconds(static_cast<std::int64_t>(f.invoice_expiry_s));
  o.max_connections = f.max_connections;
  o.max_generations = f.max_sessions;
  o.max_body_bytes = f.max_body_bytes;
  o.max_header_bytes = f.max_header_bytes;
  o.max_new_tokens = f.max_new_tokens;
  o.idle_timeout = seconds(f.idle_timeout_s);
  o.header_timeout = seconds(f.header_timeout_s);
  o.body_timeout = seconds(f.body_timeout_s);
  o.web_root = f.web_root.empty() ? default_web_root() : f.web_root;
  if (!f.no_token_store && !f.local) o.server_token_store = f.token_store ? *f.token_store : default_token_store(f);
  o.tls_cert = f.tls_cert;
  o.tls_key = f.tls_key;
  o.tls_handshake_timeout = seconds(f.tls_handshake_timeout_s);
  payout_options(f, o);
  o.request_log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  return o;
}

// Blocks SIGINT/SIGTERM in every thread (before any starts) so that main can sigwait.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int run(const GatewayFlags& f, const sigset_t& stop_signals) {
  Gateway gateway(gateway_options(f));
  std::printf("ready url=%s model=%s price_msat_per_1k_tokens=%llu\n", gateway.url().c_str(), gateway.model_name().c_str(),
              static_cast<unsigned long long>(f.price_msat_per_1k_tokens));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "petalsln-gateway: %s received, finishing running messages and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
  gateway.stop(seconds(f.stop_grace_s));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const sigset_t stop_signals = block_stop_signals();
  CLI::App app{"Serve chat on the swarm over HTTP and WebSocket (OpenAI and chat.petals.dev APIs).", "petalsln-gateway"};
  GatewayFlags flags;
  declare_flags(app, flags);
  declare_payout_flags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a ParseError too (exit 0); any other malformed command line exits 2, as
    // cli::run_main() makes every other example do, not with CLI11's own codes (105, 106...).
    const int printed = app.exit(e);
    return printed == 0 ? 0 : 2;
  }
  try {
    weight_format_from_flags(flags.dtype, flags.quant);  // a bad value is a bad command line too
  } catch (const Error& e) {
    std::fprintf(stderr, "petalsln-gateway: %s\n", e.what());
    return 2;
  }
  try {
    return run(flags, stop_signals);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "petalsln-gateway: %s\n", e.what());
    return 1;
  }
}
