// Contributor servers: a ContributorServer behind a handle.
#include <memory>
#include <vector>

#include "capi_internal.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/contributor_server.hpp"

using namespace petalsln;
using namespace petalsln::capi;

struct pln_server {
  std::unique_ptr<ContributorServer> server;
  // Copies the accessors hand out as const char*, valid as long as the handle.
  std::string endpoint;
  std::string peer_id;
  std::string dht_address;
};

extern "C" {

// The same defaults as ContributorServerOptions, written out: building that struct here could
// allocate, and nothing may throw out of this function.
PLN_API pln_server_params pln_server_default_params(void) {
  pln_server_params p{};
  p.dht_only = 0;
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
  p.cache_mb = 512;
  p.max_batch = 8;
  p.max_length = 0;
  p.price_msat = 0;
  p.wallet_uri = nullptr;
  p.paywall_store = nullptr;
  p.credit_block_tokens = 20000;
  return p;
}

PLN_API int pln_server_start(const char* model_dir, const pln_server_params* params, pln_server** out) {
  return guard([&] {
    require(params, "params");
    require(out, "out");
    if (params->dht_only == 0) require(model_dir, "model_dir");
    if (params->dht_port < 0 || params->dht_port > 65535) throw Error(ErrorCode::invalid_argument, "dht_port must be in 0..65535");
    if (params->port < 0 || params->port > 65535) throw Error(ErrorCode::invalid_argument, "port must be in 0..65535");
    ContributorServerOptions o;
    o.dht_only = params->dht_only != 0;
    o.model_dir = str_or_empty(model_dir);
    o.model_name = str_or_empty(params->model_name);
    o.block_begin = params->block_begin;
    o.block_end = params->block_end;
    o.num_blocks = params->num_blocks;
    o.host = params->host != nullptr ? params->host : "127.0.0.1";
    o.port = params->port;
    o.dht_port = static_cast<std::uint16_t>(params->dht_port);
    if (params->initial_peers != nullptr) o.initial_peers = parse_endpoint_list(params->initial_peers);
    o.identity_file = str_or_empty(params->identity_file);
    o.public_name = str_or_empty(params->public_name);
    o.lightning_address = str_or_empty(params->lightning_address);
    o.throughput = params->throughput;
    o.max_sessions = params->max_sessions;
    o.cache_mb = params->cache_mb;
    o.max_batch = params->max_batch;
    o.max_length = params->max_length;
    o.price_msat = params->price_msat;
    if (params->wallet_uri != nullptr) o.wallet = std::shared_ptr<Wallet>(open_wallet(params->wallet_uri));
    o.paywall_store = str_or_empty(params->paywall_store);
    o.credit_block_tokens = params->credit_block_tokens;
    auto handle = std::make_unique<pln_server>();
    handle->server = std::make_unique<ContributorServer>(std::move(o));
    handle->endpoint = handle->server->endpoint();
    handle->peer_id = handle->server->peer_id_hex();
    handle->dht_address = handle->server->dht_address();
    *out = handle.release();
  });
}

PLN_API int pln_server_endpoint(const pln_server* server, const char** out) {
  return guard([&] {
    require(server, "server");
    require(out, "out");
    *out = server->endpoint.c_str();
  });
}

PLN_API int pln_server_peer_id(const pln_server* server, const char** out) {
  return guard([&] {
    require(server, "server");
    require(out, "out");
    *out = server->peer_id.c_str();
  });
}

PLN_API int pln_server_dht_address(const pln_server* server, const char** out) {
  return guard([&] {
    require(server, "server");
    require(out, "out");
    *out = server->dht_address.c_str();
  });
}

PLN_API int pln_server_blocks(const pln_server* server, int32_t* out_begin, int32_t* out_end) {
  return guard([&] {
    require(server, "server");
    require(out_begin, "out_begin");
    require(out_end, "out_end");
    *out_begin = server->server->block_begin();
    *out_end = server->server->block_end();
  });
}

PLN_API int pln_server_stop(pln_server* server) {
  return guard([&] {
    require(server, "server");
    const std::string failure = server->server->stop();
    if (!failure.empty()) throw Error(ErrorCode::io, "stopped, but the announcement could not be withdrawn (it will expire): " + failure);
  });
}

PLN_API void pln_server_free(pln_server* server) { delete server; }

}  // extern "C"
