// URI parsing and local checks of the REST wallet backends (Core Lightning REST, LNbits).
// Their wire behaviour is tested against loopback counterparts in tests/wallet-backends.

#include <doctest/doctest.h>

#include <string>

#include "lightning/wallet/rest_wallet_common.hpp"
#include "lightning/wallet/cln_rest/cln_rest_wallet.hpp"
#include "lightning/wallet/lnbits/lnbits_wallet.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

const std::string kRune = "tU-RLjMiDpY2U0o3W1oFowar36RFGpWloPbW9-RuZdo9MyZpZD0wMjRi==";

// Runs @p f, which must throw Error(@p code) whose message contains @p needle and never the rune.
template <typename F>
void expect_error(F f, ErrorCode code, const std::string& needle) {
  try {
    f();
  } catch (const Error& e) {
    CHECK_MESSAGE(e.code() == code, e.what());
    CHECK_MESSAGE(std::string(e.what()).find(needle) != std::string::npos, e.what());
    CHECK(std::string(e.what()).find(kRune) == std::string::npos);
    return;
  }
  FAIL("no error; expected one containing: " << needle);
}

}  // namespace

TEST_CASE("cln+rest URI: host, port, rune, timeout") {
  const auto u = ClnRestUri::parse("cln+rest://node.example:3011/?rune=" + kRune + "&timeout=5");
  CHECK(u.host == "node.example");
  CHECK(u.port == 3011);
  CHECK(u.rune == kRune);
  CHECK(u.cert_file.empty());
  CHECK(u.timeout == std::chrono::seconds(5));
  const auto d = ClnRestUri::parse("cln+rest://[::1]?rune=a%2Bb%3D");
  CHECK(d.host == "[::1]");
  CHECK(d.port == 3010);
  CHECK(d.rune == "a+b=");
  const ClnRestWallet w(ClnRestUri::parse("cln+rest://127.0.0.1?rune=" + kRune));
  CHECK(w.describe() == "cln+rest://127.0.0.1:3010");
}

TEST_CASE("cln+rest URI: malformed ones are refused with the reason, never echoing the rune") {
  const auto bad = [](const std::string& uri, const std::string& why) {
    expect_error([&] { ClnRestUri::parse(uri); }, ErrorCode::invalid_argument, why);
  };
  bad("lnbits://h?rune=" + kRune, "must start with 'cln+rest://'");
  bad("cln+rest://?rune=" + kRune, "host is missing");
  bad("cln+rest://h", "rune is missing");
  bad("cln+rest://h:?rune=" + kRune, "port");
  bad("cln+rest://h:70000?rune=" + kRune, "port");
  bad("cln+rest://h:12a?rune=" + kRune, "port");
  bad("cln+rest://h/x?rune=" + kRune, "path");
  bad("cln+rest://u@h?rune=" + kRune, "user names");
  bad("cln+rest://h?rune=" + kRune + "&rune=" + kRune, "twice");
  bad("cln+rest://h?" + kRune, "unknown parameter");  // a rune pasted without its key
  bad("cln+rest://h?rune=" + kRune + "&", "stray");
  bad("cln+rest://h?rune=" + kRune + "&rune_file=/x", "either");
  bad("cln+rest://h?rune=%4", "%-escape");
  bad("cln+rest://h?rune=%00" + kRune, "control character");
  bad("cln+rest://h?rune=" + kRune + "&timeout=0", "timeout");
  bad("cln+rest://h?rune=" + kRune + "&timeout=99999", "timeout");
  bad("cln+rest://[zz]?rune=" + kRune, "IPv6");
  bad("cln+rest://h#frag?rune=" + kRune, "fragments");
  expect_error([&] { ClnRestUri::parse("cln+rest://h?rune=" + kRune + "&cert=/nonexistent.pem"); },
               ErrorCode::not_found, "does not exist");
  expect_error([&] { ClnRestUri::parse("cln+rest://h?rune_file=/nonexistent-rune"); }, ErrorCode::not_found,
               "rune file");
}

TEST_CASE("lnbits URI and the requests LNbits cannot serve, refused before any network access") {
  const auto u = LnbitsUri::parse("lnbits://legend.lnbits.com?key=abc123");
  CHECK(u.port == 443);
  CHECK(u.key == "abc123");
  // Port 1 on loopback: nothing listens, so reaching the network would be an io error.
  LnbitsWallet w(LnbitsUri::parse("lnbits://127.0.0.1:1?key=abc123&timeout=1"));
  CHECK(w.describe() == "lnbits://127.0.0.1:1");
  InvoiceRequest any;
  expect_error([&] { w.create_invoice(any); }, ErrorCode::unsupported, "amount-less");
  InvoiceRequest msat;
  msat.amount_msat = 1500;
  expect_error([&] { w.create_invoice(msat); }, ErrorCode::unsupported, "whole satoshis");
  InvoiceRequest zero;
  zero.amount_msat = 0;
  expect_error([&] { w.create_invoice(zero); }, ErrorCode::invalid_argument, "above zero");
  expect_error([&] { w.pay_invoice("lnbcrt1garbage", PayOptions{}); }, ErrorCode::invalid_format, "");
  InvoiceRequest sats;
  sats.amount_msat = 2000;
  expect_error([&] { w.create_invoice(sats); }, ErrorCode::io, "127.0.0.1:1");
  expect_error([&] { LnbitsUri::parse("lnbits://h"); }, ErrorCode::invalid_argument, "key is missing");
  expect_error([&] { LnbitsUri::parse("lnbits://h?key=a&rune=b"); }, ErrorCode::invalid_argument, "unknown parameter");
}

TEST_CASE("cln+rest: a description hash without its description is unsupported, with the reason") {
  ClnRestWallet w(ClnRestUri::parse("cln+rest://127.0.0.1:1?rune=" + kRune + "&timeout=1"));
  InvoiceRequest req;
  req.amount_msat = 1000;
  req.description_hash = std::array<std::uint8_t, 32>{};
  expect_error([&] { w.create_invoice(req); }, ErrorCode::unsupported, "deschashonly");
  req.memo = "not the described text";
  expect_error([&] { w.create_invoice(req); }, ErrorCode::unsupported, "deschashonly");
  InvoiceRequest zero_expiry;
  zero_expiry.expiry = std::chrono::seconds(0);
  expect_error([&] { w.create_invoice(zero_expiry); }, ErrorCode::invalid_argument, "expiry");
  expect_error([&] { w.pay_invoice("", PayOptions{}); }, ErrorCode::invalid_format, "");
  expect_error([&] { w.balance_msat(); }, ErrorCode::io, "https://127.0.0.1:1");
}

TEST_CASE("peer text is cut and cleaned") {
  CHECK(lightning::peer_text("a\nb\x1b") == "a?b?");
  CHECK(lightning::peer_text(std::string(400, 'x')).size() == 303);
}
