// The C++ half of the BOLT11 cross-check with the npm bolt11 package (check_bolt11.js).
//
//   petalsln-bolt11-js-helper create COUNT SEED OUT.json
//       creates COUNT invoices with random fields (seeded) and writes them with their fields
//   petalsln-bolt11-js-helper check IN.json
//       decodes the invoices that npm bolt11 signed and compares them with the fields it wrote
//
// Both files hold {"invoices": [{"bolt11", "fields": {...}}]}, the fields in the form
// describe() writes: hex for bytes, decimal strings for msat (beyond 2^53), plain numbers else.

#include <cstdio>
#include <exception>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

using namespace petalsln;
using nlohmann::json;

namespace {

template <typename Bytes>
std::string hex(const Bytes& b) {
  return util::to_hex(b.data(), b.size());
}

std::string scid_hex(std::uint64_t scid) {
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, scid >>= 4) s[static_cast<std::size_t>(i)] = "0123456789abcdef"[scid & 15];
  return s;
}

json route_hints(const Bolt11Invoice& inv) {
  json hints = json::array();
  for (const auto& hint : inv.route_hints) {
    json hops = json::array();
    for (const auto& h : hint) {
      hops.push_back({{"pubkey", hex(h.pubkey)},
                      {"short_channel_id", scid_hex(h.short_channel_id)},
                      {"fee_base_msat", h.fee_base_msat},
                      {"fee_proportional_millionths", h.fee_proportional_millionths},
                      {"cltv_expiry_delta", h.cltv_expiry_delta}});
    }
    hints.push_back(hops);
  }
  return hints;
}

// The fields both implementations must agree on.
json describe(const Bolt11Invoice& inv) {
  json f;
  f["network"] = bolt11_currency_prefix(inv.network);
  f["amount_msat"] = inv.amount_msat ? json(std::to_string(*inv.amount_msat)) : json(nullptr);
  f["timestamp"] = inv.timestamp;
  f["payment_hash"] = hex(inv.payment_hash);
  f["payment_secret"] = hex(inv.payment_secret);
  f["description"] = inv.description ? json(*inv.description) : json(nullptr);
  f["description_hash"] = inv.description_hash ? json(hex(*inv.description_hash)) : json(nullptr);
  f["expiry"] = inv.expiry ? json(*inv.expiry) : json(nullptr);
  f["min_final_cltv_expiry"] = inv.min_final_cltv_expiry ? json(*inv.min_final_cltv_expiry) : json(nullptr);
  f["payee"] = inv.payee ? json(hex(*inv.payee)) : json(nullptr);
  f["payee_node_id"] = inv.payee_node_id ? json(hex(*inv.payee_node_id)) : json(nullptr);
  f["features"] = inv.features;
  f["route_hints"] = route_hints(inv);
  json fallbacks = json::array();
  for (const auto& a : inv.fallback_addresses) fallbacks.push_back({{"version", a.version}, {"program", hex(a.program)}});
  f["fallback_addresses"] = fallbacks;
  f["metadata"] = inv.metadata ? json(hex(*inv.metadata)) : json(nullptr);
  return f;
}

class RandomInvoices {
 public:
  explicit RandomInvoices(std::uint64_t seed) : rng_(seed) {}

  Bolt11Invoice next(std::size_t i) {
    Bolt11Params p;
    const Bolt11Network networks[] = {Bolt11Network::regtest, Bolt11Network::mainnet, Bolt11Network::testnet,
                                      Bolt11Network::signet};
    p.network = networks[i % 4];
    if (usually(4)) p.amount_msat = amount();
    p.timestamp = 1'500'000'000 + below(500'000'000);
    p.payment_hash = bytes<32>();
    p.payment_secret = bytes<32>();
    if (usually(4)) p.description = text(); else p.description_hash = bytes<32>();
    if (usually(3)) p.expiry = below(pow10(1 + below(7)));
    p.min_final_cltv_expiry = 1 + below(5000);
    p.include_payee_node_id = !usually(4);
    if (!usually(3)) p.extra_features.push_back(17);
    if (!usually(3)) p.route_hints = hints();
    if (!usually(4)) p.fallback_addresses.push_back(fallback());
    if (!usually(5)) p.metadata = random_vector(1 + below(20));
    return Bolt11Invoice::create(p, key());
  }

 private:
  std::uint64_t below(std::uint64_t n) { return rng_() % n; }
  bool usually(std::uint64_t n) { return below(n) != 0; }  // false one time in n
  static std::uint64_t pow10(std::uint64_t k) {
    std::uint64_t v = 1;
    while (k-- > 0) v *= 10;
    return v;
  }

  template <std::size_t N>
  std::array<std::uint8_t, N> bytes() {
    std::array<std::uint8_t, N> out{};
    for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
    return out;
  }
  std::vector<std::uint8_t> random_vector(std::uint64_t n) {
    std::vector<std::uint8_t> out(n);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
    return out;
  }

  // From 1 msat to 21 million bitcoin, often round (so every multiplier gets used).
  std::uint64_t amount() {
    const std::uint64_t magnitude = pow10(below(19));
    std::uint64_t v = 1 + below(9 * magnitude + 1);
    if (!usually(3)) v = (v / magnitude + 1) * magnitude;
    return std::min<std::uint64_t>(v, 2'100'000'000'000'000'000ULL);
  }

  std::string text() {
    static const char* pieces[] = {"coffee", " ", "ナンセンス 1杯", "🙂", "\"quoted\"", "back\\slash", "tab\t", "new\nline",
                                   "block-tokens", "0.001 BTC", "x", "ü"};
    std::string s;
    const std::uint64_t n = below(40);
    for (std::uint64_t k = 0; k < n; ++k) s += pieces[below(sizeof pieces / sizeof pieces[0])];
    return s;
  }

  std::vector<Bolt11RouteHint> hints() {
    std::vector<Bolt11RouteHint> out(1 + below(2));
    for (auto& hint : out) {
      hint.resize(1 + below(3));
      for (auto& hop : hint) {
        hop.pubkey = bytes<33>();
        hop.pubkey[0] = static_cast<std::uint8_t>(2 + below(2));
        hop.short_channel_id = rng_();
        hop.fee_base_msat = static_cast<std::uint32_t>(rng_());
        hop.fee_proportional_millionths = static_cast<std::uint32_t>(below(1'000'000));
        hop.cltv_expiry_delta = static_cast<std::uint16_t>(rng_());
      }
    }
    return out;
  }

  Bolt11FallbackAddress fallback() {
    switch (below(4)) {
      case 0: return {0, random_vector(20)};
      case 1: return {0, random_vector(32)};
      case 2: return {17, random_vector(20)};
      default: return {18, random_vector(20)};
    }
  }

  Bolt11SecretKey key() {
    auto k = bytes<32>();
    k[0] = static_cast<std::uint8_t>(k[0] & 0x7f);  // below the curve order
    k[31] = static_cast<std::uint8_t>(k[31] | 1);   // not zero
    return k;
  }

  std::mt19937_64 rng_;
};

int create(std::size_t count, std::uint64_t seed, const std::string& out_path) {
  RandomInvoices gen(seed);
  json list = json::array();
  for (std::size_t i = 0; i < count; ++i) {
    const auto inv = gen.next(i);
    list.push_back({{"bolt11", inv.encode()}, {"fields", describe(inv)}});
  }
  std::ofstream(out_path) << json{{"invoices", list}}.dump(1) << "\n";
  std::printf("petalsln created %zu invoices in %s\n", count, out_path.c_str());
  return 0;
}

// Compares petalsln's reading of what npm bolt11 signed with the fields it meant to write.
int check(const std::string& in_path) {
  std::ifstream in(in_path);
  const json doc = json::parse(in);
  int failures = 0, count = 0;
  for (const auto& entry : doc.at("invoices")) {
    ++count;
    const std::string text = entry.at("bolt11").get<std::string>();
    try {
      const json got = describe(Bolt11Invoice::decode(text));
      for (const auto& [key, want] : entry.at("fields").items()) {
        if (got.at(key) == want) continue;
        if (++failures <= 10) {
          std::printf("MISMATCH %s\n  %s: npm bolt11 wrote %s, petalsln read %s\n", text.c_str(), key.c_str(),
                      want.dump().c_str(), got.at(key).dump().c_str());
        }
      }
    } catch (const Error& e) {
      if (++failures <= 10) std::printf("REJECTED %s\n  %s\n", text.c_str(), e.what());
    }
  }
  std::printf("petalsln decoded %d invoices signed by npm bolt11: %d mismatches\n", count, failures);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "create" && argc == 5) return create(std::stoul(argv[2]), std::stoull(argv[3]), argv[4]);
    if (mode == "check" && argc == 3) return check(argv[2]);
    std::fprintf(stderr, "usage: %s create COUNT SEED OUT.json | check IN.json\n", argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "petalsln-bolt11-js-helper: %s\n", e.what());
    return 1;
  }
}
