#pragma once
// The pieces of the BOLT #11 codec behind Bolt11Invoice: the human-readable part, the tagged
// fields and the signature. Each reader throws Error with a message naming the rule broken.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::lightning {

/// A sequence of 5-bit values.
using Words = std::vector<std::uint8_t>;

/// Number of 5-bit words in the timestamp (35 bits).
inline constexpr std::size_t kTimestampWords = 7;
/// Number of 5-bit words in the signature (64 bytes + recovery id = 520 bits).
inline constexpr std::size_t kSignatureWords = 104;
/// The largest data_length a tagged field can state (10 bits).
inline constexpr std::size_t kMaxFieldWords = 1023;

/// Throws Error(@p code) with @p why prefixed by "BOLT11 invoice: ".
[[noreturn]] void fail(ErrorCode code, const std::string& why);

/// Throws Error(invalid_format) for a malformed invoice.
[[noreturn]] inline void malformed(const std::string& why) { fail(ErrorCode::invalid_format, why); }

/// Fills network, amount_msat and amount_unit from the lower-case human-readable part.
void parse_human_readable_part(const std::string& hrp, Bolt11Invoice& invoice);

/// Returns the amount as written in the human-readable part ("" when absent).
std::string write_amount(const Bolt11Invoice& invoice);

/// Reads the tagged fields in @p count words at @p words into @p invoice, checking each.
void parse_tagged_fields(const std::uint8_t* words, std::size_t count, Bolt11Invoice& invoice);

/// Checks the rules that concern the set of fields as a whole (a `p`, an `s`, one of d/h).
void check_required_fields(const Bolt11Invoice& invoice);

/// Appends the tagged fields of @p invoice to @p out, in field_order and then the rest.
/// Returns the order it wrote them in, in the form of Bolt11Invoice::field_order.
std::vector<std::uint8_t> write_tagged_fields(const Bolt11Invoice& invoice, Words& out);

/// Returns the reason the signature of @p invoice does not check out over @p digest, or
/// nullopt when it does; on success sets invoice.payee.
std::optional<std::string> check_signature(const Bolt11Hash& digest, Bolt11Invoice& invoice);

/// Signs @p digest with @p secret_key into invoice.signature/recovery_id; returns the
/// key's compressed public key. Throws Error(invalid_argument) for an invalid key.
Bolt11NodeId sign_digest(const Bolt11Hash& digest, const Bolt11SecretKey& secret_key, Bolt11Invoice& invoice);

/// Returns the compressed public key of @p secret_key. Throws Error(invalid_argument).
Bolt11NodeId public_key_of(const Bolt11SecretKey& secret_key);

/// Returns the bech32 character of field type @p type and its meaning, e.g. "'p' (payment hash)".
std::string field_name(std::uint8_t type);

}  // namespace petalsln::lightning
