// The version-2 binary macaroon format (libmacaroons doc/format.txt):
//
//   macaroon: VERSION(=2) [LOCATION] IDENTIFIER EOS caveat* EOS SIGNATURE
//   caveat:   [LOCATION] IDENTIFIER [VID] EOS
//
// Every field but EOS (a single zero byte) is "type varint, length varint, bytes"; types are
// LOCATION=1, IDENTIFIER=2, VID=4, SIGNATURE=6. The parser is strict so that a macaroon has
// exactly one encoding: serialize(deserialize(x)) == x for every x it accepts.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "petalsln/lightning/macaroon.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

constexpr std::uint8_t kVersion = 2;
enum FieldType : std::uint64_t { kEos = 0, kLocation = 1, kIdentifier = 2, kVid = 4, kSignature = 6 };

[[noreturn]] void fail(const std::string& message, std::size_t offset) {
  throw Error(ErrorCode::invalid_format, "macaroon: " + message + " (offset " + std::to_string(offset) + ")");
}

void append_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out += static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  out += static_cast<char>(value);
}

void append_field(std::string& out, FieldType type, std::string_view data) {
  append_varint(out, type);
  append_varint(out, data.size());
  out.append(data);
}

struct Field {
  std::uint64_t type = kEos;
  std::string_view data;
  std::size_t offset = 0;  // where the field starts, for error messages
};

// Reads fields from the binary form, checking every length against what is left.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  bool at_end() const noexcept { return pos_ == bytes_.size(); }
  std::size_t offset() const noexcept { return pos_; }

  std::uint8_t byte(const char* what) {
    if (at_end()) fail(std::string("truncated: input ends where ") + what + " belongs", pos_);
    return static_cast<std::uint8_t>(bytes_[pos_++]);
  }

  // An unsigned LEB128 varint; refuses over-long forms (so each value has one encoding) and
  // anything above 2^32, far beyond every limit.
  std::uint64_t varint(const char* what) {
    const std::size_t start = pos_;
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 35; shift += 7) {
      const std::uint8_t b = byte(what);
      value |= std::uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) {
        if (b == 0 && shift > 0) fail(std::string("over-long varint for ") + what, start);
        return value;
      }
    }
    fail(std::string("varint for ") + what + " is too large", start);
  }

  Field field() {
    Field f;
    f.offset = pos_;
    f.type = varint("a field type");
    if (f.type == kEos) return f;
    const std::uint64_t size = varint("a field length");
    if (size > bytes_.size() - pos_) {
      fail("truncated: field of " + std::to_string(size) + " bytes runs past the end", f.offset);
    }
    f.data = bytes_.substr(pos_, static_cast<std::size_t>(size));
    pos_ += static_cast<std::size_t>(size);
    return f;
  }

  // Fields up to the next EOS, in strictly increasing type order as the grammar requires.
  std::vector<Field> section() {
    std::vector<Field> fields;
    for (Field f = field(); f.type != kEos; f = field()) {
      if (f.type != kLocation && f.type != kIdentifier && f.type != kVid) {
        fail("unexpected field type " + std::to_string(f.type) + " inside a section", f.offset);
      }
      if (!fields.empty() && f.type <= fields.back().type) fail("fields out of order or repeated", f.offset);
      fields.push_back(f);
    }
    return fields;
  }

 private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

void check_limit(const Field& f, std::size_t limit, const char* what) {
  if (f.data.size() > limit) {
    fail(std::string(what) + " of " + std::to_string(f.data.size()) + " bytes exceeds the limit of " +
             std::to_string(limit),
         f.offset);
  }
  if (f.data.empty()) fail(std::string(what) + " is empty", f.offset);
}

void check_version(Reader& r) {
  const std::uint8_t version = r.byte("the version byte");
  if (version == kVersion) return;
  // Version-1 macaroons are packets "<4 hex digits of length>key value\n", so they start
  // with '0'; the JSON form starts with '{'.
  if (version == '0') throw Error(ErrorCode::unsupported, "macaroon: version-1 macaroons are not supported");
  if (version == '{') throw Error(ErrorCode::unsupported, "macaroon: the JSON form is not supported; use binary v2");
  fail("unknown version byte " + std::to_string(version) + " (expected 2)", 0);
}

}  // namespace

std::string Macaroon::serialize() const {
  std::string out;
  out += static_cast<char>(kVersion);
  if (!location_.empty()) append_field(out, kLocation, location_);
  append_field(out, kIdentifier, identifier_);
  out += static_cast<char>(kEos);
  for (const std::string& caveat : caveats_) {
    append_field(out, kIdentifier, caveat);
    out += static_cast<char>(kEos);
  }
  out += static_cast<char>(kEos);
  append_field(out, kSignature, std::string_view(reinterpret_cast<const char*>(signature_.data()), signature_.size()));
  return out;
}

Macaroon Macaroon::deserialize(std::string_view bytes) {
  if (bytes.empty()) throw Error(ErrorCode::invalid_format, "macaroon: empty input");
  if (bytes.size() > max_serialized_size) {
    throw Error(ErrorCode::invalid_format, "macaroon: " + std::to_string(bytes.size()) +
                                               " bytes exceeds the limit of " + std::to_string(max_serialized_size));
  }
  Reader r(bytes);
  check_version(r);
  Macaroon m;
  const std::vector<Field> header = r.section();
  std::size_t next = 0;
  if (next < header.size() && header[next].type == kLocation) {
    check_limit(header[next], max_location_size, "location");
    m.location_ = std::string(header[next++].data);
  }
  if (next + 1 != header.size() || header[next].type != kIdentifier) {
    fail("the header must hold an optional location and an identifier, then EOS", 1);
  }
  check_limit(header[next], max_identifier_size, "identifier");
  m.identifier_ = std::string(header[next].data);
  for (;;) {
    const std::size_t at = r.offset();
    const std::vector<Field> cav = r.section();
    if (cav.empty()) break;  // the EOS that ends the caveat list
    if (cav.back().type == kVid) {
      throw Error(ErrorCode::unsupported, "macaroon: third-party caveats are not supported (caveat at offset " +
                                              std::to_string(at) + ")");
    }
    if (cav.size() != 1 || cav[0].type != kIdentifier) fail("a first-party caveat must be one identifier", at);
    if (m.caveats_.size() >= max_caveats) fail("more than " + std::to_string(max_caveats) + " caveats", at);
    check_limit(cav[0], max_caveat_size, "caveat");
    m.caveats_.emplace_back(cav[0].data);
  }
  const Field sig = r.field();
  if (sig.type != kSignature) fail("expected the signature field", sig.offset);
  if (sig.data.size() != m.signature_.size()) {
    fail("signature is " + std::to_string(sig.data.size()) + " bytes, expected 32", sig.offset);
  }
  for (std::size_t i = 0; i < sig.data.size(); ++i) m.signature_[i] = static_cast<std::uint8_t>(sig.data[i]);
  if (!r.at_end()) fail(std::to_string(bytes.size() - r.offset()) + " trailing bytes after the signature", r.offset());
  return m;
}

}  // namespace petalsln
