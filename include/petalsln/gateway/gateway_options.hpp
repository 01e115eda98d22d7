#pragma once
/// @file gateway_options.hpp
/// What a Gateway serves, where its blocks run, and the limits it holds every client to.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/lightning/payout_ledger.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/weight_format.hpp"

namespace petalsln {

/// Options of a Gateway. Every size, count and time a client could push on has a limit here;
/// the defaults suit a gateway on loopback behind a reverse proxy.
struct GatewayOptions {
  /// The Hugging Face model folder (the client side is loaded from it: tokenizer, chat
  /// template, head; with `local` also the blocks).
  std::string model_dir;
  /// The name clients ask for and servers announce (""= the model folder's base name).
  std::string model_name;

  /// Run every block in this process. Exactly one of local, initial_peers and peers.
  bool local = false;
  /// How the weights computed in this process are kept in memory: the head's, and with
  /// `local` every block's.
  WeightFormat weights = WeightFormat::f32;
  /// DHT nodes ("host:port") to join to find the model's servers.
  std::vector<std::string> initial_peers;
  /// Servers ("host:port") to use directly, no DHT.
  std::vector<std::string> peers;
  /// How long a server may take for one step, an Info answer, or a route to become available.
  std::chrono::milliseconds server_timeout{30000};
  /// Pays priced servers on the route and receives what clients pay a priced gateway (null:
  /// free servers only, and a free gateway). Shared with the caller.
  std::shared_ptr<Wallet> wallet;
  /// A devnet account the web chat may pay this gateway's own invoices from ("Pay from the
  /// demo wallet", for demos; null: none). Both it and `wallet` must be devnet wallets (on the
  /// devnet no real money moves), or the Gateway refuses to start.
  std::shared_ptr<Wallet> demo_wallet;
  /// Most the gateway may spend on servers over its life, fees included, in millisatoshis.
  std::uint64_t budget_msat = 0;
  /// Skip servers charging more than this per 1000 block-tokens (nullopt: no limit).
  std::optional<std::uint64_t> max_server_price_msat;
  /// The file keeping the L402 tokens bought from servers (SQLite, created 0600; see
  /// ServerTokens), so server credit bought and not used survives a restart and is spent
  /// before anything new is bought; "": held in memory for this process's life.
  std::string server_token_store;

  /// What clients pay per 1000 tokens (prompt and generated), in millisatoshis; 0: a free
  /// gateway that asks for nothing. Servers charging more than this price divided by the
  /// number of blocks per 1000 block-tokens are not used, so no route costs more than it sells.
  std::uint64_t price_msat_per_1k_tokens = 0;
  /// Tokens of credit one payment buys (a message needing more is sold what it needs).
  std::uint64_t credit_tokens = 10000;
  /// The gateway's secret (64 hex digits, created 0600 on first run): signs the macaroons it
  /// sells and names the gateway in them. Required when priced.
  std::string macaroon_key_file;
  /// The credit sold, metered durably (SQLite, created 0600); "": macaroon_key_file + ".credit".
  std::string credit_store;
  /// How long bought credit stays usable.
  std::chrono::seconds credit_lifetime{86400};
  /// How long a 402's invoice may be paid.
  std::chrono::seconds invoice_expiry{600};

  /// Servers paid from each message's income: the payout ledger (SQLite, created 0600) where
  /// each message's split is accrued, by the Lightning address each server on its route
  /// announced, and from which they are paid over LNURL-pay from `wallet`. "": servers are
  /// not paid from income (the gateway keeps what it sells, and pays priced servers' paywalls
  /// within the budget either way).
  std::string payout_ledger;
  /// The gateway's fee, taken from each message's income before the split (PayoutFee:
  /// basis points and a fixed part, the fee never above the income).
  PayoutFee payout_fee;
  /// How often owed Lightning addresses are paid (the first run, which also settles payments
  /// a crash left in flight, is at start).
  std::chrono::seconds payout_interval{60};
  /// An address is paid once it is owed at least this much.
  std::uint64_t payout_threshold_msat = 1000;
  /// Deadline of each LNURL request of a payout.
  std::chrono::seconds payout_timeout{15};
  /// Allow plain http:// Lightning addresses on loopback hosts with a port
  /// (`name@127.0.0.1:8080`): for tests and local setups only.
  bool payout_allow_http_loopback = false;
  /// Called at each step of every payout, for fault-injection tests (PayoutLedgerOptions::on_step).
  std::function<void(PayoutStep, const std::string& payee)> payout_on_step;

  /// Address to listen on (a host name or IP literal).
  std::string listen_host = "127.0.0.1";
  /// Port to listen on; 0 picks a free one (see Gateway::url()).
  std::uint16_t listen_port = 0;
  /// PEM file of the certificate chain to serve HTTPS and WSS with (the server's certificate
  /// first); "": plain HTTP and WS (meant for loopback behind a reverse proxy). Needs tls_key.
  std::string tls_cert;
  /// PEM file of tls_cert's private key. Must not be readable or writable by group or others
  /// (the Gateway refuses it otherwise). Needs tls_cert.
  std::string tls_key;
  /// Time a client has to finish the TLS handshake once its connection is accepted.
  std::chrono::milliseconds tls_handshake_timeout{10000};
  /// Folder of the web chat page served at `/` (index.html, app.js, ...; see web/chat/); "":
  /// no page, `GET /` says where the APIs are.
  std::string web_root;
  /// Threads running the sockets' I/O (generation runs on each connection's own thread).
  int io_threads = 2;

  /// Open connections at most (HTTP and WebSocket together); one more gets 503.
  std::size_t max_connections = 256;
  /// Messages generating at once at most; one more gets 503 with Retry-After.
  std::size_t max_generations = 8;
  /// Largest request head (request line and headers) in bytes; larger gets 431.
  std::uint32_t max_header_bytes = 16 * 1024;
  /// Largest request body or WebSocket message in bytes; larger gets 413 (or a closed socket).
  std::uint64_t max_body_bytes = 1024 * 1024;
  /// Most new tokens any one message may ask for.
  std::int64_t max_new_tokens = 512;
  /// Most stop strings per request, and the longest one in bytes.
  std::size_t max_stop_strings = 8;
  std::size_t max_stop_string_bytes = 256;  ///< See max_stop_strings.

  /// Time to receive a request's head once a connection is open or idle between requests.
  std::chrono::milliseconds header_timeout{10000};
  /// Time to receive a request's body once its head has arrived.
  std::chrono::milliseconds body_timeout{30000};
  /// Time a client may take to accept each piece of a response.
  std::chrono::milliseconds write_timeout{30000};
  /// A keep-alive connection or a WebSocket silent this long is closed.
  std::chrono::milliseconds idle_timeout{120000};

  /// Receives one line per HTTP request or WebSocket message: method, path, status, tokens,
  /// msat, milliseconds. Never holds a secret. May be empty (no log).
  std::function<void(const std::string& line)> request_log;
};

}  // namespace petalsln
