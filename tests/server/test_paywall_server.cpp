// A priced server under attack: every forged, mismatched, expired or widened token is refused
// with a fresh challenge, paid credit is metered exactly, and an honest paid session carries on.
// Real gRPC on loopback, a real devnet wallet in a temporary folder.

#include "torch_doctest.hpp"

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "petalsln/lightning/bolt11.hpp"
#include "lightning/wallet/devnet/devnet_wallet.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/tensor_codec.hpp"
#include "util/sqlite_database.hpp"
#include "test_support.hpp"

using namespace petalsln;
using Stream = grpc::ClientReaderWriter<v1::InferenceRequest, v1::InferenceResponse>;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");

struct PricedServer {
  std::shared_ptr<Paywall> paywall;
  std::unique_ptr<BlockServer> server;
  std::unique_ptr<v1::Blocks::Stub> stub;
};

// A server for blocks [begin, end) charging 1000 msat per 1000 block-tokens, 100 per invoice.
PricedServer priced_server(const test::TempDir& dir, const std::string& name, int begin, int end,
                           std::function<std::int64_t()> clock = {}, std::int64_t cache_mb = 512) {
  create_devnet_account(dir.file("devnet.db"), name, 0);
  auto identity = NodeIdentity::generate();
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 100;
  po.model = "tiny-llama3";
  po.peer_hex = identity.peer_id_hex();
  po.block_begin = static_cast<std::uint32_t>(begin);
  po.block_end = static_cast<std::uint32_t>(end);
  po.store_path = dir.file(name + ".paywall.db");
  po.clock = std::move(clock);
  PricedServer s;
  s.paywall = std::make_shared<Paywall>(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + dir.file("devnet.db") + "?account=" + name)));
  BlockServerOptions o;
  o.model_dir = kModel;
  o.model_name = "tiny-llama3";
  o.block_begin = begin;
  o.block_end = end;
  o.throughput = 1000;
  o.cache_mb = cache_mb;
  o.paywall = s.paywall;
  o.price_msat = 1000;
  s.server = std::make_unique<BlockServer>(o, std::move(identity));
  s.stub = v1::Blocks::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(s.server->port()), grpc::InsecureChannelCredentials()));
  return s;
}

struct OpenResult {
  bool opened = false;
  grpc::Status status;
  std::string challenge;  // www-authenticate, when refused for payment
};

// Opens a session with an optional Authorization value and reports what happened.
struct Session {
  grpc::ClientContext ctx;
  std::unique_ptr<Stream> stream;
  bool finished = false;
  std::int64_t position = 0;

  ~Session() {
    if (!finished) {
      ctx.TryCancel();
      stream->Finish();
    }
  }

  OpenResult open(v1::Blocks::Stub& stub, const std::string& authorization, std::uint32_t begin, std::uint32_t end,
                  std::uint32_t max_length = 64) {
    if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
    stream = stub.Inference(&ctx);
    v1::InferenceRequest req;
    req.mutable_open()->set_block_begin(begin);
    req.mutable_open()->set_block_end(end);
    req.mutable_open()->set_max_length(max_length);
    v1::InferenceResponse resp;
    OpenResult r;
    if (stream->Write(req) && stream->Read(&resp) && resp.has_opened()) {
      r.opened = true;
      return r;
    }
    finished = true;
    r.status = stream->Finish();
    const auto& md = ctx.GetServerTrailingMetadata();
    if (auto it = md.find("www-authenticate"); it != md.end()) r.challenge.assign(it->second.data(), it->second.size());
    return r;
  }

  v1::InferenceResponse step(const at::Tensor& x) {
    v1::InferenceRequest req;
    rpc::encode_tensor(x, v1::DTYPE_F32, req.mutable_step()->mutable_hidden());
    req.mutable_step()->set_position(static_cast<std::uint64_t>(position));
    v1::InferenceResponse resp;
    REQUIRE(stream->Write(req));
    REQUIRE(stream->Read(&resp));
    if (resp.has_hidden()) position += x.size(1);
    return resp;
  }
};

// Pays a challenge from the client account and returns the Authorization value.
std::string pay(const test::TempDir& dir, const std::string& challenge_header) {
  const auto challenge = L402Challenge::parse(challenge_header);
  auto client = open_wallet("devnet:" + dir.file("devnet.db") + "?account=client");
  const auto result = client->pay_invoice(challenge.invoice, PayOptions{});
  REQUIRE(result.status == PaymentStatus::succeeded);
  return L402Token{challenge.macaroon, *result.preimage}.to_header();
}

// Buys a token for blocks [begin, end) of @p s.
std::string buy(const test::TempDir& dir, PricedServer& s, std::uint32_t begin, std::uint32_t end) {
  Session probe;
  const auto r = probe.open(*s.stub, "", begin, end);
  REQUIRE_FALSE(r.opened);
  REQUIRE(r.status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  return pay(dir, r.challenge);
}

// Expects opening [begin, end) with @p authorization to be refused with a fresh challenge.
void expect_refused(PricedServer& s, const std::string& authorization, std::uint32_t begin, std::uint32_t end, const std::string& why) {
  Session attempt;
  const auto r = attempt.open(*s.stub, authorization, begin, end);
  CAPTURE(why);
  CAPTURE(r.status.error_message());
  CHECK_FALSE(r.opened);
  CHECK(r.status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK_FALSE(r.challenge.empty());
}

}  // namespace

TEST_CASE("paywall: unpaid calls get a challenge whose invoice and macaroon match") {
  test::TempDir dir;
  create_devnet_account(dir.file("devnet.db"), "client", 1000000);
  auto s = priced_server(dir, "server", 1, 4);
  Session session;
  const auto r = session.open(*s.stub, "", 1, 4);
  REQUIRE_FALSE(r.opened);
  CHECK(r.status.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  const auto challenge = L402Challenge::parse(r.challenge);
  const auto invoice = Bolt11Invoice::decode(challenge.invoice);
  CHECK(invoice.amount_msat == std::optional<std::uint64_t>(100));  // 100 block-tokens at 1000 msat per 1000
  CHECK(invoice.network == Bolt11Network::regtest);
  CHECK(L402Identifier::decode(challenge.macaroon.identifier()).payment_hash == invoice.payment_hash);
  CHECK(s.server->record().price_msat == 1000);
}

TEST_CASE("paywall: attacks are refused while an honest paid session carries on") {
  test::TempDir dir;
  create_devnet_account(dir.file("devnet.db"), "client", 1000000);
  std::atomic<std::int64_t> now{1800000000};
  auto s = priced_server(dir, "server", 1, 4, [&] { return now.load(); });
  auto other = priced_server(dir, "other", 1, 4);

  // The honest client pays and runs 3 blocks x 5 tokens = 15 of its 100 block-tokens.
  const std::string token = buy(dir, s, 1, 4);
  Session honest;
  REQUIRE(honest.open(*s.stub, token, 1, 4).opened);
  torch::manual_seed(1);
  auto resp = honest.step(torch::randn({1, 5, 64}));
  REQUIRE(resp.has_hidden());
  CHECK(resp.credit_remaining() == 85);

  const auto parsed = L402Token::parse(token);
  SUBCASE("forged: minted under another root key") {
    L402Terms terms;
    terms.model = "tiny-llama3";
    terms.peer = s.server->peer_id_hex();
    terms.block_begin = 1;
    terms.block_end = 4;
    terms.credit = 1000000;
    terms.expires = now + 3600;
    const auto forged = mint_l402_macaroon(std::string(32, 'x'), parsed.identifier(), terms);
    expect_refused(s, L402Token{forged, parsed.preimage}.to_header(), 1, 4, "forged");
  }
  SUBCASE("wrong preimage") {
    auto bad = parsed;
    bad.preimage[0] ^= 1;
    expect_refused(s, bad.to_header(), 1, 4, "wrong preimage");
  }
  SUBCASE("reused preimage: another payment's preimage with this macaroon") {
    const auto second = L402Token::parse(buy(dir, s, 1, 4));
    expect_refused(s, L402Token{parsed.macaroon, second.preimage}.to_header(), 1, 4, "reused preimage");
  }
  SUBCASE("a token bought from another server") {
    expect_refused(s, buy(dir, other, 1, 4), 1, 4, "other server");
  }
  SUBCASE("a token for a narrower block range, and a caveat trying to widen it") {
    const std::string narrow = buy(dir, s, 1, 2);
    expect_refused(s, narrow, 1, 4, "narrow range");
    auto widened = L402Token::parse(narrow);
    widened.macaroon.add_first_party_caveat("blocks=0-100");
    expect_refused(s, widened.to_header(), 1, 4, "widened range");
    Session ok;
    CHECK(ok.open(*s.stub, narrow, 1, 2).opened);  // what it was bought for still works
  }
  SUBCASE("a caveat trying to raise the credit") {
    auto raised = parsed;
    raised.macaroon.add_first_party_caveat("credit=99999999");
    Session more;
    REQUIRE(more.open(*s.stub, raised.to_header(), 1, 4).opened);
    auto r = more.step(torch::randn({1, 1, 64}));
    CHECK(r.credit_remaining() == 82);  // the same ledger entry: 100 - 15 - 3, not more
  }
  SUBCASE("a caveat with an unknown key") {
    auto odd = parsed;
    odd.macaroon.add_first_party_caveat("admin=true");
    expect_refused(s, odd.to_header(), 1, 4, "unknown caveat");
  }
  SUBCASE("an expired token") {
    now += 2 * 86400;
    expect_refused(s, token, 1, 4, "expired");
    now -= 2 * 86400;
  }
  SUBCASE("garbage") {
    expect_refused(s, "L402 !!!:zz", 1, 4, "garbage");
    expect_refused(s, "Bearer abc", 1, 4, "wrong scheme");
  }

  // Whatever was attempted above, the honest session keeps its cache and its credit.
  resp = honest.step(torch::randn({1, 1, 64}));
  REQUIRE(resp.has_hidden());
  CHECK(resp.credit_remaining() <= 82);
}

TEST_CASE("paywall: credit runs out mid-session, is paid in-band, and the session continues") {
  test::TempDir dir;
  create_devnet_account(dir.file("devnet.db"), "client", 1000000);
  auto s = priced_server(dir, "server", 0, 6);
  Session session;
  REQUIRE(session.open(*s.stub, buy(dir, s, 0, 6), 0, 6).opened);
  torch::manual_seed(2);
  auto r = session.step(torch::randn({1, 16, 64}));  // 96 of 100
  REQUIRE(r.has_hidden());
  r = session.step(torch::randn({1, 1, 64}));  // needs 6, has 4: refused, nothing computed
  REQUIRE(r.has_payment_required());
  CHECK(session.position == 16);
  v1::InferenceRequest auth;
  auth.mutable_authorize()->set_authorization(pay(dir, r.payment_required().challenge()));
  v1::InferenceResponse ack;
  REQUIRE(session.stream->Write(auth));
  REQUIRE(session.stream->Read(&ack));
  REQUIRE(ack.has_authorized());
  CHECK(ack.authorized().credit_remaining() == 100);
  r = session.step(torch::randn({1, 1, 64}));
  REQUIRE(r.has_hidden());
  CHECK(r.credit_remaining() == 94);
  auto server_wallet = open_wallet("devnet:" + dir.file("devnet.db") + "?account=server");
  CHECK(server_wallet->balance_msat() == 200);
}

TEST_CASE("paywall: credit survives a restart of the server's store, and is never granted twice") {
  test::TempDir dir;
  create_devnet_account(dir.file("devnet.db"), "client", 1000000);
  std::string token;
  std::string peer;
  {
    auto s = priced_server(dir, "server", 0, 2);
    token = buy(dir, s, 0, 2);
    Session session;
    REQUIRE(session.open(*s.stub, token, 0, 2).opened);
    CHECK(session.step(torch::randn({1, 10, 64})).credit_remaining() == 80);
    peer = s.server->peer_id_hex();
  }
  // Reopen the same store through a new Paywall (as a restarted server would).
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 100;
  po.model = "tiny-llama3";
  po.peer_hex = peer;
  po.block_begin = 0;
  po.block_end = 2;
  po.store_path = dir.file("server.paywall.db");
  Paywall again(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + dir.file("devnet.db") + "?account=server")));
  const auto grant = again.authorize(token, 0, 2);
  CHECK(grant.credit_remaining == 80);
  std::uint64_t left = 0;
  CHECK(again.debit(grant.token_id, 80, &left));
  CHECK(left == 0);
  CHECK_FALSE(again.debit(grant.token_id, 1, &left));
  CHECK_THROWS_AS(again.authorize(token, 0, 2), Error);  // used up
}

TEST_CASE("paywall: a Forward refused for the cache budget costs its client no credit") {
  test::TempDir dir;
  create_devnet_account(dir.file("devnet.db"), "client", 1000000);
  // Blocks [0, 2) of tiny-llama3 take 512 bytes per position: 1 MiB holds 2048 positions.
  auto s = priced_server(dir, "server", 0, 2, {}, 1);
  const std::string token = buy(dir, s, 0, 2);
  Session held;
  REQUIRE(held.open(*s.stub, token, 0, 2, 2040).opened);  // leaves room for 8 positions
  v1::ForwardRequest req;
  req.set_block_begin(0);
  req.set_block_end(2);
  rpc::encode_tensor(torch::randn({1, 10, 64}), v1::DTYPE_F32, req.mutable_hidden());  // 10 positions, 20 block-tokens
  v1::ForwardResponse resp;
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", token);
  const auto status = s.stub->Forward(&ctx, req, &resp);
  CAPTURE(status.error_message());
  CHECK(status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(status.error_message().find("budget") != std::string::npos);
  CHECK(held.step(torch::randn({1, 1, 64})).credit_remaining() == 98);  // 100 bought, 2 spent by this step
}

namespace {

// What the paywall store in @p dir says @p name's tokens have spent, read through a connection
// of its own: only what is committed shows.
std::int64_t committed_use(const test::TempDir& dir, const std::string& name) {
  util::sqlite::Database store(dir.file(name + ".paywall.db"));
  util::sqlite::Statement sum(store, "SELECT COALESCE(SUM(used), 0) FROM tokens");
  REQUIRE(sum.step());
  return sum.int64(0);
}

}  // namespace

TEST_CASE("paywall: a step's debit is committed before its output arrives") {
  // The debit is written while the blocks compute; the answer waits for both.
  test::TempDir dir;
  create_devnet_account(dir.file("devnet.db"), "client", 1000000);
  auto s = priced_server(dir, "server", 0, 6);
  Session session;
  REQUIRE(session.open(*s.stub, buy(dir, s, 0, 6), 0, 6).opened);
  CHECK(committed_use(dir, "server") == 0);
  auto r = session.step(torch::randn({1, 10, 64}));
  REQUIRE(r.has_hidden());
  CHECK(r.credit_remaining() == 40);
  CHECK(committed_use(dir, "server") == 60);
  r = session.step(torch::randn({1, 5, 64}));
  REQUIRE(r.has_hidden());
  CHECK(r.credit_remaining() == 10);
  CHECK(committed_use(dir, "server") == 90);
}

TEST_CASE("paywall: two sessions on one token cannot spend its credit twice") {
  test::TempDir dir;
  create_devnet_account(dir.file("devnet.db"), "client", 1000000);
  auto s = priced_server(dir, "server", 0, 6);
  const std::string token = buy(dir, s, 0, 6);
  Session a, b;
  REQUIRE(a.open(*s.stub, token, 0, 6).opened);
  REQUIRE(b.open(*s.stub, token, 0, 6).opened);
  // Both steps cost 60 of the token's 100 and are in flight at once: one is computed and
  // charged, the other is asked to pay, whichever order the server takes them in.
  v1::InferenceRequest req;
  rpc::encode_tensor(torch::randn({1, 10, 64}), v1::DTYPE_F32, req.mutable_step()->mutable_hidden());
  req.mutable_step()->set_position(0);
  REQUIRE(a.stream->Write(req));
  REQUIRE(b.stream->Write(req));
  v1::InferenceResponse ra, rb;
  REQUIRE(a.stream->Read(&ra));
  REQUIRE(b.stream->Read(&rb));
  CHECK(ra.has_hidden() + rb.has_hidden() == 1);
  CHECK(ra.has_payment_required() + rb.has_payment_required() == 1);
  CHECK(committed_use(dir, "server") == 60);
  CHECK((ra.has_hidden() ? ra : rb).credit_remaining() == 40);
}
