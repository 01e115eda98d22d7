// Lightning addresses and LNURL-pay replies, without a network: address parsing, pay-request
// and invoice-reply validation, and the payer's invoice checks (amount, description hash).
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "devnet_test_support.hpp"
#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/util/error.hpp"
#include "util/sha256.hpp"

using namespace petalsln;
using petalsln::test::DevnetFixture;

namespace {

const std::string kMetadata = R"([["text/plain","pay bob"],["text/identifier","bob@example.com"]])";

std::string pay_request(const std::string& extra = "", const std::string& callback = "https://example.com/cb/bob") {
  nlohmann::json j{{"tag", "payRequest"}, {"callback", callback}, {"minSendable", 1000},
                   {"maxSendable", 5'000'000}, {"metadata", kMetadata}};
  auto patch = extra.empty() ? nlohmann::json::object() : nlohmann::json::parse(extra);
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) j.erase(it.key());
    else j[it.key()] = it.value();
  }
  return j.dump();
}

std::string refusal(const std::string& json, bool loopback = false) {
  try {
    parse_pay_request(json, loopback);
  } catch (const Error& e) {
    return std::string(to_string(e.code())) + ": " + e.what();
  }
  FAIL("expected the pay request to be refused: " << json);
  return "";
}

}  // namespace

TEST_CASE("lightning address: parsing") {
  const auto a = LightningAddress::parse("Bob.Smith+tips@Example.COM");
  CHECK(a.user() == "bob.smith+tips");
  CHECK(a.domain() == "example.com");
  CHECK(a.to_string() == "bob.smith+tips@example.com");
  CHECK(a.pay_request_url() == "https://example.com/.well-known/lnurlp/bob.smith+tips");

  const auto local = LightningAddress::parse("name@127.0.0.1:8080", true);
  CHECK(local.pay_request_url() == "http://127.0.0.1:8080/.well-known/lnurlp/name");
  CHECK(LightningAddress::parse("name@[::1]:9", true).pay_request_url() == "http://[::1]:9/.well-known/lnurlp/name");
  CHECK(LightningAddress::parse("name@localhost:80", true).pay_request_url() == "http://localhost:80/.well-known/lnurlp/name");

  for (const char* bad : {"", "bob", "@example.com", "bob@", "bob@@example.com", "b ob@example.com", "bob@exa mple.com",
                          "bob@example", "bob@-example.com", "bob@example..com", "bob@example.com/x", "bob@example.com:443",
                          "bob@127.0.0.1:8080", "bob@10.0.0.1:8080", "b/ob@example.com", "bob@example.com@x.com"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(LightningAddress::parse(bad), Error);
  }
  // Even with the option, only loopback hosts may carry a port or use http.
  CHECK_THROWS_AS(LightningAddress::parse("bob@10.0.0.1:8080", true), Error);
  CHECK_THROWS_AS(LightningAddress::parse("bob@127.0.0.1:0", true), Error);
  CHECK_THROWS_AS(LightningAddress::parse("bob@127.0.0.1:70000", true), Error);
  CHECK(LightningAddress::parse("bob@example.com", true).pay_request_url() == "https://example.com/.well-known/lnurlp/bob");
  CHECK_THROWS_AS(LightningAddress::parse(std::string(65, 'a') + "@example.com"), Error);
}

TEST_CASE("lnurl pay request: a valid one parses") {
  const auto r = parse_pay_request(pay_request(R"({"commentAllowed": 140})"));
  CHECK(r.callback == "https://example.com/cb/bob");
  CHECK(r.min_sendable_msat == 1000);
  CHECK(r.max_sendable_msat == 5'000'000);
  CHECK(r.metadata == kMetadata);
  CHECK(r.comment_allowed == 140);
  CHECK(r.accepts(1000));
  CHECK(r.accepts(5'000'000));
  CHECK_FALSE(r.accepts(999));
  CHECK_FALSE(r.accepts(5'000'001));
  CHECK(parse_pay_request(pay_request("", "http://127.0.0.1:9/cb"), true).callback == "http://127.0.0.1:9/cb");
}

TEST_CASE("lnurl pay request: every malformed reply is refused with the reason") {
  CHECK(refusal(R"({"status":"ERROR","reason":"no such user"})").find("io: pay request: the service refused: no such user") == 0);
  CHECK(refusal(R"({"status":"ERROR"})").find("no reason given") != std::string::npos);
  CHECK(refusal("{not json").find("not valid JSON") != std::string::npos);
  CHECK(refusal("[1,2]").find("not a JSON object") != std::string::npos);
  CHECK(refusal(pay_request(R"({"tag": "withdrawRequest"})")).find("not 'payRequest'") != std::string::npos);
  CHECK(refusal(pay_request(R"({"tag": null})")).find("no 'tag'") != std::string::npos);
  CHECK(refusal(pay_request(R"({"callback": null})")).find("callback") != std::string::npos);
  CHECK(refusal(pay_request("", "http://example.com/cb")).find("https://") != std::string::npos);
  CHECK(refusal(pay_request("", "http://127.0.0.1/cb")).find("https://") != std::string::npos);  // option off
  CHECK(refusal(pay_request("", "http://10.1.1.1/cb"), true).find("https://") != std::string::npos);
  CHECK(refusal(pay_request("", "ftp://example.com/cb")).find("https://") != std::string::npos);
  CHECK(refusal(pay_request("", "https://exa mple.com/cb")).find("spaces") != std::string::npos);
  CHECK(refusal(pay_request("", "https://user@example.com/cb")).find("no host") != std::string::npos);
  CHECK(refusal(pay_request(R"({"minSendable": 0})")).find("at least 1") != std::string::npos);
  CHECK(refusal(pay_request(R"({"minSendable": -5})")).find("non-negative integer") != std::string::npos);
  CHECK(refusal(pay_request(R"({"minSendable": 1000.5})")).find("non-negative integer") != std::string::npos);
  CHECK(refusal(pay_request(R"({"minSendable": "1000"})")).find("non-negative integer") != std::string::npos);
  CHECK(refusal(pay_request(R"({"maxSendable": null})")).find("'maxSendable'") != std::string::npos);
  CHECK(refusal(pay_request(R"({"minSendable": 6000000})")).find("above 'maxSendable'") != std::string::npos);
  CHECK(refusal(pay_request(R"({"metadata": null})")).find("'metadata'") != std::string::npos);
  CHECK(refusal(pay_request(R"({"metadata": [["text/plain","x"]]})")).find("'metadata'") != std::string::npos);
  CHECK(refusal(pay_request(R"({"metadata": "not json"})")).find("JSON array") != std::string::npos);
  CHECK(refusal(pay_request(R"({"metadata": "[[\"image/png;base64\",\"AA==\"]]"})")).find("exactly one text/plain") != std::string::npos);
  CHECK(refusal(pay_request(R"({"metadata": "[[\"text/plain\",\"a\"],[\"text/plain\",\"b\"]]"})")).find("exactly one") != std::string::npos);
  CHECK(refusal(pay_request(R"({"metadata": "[\"text/plain\"]"})")).find("[type, content]") != std::string::npos);
  CHECK(refusal(pay_request(R"({"commentAllowed": -1})")).find("commentAllowed") != std::string::npos);
  // A hostile reason is shortened and stripped of control characters.
  const std::string long_reason = refusal(R"({"status":"ERROR","reason":")" + std::string(5000, 'x') + "\\n\\u001b[31m\"}");
  CHECK(long_reason.size() < 300);
  CHECK(long_reason.find('\n') == std::string::npos);
}

TEST_CASE("lnurl invoice reply and the payer's checks") {
  CHECK_THROWS_AS(parse_invoice_reply(R"({"status":"ERROR","reason":"nope"})"), Error);
  CHECK_THROWS_AS(parse_invoice_reply("{}"), Error);
  CHECK_THROWS_AS(parse_invoice_reply(R"({"pr": 5})"), Error);
  CHECK_THROWS_AS(parse_invoice_reply(R"({"pr": "hello"})"), Error);
  CHECK_THROWS_AS(parse_invoice_reply("garbage"), Error);
  CHECK(parse_invoice_reply(R"({"pr": "lnbcrt1xyz", "routes": []})") == "lnbcrt1xyz");

  DevnetFixture net;
  auto bob = net.open("bob");
  const auto request = parse_pay_request(pay_request());
  const auto hash = util::sha256(kMetadata);
  InvoiceRequest good;
  good.amount_msat = 2000;
  good.description_hash = hash;
  const auto invoice = bob->create_invoice(good).bolt11;
  const std::uint64_t now = *net.time.now;
  CHECK(check_invoice(invoice, request, 2000, now).amount_msat == std::optional<std::uint64_t>(2000));

  auto message = [&](const std::string& bolt11, std::uint64_t amount, std::uint64_t at) {
    try {
      check_invoice(bolt11, request, amount, at);
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_format);
      return std::string(e.what());
    }
    FAIL("expected the invoice to be refused");
    return std::string();
  };
  CHECK(message(invoice, 2001, now).find("is for 2000 msat, not the 2001 msat") != std::string::npos);
  CHECK(message(invoice, 2000, now + 3600).find("expired") != std::string::npos);
  InvoiceRequest other = good;
  other.description_hash = util::sha256(std::string("something else"));
  CHECK(message(bob->create_invoice(other).bolt11, 2000, now).find("description hash") != std::string::npos);
  InvoiceRequest memo;
  memo.amount_msat = 2000;
  memo.memo = "pay bob";
  CHECK(message(bob->create_invoice(memo).bolt11, 2000, now).find("description hash") != std::string::npos);
  InvoiceRequest any = good;
  any.amount_msat.reset();
  CHECK(message(bob->create_invoice(any).bolt11, 2000, now).find("no amount") != std::string::npos);
  CHECK(message("lnbcrt1notaninvoice", 2000, now).find("does not decode") != std::string::npos);
  std::string tampered = invoice;
  tampered[tampered.size() - 10] = tampered[tampered.size() - 10] == 'q' ? 'p' : 'q';
  CHECK(message(tampered, 2000, now).find("does not decode") != std::string::npos);
}

TEST_CASE("lnurl fetch_invoice refuses an amount or comment the payee does not accept, before any request") {
  auto r = parse_pay_request(pay_request(R"({"commentAllowed": 3})", "https://127.0.0.1:1/cb"));
  CHECK_THROWS_AS(LightningAddress::fetch_invoice(r, 999, LnurlOptions{}), Error);
  CHECK_THROWS_AS(LightningAddress::fetch_invoice(r, 5'000'001, LnurlOptions{}), Error);
  CHECK_THROWS_AS(LightningAddress::fetch_invoice(r, 2000, LnurlOptions{}, "four"), Error);
  try {
    LightningAddress::fetch_invoice(r, 999, LnurlOptions{});
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
  }
}
