#pragma once
/// @file bolt11.hpp
/// BOLT #11 Lightning invoices (payment requests): decoding with every reader check the
/// specification asks for, exact re-encoding, and creating and signing new ones.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace petalsln {

/// The chain an invoice is payable on, named by the currency prefix after "ln".
enum class Bolt11Network {
  mainnet,  ///< "bc"
  testnet,  ///< "tb"
  signet,   ///< "tbs" (the specification's signet prefix)
  regtest,  ///< "bcrt" (used by the devnet wallet)
  simnet,   ///< "sb" (btcd/lnd simnet; not in the specification, accepted as lnd writes it)
};

/// Returns the network's name: "mainnet", "testnet", "signet", "regtest" or "simnet".
const char* to_string(Bolt11Network network) noexcept;

/// Returns the currency prefix written after "ln": "bc", "tb", "tbs", "bcrt" or "sb".
const char* bolt11_currency_prefix(Bolt11Network network) noexcept;

/// A SHA-256 value: payment hash, payment secret, description hash.
using Bolt11Hash = std::array<std::uint8_t, 32>;

/// A Lightning node id: a 33-byte compressed secp256k1 public key.
using Bolt11NodeId = std::array<std::uint8_t, 33>;

/// A 32-byte secp256k1 secret key (big-endian), the key an invoice is signed with.
using Bolt11SecretKey = std::array<std::uint8_t, 32>;

/// One hop of a route hint (`r` field): the channel from @ref pubkey towards the payee.
struct Bolt11RouteHop {
  Bolt11NodeId pubkey{};                        ///< Node id at the start of the channel.
  std::uint64_t short_channel_id = 0;           ///< block << 40 | tx << 16 | output.
  std::uint32_t fee_base_msat = 0;              ///< Base fee of the channel, in msat.
  std::uint32_t fee_proportional_millionths = 0;  ///< Proportional fee, parts per million.
  std::uint16_t cltv_expiry_delta = 0;          ///< CLTV delta of the channel, in blocks.

  /// Field-wise equality.
  bool operator==(const Bolt11RouteHop& o) const {
    return pubkey == o.pubkey && short_channel_id == o.short_channel_id && fee_base_msat == o.fee_base_msat &&
           fee_proportional_millionths == o.fee_proportional_millionths && cltv_expiry_delta == o.cltv_expiry_delta;
  }
};

/// One `r` field: a private route, hops in the order a payment traverses them.
using Bolt11RouteHint = std::vector<Bolt11RouteHop>;

/// An on-chain fallback address (`f` field) in its raw form.
struct Bolt11FallbackAddress {
  /// 0..16: segwit witness version with @ref program the witness program; 17: P2PKH with
  /// @ref program the 20-byte public-key hash; 18: P2SH with @ref program the 20-byte script hash.
  std::uint8_t version = 0;
  std::vector<std::uint8_t> program;  ///< Witness program or hash, as bytes.

  /// Field-wise equality.
  bool operator==(const Bolt11FallbackAddress& o) const { return version == o.version && program == o.program; }
};

/// A tagged field kept only as its 5-bit words so that it can be written back unchanged: a
/// field of an unknown type, an `f` field of an unknown version (the reader skips both), or
/// a repeat of a field that appears once in @ref Bolt11Invoice (readers use the first).
struct Bolt11RawField {
  std::uint8_t type = 0;            ///< Field type, 0..31 (the bech32 character's value).
  std::vector<std::uint8_t> words;  ///< The field's data, one 5-bit value per element.

  /// Field-wise equality.
  bool operator==(const Bolt11RawField& o) const { return type == o.type && words == o.words; }
};

/// How the amount in the human-readable part is written.
enum class Bolt11AmountUnit {
  shortest,  ///< The largest multiplier that divides the amount exactly (what writers should use).
  bitcoin,   ///< No multiplier: whole bitcoin.
  milli,     ///< `m`: 0.001 bitcoin.
  micro,     ///< `u`: 0.000001 bitcoin.
  nano,      ///< `n`: 0.000000001 bitcoin.
  pico,      ///< `p`: 0.000000000001 bitcoin (always a multiple of ten, a whole msat).
};

/// What Bolt11Invoice::decode does when the signature does not check out.
enum class Bolt11SignatureCheck {
  require,  ///< Throw Error(invalid_format) with the reason (the default: a reader MUST).
  report,   ///< Return the invoice with signature_valid false (for inspection tools).
};

/// Everything needed to create a new invoice with Bolt11Invoice::create().
struct Bolt11Params {
  Bolt11Network network = Bolt11Network::regtest;  ///< Currency prefix to write.
  std::optional<std::uint64_t> amount_msat;        ///< Amount asked for; nullopt: any amount.
  std::optional<std::uint64_t> timestamp;          ///< Creation time (Unix seconds); nullopt: now.
  Bolt11Hash payment_hash{};                       ///< SHA-256 of the payment preimage.
  std::optional<Bolt11Hash> payment_secret;        ///< nullopt: 32 fresh random bytes.
  std::optional<std::string> description;          ///< `d`: UTF-8 text, at most 639 bytes...
  std::optional<Bolt11Hash> description_hash;      ///< ...or `h`: SHA-256 of a longer one (exactly one of the two).
  std::optional<std::uint64_t> expiry;             ///< `x` in seconds; nullopt: omitted (readers assume 3600).
  std::uint64_t min_final_cltv_expiry = 18;        ///< `c`, always written (writers SHOULD).
  bool include_payee_node_id = false;              ///< Write `n` (the signing key) so payers need no recovery.
  std::vector<std::uint16_t> extra_features;       ///< Feature bits beyond var_onion_optin (8) and payment_secret (14).
  std::vector<Bolt11FallbackAddress> fallback_addresses;  ///< `f` fields, most preferred first.
  std::vector<Bolt11RouteHint> route_hints;        ///< `r` fields, most preferred first.
  std::optional<std::vector<std::uint8_t>> metadata;  ///< `m`: payment metadata (sets feature 48).
};

/// A BOLT #11 invoice. decode() fills every field from a string and checks it the way the
/// specification's reader requirements say; encode() writes the fields back, in the order
/// they were read, so that encode(decode(x)) == x; create() and sign() make new ones.
///
/// The fields are plain data. Changing one after decode() keeps encode() working but makes
/// the stored signature stale: call sign() before handing the invoice to anyone.
struct Bolt11Invoice {
  /// Readers assume this expiry (seconds) when the invoice has no `x` field.
  static constexpr std::uint64_t kDefaultExpiry = 3600;
  /// Readers use at least this min_final_cltv_expiry_delta when the invoice has no `c` field.
  static constexpr std::uint64_t kDefaultMinFinalCltvExpiry = 18;
  /// Value in @ref field_order that stands for the next entry of @ref extra_fields.
  static constexpr std::uint8_t kExtraFieldSlot = 32;
  /// Feature bit var_onion_optin (compulsory form), which every writer sets.
  static constexpr std::uint16_t kFeatureVarOnionOptin = 8;
  /// Feature bit payment_secret (compulsory form), which every writer sets.
  static constexpr std::uint16_t kFeaturePaymentSecret = 14;
  /// Feature bit option_payment_metadata (compulsory form).
  static constexpr std::uint16_t kFeaturePaymentMetadata = 48;

  Bolt11Network network = Bolt11Network::regtest;  ///< From the currency prefix.
  std::optional<std::uint64_t> amount_msat;        ///< From the human-readable part; nullopt: any amount.
  Bolt11AmountUnit amount_unit = Bolt11AmountUnit::shortest;  ///< How the amount was (or will be) written.
  std::uint64_t timestamp = 0;                     ///< Creation time, Unix seconds (35 bits).
  Bolt11Hash payment_hash{};                       ///< `p` (the first one).
  Bolt11Hash payment_secret{};                     ///< `s` (the first one).
  std::optional<std::string> description;          ///< `d`: UTF-8 description.
  std::optional<Bolt11Hash> description_hash;      ///< `h`: SHA-256 of the description.
  std::optional<std::uint64_t> expiry;             ///< `x` in seconds, when present; see expiry_seconds().
  std::optional<std::uint64_t> min_final_cltv_expiry;  ///< `c`, when present; see min_final_cltv_expiry_delta().
  std::vector<Bolt11FallbackAddress> fallback_addresses;  ///< `f` fields of known versions, in order.
  std::vector<Bolt11RouteHint> route_hints;        ///< `r` fields, in order.
  std::vector<std::uint16_t> features;             ///< `9`: the set feature bits, ascending.
  std::optional<Bolt11NodeId> payee_node_id;       ///< `n`: the payee as the invoice states it.
  std::optional<std::vector<std::uint8_t>> metadata;  ///< `m`: payment metadata.
  std::vector<Bolt11RawField> extra_fields;        ///< Fields kept only to be written back (see Bolt11RawField).
  /// The tagged fields in the order they appear: a field type (0..31) for each field held above
  /// (the k-th `f` or `r` entry is the k-th fallback or route hint), kExtraFieldSlot for each
  /// entry of @ref extra_fields. encode() writes fields it does not list after the listed ones.
  std::vector<std::uint8_t> field_order;
  std::array<std::uint8_t, 64> signature{};        ///< Compact ECDSA signature, R || S.
  std::uint8_t recovery_id = 0;                    ///< Public-key recovery id, 0..3.
  bool signature_valid = false;                    ///< True once decode() verified or sign() made the signature.
  /// The payee's node id: @ref payee_node_id when present (the signature verified against it),
  /// else the key recovered from the signature. nullopt only when decode() was told to
  /// report a signature that could not be recovered.
  std::optional<Bolt11NodeId> payee;

  /// Decodes and checks @p text (bech32, either case but not mixed; a "lightning:" prefix is
  /// not accepted). Every reader requirement of BOLT #11 is enforced: known currency prefix,
  /// amount digits and multiplier (a `p` amount must end in 0), exact lengths of `p`, `s`,
  /// `h` (52) and `n` (53), exactly one of `d`/`h`, a present `s`, minimal `x`, `c` and `9`,
  /// no unknown even feature bit, canonical zero padding, and the signature: verified
  /// against `n` (low-S only) when present, else recovered (high-S accepted).
  /// Returns the invoice. Throws Error(invalid_format) for a malformed or badly signed
  /// invoice, Error(unsupported) for an unknown currency prefix or a required unknown
  /// feature; the message says which rule failed. With @p check == report, a bad signature
  /// gives signature_valid false instead of an exception.
  static Bolt11Invoice decode(std::string_view text, Bolt11SignatureCheck check = Bolt11SignatureCheck::require);

  /// Returns a new invoice from @p params, signed with @p secret_key: features 8 and 14 (plus
  /// 48 with metadata, plus params.extra_features), fields in the order p, s, d/h, x, c, n,
  /// m, f..., r..., 9. Throws Error(invalid_argument) if the parameters break a writer rule
  /// (see sign()) or the key is not a valid secret key; Error(io) without randomness.
  static Bolt11Invoice create(const Bolt11Params& params, const Bolt11SecretKey& secret_key);

  /// Signs the invoice as it stands with @p secret_key (RFC 6979 deterministic nonce, low-S),
  /// setting signature, recovery_id, payee and signature_valid, and setting field_order to
  /// the order encode() writes the fields in. Throws Error(invalid_argument)
  /// if the fields break a writer rule: exactly one of description/description_hash, a
  /// description of valid UTF-8, an amount above zero and at most 21 million bitcoin, a
  /// timestamp below 2^35, fields of at most 1023 words, fallback programs of valid length,
  /// non-empty route hints, a payee_node_id equal to the key's public key.
  void sign(const Bolt11SecretKey& secret_key);

  /// Returns the invoice as a bech32 string, lower case unless @p upper_case (the form
  /// BOLT #11 suggests for QR codes). Fields appear in field_order, then any not listed
  /// there; the stored signature is written as it is. Throws Error(invalid_argument) if a
  /// field cannot be written (see sign()).
  std::string encode(bool upper_case = false) const;

  /// Returns the human-readable part: "ln", the currency prefix and the amount.
  /// Throws Error(invalid_argument) if the amount cannot be written in amount_unit.
  std::string human_readable_part() const;

  /// Returns the SHA-256 digest that the signature covers: the human-readable part followed
  /// by the data part without the signature, zero-padded to whole bytes.
  Bolt11Hash signing_hash() const;

  /// Returns the expiry in seconds: the `x` field, or kDefaultExpiry without one.
  std::uint64_t expiry_seconds() const noexcept { return expiry.value_or(kDefaultExpiry); }

  /// Returns the min_final_cltv_expiry_delta: the `c` field, or kDefaultMinFinalCltvExpiry.
  std::uint64_t min_final_cltv_expiry_delta() const noexcept {
    return min_final_cltv_expiry.value_or(kDefaultMinFinalCltvExpiry);
  }

  /// Returns timestamp + expiry_seconds(), saturating instead of overflowing.
  std::uint64_t expires_at() const noexcept;

  /// Returns true if @p now_unix (seconds) is at or past expires_at(): a payer should not pay.
  bool is_expired(std::uint64_t now_unix) const noexcept { return now_unix >= expires_at(); }

  /// Returns true if feature bit @p bit is set in the `9` field.
  bool has_feature(unsigned bit) const noexcept;

  /// Returns true if @p full_description hashes to description_hash, or equals description
  /// (a reader MUST check the `h` field against the description it was given).
  bool description_matches(std::string_view full_description) const;
};

/// Returns @p scid in the "BLOCKxTXxOUTPUT" form (e.g. "66051x263430x1800").
std::string format_short_channel_id(std::uint64_t scid);

}  // namespace petalsln
