// L402 caveats: petalsln's conventions, and that added caveats can only narrow access.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

const std::string kRootKey = "an L402 root key of 32 bytes....";
const std::string kPeer = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

L402Terms terms() {
  L402Terms t;
  t.model = "meta-llama/Llama-3.2-1B";
  t.peer = kPeer;
  t.block_begin = 4;
  t.block_end = 12;
  t.credit = 5000;
  t.expires = 1800000000;
  return t;
}

L402Request request(std::uint32_t begin = 4, std::uint32_t end = 12, std::int64_t now = 1700000000) {
  L402Request r;
  r.model = "meta-llama/Llama-3.2-1B";
  r.peer = kPeer;
  r.block_begin = begin;
  r.block_end = end;
  r.now = now;
  return r;
}

L402Identifier some_id() {
  L402Identifier id;
  id.payment_hash.fill(0x11);
  id.token_id.fill(0x22);
  return id;
}

Macaroon minted() { return mint_l402_macaroon(kRootKey, some_id(), terms(), "petalsln"); }

Macaroon with(std::initializer_list<const char*> extra) {
  Macaroon m = minted();
  for (const char* c : extra) m.add_first_party_caveat(c);
  return m;
}

Verdict check(const Macaroon& m, const L402Request& r = request(), L402Terms* granted = nullptr) {
  return verify_l402_caveats(m, kRootKey, r, granted);
}

}  // namespace

TEST_CASE("L402 caveats are written as documented") {
  const Macaroon m = minted();
  CHECK(m.caveats() == std::vector<std::string>{"service=petalsln", "model=meta-llama/Llama-3.2-1B", "peer=" + kPeer,
                                                "blocks=4-12", "credit=5000", "expires=1800000000"});
  CHECK(L402Identifier::decode(m.identifier()) == some_id());
  CHECK(m.location() == "petalsln");
  L402Terms granted;
  const Verdict v = check(m, request(), &granted);
  REQUIRE(v.ok);
  CHECK(granted.service == "petalsln");
  CHECK(granted.model == "meta-llama/Llama-3.2-1B");
  CHECK(granted.peer == kPeer);
  CHECK(granted.block_begin == 4);
  CHECK(granted.block_end == 12);
  CHECK(granted.credit == 5000);
  CHECK(granted.expires == 1800000000);
}

TEST_CASE("L402 caveat builders refuse values that cannot be caveats") {
  Macaroon m = Macaroon::mint(kRootKey, some_id().encode());
  auto refused = [&](L402Terms t) {
    CHECK_THROWS_AS(add_l402_caveats(m, t), Error);
    CHECK(m.caveats().empty());  // nothing appended before the error
  };
  L402Terms t = terms();
  t.model = "";
  refused(t);
  t = terms();
  t.model = "two words";
  refused(t);
  t = terms();
  t.service = "petal\nsln";
  refused(t);
  t = terms();
  t.peer = "abcd";
  refused(t);
  t = terms();
  t.peer = std::string(64, 'g');
  refused(t);
  t = terms();
  t.block_begin = 12;
  refused(t);
  t = terms();
  t.expires = -1;
  refused(t);
}

TEST_CASE("L402 caveats check the request: service, model, peer, blocks, expiry") {
  const Macaroon m = minted();
  CHECK(check(m, request(4, 12)).ok);
  CHECK(check(m, request(5, 6)).ok);  // any sub-range of the blocks sold
  CHECK_FALSE(check(m, request(3, 12)).ok);
  CHECK_FALSE(check(m, request(4, 13)).ok);
  CHECK_FALSE(check(m, request(0, 2)).ok);
  CHECK(check(m, request(4, 12)).reason.empty());
  CHECK(check(m, request(4, 13)).reason.find("does not cover the requested blocks 4-13") != std::string::npos);

  CHECK(check(m, request(4, 12, 1799999999)).ok);
  CHECK_FALSE(check(m, request(4, 12, 1800000000)).ok);  // valid while now < expires
  CHECK_FALSE(check(m, request(4, 12, 1900000000)).ok);

  L402Request r = request();
  r.service = "other-service";
  CHECK_FALSE(check(m, r).ok);
  r = request();
  r.model = "meta-llama/Llama-3.2-3B";
  CHECK_FALSE(check(m, r).ok);
  r = request();
  r.peer = std::string(64, '0');
  CHECK_FALSE(check(m, r).ok);
  CHECK(check(m, r).reason.find("another server") != std::string::npos);
  r = request();
  for (char& c : r.peer) c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  CHECK(check(m, r).ok);  // hex is case-insensitive

  // A malformed request authorises nothing.
  CHECK_FALSE(check(m, request(6, 6)).ok);
  r = request();
  r.peer = "";
  CHECK_FALSE(check(m, r).ok);
}

TEST_CASE("L402 added caveats only narrow: widening attempts are refused") {
  L402Terms granted;
  // A wider block range adds nothing: the original caveat still holds the request to 4-12.
  CHECK_FALSE(check(with({"blocks=0-100"}), request(0, 100)).ok);
  REQUIRE(check(with({"blocks=0-100"}), request(4, 12), &granted).ok);
  CHECK(granted.block_begin == 4);
  CHECK(granted.block_end == 12);
  // A narrower one narrows to the intersection.
  const Macaroon narrowed = with({"blocks=6-20"});
  CHECK_FALSE(check(narrowed, request(4, 12)).ok);
  REQUIRE(check(narrowed, request(6, 12), &granted).ok);
  CHECK(granted.block_begin == 6);
  CHECK(granted.block_end == 12);
  // Credit: the lowest counts, so a higher one changes nothing.
  REQUIRE(check(with({"credit=999999999"}), request(), &granted).ok);
  CHECK(granted.credit == 5000);
  REQUIRE(check(with({"credit=10"}), request(), &granted).ok);
  CHECK(granted.credit == 10);
  // Expiry: the earliest counts.
  REQUIRE(check(with({"expires=9999999999"}), request(), &granted).ok);
  CHECK(granted.expires == 1800000000);
  REQUIRE(check(with({"expires=1750000000"}), request(), &granted).ok);
  CHECK(granted.expires == 1750000000);
  CHECK_FALSE(check(with({"expires=1600000000"}), request()).ok);
  // A second service, model or peer with another value makes the token match nothing.
  CHECK_FALSE(check(with({"service=other"})).ok);
  CHECK_FALSE(check(with({"model=other"})).ok);
  CHECK_FALSE(check(with({"peer=0000000000000000000000000000000000000000000000000000000000000000"})).ok);
  CHECK(check(with({"service=petalsln"})).ok);  // repeating the same value is harmless
}

TEST_CASE("L402 unknown or malformed caveats fail verification") {
  for (const char* bad : {"admin=true", "services=petalsln:0", "petalsln_capabilities=all", "blocks", "=x",
                          "blocks=12-4", "blocks=4-4", "blocks=a-b", "blocks=4-", "blocks=-4", "blocks=4 -12",
                          "blocks= 4-12", "credit=-1", "credit=01", "credit=1e9", "credit=", "credit=18446744073709551616",
                          "expires=1.5", "expires=99999999999999999999", "expires=+1", "service=", "service=petal sln",
                          "peer=xyz", "model=two words"}) {
    CAPTURE(bad);
    const Verdict v = check(with({bad}));
    CHECK_FALSE(v.ok);
    CHECK_FALSE(v.reason.empty());
  }
  CHECK(check(with({"admin=true"})).reason.find("unknown caveat") != std::string::npos);
}

TEST_CASE("L402 tokens missing a binding caveat are refused") {
  const std::vector<std::string> all = minted().caveats();
  for (std::size_t skip = 0; skip < all.size(); ++skip) {
    Macaroon m = Macaroon::mint(kRootKey, some_id().encode());
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (i != skip) m.add_first_party_caveat(all[i]);
    }
    const Verdict v = check(m);
    CAPTURE(all[skip]);
    CHECK_FALSE(v.ok);
    CHECK(v.reason.find("lacks") != std::string::npos);
  }
}

TEST_CASE("L402 caveat checker can be driven caveat by caveat") {
  L402CaveatChecker checker(request());
  const Macaroon m = minted();
  for (const auto& c : m.caveats()) CHECK(checker.check(c).ok);
  CHECK(checker.finish().ok);
  CHECK(checker.granted().credit == 5000);
  L402CaveatChecker fresh(request());
  CHECK_FALSE(fresh.finish().ok);  // nothing seen yet
  CHECK(m.verify(kRootKey, fresh.as_checker()).ok);
  CHECK(fresh.finish().ok);
}
