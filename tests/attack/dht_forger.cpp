// petalsln-attack-dht-forger: a hostile DHT node for the attack tests (issue 12).
//
// Joins a running petalsln DHT as a plain OpenDHT node (it registers none of petalsln's store
// or edit policies, so it keeps whatever it is sent) and puts forged values under a model's
// key, every one pointing at --trap and claiming all blocks with a huge throughput and no
// price, so a client that believed any of them would route through the trap:
//
//   bad-signature    a well-formed record with one bit of its signature flipped
//   impersonation    a record claiming --victim's peer id, signed by another key (in the
//                    victim's own value slot and in a fresh one)
//   forged-tombstone a withdrawal of --victim, signed by another key, in the victim's slot
//   expired          an authentic record whose time is over
//   future           an authentic record issued an hour from now
//   oversized        an authentic record padded past the 4096-byte limit with an unknown field
//   other-model      an authentic record with another model's fingerprint
//   garbage          bytes that are no record at all (also in the victim's slot)
//
// Usage: petalsln-attack-dht-forger --bootstrap HOST:PORT --model NAME --model-dir DIR
//                                   --victim PEER_HEX --trap HOST:PORT --blocks N
// Prints "ready dht=127.0.0.1:PORT forged=N stored=M" once its puts are done, then keeps its
// node (and the values it stores) alive until stdin closes. A line "control" on stdin puts one
// authentic record of its own key pointing at --trap (answered "control peer=HEX stored=0|1"),
// which shows that values it stores do reach clients.
#include <opendht/dhtrunner.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/swarm/node_identity.hpp"
#include "petalsln/swarm/server_record.hpp"

using namespace petalsln;

namespace {

constexpr std::uint16_t kRecordValueType = 0x504c;  // DhtDiscovery's value type ("PL")
constexpr std::uint32_t kNetworkId = 0x504c4e31;    // DhtDiscoveryOptions' default network id

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

PeerId peer_from_hex(const std::string& hex) {
  PeerId p{};
  if (hex.size() != 64) throw std::runtime_error("--victim must be 64 hex digits");
  for (std::size_t i = 0; i < 32; ++i) p[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return p;
}

std::string bytes_of(const PeerId& p) { return std::string(reinterpret_cast<const char*>(p.data()), p.size()); }

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) s.replace(pos, from.size(), to);
  return s;
}

// DhtDiscovery's value id for a peer: its first 8 bytes, big-endian.
dht::Value::Id slot_of(const PeerId& peer) {
  dht::Value::Id id = 0;
  for (std::size_t i = 0; i < 8; ++i) id = (id << 8) | peer[i];
  return id;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  for (int i = 1; i + 1 < argc; i += 2) a[std::string(argv[i]).substr(2)] = argv[i + 1];
  for (const char* k : {"bootstrap", "model", "model-dir", "victim", "trap", "blocks"}) {
    if (!a.count(k)) {
      std::fprintf(stderr, "usage: petalsln-attack-dht-forger --bootstrap HOST:PORT --model NAME --model-dir DIR "
                           "--victim PEER_HEX --trap HOST:PORT --blocks N\n");
      return 2;
    }
  }
  const PeerId victim = peer_from_hex(a["victim"]);
  const ModelFingerprint fingerprint = compute_model_fingerprint(a["model-dir"]);
  const std::uint64_t now = unix_now();
  const NodeIdentity mallory = NodeIdentity::generate();

  auto forged = [&](const NodeIdentity& id) {
    ServerRecord r;
    r.peer_id = id.peer_id();
    r.endpoint = a["trap"];
    r.model = a["model"];
    r.model_fingerprint = fingerprint;
    r.block_begin = 0;
    r.block_end = static_cast<std::uint32_t>(std::stoul(a["blocks"]));
    r.throughput = 1e9;
    r.free_cache_tokens = 1 << 20;
    r.price_msat = 0;
    r.public_name = "mallory";
    r.version = "0.1.0";
    r.issued_at = now;
    r.expires_at = now + 300;
    return r;
  };

  std::vector<std::pair<std::string, std::pair<std::string, dht::Value::Id>>> values;
  auto add = [&](const std::string& kind, std::string bytes, dht::Value::Id id = dht::Value::INVALID_ID) {
    values.push_back({kind, {std::move(bytes), id}});
  };
  std::string flipped = forged(mallory).sign(mallory);
  flipped.back() = static_cast<char>(flipped.back() ^ 0x01);
  add("bad-signature", flipped);
  const std::string impersonation = replace_all(forged(mallory).sign(mallory), bytes_of(mallory.peer_id()), bytes_of(victim));
  add("impersonation", impersonation, slot_of(victim));
  add("impersonation", impersonation);
  ServerRecord tomb = forged(mallory);
  tomb.issued_at = now + 10;
  tomb.expires_at = tomb.issued_at;
  add("forged-tombstone", replace_all(tomb.sign(mallory), bytes_of(mallory.peer_id()), bytes_of(victim)), slot_of(victim));
  const NodeIdentity stale = NodeIdentity::generate();
  ServerRecord old = forged(stale);
  old.issued_at = now - 1000;
  old.expires_at = now - 700;
  add("expired", old.sign(stale));
  const NodeIdentity early = NodeIdentity::generate();
  ServerRecord future = forged(early);
  future.issued_at = now + 3600;
  future.expires_at = now + 3900;
  add("future", future.sign(early));
  const NodeIdentity big = NodeIdentity::generate();
  std::string padded = forged(big).sign(big);
  padded += std::string("\x7a\x88\x27", 3) + std::string(5000, 'p');  // field 15, 5000 bytes: unknown, still signed
  add("oversized", padded);
  const NodeIdentity foreign = NodeIdentity::generate();
  ServerRecord other = forged(foreign);
  other.model_fingerprint[0] ^= 0xff;
  add("other-model", other.sign(foreign));
  add("garbage", "definitely not a record");
  add("garbage", "garbage in the victim's slot", slot_of(victim));

  dht::DhtRunner runner;
  dht::DhtRunner::Config config;
  config.dht_config.node_config.network = kNetworkId;
  config.threaded = true;
  config.peer_discovery = false;
  config.peer_publish = false;
  config.bind4 = dht::SockAddr::resolve("127.0.0.1", "0").front();
  runner.run(config, dht::DhtRunner::Context{});
  const std::string boot = a["bootstrap"];
  const auto colon = boot.rfind(':');
  runner.bootstrap(boot.substr(0, colon), boot.substr(colon + 1));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (runner.getNodesStats(AF_INET).good_nodes == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (runner.getNodesStats(AF_INET).good_nodes == 0) {
    std::fprintf(stderr, "petalsln-attack-dht-forger: could not join the DHT at %s\n", boot.c_str());
    runner.join();
    return 1;
  }
  const auto key = dht::InfoHash::get("petalsln/v1/" + a["model"]);
  int stored = 0;
  for (const auto& [kind, v] : values) {
    auto value = std::make_shared<dht::Value>(kRecordValueType, reinterpret_cast<const std::uint8_t*>(v.first.data()),
                                              v.first.size(), v.second);
    auto done = std::make_shared<std::promise<bool>>();
    auto future_done = done->get_future();
    runner.put(key, value, [done](bool ok) { done->set_value(ok); }, dht::time_point::max(), true);
    if (future_done.wait_for(std::chrono::seconds(5)) == std::future_status::ready && future_done.get()) ++stored;
    std::fprintf(stderr, "petalsln-attack-dht-forger: put %s (%zu bytes)\n", kind.c_str(), v.first.size());
  }
  std::printf("ready dht=127.0.0.1:%u forged=%zu stored=%d\n", runner.getBoundPort(AF_INET), values.size(), stored);
  std::fflush(stdout);
  // "control" on stdin puts one authentic record of the attacker's own key, pointing at the trap:
  // the test's proof that what this node stores does reach the client.
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line != "control") continue;
    const std::string bytes = forged(mallory).sign(mallory);
    auto value = std::make_shared<dht::Value>(kRecordValueType, reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                              bytes.size(), slot_of(mallory.peer_id()));
    auto done = std::make_shared<std::promise<bool>>();
    auto future_done = done->get_future();
    runner.put(key, value, [done](bool ok) { done->set_value(ok); }, dht::time_point::max(), true);
    const bool ok = future_done.wait_for(std::chrono::seconds(5)) == std::future_status::ready && future_done.get();
    std::printf("control peer=%s stored=%d\n", mallory.peer_id_hex().c_str(), ok ? 1 : 0);
    std::fflush(stdout);
  }
  runner.join();
  return 0;
}
