// Macaroon binary parsing under attack: truncation, garbage, grammar violations, limits.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>

#include "petalsln/lightning/macaroon.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

// Hand-built pieces of the v2 format, so tests can write what no encoder would.
std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string field(std::uint64_t type, const std::string& data) { return varint(type) + varint(data.size()) + data; }
const std::string kEos(1, '\0');
const std::string kSig = field(6, std::string(32, 's'));

std::string header(const std::string& id = "id") { return std::string(1, '\x02') + field(2, id) + kEos; }

ErrorCode parse_error(const std::string& bytes) {
  try {
    (void)Macaroon::deserialize(bytes);
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("accepted: " << bytes.size() << " bytes");
  return ErrorCode::internal;
}

std::string parse_message(const std::string& bytes) {
  try {
    (void)Macaroon::deserialize(bytes);
  } catch (const Error& e) {
    return e.what();
  }
  return "accepted";
}

}  // namespace

TEST_CASE("macaroon hand-built v2 bytes parse as the grammar says") {
  const Macaroon m = Macaroon::deserialize(header() + field(2, "c1") + kEos + field(2, "c2") + kEos + kEos + kSig);
  CHECK(m.identifier() == "id");
  CHECK(m.location().empty());
  CHECK(m.caveats() == std::vector<std::string>{"c1", "c2"});
  CHECK(m.signature()[0] == 's');
  const Macaroon l = Macaroon::deserialize(std::string(1, '\x02') + field(1, "loc") + field(2, "id") + kEos + kEos + kSig);
  CHECK(l.location() == "loc");
}

TEST_CASE("macaroon parsing rejects every truncation with invalid_format") {
  Macaroon m = Macaroon::mint("k", "identifier", "location");
  m.add_first_party_caveat("service=petalsln");
  m.add_first_party_caveat("credit=5");
  const std::string bytes = m.serialize();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    CAPTURE(n);
    CHECK(parse_error(bytes.substr(0, n)) == ErrorCode::invalid_format);
  }
  CHECK(parse_message(bytes.substr(0, bytes.size() - 1)).find("truncated") != std::string::npos);
  CHECK(parse_error(bytes + "x") == ErrorCode::invalid_format);
  CHECK(parse_message(bytes + "x").find("trailing") != std::string::npos);
}

TEST_CASE("macaroon parsing rejects grammar violations") {
  const std::string tail = kEos + kSig;
  // Unknown version; version 1 text and JSON are refused as unsupported.
  CHECK(parse_error(std::string(1, '\x03') + header().substr(1) + tail) == ErrorCode::invalid_format);
  CHECK(parse_error("0024location http://example.org/\n") == ErrorCode::unsupported);
  CHECK(parse_error("{\"v\":2}") == ErrorCode::unsupported);
  // Header: identifier missing, location after identifier, repeated identifier, unknown field.
  CHECK(parse_error(std::string(1, '\x02') + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(std::string(1, '\x02') + field(2, "id") + field(1, "l") + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(std::string(1, '\x02') + field(2, "id") + field(2, "id") + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(std::string(1, '\x02') + field(2, "id") + field(3, "x") + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(std::string(1, '\x02') + field(2, "id") + field(4, "v") + kEos + tail) == ErrorCode::invalid_format);
  // Empty identifier or caveat.
  CHECK(parse_error(header("") + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(header() + field(2, "") + kEos + tail) == ErrorCode::invalid_format);
  // A first-party caveat may not carry a location; a VID makes it third-party: unsupported.
  CHECK(parse_error(header() + field(1, "l") + field(2, "c") + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(header() + field(2, "c") + field(4, std::string(40, 'v')) + kEos + tail) == ErrorCode::unsupported);
  CHECK(parse_error(header() + field(1, "l") + field(2, "c") + field(4, "v") + kEos + tail) == ErrorCode::unsupported);
  CHECK(parse_message(header() + field(2, "c") + field(4, "v") + kEos + tail).find("third-party") != std::string::npos);
  // Signature: missing, wrong type, wrong length.
  CHECK(parse_error(header() + kEos) == ErrorCode::invalid_format);
  CHECK(parse_error(header() + kEos + field(2, std::string(32, 's'))) == ErrorCode::invalid_format);
  CHECK(parse_error(header() + kEos + field(6, std::string(31, 's'))) == ErrorCode::invalid_format);
  CHECK(parse_error(header() + kEos + field(6, std::string(33, 's'))) == ErrorCode::invalid_format);
  // Over-long varints (a second encoding of the same length) and absurd lengths.
  CHECK(parse_error(std::string(1, '\x02') + "\x02\x82\x00id" + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(std::string(1, '\x02') + "\x02\xff\xff\xff\xff\x0f" + "id" + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(std::string(1, '\x02') + "\x02\xff\xff\xff\xff\xff\xff\x01" + kEos) == ErrorCode::invalid_format);
}

TEST_CASE("macaroon parsing enforces its limits") {
  const std::string tail = kEos + kSig;
  CHECK(parse_error(header(std::string(Macaroon::max_identifier_size + 1, 'i')) + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(std::string(1, '\x02') + field(1, std::string(Macaroon::max_location_size + 1, 'l')) +
                    field(2, "id") + kEos + tail) == ErrorCode::invalid_format);
  CHECK(parse_error(header() + field(2, std::string(Macaroon::max_caveat_size + 1, 'c')) + kEos + tail) ==
        ErrorCode::invalid_format);
  std::string many = header();
  for (std::size_t i = 0; i <= Macaroon::max_caveats; ++i) many += field(2, "c") + kEos;
  CHECK(parse_error(many + tail) == ErrorCode::invalid_format);
  CHECK(parse_message(many + tail).find("caveats") != std::string::npos);
  CHECK(parse_error(std::string(Macaroon::max_serialized_size + 1, '\x02')) == ErrorCode::invalid_format);
  CHECK(parse_error("") == ErrorCode::invalid_format);
}

TEST_CASE("macaroon parsing survives random garbage and random corruption") {
  std::mt19937 rng(1234);
  Macaroon m = Macaroon::mint("k", "identifier", "location");
  m.add_first_party_caveat("service=petalsln");
  const std::string good = m.serialize();
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string b = good;
    if (i % 2 == 0) {
      b[rng() % b.size()] = static_cast<char>(rng() & 0xff);
    } else {
      b.assign(rng() % 80, '\0');
      for (char& c : b) c = static_cast<char>(rng() & 0xff);
      if (!b.empty() && i % 4 == 1) b[0] = '\x02';
    }
    try {
      const Macaroon parsed = Macaroon::deserialize(b);
      ++accepted;
      CHECK(parsed.serialize() == b);  // anything accepted has exactly this one encoding
      // The location is only a hint outside the signature; any other change breaks the chain.
      const bool same_chain = parsed.identifier() == m.identifier() && parsed.caveats() == m.caveats() &&
                              parsed.signature() == m.signature();
      CHECK(parsed.verify("k", [](std::string_view) { return Verdict::pass(); }).ok == same_chain);
    } catch (const Error& e) {
      CHECK((e.code() == ErrorCode::invalid_format || e.code() == ErrorCode::unsupported));
    }
  }
  CHECK(accepted > 0);  // some single-byte changes land in data and still parse
}
