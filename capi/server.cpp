// Contributor servers: a ContributorServer behind a handle.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "capi_internal.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/contributor_server.hpp"
#include "petalsln/swarm/server_record.hpp"

using namespace petalsln;
using namespace petalsln::capi;

struct pln_server {
  std::unique_ptr<ContributorServer> server;
  // What pln_server_get_info() hands out, read once at start: the strings go out as const char*,
  // valid as long as the handle.
  std::string endpoint;
  std::string peer_id;
  std::string dht_address;
  std::string weights;  // "" for a DHT-only node
  std::uint64_t weight_bytes_per_block = 0;
};

namespace {

// What the server serves and where: the blocks, the addresses, the identity and the announcement.
void set_placement(const pln_server_params& p, const char* model_dir, ContributorServerOptions& o) {
  o.dht_only = p.dht_only;
  if (!p.dht_only) o.model_dir = std::string(bounded(model_dir, "model_dir"));
  o.model_name = optional_string(p.model_name, "model_name");
  o.block_begin = to_int(p.block_begin, "block_begin");
  o.block_end = to_int(p.block_end, "block_end");
  o.num_blocks = to_int(p.num_blocks, "num_blocks");
  o.host = p.host != nullptr ? std::string(bounded(p.host, "host")) : std::string("127.0.0.1");
  o.port = p.port;
  o.dht_port = p.dht_port;
  if (p.initial_peers != nullptr) o.initial_peers = parse_endpoint_list(std::string(bounded(p.initial_peers, "initial_peers")));
  o.identity_file = optional_string(p.identity_file, "identity_file");
  o.public_name = optional_string(p.public_name, "public_name");
  o.lightning_address = optional_string(p.lightning_address, "lightning_address");
  o.throughput = p.throughput;
}

// How much the server takes on, from everyone and from one address.
void set_limits(const pln_server_params& p, ContributorServerOptions& o) {
  o.max_sessions = to_int(p.max_sessions, "max_sessions");
  o.max_sessions_per_peer = to_int(p.max_sessions_per_peer, "max_sessions_per_peer");
  o.max_streams_per_peer = to_int(p.max_streams_per_peer, "max_streams_per_peer");
  o.max_unpaid_per_peer = p.max_unpaid_per_peer;
  o.open_timeout = positive_ms(p.open_timeout_ms, "open_timeout_ms");
  o.idle_timeout = positive_ms(p.idle_timeout_ms, "idle_timeout_ms");
  if (p.cache_mb > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorCode::invalid_argument, "cache_mb is too large");
  }
  o.cache_mb = static_cast<std::int64_t>(p.cache_mb);
  o.max_batch = to_int(p.max_batch, "max_batch");
  o.max_length = to_int(p.max_length, "max_length");
}

// The price and the paywall behind it.
void set_price(const pln_server_params& p, ContributorServerOptions& o) {
  o.price_msat = p.price_msat;
  if (p.wallet_uri != nullptr) o.wallet = std::shared_ptr<Wallet>(open_wallet(std::string(bounded(p.wallet_uri, "wallet_uri"))));
  o.paywall_store = optional_string(p.paywall_store, "paywall_store");
  o.credit_block_tokens = p.credit_block_tokens;
}

}  // namespace

extern "C" {

// The same defaults as ContributorServerOptions, written out: building that struct here could
// allocate, and nothing may throw out of this function.
PLN_API pln_server_params pln_server_default_params(void) {
  pln_server_params p{};
  p.dht_only = false;
  p.model_name = nullptr;
  p.block_begin = 0;
  p.block_end = 0;
  p.num_blocks = 0;
  p.host = "127.0.0.1";
  p.port = 0;
  p.dht_port = 0;
  p.initial_peers = nullptr;
  p.identity_file = nullptr;
  p.public_name = nullptr;
  p.lightning_address = nullptr;
  p.throughput = 0;
  p.max_sessions = 16;
  p.max_sessions_per_peer = 0;
  p.max_streams_per_peer = 0;
  p.max_unpaid_per_peer = 4;
  p.open_timeout_ms = 10000;
  p.idle_timeout_ms = 300000;
  p.cache_mb = 512;
  p.max_batch = 8;
  p.max_length = 0;
  p.price_msat = 0;
  p.wallet_uri = nullptr;
  p.paywall_store = nullptr;
  p.credit_block_tokens = 20000;
  p.weights = nullptr;
  return p;
}

PLN_API pln_status pln_server_start(const char* model_dir, const pln_server_params* params, pln_server** out) {
  return guard([&] {
    require(out, "out");
    const pln_server_params p = params != nullptr ? *params : pln_server_default_params();
    ContributorServerOptions o;
    o.weights = weight_format(p.weights, "weights");  // first: a misspelt format starts nothing
    set_placement(p, model_dir, o);
    set_limits(p, o);
    set_price(p, o);
    auto handle = std::make_unique<pln_server>();
    handle->server = std::make_unique<ContributorServer>(std::move(o));
    handle->endpoint = handle->server->endpoint();
    handle->peer_id = handle->server->peer_id_hex();
    handle->dht_address = handle->server->dht_address();
    if (!p.dht_only) {
      const ServerRecord record = handle->server->record();
      handle->weights = record.weights;
      handle->weight_bytes_per_block = record.weight_bytes_per_block;
    }
    *out = handle.release();
  });
}

PLN_API pln_status pln_server_get_info(const pln_server* server, pln_server_info* out) {
  return guard([&] {
    require(server, "server");
    require(out, "out");
    pln_server_info info{};
    info.endpoint = server->endpoint.c_str();
    info.peer_id = server->peer_id.c_str();
    info.dht_address = server->dht_address.c_str();
    info.block_begin = static_cast<std::uint32_t>(server->server->block_begin());
    info.block_end = static_cast<std::uint32_t>(server->server->block_end());
    info.weights = server->weights.c_str();
    info.weight_bytes_per_block = server->weight_bytes_per_block;
    *out = info;
  });
}

PLN_API pln_status pln_server_stop(pln_server* server) {
  return guard([&] {
    require(server, "server");
    const std::string failure = server->server->stop();
    if (!failure.empty()) throw Error(ErrorCode::io, "stopped, but the announcement could not be withdrawn (it will expire): " + failure);
  });
}

PLN_API void pln_server_free(pln_server* server) { delete server; }

}  // extern "C"
