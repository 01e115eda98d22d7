#include "petalsln/server/contributor_server.hpp"

#include <chrono>
#include <mutex>
#include <optional>

#include "petalsln/lightning/paywall.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/swarm/discovery.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/route_planner.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"

namespace petalsln {

namespace {

std::unique_ptr<DhtDiscovery> start_dht(const ContributorServerOptions& o) {
  DhtDiscoveryOptions d;
  d.port = o.dht_port;
  d.bind_address = o.host;
  d.bootstrap_nodes = o.initial_peers;
  auto dht = std::make_unique<DhtDiscovery>(d);
  if (!d.bootstrap_nodes.empty() && !dht->wait_until_connected(std::chrono::seconds(10))) {
    std::string list;
    for (const auto& p : o.initial_peers) list += (list.empty() ? "" : ",") + p;
    throw Error(ErrorCode::io, "could not reach any DHT bootstrap node in " + list);
  }
  return dht;
}

// The blocks to serve: the given range, or the num_blocks the swarm covers least.
void choose_range(const ContributorServerOptions& o, const ModelConfig& config, DhtDiscovery& dht, BlockServerOptions& b) {
  const int layers = static_cast<int>(config.num_hidden_layers);
  if (o.block_end == 0) {
    if (o.num_blocks < 1 || o.num_blocks > layers) {
      throw Error(ErrorCode::invalid_argument, "give a block range, or a number of blocks in 1.." + std::to_string(layers));
    }
    const auto existing = dht.lookup(b.model_name, compute_model_fingerprint(b.model_dir)).records;
    const auto range = choose_blocks_to_serve(existing, static_cast<std::uint32_t>(layers), static_cast<std::uint32_t>(o.num_blocks));
    b.block_begin = static_cast<int>(range.begin);
    b.block_end = static_cast<int>(range.end);
    return;
  }
  if (o.block_begin < 0 || o.block_end <= o.block_begin) {
    throw Error(ErrorCode::invalid_argument, "blocks " + std::to_string(o.block_begin) + ":" + std::to_string(o.block_end) +
                                                 " is not a range A:B with 0 <= A < B");
  }
  if (o.block_end > layers) {
    throw Error(ErrorCode::invalid_argument, "blocks " + std::to_string(o.block_begin) + ":" + std::to_string(o.block_end) +
                                                 " go past the model's " + std::to_string(layers) + " blocks");
  }
  b.block_begin = o.block_begin;
  b.block_end = o.block_end;
}

std::shared_ptr<Paywall> open_paywall(const ContributorServerOptions& o, const BlockServerOptions& b, const NodeIdentity& identity) {
  if (o.price_msat == 0) {
    if (o.wallet || !o.paywall_store.empty()) throw Error(ErrorCode::invalid_argument, "a wallet and a paywall store only apply to a priced server");
    return nullptr;
  }
  if (!o.wallet) throw Error(ErrorCode::invalid_argument, "a priced server needs a wallet to issue invoices");
  std::string store = o.paywall_store;
  if (store.empty() && !o.identity_file.empty()) store = o.identity_file + ".paywall.db";
  if (store.empty()) throw Error(ErrorCode::invalid_argument, "a priced server needs a paywall store (or an identity file)");
  PaywallOptions po;
  po.price_msat = o.price_msat;
  po.credit_block_tokens = o.credit_block_tokens;
  po.model = b.model_name;
  po.peer_hex = identity.peer_id_hex();
  po.block_begin = static_cast<std::uint32_t>(b.block_begin);
  po.block_end = static_cast<std::uint32_t>(b.block_end);
  po.store_path = store;
  po.max_unpaid_per_requester = o.max_unpaid_per_peer;
  return std::make_shared<Paywall>(po, o.wallet);
}

}  // namespace

struct ContributorServer::Impl {
  std::mutex mutex;  // serialises stop() with the accessors
  std::unique_ptr<DhtDiscovery> dht;
  std::optional<NodeIdentity> identity;
  std::unique_ptr<BlockServer> server;
  std::string dht_address;
  std::string endpoint;
  std::string peer_id;
  std::string model_name;
  int block_begin = 0;
  int block_end = 0;
  bool stopped = false;
};

ContributorServer::ContributorServer(ContributorServerOptions o) : impl_(std::make_unique<Impl>()) {
  if (!o.dht_only && o.model_dir.empty()) throw Error(ErrorCode::invalid_argument, "a contributor server needs a model folder");
  impl_->dht = start_dht(o);
  impl_->dht_address = o.host + ":" + std::to_string(impl_->dht->bound_port());
  if (o.dht_only) return;

  BlockServerOptions b;
  b.model_dir = o.model_dir;
  // One name for the DHT lookup, the announcement and the paywall's macaroons.
  b.model_name = o.model_name.empty() ? util::base_name(o.model_dir) : o.model_name;
  choose_range(o, ModelConfig::load(o.model_dir), *impl_->dht, b);
  b.listen_host = o.host;
  b.port = o.port;
  b.max_sessions = o.max_sessions;
  b.max_sessions_per_peer = o.max_sessions_per_peer;
  b.max_streams_per_peer = o.max_streams_per_peer;
  b.open_timeout = o.open_timeout;
  b.idle_timeout = o.idle_timeout;
  b.cache_mb = o.cache_mb;
  b.max_batch = o.max_batch;
  b.max_batch_sessions = o.max_batch_sessions;
  b.max_length = o.max_length;
  if (o.throughput < 0) throw Error(ErrorCode::invalid_argument, "the throughput must not be negative");
  b.throughput = o.throughput;
  b.compute.weights = o.weights;
  b.public_name = o.public_name;
  b.lightning_address = o.lightning_address;
  b.on_step = o.on_step;
  impl_->identity.emplace(o.identity_file.empty() ? NodeIdentity::generate() : NodeIdentity::load_or_create(o.identity_file));
  b.paywall = open_paywall(o, b, *impl_->identity);
  b.price_msat = o.price_msat;
  impl_->server = std::make_unique<BlockServer>(b, impl_->identity->clone());
  impl_->dht->announce(impl_->server->record(), *impl_->identity);
  impl_->endpoint = impl_->server->endpoint();
  impl_->peer_id = impl_->server->peer_id_hex();
  impl_->model_name = impl_->server->record().model;
  impl_->block_begin = b.block_begin;
  impl_->block_end = b.block_end;
}

ContributorServer::~ContributorServer() {
  try {
    stop();
  } catch (...) {
    // A destructor must not throw; stop() already reports the withdrawal failure it expects.
  }
}

std::string ContributorServer::endpoint() const { return impl_->endpoint; }
std::string ContributorServer::peer_id_hex() const { return impl_->peer_id; }
std::string ContributorServer::dht_address() const { return impl_->dht_address; }
int ContributorServer::block_begin() const noexcept { return impl_->block_begin; }
int ContributorServer::block_end() const noexcept { return impl_->block_end; }

ServerRecord ContributorServer::record() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->server ? impl_->server->record() : ServerRecord{};
}

std::string ContributorServer::stop() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->stopped) return {};
  impl_->stopped = true;
  std::string failure;
  if (impl_->server) {
    try {
      impl_->dht->withdraw(impl_->model_name, *impl_->identity);
    } catch (const Error& e) {
      failure = e.what();
    }
    impl_->server->shutdown();
    impl_->server.reset();
  }
  impl_->dht.reset();
  return failure;
}

}  // namespace petalsln
