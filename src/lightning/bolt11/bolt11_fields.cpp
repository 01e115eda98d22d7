// The tagged fields of an invoice's data part: reading each with the checks BOLT #11 asks
// of readers, and writing them back in the order they were read.

#include <algorithm>
#include <cstring>
#include <string>

#include "lightning/bolt11/bolt11_codec.hpp"
#include "util/bech32.hpp"
#include "util/utf8.hpp"

namespace petalsln::lightning {
namespace {

// Field types (the value of the bech32 character that names each field).
enum FieldType : std::uint8_t {
  kPaymentHash = 1,       // p
  kRouteHint = 3,         // r
  kFeatures = 5,          // 9
  kExpiry = 6,            // x
  kFallback = 9,          // f
  kDescription = 13,      // d
  kPaymentSecret = 16,    // s
  kPayeeNodeId = 19,      // n
  kDescriptionHash = 23,  // h
  kMinFinalCltv = 24,     // c
  kMetadata = 27,         // m
};

constexpr std::size_t kHashWords = 52;    // 256 bits + 4 bits of padding
constexpr std::size_t kNodeIdWords = 53;  // 264 bits + 1 bit of padding
constexpr std::size_t kRouteHopBytes = 51;

// Even feature bits a reader may meet in an invoice and still pay: var_onion_optin,
// payment_secret, basic_mpp, option_route_blinding, option_attribution_data and
// option_payment_metadata (BOLT #9, context "9"). Any other even bit is an unknown requirement.
constexpr std::uint16_t kKnownEvenFeatures[] = {8, 14, 16, 24, 36, 48};

struct FieldView {
  std::uint8_t type;
  const std::uint8_t* words;
  std::size_t count;
};

std::vector<std::uint8_t> field_bytes(const FieldView& f) {
  try {
    return util::words_to_bytes(f.words, f.count, "");
  } catch (const Error& e) {
    malformed("field " + field_name(f.type) + e.what());
  }
}

void expect_length(const FieldView& f, std::size_t words) {
  if (f.count != words) {
    malformed("field " + field_name(f.type) + " has data_length " + std::to_string(f.count) + ", must be " +
              std::to_string(words));
  }
}

template <std::size_t N>
std::array<std::uint8_t, N> fixed_bytes(const FieldView& f, std::size_t words) {
  expect_length(f, words);
  const auto bytes = field_bytes(f);
  std::array<std::uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(N), out.begin());
  return out;
}

// x and c: a big-endian number that a writer must write without leading zero words.
std::uint64_t read_uint(const FieldView& f) {
  if (f.count > 0 && f.words[0] == 0) malformed("field " + field_name(f.type) + " has a non-minimal data_length (leading zero)");
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < f.count; ++i) {
    if ((v >> 59) != 0) malformed("field " + field_name(f.type) + " does not fit in 64 bits");
    v = (v << 5) | f.words[i];
  }
  return v;
}

std::string read_description(const FieldView& f) {
  const auto bytes = field_bytes(f);
  std::string text(bytes.begin(), bytes.end());
  const std::size_t bad = util::find_invalid_utf8(text);
  if (bad != std::string::npos) malformed("field 'd' (description) is not valid UTF-8 at byte " + std::to_string(bad));
  return text;
}

std::vector<std::uint16_t> read_features(const FieldView& f) {
  if (f.count == 0 || f.words[0] == 0) malformed("field '9' (features) has a non-minimal data_length (leading zero)");
  std::vector<std::uint16_t> bits;
  for (std::size_t i = f.count; i-- > 0;) {
    for (unsigned b = 0; b < 5; ++b) {
      if (((f.words[i] >> b) & 1) == 0) continue;
      const auto bit = static_cast<std::uint16_t>((f.count - 1 - i) * 5 + b);
      const bool known = std::find(std::begin(kKnownEvenFeatures), std::end(kKnownEvenFeatures), bit) !=
                         std::end(kKnownEvenFeatures);
      if (bit % 2 == 0 && !known) fail(ErrorCode::unsupported, "requires unknown feature bit " + std::to_string(bit));
      bits.push_back(bit);
    }
  }
  return bits;
}

// The program lengths BIP-141 (witness versions), P2PKH and P2SH allow.
bool valid_program_length(std::uint8_t version, std::size_t size) {
  if (version == 0) return size == 20 || size == 32;
  if (version <= 16) return size >= 2 && size <= 40;
  return size == 20;  // 17: P2PKH, 18: P2SH
}

// Returns nullopt for a version readers must skip (19..31).
std::optional<Bolt11FallbackAddress> read_fallback(const FieldView& f) {
  if (f.count == 0) malformed("field 'f' (fallback address) is empty");
  Bolt11FallbackAddress a;
  a.version = f.words[0];
  if (a.version > 18) return std::nullopt;
  a.program = field_bytes(FieldView{f.type, f.words + 1, f.count - 1});
  if (!valid_program_length(a.version, a.program.size())) {
    malformed("field 'f' (fallback address) version " + std::to_string(a.version) + " has a " +
              std::to_string(a.program.size()) + "-byte program");
  }
  return a;
}

std::uint64_t read_be(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

Bolt11RouteHint read_route_hint(const FieldView& f) {
  const auto bytes = field_bytes(f);
  if (bytes.empty() || bytes.size() % kRouteHopBytes != 0) {
    malformed("field 'r' (route hint) holds " + std::to_string(bytes.size()) + " bytes, not a positive multiple of 51");
  }
  Bolt11RouteHint hint;
  for (std::size_t at = 0; at < bytes.size(); at += kRouteHopBytes) {
    const std::uint8_t* p = bytes.data() + at;
    Bolt11RouteHop hop;
    std::memcpy(hop.pubkey.data(), p, hop.pubkey.size());
    hop.short_channel_id = read_be(p + 33, 8);
    hop.fee_base_msat = static_cast<std::uint32_t>(read_be(p + 41, 4));
    hop.fee_proportional_millionths = static_cast<std::uint32_t>(read_be(p + 45, 4));
    hop.cltv_expiry_delta = static_cast<std::uint16_t>(read_be(p + 49, 2));
    hint.push_back(hop);
  }
  return hint;
}

// True the first time a field type is met: readers use the first of repeated fields.
bool first_of(std::uint32_t& seen, std::uint8_t type) {
  const bool first = (seen & (1u << type)) == 0;
  seen |= 1u << type;
  return first;
}

template <typename T>
bool store_first(std::uint32_t& seen, std::uint8_t type, T& slot, T value) {
  if (!first_of(seen, type)) return false;
  slot = std::move(value);
  return true;
}

// Reads one field into @p invoice; false when it is to be kept as a raw extra field instead.
bool read_field(const FieldView& f, Bolt11Invoice& inv, std::uint32_t& seen) {
  switch (f.type) {
    case kPaymentHash: return store_first(seen, f.type, inv.payment_hash, fixed_bytes<32>(f, kHashWords));
    case kPaymentSecret: return store_first(seen, f.type, inv.payment_secret, fixed_bytes<32>(f, kHashWords));
    case kDescriptionHash:
      return store_first(seen, f.type, inv.description_hash, std::optional<Bolt11Hash>(fixed_bytes<32>(f, kHashWords)));
    case kPayeeNodeId:
      return store_first(seen, f.type, inv.payee_node_id, std::optional<Bolt11NodeId>(fixed_bytes<33>(f, kNodeIdWords)));
    case kDescription: return store_first(seen, f.type, inv.description, std::optional<std::string>(read_description(f)));
    case kExpiry: return store_first(seen, f.type, inv.expiry, std::optional<std::uint64_t>(read_uint(f)));
    case kMinFinalCltv: return store_first(seen, f.type, inv.min_final_cltv_expiry, std::optional<std::uint64_t>(read_uint(f)));
    case kFeatures: return store_first(seen, f.type, inv.features, read_features(f));
    case kMetadata:
      return store_first(seen, f.type, inv.metadata, std::optional<std::vector<std::uint8_t>>(field_bytes(f)));
    case kFallback: {
      auto address = read_fallback(f);
      if (address) inv.fallback_addresses.push_back(std::move(*address));
      return address.has_value();
    }
    case kRouteHint: inv.route_hints.push_back(read_route_hint(f)); return true;
    default: return false;  // unknown types are skipped by readers, kept for re-encoding
  }
}

// ---- writing ----

void append_field(Words& out, std::uint8_t type, const Words& data) {
  if (data.size() > kMaxFieldWords) {
    fail(ErrorCode::invalid_argument, "field " + field_name(type) + " would need " + std::to_string(data.size()) +
                                          " words, more than the 1023 a field can hold");
  }
  out.push_back(type);
  out.push_back(static_cast<std::uint8_t>(data.size() >> 5));
  out.push_back(static_cast<std::uint8_t>(data.size() & 31));
  out.insert(out.end(), data.begin(), data.end());
}

template <typename Bytes>
Words words_of(const Bytes& bytes) {
  return util::bytes_to_words(bytes.data(), bytes.size());
}

Words uint_words(std::uint64_t v) {
  Words w;
  for (; v != 0; v >>= 5) w.insert(w.begin(), static_cast<std::uint8_t>(v & 31));
  return w;
}

Words feature_words(const std::vector<std::uint16_t>& bits) {
  if (bits.empty()) return {};
  const std::size_t count = *std::max_element(bits.begin(), bits.end()) / 5u + 1;
  Words w(count, 0);
  for (std::uint16_t bit : bits) w[count - 1 - bit / 5u] = static_cast<std::uint8_t>(w[count - 1 - bit / 5u] | (1u << (bit % 5u)));
  return w;
}

Words description_words(const std::string& text) {
  util::require_valid_utf8(text, "BOLT11 invoice: description");
  return util::bytes_to_words(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

Words fallback_words(const Bolt11FallbackAddress& a) {
  if (a.version > 18 || !valid_program_length(a.version, a.program.size())) {
    fail(ErrorCode::invalid_argument, "fallback address version " + std::to_string(a.version) + " with a " +
                                          std::to_string(a.program.size()) + "-byte program is not valid");
  }
  Words w{a.version};
  const Words program = words_of(a.program);
  w.insert(w.end(), program.begin(), program.end());
  return w;
}

void put_be(std::vector<std::uint8_t>& out, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) out.push_back(static_cast<std::uint8_t>((v >> (8 * i)) & 0xff));
}

Words route_hint_words(const Bolt11RouteHint& hint) {
  if (hint.empty()) fail(ErrorCode::invalid_argument, "a route hint needs at least one hop");
  std::vector<std::uint8_t> bytes;
  for (const auto& hop : hint) {
    bytes.insert(bytes.end(), hop.pubkey.begin(), hop.pubkey.end());
    put_be(bytes, hop.short_channel_id, 8);
    put_be(bytes, hop.fee_base_msat, 4);
    put_be(bytes, hop.fee_proportional_millionths, 4);
    put_be(bytes, hop.cltv_expiry_delta, 2);
  }
  return words_of(bytes);
}

// Returns the words of a field that appears at most once, or nullopt if the invoice lacks it.
std::optional<Words> singular_words(const Bolt11Invoice& inv, std::uint8_t type) {
  switch (type) {
    case kPaymentHash: return words_of(inv.payment_hash);
    case kPaymentSecret: return words_of(inv.payment_secret);
    case kDescription: return inv.description ? std::optional<Words>(description_words(*inv.description)) : std::nullopt;
    case kDescriptionHash: return inv.description_hash ? std::optional<Words>(words_of(*inv.description_hash)) : std::nullopt;
    case kExpiry: return inv.expiry ? std::optional<Words>(uint_words(*inv.expiry)) : std::nullopt;
    case kMinFinalCltv: return inv.min_final_cltv_expiry ? std::optional<Words>(uint_words(*inv.min_final_cltv_expiry)) : std::nullopt;
    case kPayeeNodeId: return inv.payee_node_id ? std::optional<Words>(words_of(*inv.payee_node_id)) : std::nullopt;
    case kMetadata: return inv.metadata ? std::optional<Words>(words_of(*inv.metadata)) : std::nullopt;
    case kFeatures: return inv.features.empty() ? std::nullopt : std::optional<Words>(feature_words(inv.features));
    default: return std::nullopt;
  }
}

// What has been written so far, so that each value is written exactly once.
struct WriteCursor {
  std::uint32_t singular = 0;
  std::size_t fallback = 0, route = 0, extra = 0;
  std::vector<std::uint8_t> order;  // the slots written, in order
};

// Returns the words of the field that @p slot stands for next, or nullopt if there is none.
std::optional<Words> next_field(const Bolt11Invoice& inv, std::uint8_t slot, WriteCursor& at, std::uint8_t& type) {
  type = slot;
  if (slot == Bolt11Invoice::kExtraFieldSlot) {
    if (at.extra >= inv.extra_fields.size()) return std::nullopt;
    const auto& raw = inv.extra_fields[at.extra++];
    if (raw.type > 31) fail(ErrorCode::invalid_argument, "extra field type " + std::to_string(raw.type) + " is above 31");
    type = raw.type;
    return raw.words;
  }
  if (slot == kFallback) {
    if (at.fallback >= inv.fallback_addresses.size()) return std::nullopt;
    return fallback_words(inv.fallback_addresses[at.fallback++]);
  }
  if (slot == kRouteHint) {
    if (at.route >= inv.route_hints.size()) return std::nullopt;
    return route_hint_words(inv.route_hints[at.route++]);
  }
  if (slot >= 32 || !first_of(at.singular, slot)) return std::nullopt;
  return singular_words(inv, slot);
}

void write_slot(const Bolt11Invoice& inv, std::uint8_t slot, WriteCursor& at, Words& out) {
  std::uint8_t type = 0;
  if (auto words = next_field(inv, slot, at, type)) {
    append_field(out, type, *words);
    at.order.push_back(slot);
  }
}

// The order create() writes fields in, after any recorded field_order.
constexpr std::uint8_t kCanonicalSingular[] = {kPaymentHash, kPaymentSecret, kDescription, kDescriptionHash,
                                               kExpiry,      kMinFinalCltv,  kPayeeNodeId, kMetadata};

}  // namespace

std::string field_name(std::uint8_t type) {
  static const char kAlphabet[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  std::string meaning;
  switch (type) {
    case kPaymentHash: meaning = "payment hash"; break;
    case kPaymentSecret: meaning = "payment secret"; break;
    case kDescription: meaning = "description"; break;
    case kDescriptionHash: meaning = "description hash"; break;
    case kPayeeNodeId: meaning = "payee node id"; break;
    case kExpiry: meaning = "expiry"; break;
    case kMinFinalCltv: meaning = "min_final_cltv_expiry_delta"; break;
    case kFallback: meaning = "fallback address"; break;
    case kRouteHint: meaning = "route hint"; break;
    case kFeatures: meaning = "features"; break;
    case kMetadata: meaning = "metadata"; break;
    default: meaning = "unknown type " + std::to_string(type); break;
  }
  return "'" + std::string(1, kAlphabet[type & 31]) + "' (" + meaning + ")";
}

void parse_tagged_fields(const std::uint8_t* words, std::size_t count, Bolt11Invoice& inv) {
  std::uint32_t seen = 0;
  std::size_t at = 0;
  while (at < count) {
    if (count - at < 3) malformed("tagged field header truncated at word " + std::to_string(kTimestampWords + at));
    const FieldView f{words[at], words + at + 3, static_cast<std::size_t>(words[at + 1]) * 32u + words[at + 2]};
    if (f.count > count - at - 3) {
      malformed("field " + field_name(f.type) + " has data_length " + std::to_string(f.count) +
                ", running into the signature");
    }
    if (read_field(f, inv, seen)) {
      inv.field_order.push_back(f.type);
    } else {
      inv.extra_fields.push_back(Bolt11RawField{f.type, Words(f.words, f.words + f.count)});
      inv.field_order.push_back(Bolt11Invoice::kExtraFieldSlot);
    }
    at += 3 + f.count;
  }
}

void check_required_fields(const Bolt11Invoice& inv) {
  const auto has = [&](std::uint8_t t) { return std::count(inv.field_order.begin(), inv.field_order.end(), t) > 0; };
  if (!has(kPaymentHash)) malformed("no payment hash ('p' field)");
  if (!has(kPaymentSecret)) malformed("no payment secret ('s' field), which readers must require");
  if (inv.description && inv.description_hash) malformed("has both a description ('d') and a description hash ('h')");
  if (!inv.description && !inv.description_hash) malformed("has neither a description ('d') nor a description hash ('h')");
}

std::vector<std::uint8_t> write_tagged_fields(const Bolt11Invoice& inv, Words& out) {
  WriteCursor at;
  for (std::uint8_t slot : inv.field_order) write_slot(inv, slot, at, out);
  for (std::uint8_t type : kCanonicalSingular) write_slot(inv, type, at, out);
  while (at.fallback < inv.fallback_addresses.size()) write_slot(inv, kFallback, at, out);
  while (at.route < inv.route_hints.size()) write_slot(inv, kRouteHint, at, out);
  write_slot(inv, kFeatures, at, out);
  while (at.extra < inv.extra_fields.size()) write_slot(inv, Bolt11Invoice::kExtraFieldSlot, at, out);
  return at.order;
}

}  // namespace petalsln::lightning
