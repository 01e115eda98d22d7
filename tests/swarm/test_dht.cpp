// DhtDiscovery: several OpenDHT nodes on loopback in one process, honest and hostile.
// OpenDHT's headers use the identifier WARN, which doctest defines as a macro: include them first.
#include <opendht/dhtrunner.h>

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "petalsln/swarm/discovery.hpp"
#include "petalsln/util/error.hpp"
#include "swarm_test_support.hpp"
#include "test_support.hpp"

using namespace petalsln;
using namespace std::chrono_literals;
using petalsln::test::sample_record;

namespace {

constexpr std::uint16_t kRecordValueType = 0x504c;  // DhtDiscovery's value type ("PL")
constexpr std::uint32_t kNetworkId = 0x504c4e31;    // DhtDiscoveryOptions' default network id

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

DhtDiscoveryOptions loopback(std::vector<std::string> bootstrap = {}) {
  DhtDiscoveryOptions o;
  o.bind_address = "127.0.0.1";
  o.bootstrap_nodes = std::move(bootstrap);
  o.lookup_timeout = 3000ms;
  return o;
}

ModelFingerprint fingerprint(std::uint8_t fill) {
  ModelFingerprint f{};
  f.fill(fill);
  return f;
}

// A record of @p id for model "tiny" (fingerprint 0xab) that announce() will stamp.
ServerRecord record_of(const NodeIdentity& id, std::uint32_t begin = 0, std::uint32_t end = 4) {
  return sample_record(id, begin, end);
}

// Polls lookup() until @p done holds or @p timeout passes; returns the last result.
LookupResult lookup_until(Discovery& d, const std::function<bool(const LookupResult&)>& done,
                          std::chrono::milliseconds timeout = 8000ms, const std::string& model = "tiny") {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  LookupResult r = d.lookup(model, fingerprint(0xab));
  while (!done(r) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    r = d.lookup(model, fingerprint(0xab));
  }
  return r;
}

bool has_peer(const LookupResult& r, const PeerId& peer) {
  for (const ServerRecord& rec : r.records) {
    if (rec.peer_id == peer) return true;
  }
  return false;
}

// A three-node swarm: a bootstrap node and two nodes that joined through it. (Joining nodes
// know the bootstrap node at once; it only counts them as answering after about a second,
// which nothing here needs to wait for.)
struct Swarm {
  DhtDiscovery boot{loopback()};
  DhtDiscovery b{loopback({boot.bootstrap_address()})};
  DhtDiscovery c{loopback({boot.bootstrap_address()})};
  Swarm() {
    REQUIRE(b.wait_until_connected(5000ms));
    REQUIRE(c.wait_until_connected(5000ms));
  }
};

// A node that joins through @p first (and the swarm's bootstrap node) and waits until both
// answered: OpenDHT learns about other nodes lazily, so a reader that must see values only
// @p first holds joins through it.
DhtDiscoveryOptions joining_through(const std::string& first, const Swarm& swarm) {
  return loopback({first, swarm.boot.bootstrap_address()});
}

// A plain OpenDHT node on the same network, used to inject hostile values.
struct RawNode {
  dht::DhtRunner runner;
  explicit RawNode(const std::string& bootstrap) {
    dht::DhtRunner::Config config;
    config.dht_config.node_config.network = kNetworkId;
    config.bind4 = dht::SockAddr::resolve("127.0.0.1", "0").front();
    runner.run(config, dht::DhtRunner::Context{});
    const std::size_t colon = bootstrap.rfind(':');
    runner.bootstrap(bootstrap.substr(0, colon), bootstrap.substr(colon + 1));
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (runner.getNodesStats(AF_INET).good_nodes == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    REQUIRE(runner.getNodesStats(AF_INET).good_nodes > 0);
  }
  ~RawNode() { runner.join(); }

  std::string address() const { return "127.0.0.1:" + std::to_string(runner.getBoundPort(AF_INET)); }

  // Puts @p bytes under the key of @p model and waits (bounded) for the put to complete.
  void put(const std::string& model, const std::string& bytes, dht::Value::Id id = dht::Value::INVALID_ID) {
    auto value = std::make_shared<dht::Value>(kRecordValueType, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                              bytes.size(), id);
    auto done = std::make_shared<std::promise<bool>>();
    auto future = done->get_future();
    runner.put(dht::InfoHash::get("petalsln/v1/" + model), value, [done](bool ok) { done->set_value(ok); });
    CHECK(future.wait_for(5s) == std::future_status::ready);
  }
};

}  // namespace

TEST_CASE("DHT: an announced record is found from other nodes") {
  Swarm swarm;
  const NodeIdentity server = NodeIdentity::generate();
  const std::uint64_t before = unix_now();
  swarm.b.announce(record_of(server, 2, 6), server);
  const LookupResult r = lookup_until(swarm.c, [&](const LookupResult& x) { return has_peer(x, server.peer_id()); });
  REQUIRE(r.records.size() == 1);
  const ServerRecord& rec = r.records[0];
  CHECK(rec.peer_id == server.peer_id());
  CHECK(rec.endpoint == "127.0.0.1:31337");
  CHECK(rec.block_begin == 2);
  CHECK(rec.block_end == 6);
  CHECK(rec.issued_at >= before);
  CHECK(rec.expires_at == rec.issued_at + 180);
  CHECK(r.dropped.total() == 0);
  CHECK_FALSE(r.truncated);
  // The announcing node and the bootstrap node see it too; another fingerprint or model does not.
  CHECK(has_peer(lookup_until(swarm.boot, [&](const LookupResult& x) { return has_peer(x, server.peer_id()); }),
                 server.peer_id()));
  CHECK(swarm.b.lookup("tiny", fingerprint(0xab)).records.size() == 1);
  const LookupResult other_fp = swarm.c.lookup("tiny", fingerprint(0x01));
  CHECK(other_fp.records.empty());
  CHECK(other_fp.dropped.wrong_fingerprint == 1);
  CHECK(swarm.c.lookup("other-model", fingerprint(0xab)).records.empty());
}

TEST_CASE("DHT: re-announcing replaces the record; the newest per peer wins") {
  Swarm swarm;
  const NodeIdentity server = NodeIdentity::generate();
  swarm.b.announce(record_of(server, 0, 4), server);
  REQUIRE(has_peer(lookup_until(swarm.c, [&](const LookupResult& x) { return has_peer(x, server.peer_id()); }),
                   server.peer_id()));
  swarm.b.announce(record_of(server, 4, 8), server);
  const LookupResult r = lookup_until(swarm.c, [](const LookupResult& x) {
    return x.records.size() == 1 && x.records[0].block_begin == 4;
  });
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].block_begin == 4);
  CHECK(r.dropped.total() == 0);
}

TEST_CASE("DHT: forged, tampered, expired, foreign and oversized values are dropped and counted") {
  Swarm swarm;
  const NodeIdentity honest = NodeIdentity::generate();
  swarm.b.announce(record_of(honest), honest);
  REQUIRE(has_peer(lookup_until(swarm.c, [&](const LookupResult& x) { return has_peer(x, honest.peer_id()); }),
                   honest.peer_id()));

  RawNode attacker(swarm.boot.bootstrap_address());
  const NodeIdentity mallory = NodeIdentity::generate();
  const std::uint64_t now = unix_now();
  auto fresh = [&](const NodeIdentity& id, std::uint8_t fp) {
    ServerRecord r = sample_record(id, 0, 4, fp);
    r.issued_at = now;
    r.expires_at = now + 300;
    return r;
  };
  // Bad signature: one flipped bit in the signature.
  std::string flipped = fresh(mallory, 0xab).sign(mallory);
  flipped.back() = static_cast<char>(flipped.back() ^ 0x01);
  attacker.put("tiny", flipped);
  // Wrong key: signed by mallory, claiming the honest server's peer id (and endpoint).
  const std::string impersonation = test::replace_bytes(fresh(mallory, 0xab).sign(mallory),
                                                        test::as_string(mallory.peer_id()),
                                                        test::as_string(honest.peer_id()));
  attacker.put("tiny", impersonation);
  // Expired: authentic, but its time is over.
  const NodeIdentity stale = NodeIdentity::generate();
  ServerRecord old = fresh(stale, 0xab);
  old.issued_at = now - 1000;
  old.expires_at = now - 700;
  attacker.put("tiny", old.sign(stale));
  // Another model's fingerprint under this model's key.
  const NodeIdentity foreign = NodeIdentity::generate();
  attacker.put("tiny", fresh(foreign, 0xcd).sign(foreign));
  // Oversized and unparseable blobs.
  attacker.put("tiny", std::string(6000, 'x'));
  attacker.put("tiny", "definitely not a record");

  // Honest nodes refuse to store unauthentic values, so those live only on the attacker's node;
  // a client that joins through it sees everything.
  DhtDiscovery reader(joining_through(attacker.address(), swarm));
  REQUIRE(reader.wait_until_connected(5000ms, 2));
  const LookupResult r = lookup_until(reader, [](const LookupResult& x) { return x.dropped.total() >= 6; });
  CHECK(r.dropped.bad_signature == 2);
  CHECK(r.dropped.expired == 1);
  CHECK(r.dropped.wrong_fingerprint == 1);
  CHECK(r.dropped.oversized == 1);
  CHECK(r.dropped.malformed == 1);
  REQUIRE(r.records.size() == 1);
  CHECK(r.records[0].peer_id == honest.peer_id());
  CHECK(r.records[0].endpoint == "127.0.0.1:31337");
}

TEST_CASE("DHT: a forged value in an honest peer's slot neither replaces nor hides it") {
  Swarm swarm;
  const NodeIdentity honest = NodeIdentity::generate();
  swarm.b.announce(record_of(honest), honest);
  REQUIRE(has_peer(lookup_until(swarm.c, [&](const LookupResult& x) { return has_peer(x, honest.peer_id()); }),
                   honest.peer_id()));
  RawNode attacker(swarm.boot.bootstrap_address());
  // DhtDiscovery's value id for a peer: its first 8 bytes, big-endian.
  dht::Value::Id slot = 0;
  for (std::size_t i = 0; i < 8; ++i) slot = (slot << 8) | honest.peer_id()[i];
  attacker.put("tiny", "garbage in the honest slot", slot);
  DhtDiscovery reader(joining_through(attacker.address(), swarm));
  REQUIRE(reader.wait_until_connected(5000ms, 2));
  const LookupResult r = lookup_until(reader, [](const LookupResult& x) { return x.dropped.malformed >= 1; });
  CHECK(r.dropped.malformed == 1);
  CHECK(has_peer(r, honest.peer_id()));
  CHECK(r.records.size() == 1);
  CHECK(has_peer(swarm.c.lookup("tiny", fingerprint(0xab)), honest.peer_id()));
}

TEST_CASE("DHT: withdraw removes the peer at once, and it can come back") {
  Swarm swarm;
  const NodeIdentity server = NodeIdentity::generate();
  const NodeIdentity other = NodeIdentity::generate();
  swarm.b.announce(record_of(server), server);
  swarm.c.announce(record_of(other), other);
  REQUIRE(lookup_until(swarm.boot, [](const LookupResult& x) { return x.records.size() == 2; }).records.size() == 2);

  swarm.b.withdraw("tiny", server);
  const LookupResult after = swarm.boot.lookup("tiny", fingerprint(0xab));
  CHECK_FALSE(has_peer(after, server.peer_id()));
  CHECK(has_peer(after, other.peer_id()));
  CHECK(after.dropped.total() == 0);  // a tombstone is not an attack
  CHECK_FALSE(has_peer(swarm.c.lookup("tiny", fingerprint(0xab)), server.peer_id()));
  swarm.b.withdraw("tiny", server);  // nothing left to withdraw: no-op

  swarm.b.announce(record_of(server), server);
  CHECK(has_peer(lookup_until(swarm.c, [&](const LookupResult& x) { return has_peer(x, server.peer_id()); }),
                 server.peer_id()));
}

TEST_CASE("DHT: destroying a node withdraws what it announced") {
  Swarm swarm;
  const NodeIdentity server = NodeIdentity::generate();
  {
    DhtDiscovery d(loopback({swarm.boot.bootstrap_address()}));
    REQUIRE(d.wait_until_connected(5000ms));
    d.announce(record_of(server), server);
    REQUIRE(has_peer(lookup_until(swarm.c, [&](const LookupResult& x) { return has_peer(x, server.peer_id()); }),
                     server.peer_id()));
  }
  const LookupResult r = lookup_until(swarm.c, [&](const LookupResult& x) { return !has_peer(x, server.peer_id()); },
                                      2000ms);
  CHECK_FALSE(has_peer(r, server.peer_id()));
}

TEST_CASE("DHT: the background thread re-announces before expiry") {
  std::atomic<std::uint64_t> clock{unix_now()};
  auto options = [&clock](std::vector<std::string> bootstrap) {
    DhtDiscoveryOptions o = loopback(std::move(bootstrap));
    o.record_ttl = 60s;
    o.reannounce_interval = 100ms;
    o.clock = [&clock] { return clock.load(); };
    return o;
  };
  DhtDiscovery boot(options({}));
  DhtDiscovery c(options({boot.bootstrap_address()}));
  REQUIRE(c.wait_until_connected(5000ms));
  const NodeIdentity server = NodeIdentity::generate();
  c.announce(record_of(server), server);
  const LookupResult first = lookup_until(boot, [&](const LookupResult& x) { return has_peer(x, server.peer_id()); });
  REQUIRE(first.records.size() == 1);
  // Jump past the first record's expiry: only re-announced records keep the server visible.
  clock += 100;
  const LookupResult later = lookup_until(boot, [](const LookupResult& x) { return x.records.size() == 1; });
  REQUIRE(later.records.size() == 1);
  CHECK(later.records[0].issued_at >= first.records[0].issued_at + 100);
}

TEST_CASE("DHT: a crashed server's record is refused once expired") {
  Swarm swarm;
  const NodeIdentity server = NodeIdentity::generate();
  swarm.b.announce(record_of(server), server);
  REQUIRE(has_peer(lookup_until(swarm.c, [&](const LookupResult& x) { return has_peer(x, server.peer_id()); }),
                   server.peer_id()));
  // A reader whose clock is past the record's expiry sees it as expired.
  DhtDiscoveryOptions late = loopback({swarm.boot.bootstrap_address()});
  late.clock = [] { return unix_now() + 181; };
  DhtDiscovery reader(late);
  REQUIRE(reader.wait_until_connected(5000ms));
  const LookupResult r = lookup_until(reader, [](const LookupResult& x) { return x.dropped.expired >= 1; });
  CHECK(r.records.empty());
  CHECK(r.dropped.expired == 1);
}

TEST_CASE("DHT: lookups are bounded in values and time") {
  Swarm swarm;
  RawNode attacker(swarm.boot.bootstrap_address());
  for (int i = 0; i < 20; ++i) attacker.put("tiny", "junk " + std::to_string(i));
  DhtDiscoveryOptions small = joining_through(attacker.address(), swarm);
  small.max_lookup_values = 5;
  DhtDiscovery reader(small);
  REQUIRE(reader.wait_until_connected(5000ms, 2));
  const LookupResult r = lookup_until(reader, [](const LookupResult& x) { return x.truncated; });
  CHECK(r.truncated);
  CHECK(r.dropped.total() <= 5);

  // A node alone (nobody to ask) still answers within its timeout.
  DhtDiscoveryOptions alone_options = loopback();
  alone_options.lookup_timeout = 500ms;
  DhtDiscovery alone(alone_options);
  const auto start = std::chrono::steady_clock::now();
  CHECK(alone.lookup("tiny", fingerprint(0xab)).records.empty());
  CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("DHT: bad options and an occupied port are refused") {
  auto code_of = [](DhtDiscoveryOptions o) {
    try {
      DhtDiscovery d(std::move(o));
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::internal;  // "no error"
  };
  DhtDiscoveryOptions o = loopback();
  o.bootstrap_nodes = {"no-port"};
  CHECK(code_of(o) == ErrorCode::invalid_argument);
  o.bootstrap_nodes = {"127.0.0.1:99999"};
  CHECK(code_of(o) == ErrorCode::invalid_argument);
  o.bootstrap_nodes = {"::1:4222"};
  CHECK(code_of(o) == ErrorCode::invalid_argument);
  o = loopback();
  o.bind_address = "localhost";
  CHECK(code_of(o) == ErrorCode::invalid_argument);
  o = loopback();
  o.reannounce_interval = o.record_ttl;
  CHECK(code_of(o) == ErrorCode::invalid_argument);
  o = loopback();
  o.record_ttl = 3601s;
  CHECK(code_of(o) == ErrorCode::invalid_argument);

  DhtDiscovery first(loopback());
  o = loopback();
  o.port = first.bound_port();
  CHECK(code_of(o) == ErrorCode::io);
}

TEST_CASE("DHT: announce refuses a record of another identity") {
  DhtDiscovery d(loopback());
  const NodeIdentity a = NodeIdentity::generate();
  const NodeIdentity b = NodeIdentity::generate();
  CHECK_THROWS_AS(d.announce(record_of(a), b), Error);
  ServerRecord bad = record_of(a);
  bad.endpoint.clear();
  CHECK_THROWS_AS(d.announce(bad, a), Error);
}
