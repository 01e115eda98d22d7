// DhtDiscovery: petalsln records in OpenDHT (value type, policies, re-announcing, lookups).
#include <arpa/inet.h>
#include <opendht/dhtrunner.h>
#include <opendht/value.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "petalsln/swarm/discovery.hpp"
#include "petalsln/util/error.hpp"
#include "util/log.hpp"

namespace petalsln {
namespace {

using Clock = std::chrono::steady_clock;

// Our value type: "PL". Every petalsln node registers it so that the store and edit policies
// below run wherever a record is stored.
constexpr dht::ValueType::Id kRecordValueType = 0x504c;
// How long a storage node keeps a value that its publisher stopped refreshing.
constexpr std::chrono::seconds kStoredValueLifetime{600};

std::string dht_key_name(const std::string& model) { return "petalsln/v1/" + model; }

dht::InfoHash dht_key(const std::string& model) { return dht::InfoHash::get(dht_key_name(model)); }

// One value slot per peer (and key): the first 8 bytes of the peer id, never the invalid id 0.
dht::Value::Id value_id_for(const PeerId& peer) {
  dht::Value::Id id = 0;
  for (std::size_t i = 0; i < 8; ++i) id = (id << 8) | peer[i];
  return id == dht::Value::INVALID_ID ? 1 : id;
}

std::string blob_text(const dht::Value& v) { return std::string(v.data.begin(), v.data.end()); }

// The record in @p v if it is authentic (size, fields, signature) and belongs under @p key.
std::optional<ServerRecord> authentic_record(const dht::InfoHash& key, const dht::Value& v, std::size_t max_bytes) {
  RecordCheck c = ServerRecord::check_signed(blob_text(v), 0, max_bytes);
  if (!c.record || dht_key(c.record->model) != key) return std::nullopt;
  return std::move(c.record);
}

// Storage nodes keep only authentic records (readers check everything again anyway).
dht::StorePolicy store_policy(std::size_t max_bytes) {
  return [max_bytes](dht::InfoHash key, const std::shared_ptr<dht::Value>& v, const dht::InfoHash&,
                     const dht::SockAddr&) { return v && authentic_record(key, *v, max_bytes).has_value(); };
}

// A stored record is replaced only by an authentic record of the same peer that is not older
// (at an equal issued_at, a record never replaces a tombstone), or, if what is stored is not
// authentic, by any authentic record: nobody but the peer can overwrite or roll back its slot.
dht::EditPolicy edit_policy(std::size_t max_bytes) {
  return [max_bytes](dht::InfoHash key, const std::shared_ptr<dht::Value>& old_value,
                     std::shared_ptr<dht::Value>& new_value, const dht::InfoHash&, const dht::SockAddr&) {
    if (!new_value) return false;
    const std::optional<ServerRecord> next = authentic_record(key, *new_value, max_bytes);
    if (!next) return false;
    const std::optional<ServerRecord> prev = old_value ? authentic_record(key, *old_value, max_bytes) : std::nullopt;
    if (!prev) return true;
    if (prev->peer_id != next->peer_id) return false;
    return !supersedes(*prev, *next);
  };
}

std::uint64_t system_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// Splits "host:port" or "[v6]:port"; throws Error(invalid_argument) naming the entry.
std::pair<std::string, std::string> split_host_port(const std::string& entry) {
  const auto bad = [&entry](const char* why) {
    return Error(ErrorCode::invalid_argument, "bootstrap node \"" + entry + "\": " + why + " (expected host:port)");
  };
  const std::size_t colon = entry.rfind(':');
  if (colon == std::string::npos || colon == 0) throw bad("no host or port");
  std::string host = entry.substr(0, colon);
  const std::string port = entry.substr(colon + 1);
  if (host.front() == '[') {
    if (host.back() != ']') throw bad("unclosed bracket");
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    throw bad("an IPv6 address must be in brackets");
  }
  if (host.empty() || port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    throw bad("bad host or port");
  }
  return {host, port};
}

sa_family_t address_family(const std::string& address) {
  unsigned char buf[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, address.c_str(), buf) == 1) return AF_INET;
  if (::inet_pton(AF_INET6, address.c_str(), buf) == 1) return AF_INET6;
  throw Error(ErrorCode::invalid_argument, "bind address \"" + address + "\" is not an IPv4 or IPv6 literal");
}

dht::SockAddr resolve_bind_address(const std::string& address, std::uint16_t port) {
  try {
    auto addrs = dht::SockAddr::resolve(address, std::to_string(port));
    if (!addrs.empty()) return addrs.front();
  } catch (const std::exception&) {
    // reported below
  }
  throw Error(ErrorCode::invalid_argument, "cannot use bind address " + address);
}

// A bootstrap host that does not resolve now may later: OpenDHT keeps retrying it.
std::vector<dht::SockAddr> resolve_or_warn(const std::string& host, const std::string& port) {
  try {
    return dht::SockAddr::resolve(host, port);
  } catch (const std::exception& e) {
    util::log(util::LogLevel::warn, "cannot resolve DHT bootstrap node " + host + ":" + port + " yet: " + e.what());
    return {};
  }
}

void validate(const DhtDiscoveryOptions& o) {
  if (o.record_ttl.count() <= 0 || o.record_ttl > kStoredValueLifetime) {
    throw Error(ErrorCode::invalid_argument, "record_ttl must be between 1 and " +
                                                 std::to_string(kStoredValueLifetime.count()) + " seconds");
  }
  if (o.reannounce_interval.count() <= 0 || o.reannounce_interval >= o.record_ttl) {
    throw Error(ErrorCode::invalid_argument, "reannounce_interval must be positive and below record_ttl");
  }
  if (o.max_lookup_values == 0) throw Error(ErrorCode::invalid_argument, "max_lookup_values must be positive");
  for (const std::string& entry : o.bootstrap_nodes) split_host_port(entry);
  address_family(o.bind_address);
}

// What a lookup collects from DHT callbacks, which may run after lookup() returned.
struct LookupState {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> values;
  std::size_t max_values = 0;
  bool done = false;
  bool truncated = false;
};

// Signals when one put has been acknowledged (or given up on) by the DHT.
struct PutWaiter {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pending = 0;
};

// An announcement this node keeps alive.
struct Announcement {
  ServerRecord record;  // as last published
  NodeIdentity identity;
};

using AnnouncementKey = std::pair<std::string, PeerId>;  // (model, peer)

}  // namespace

struct DhtDiscovery::Impl {
  DhtDiscoveryOptions opt;
  sa_family_t family = AF_INET;
  dht::DhtRunner runner;
  std::mutex mu;  // guards everything below
  std::condition_variable wake;
  bool stopping = false;
  std::map<AnnouncementKey, Announcement> announcements;
  struct IssueState {
    std::uint64_t issued_at = 0;
    bool tombstone = false;
  };
  std::map<AnnouncementKey, IssueState> last_issued;  // survives withdraw: issued_at only grows
  std::thread refresher;

  explicit Impl(DhtDiscoveryOptions o) : opt(std::move(o)) {
    if (!opt.clock) opt.clock = system_now;
  }

  void start();
  void stop();
  std::uint64_t next_issued_at(const AnnouncementKey& key, bool tombstone);
  std::string stamp_and_sign(Announcement& a, std::uint64_t issued_at, std::uint64_t expires_at);
  void publish(const std::string& model, const PeerId& peer, const std::string& bytes,
               const std::shared_ptr<PutWaiter>& waiter);
  void refresh_all();
  void refresh_loop();
  std::vector<std::string> fetch(const std::string& model, bool& truncated);
  bool wait_puts(const std::shared_ptr<PutWaiter>& waiter, std::chrono::milliseconds timeout);
};

void DhtDiscovery::Impl::start() {
  dht::DhtRunner::Config config;
  config.dht_config.node_config.network = opt.network_id;
  config.threaded = true;
  config.peer_discovery = false;  // no multicast: the node talks only to the nodes it is given
  config.peer_publish = false;
  (family == AF_INET ? config.bind4 : config.bind6) = resolve_bind_address(opt.bind_address, opt.port);
  try {
    runner.run(config, dht::DhtRunner::Context{});
  } catch (const std::exception& e) {
    throw Error(ErrorCode::io, std::string("cannot start the DHT node: ") + e.what());
  }
  if (runner.getBoundPort(family) == 0) {  // OpenDHT only logs a failed bind
    runner.join();
    throw Error(ErrorCode::io, "cannot bind the DHT to " + opt.bind_address + " port " + std::to_string(opt.port));
  }
  runner.registerType(dht::ValueType(kRecordValueType, "petalsln/v1 server record", kStoredValueLifetime,
                                     store_policy(opt.max_record_bytes), edit_policy(opt.max_record_bytes)));
  for (const std::string& entry : opt.bootstrap_nodes) {
    const auto [host, port] = split_host_port(entry);
    // Ping every address at once (OpenDHT's own bootstrap list is only walked while the node
    // is disconnected, so a second entry could wait for seconds), and keep the entry for
    // OpenDHT to retry whenever the node loses all its peers.
    for (const dht::SockAddr& addr : resolve_or_warn(host, port)) {
      if (addr.getFamily() == family) runner.bootstrap(addr, {});
    }
    runner.bootstrap(host, port);
  }
  refresher = std::thread([this] { refresh_loop(); });
}

// issued_at never goes back for a (model, peer), and a record after a tombstone is strictly
// newer than it (a tombstone wins ties). Otherwise equal times are fine: re-announcing twice in
// one second must not push issued_at ahead of the clock.
std::uint64_t DhtDiscovery::Impl::next_issued_at(const AnnouncementKey& key, bool tombstone) {
  IssueState& last = last_issued[key];
  const std::uint64_t floor = last.tombstone && !tombstone ? last.issued_at + 1 : last.issued_at;
  last = IssueState{std::max(opt.clock(), floor), tombstone};
  return last.issued_at;
}

std::string DhtDiscovery::Impl::stamp_and_sign(Announcement& a, std::uint64_t issued_at, std::uint64_t expires_at) {
  ServerRecord stamped = a.record;
  stamped.issued_at = issued_at;
  stamped.expires_at = expires_at;
  std::string bytes = stamped.sign(a.identity);
  a.record = std::move(stamped);
  return bytes;
}

void DhtDiscovery::Impl::publish(const std::string& model, const PeerId& peer, const std::string& bytes,
                                 const std::shared_ptr<PutWaiter>& waiter) {
  auto value = std::make_shared<dht::Value>(kRecordValueType, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                            bytes.size(), value_id_for(peer));
  dht::DoneCallbackSimple done;
  if (waiter) {
    std::lock_guard<std::mutex> lock(waiter->mu);
    ++waiter->pending;
    done = [waiter](bool) {
      std::lock_guard<std::mutex> l(waiter->mu);
      --waiter->pending;
      waiter->cv.notify_all();
    };
  }
  runner.put(dht_key(model), std::move(value), std::move(done), dht::time_point::max(), false);
}

bool DhtDiscovery::Impl::wait_puts(const std::shared_ptr<PutWaiter>& waiter, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(waiter->mu);
  return waiter->cv.wait_for(lock, timeout, [&] { return waiter->pending == 0; });
}

// Signing and publishing happen under the lock so that the DHT receives a peer's records in
// the order they were signed (put() only queues work for the DHT thread; it never blocks).
void DhtDiscovery::Impl::refresh_all() {
  std::lock_guard<std::mutex> lock(mu);
  for (auto& [key, a] : announcements) {
    const std::uint64_t issued = next_issued_at(key, false);
    publish(key.first, key.second,
            stamp_and_sign(a, issued, issued + static_cast<std::uint64_t>(opt.record_ttl.count())), nullptr);
  }
}

void DhtDiscovery::Impl::refresh_loop() {
  std::unique_lock<std::mutex> lock(mu);
  while (!stopping) {
    if (wake.wait_for(lock, opt.reannounce_interval, [this] { return stopping; })) break;
    lock.unlock();
    try {
      refresh_all();
    } catch (const std::exception& e) {
      util::log(util::LogLevel::warn, std::string("re-announcing to the DHT failed: ") + e.what());
    }
    lock.lock();
  }
}

std::vector<std::string> DhtDiscovery::Impl::fetch(const std::string& model, bool& truncated) {
  auto state = std::make_shared<LookupState>();
  state->max_values = opt.max_lookup_values;
  dht::GetCallback on_values = [state](const std::vector<std::shared_ptr<dht::Value>>& values) {
    std::lock_guard<std::mutex> lock(state->mu);
    for (const auto& v : values) {
      if (state->values.size() >= state->max_values) {
        state->truncated = true;
        state->cv.notify_all();
        return false;  // stops the search
      }
      if (v) state->values.push_back(blob_text(*v));
    }
    return true;
  };
  dht::DoneCallbackSimple on_done = [state](bool) {
    std::lock_guard<std::mutex> lock(state->mu);
    state->done = true;
    state->cv.notify_all();
  };
  runner.get(dht_key(model), std::move(on_values), std::move(on_done));
  std::unique_lock<std::mutex> lock(state->mu);
  const bool finished = state->cv.wait_for(lock, opt.lookup_timeout, [&] { return state->done || state->truncated; });
  truncated = state->truncated || !finished;
  return state->values;
}

void DhtDiscovery::Impl::stop() {
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  wake.notify_all();
  if (refresher.joinable()) refresher.join();
  auto waiter = std::make_shared<PutWaiter>();
  bool any = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [key, a] : announcements) {
      try {
        const std::uint64_t issued = next_issued_at(key, true);
        publish(key.first, key.second, stamp_and_sign(a, issued, issued), waiter);
        any = true;
      } catch (const std::exception& e) {
        util::log(util::LogLevel::warn, std::string("cannot publish a withdrawal: ") + e.what());
      }
    }
    announcements.clear();
  }
  if (any && !wait_puts(waiter, opt.shutdown_timeout)) {
    util::log(util::LogLevel::warn, "DHT shutdown: withdrawals not acknowledged in time; records will expire");
  }
  runner.join();
}

DhtDiscovery::DhtDiscovery(DhtDiscoveryOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  validate(impl_->opt);
  impl_->family = address_family(impl_->opt.bind_address);
  impl_->start();
}

DhtDiscovery::~DhtDiscovery() {
  try {
    impl_->stop();
  } catch (const std::exception& e) {
    util::log(util::LogLevel::error, std::string("DHT shutdown failed: ") + e.what());
  }
}

std::uint16_t DhtDiscovery::bound_port() const { return impl_->runner.getBoundPort(impl_->family); }

std::string DhtDiscovery::bootstrap_address() const {
  std::string host = impl_->opt.bind_address;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (impl_->family == AF_INET6) host = "[" + host + "]";
  return host + ":" + std::to_string(bound_port());
}

std::size_t DhtDiscovery::known_nodes() const { return impl_->runner.getNodesStats(impl_->family).good_nodes; }

bool DhtDiscovery::wait_until_connected(std::chrono::milliseconds timeout, std::size_t min_nodes) const {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (known_nodes() >= std::max<std::size_t>(min_nodes, 1)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void DhtDiscovery::announce(const ServerRecord& record, const NodeIdentity& identity) {
  if (record.peer_id != identity.peer_id()) {
    throw Error(ErrorCode::invalid_argument, "record peer_id is not the announcing identity's peer id " +
                                                 identity.peer_id_hex());
  }
  const AnnouncementKey key{record.model, record.peer_id};
  std::lock_guard<std::mutex> lock(impl_->mu);
  Announcement a{record, identity.clone()};
  const std::uint64_t issued = impl_->next_issued_at(key, false);
  const std::string bytes =
      impl_->stamp_and_sign(a, issued, issued + static_cast<std::uint64_t>(impl_->opt.record_ttl.count()));
  impl_->announcements.insert_or_assign(key, std::move(a));
  impl_->publish(record.model, record.peer_id, bytes, nullptr);
}

void DhtDiscovery::withdraw(const std::string& model, const NodeIdentity& identity) {
  const AnnouncementKey key{model, identity.peer_id()};
  auto waiter = std::make_shared<PutWaiter>();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->announcements.find(key);
    if (it == impl_->announcements.end()) return;
    const std::uint64_t issued = impl_->next_issued_at(key, true);
    impl_->publish(model, identity.peer_id(), impl_->stamp_and_sign(it->second, issued, issued), waiter);
    impl_->announcements.erase(it);
  }
  if (!impl_->wait_puts(waiter, impl_->opt.shutdown_timeout)) {
    util::log(util::LogLevel::warn, "withdrawal not acknowledged by the DHT in time; it is still being published");
  }
}

LookupResult DhtDiscovery::lookup(const std::string& model, const ModelFingerprint& fingerprint) {
  bool truncated = false;
  const std::vector<std::string> values = impl_->fetch(model, truncated);
  LookupResult result = select_records(values, model, fingerprint, impl_->opt.clock(), impl_->opt.max_record_bytes);
  result.truncated = truncated;
  return result;
}

}  // namespace petalsln
