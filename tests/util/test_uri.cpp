// util::Uri: every part of good URIs, percent-decoding, and a clear error for each bad one
// (naming the part, never quoting it).
#include <doctest/doctest.h>

#include <string>

#include "petalsln/util/error.hpp"
#include "util/uri.hpp"

using petalsln::Error;
using petalsln::ErrorCode;
using petalsln::util::percent_decode;
using petalsln::util::Uri;
using petalsln::util::UriOptions;

namespace {

// Checks that parsing @p text fails with Error(invalid_argument) saying @p says.
void refused(const std::string& text, const std::string& says, const UriOptions& options = {}) {
  CAPTURE(text);
  try {
    (void)Uri::parse(text, options);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK_MESSAGE(std::string(e.what()).find(says) != std::string::npos, e.what());
  }
}

}  // namespace

TEST_CASE("uri: every part of a full URI") {
  const Uri u = Uri::parse("https://user:pw@Example.COM:8443/a/b%2Fc?x=1&y=a%20b&x=2#frag%21");
  CHECK(u.scheme == "https");
  CHECK(u.has_authority);
  REQUIRE(u.userinfo);
  CHECK(*u.userinfo == "user:pw");
  CHECK(u.host == "Example.COM");  // as written
  REQUIRE(u.port);
  CHECK(*u.port == 8443);
  CHECK(u.path == "/a/b%2Fc");  // kept as written: an escaped '/' stays distinguishable
  REQUIRE(u.query);
  CHECK(*u.query == "x=1&y=a%20b&x=2");
  REQUIRE(u.params.size() == 3);
  CHECK(u.params[0].key == "x");
  CHECK(u.params[0].value == "1");
  CHECK(u.params[1].key == "y");
  CHECK(u.params[1].value == "a b");
  CHECK(u.params[2].value == "2");  // repeated keys kept, in order
  CHECK(u.param("x") == std::optional<std::string>("1"));
  CHECK(u.param_count("x") == 2);
  CHECK_FALSE(u.param("z"));
  REQUIRE(u.fragment);
  CHECK(*u.fragment == "frag%21");
}

TEST_CASE("uri: minimal and authority-less forms") {
  const Uri bare = Uri::parse("https://h");
  CHECK(bare.host == "h");
  CHECK_FALSE(bare.port);
  CHECK_FALSE(bare.userinfo);
  CHECK(bare.path.empty());
  CHECK_FALSE(bare.query);
  CHECK(bare.params.empty());
  CHECK_FALSE(bare.fragment);

  const Uri devnet = Uri::parse("devnet:./wallets/dev.db?account=alice");
  CHECK(devnet.scheme == "devnet");
  CHECK_FALSE(devnet.has_authority);
  CHECK(devnet.host.empty());
  CHECK(devnet.path == "./wallets/dev.db");
  CHECK(devnet.param("account") == std::optional<std::string>("alice"));

  const Uri file = Uri::parse("file:///tmp/x");
  CHECK(file.has_authority);
  CHECK(file.host.empty());
  CHECK(file.path == "/tmp/x");

  const Uri nwc = Uri::parse("nostr+walletconnect:abcdef?relay=wss%3A%2F%2Fr.example");
  CHECK(nwc.scheme == "nostr+walletconnect");
  CHECK(nwc.path == "abcdef");
  CHECK(nwc.param("relay") == std::optional<std::string>("wss://r.example"));
}

TEST_CASE("uri: IPv6 and IPv4 hosts, ports") {
  const Uri v6 = Uri::parse("cln+rest://[::1]:3010?rune=x");
  CHECK(v6.host == "[::1]");
  CHECK(v6.port == std::optional<std::uint16_t>(3010));
  CHECK(Uri::parse("https://[2001:db8::ffff:1.2.3.4]/").host == "[2001:db8::ffff:1.2.3.4]");
  CHECK(Uri::parse("http://127.0.0.1:1/").port == std::optional<std::uint16_t>(1));
  CHECK(Uri::parse("http://h:65535").port == std::optional<std::uint16_t>(65535));
  CHECK(Uri::parse("http://under_score.example").host == "under_score.example");
}

TEST_CASE("uri: query parameters") {
  const Uri u = Uri::parse("x:?a&=v&&b=&c=1=2&d=%2B+");
  REQUIRE(u.params.size() == 6);
  CHECK(u.params[0].key == "a");  // no '=': an empty value
  CHECK(u.params[0].value.empty());
  CHECK(u.params[1].key.empty());
  CHECK(u.params[1].value == "v");
  CHECK(u.params[2].key.empty());  // "&&": an empty piece is kept
  CHECK(u.params[3].key == "b");
  CHECK(u.params[4].value == "1=2");  // split at the first '='
  CHECK(u.params[5].value == "++");   // '+' stays '+' by default
  UriOptions form;
  form.plus_as_space = true;
  CHECK(Uri::parse("x:?d=%2B+&a+b=1", form).params[0].value == "+ ");
  CHECK(Uri::parse("x:?d=%2B+&a+b=1", form).params[1].key == "a b");
  CHECK(Uri::parse("x:?").params.size() == 1);  // a bare '?' is one empty piece
  CHECK(Uri::parse("x:?").query == std::optional<std::string>(""));
  // A '?' inside the query is data; '#' ends it.
  const Uri q = Uri::parse("x:?a=b?c#d&e=f");
  REQUIRE(q.params.size() == 1);
  CHECK(q.params[0].value == "b?c");
  CHECK(q.fragment == std::optional<std::string>("d&e=f"));
  // Lenient about printable characters RFC 3986 would have escaped, and about UTF-8.
  CHECK(Uri::parse("x:?cert=/my certs/a|b.pem").param("cert") == std::optional<std::string>("/my certs/a|b.pem"));
  CHECK(Uri::parse("x:?n=caf\xc3\xa9").param("n") == std::optional<std::string>("caf\xc3\xa9"));
}

TEST_CASE("uri: percent_decode") {
  CHECK(percent_decode("a%20b%2fc%2F") == "a b/c/");
  CHECK(percent_decode("a+b") == "a+b");
  CHECK(percent_decode("a+b", true) == "a b");
  CHECK(percent_decode("%00") == std::string(1, '\0'));  // decoding is not validation
  CHECK(percent_decode("") == "");
  CHECK_THROWS_AS(percent_decode("%"), Error);
  CHECK_THROWS_AS(percent_decode("%4"), Error);
  CHECK_THROWS_AS(percent_decode("%zz"), Error);
  CHECK_THROWS_AS(percent_decode("ab%g0"), Error);
}

TEST_CASE("uri: the scheme") {
  refused("", "scheme");
  refused("no-colon", "scheme");
  refused(":x", "scheme");
  refused("1http://h", "scheme");
  refused("ht tp://h", "scheme");
  refused("/path?a=1", "scheme");
  CHECK(Uri::parse("a.b-c+d://h").scheme == "a.b-c+d");
}

TEST_CASE("uri: hosts and ports") {
  refused("http://h:", "port after ':' is empty");
  refused("http://h:0", "1 to 65535");
  refused("http://h:65536", "1 to 65535");
  refused("http://h:123456", "1 to 65535");
  refused("http://h:12a", "1 to 65535");
  refused("http://h:1:2", "1 to 65535");
  refused("http://h!x/", "host must be a name");
  refused("http://h%41/", "host must be a name");
  refused("http://h x/", "host must be a name");
  refused("http://" + std::string(254, 'a') + "/", "longer than 253");
  CHECK(Uri::parse("http://" + std::string(253, 'a') + "/").host.size() == 253);
  refused("http://[::1/", "unterminated '['");
  refused("http://[zz]/", "malformed IPv6");
  refused("http://[]/", "malformed IPv6");
  refused("http://[1.2.3.4]/", "malformed IPv6");
  refused("http://[::1%25eth0]/", "malformed IPv6");
  refused("http://[::1]x/", "after the IPv6 host");
  refused("http://[::1]:/", "port after ':' is empty");
  refused("http://[::1]:99999/", "1 to 65535");
}

TEST_CASE("uri: user information") {
  CHECK(Uri::parse("http://a%40b:c@h").userinfo == std::optional<std::string>("a%40b:c"));
  CHECK(Uri::parse("http://@h").userinfo == std::optional<std::string>(""));
  refused("http://a b@h", "user information");
  refused("http://a%4@h", "user information has a malformed percent-escape");
  refused("http://a@b@h", "host must be a name");  // a second '@' is no host character
}

TEST_CASE("uri: percent-escapes are checked in every part, naming the part") {
  refused("x:?a=1&b=%4", "query parameter 2 has a malformed percent-escape");
  refused("x:?a%zz=1", "query parameter 1");
  refused("x:/a%2", "the path has a malformed");
  refused("x:/a#%", "the fragment has a malformed");
  refused("x:?a=%", "%-escape");
}

TEST_CASE("uri: control characters and size limits") {
  refused(std::string("http://h/\x01"), "control character (at offset 9)");
  refused(std::string("x:?a=b\n"), "control character");
  refused(std::string("x:?a=b\x7f"), "control character");
  refused(std::string("x:?a=b\0c", 9), "control character");
  UriOptions small;
  small.max_length = 16;
  CHECK_NOTHROW(Uri::parse("x:?a=12345678901", small));
  refused("x:?a=123456789012", "longer than 16 characters", small);
  refused("x:?a=" + std::string(65536, 'a'), "longer than 65536");
}

TEST_CASE("uri: errors never quote the URI") {
  const std::string secret = "supersecretrune";
  for (const std::string text : {"x:?rune=" + secret + "%zz", "http://" + secret + ":99999/", "http://h/" + secret + "\x01",
                                 "http://[" + secret + "]/", secret + "!:"}) {
    try {
      (void)Uri::parse(text);
      FAIL("accepted: " << text);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(secret) == std::string::npos);
    }
  }
}
