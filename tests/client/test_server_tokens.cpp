// ServerTokens kept in a file: the L402 tokens a client bought survive the process, are
// private (0600 in a 0700 folder), are shared by every object and process on the same file,
// are never presented for another model or past their expiry, and a file that is not a token
// store is refused untouched. A remote sequence on a fresh ServerTokens over the file of an
// earlier one spends the earlier one's credit instead of paying (real gRPC on loopback, a
// devnet wallet in a temporary folder).

#include "torch_doctest.hpp"

#include <sys/stat.h>

#include <fstream>
#include <thread>
#include <vector>

#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/client/server_tokens.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/swarm/discovery.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "test_support.hpp"
#include "util/clock.hpp"

using namespace petalsln;

namespace {

PeerId peer(std::uint8_t n) {
  PeerId p{};
  p.fill(n);
  return p;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// An L402 Authorization value whose macaroon expires at @p expires (unix seconds).
std::string token_expiring(std::int64_t expires) {
  L402Identifier id;
  id.payment_hash.fill(7);
  id.token_id.fill(9);
  L402Terms terms;
  terms.model = "m";
  terms.peer = std::string(64, 'a');
  terms.block_begin = 0;
  terms.block_end = 1;
  terms.credit = 100;
  terms.expires = expires;
  L402Token token{mint_l402_macaroon(std::string(32, 'k'), id, terms), {}};
  return token.to_header();
}

}  // namespace

TEST_CASE("server tokens in a file: round trip, replacement, and another object on the same file") {
  test::TempDir dir;
  const std::string path = dir.file("tokens.sqlite");
  {
    ServerTokens tokens(path, "model-a");
    CHECK(tokens.path() == path);
    CHECK_FALSE(tokens.get(peer(1)));
    tokens.put(peer(1), "L402 first");
    CHECK(tokens.get(peer(1)) == std::optional<std::string>("L402 first"));
    CHECK_FALSE(tokens.get(peer(2)));
    tokens.put(peer(1), "L402 second");  // a spent token replaced
    CHECK(tokens.get(peer(1)) == std::optional<std::string>("L402 second"));
    // Another object (another process, as far as SQLite is concerned) on the same file sees
    // every write at once, and its writes are seen here.
    ServerTokens other(path, "model-a");
    CHECK(other.get(peer(1)) == std::optional<std::string>("L402 second"));
    other.put(peer(2), "L402 from the other");
    CHECK(tokens.get(peer(2)) == std::optional<std::string>("L402 from the other"));
  }
  // A restart: the tokens are still there.
  ServerTokens reopened(path, "model-a");
  CHECK(reopened.get(peer(1)) == std::optional<std::string>("L402 second"));
  // A token bought for another model is never presented.
  ServerTokens other_model(path, "model-b");
  CHECK_FALSE(other_model.get(peer(1)));
  other_model.put(peer(1), "L402 for b");
  CHECK(reopened.get(peer(1)) == std::optional<std::string>("L402 second"));
  CHECK(other_model.get(peer(1)) == std::optional<std::string>("L402 for b"));
}

TEST_CASE("server tokens in memory hold nothing on disk") {
  ServerTokens tokens;
  CHECK(tokens.path().empty());
  tokens.put(peer(3), "L402 x");
  CHECK(tokens.get(peer(3)) == std::optional<std::string>("L402 x"));
}

TEST_CASE("the token file is 0600 and the folders it creates are 0700") {
  test::TempDir dir;
  const std::string path = dir.file("data/petalsln/tokens.sqlite");
  const mode_t old_umask = ::umask(0);  // the modes must not depend on the umask
  {
    ServerTokens tokens(path, "m");
    tokens.put(peer(1), "L402 secret");
  }
  ::umask(old_umask);
  CHECK(mode_of(path) == 0600);
  CHECK(mode_of(dir.file("data")) == 0700);
  CHECK(mode_of(dir.file("data/petalsln")) == 0700);
  if (util::is_regular_file(path + "-wal")) CHECK(mode_of(path + "-wal") == 0600);
}

TEST_CASE("an expired token is not presented, and expired ones are dropped") {
  test::TempDir dir;
  const std::string path = dir.file("tokens.sqlite");
  ServerTokens tokens(path, "m");
  const auto now = static_cast<std::int64_t>(util::unix_seconds());
  tokens.put(peer(1), token_expiring(now - 10));
  CHECK_FALSE(tokens.get(peer(1)));
  const std::string fresh = token_expiring(now + 3600);
  tokens.put(peer(2), fresh);
  CHECK(tokens.get(peer(2)) == std::optional<std::string>(fresh));
  tokens.put(peer(1), fresh);  // a new token replaces the expired one
  CHECK(tokens.get(peer(1)) == std::optional<std::string>(fresh));
}

TEST_CASE("a file that is not a token store is refused with a clear error and left untouched") {
  test::TempDir dir;
  SUBCASE("not SQLite at all") {
    const std::string path = dir.file("garbage");
    std::ofstream(path) << std::string(4096, 'x');
    try {
      ServerTokens tokens(path, "m");
      FAIL("a file of garbage was accepted");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::invalid_format);
      CHECK(std::string(e.what()).find(path) != std::string::npos);
    }
    CHECK(util::read_file(path) == std::string(4096, 'x'));
  }
  SUBCASE("another program's SQLite file") {
    const std::string path = dir.file("other.sqlite");
    // A valid SQLite database with other tables: a paywall store.
    PaywallOptions po;
    po.price_msat = 1;
    po.credit_block_tokens = 1;
    po.model = "m";
    po.peer_hex = std::string(64, 'a');
    po.block_begin = 0;
    po.block_end = 1;
    po.store_path = path;
    create_devnet_account(dir.file("devnet.db"), "s", 0);
    { Paywall paywall(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + dir.file("devnet.db") + "?account=s"))); }
    CHECK_THROWS_WITH_AS(ServerTokens(path, "m"), doctest::Contains("not a petalsln token store"), Error);
  }
  SUBCASE("no path or no model") {
    CHECK_THROWS_AS(ServerTokens("", "m"), Error);
    CHECK_THROWS_AS(ServerTokens(dir.file("t"), ""), Error);
  }
}

TEST_CASE("threads and objects sharing one token file all see the latest token") {
  test::TempDir dir;
  const std::string path = dir.file("tokens.sqlite");
  ServerTokens shared(path, "m");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      ServerTokens own(path, "m");
      for (int i = 0; i < 50; ++i) {
        const std::string value = "L402 " + std::to_string(t) + "-" + std::to_string(i);
        ((i % 2) ? own : shared).put(peer(static_cast<std::uint8_t>(t)), value);
        CHECK(own.get(peer(static_cast<std::uint8_t>(t))) == std::optional<std::string>(value));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int t = 0; t < 4; ++t) CHECK(shared.get(peer(static_cast<std::uint8_t>(t))) == std::optional<std::string>("L402 " + std::to_string(t) + "-49"));
}

TEST_CASE("a sequence on a fresh ServerTokens over an earlier one's file spends its credit instead of paying") {
  const std::string model = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64
  test::TempDir dir;
  const std::string db = dir.file("devnet.db");
  create_devnet_account(db, "server", 0);
  create_devnet_account(db, "client", 1'000'000);
  auto identity = NodeIdentity::generate();
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 60;  // 10 positions on 6 blocks per token
  po.model = "tiny-llama3";
  po.peer_hex = identity.peer_id_hex();
  const PeerId server_peer = identity.peer_id();
  po.block_begin = 0;
  po.block_end = 6;
  po.store_path = dir.file("paywall.db");
  BlockServerOptions o;
  o.model_dir = model;
  o.model_name = "tiny-llama3";
  o.block_begin = 0;
  o.block_end = 6;
  o.throughput = 1000;
  o.cache_mb = 256;
  o.paywall = std::make_shared<Paywall>(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=server")));
  o.price_msat = 1000;
  BlockServer server(o, std::move(identity));
  auto wallet = std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=client"));
  StaticDiscovery discovery({server.endpoint()}, std::chrono::milliseconds(10000));
  const auto fingerprint = compute_model_fingerprint(model);
  const std::string store = dir.file("client/tokens.sqlite");
  // Each run is a new process as far as the tokens go: a new ServerTokens on the file.
  auto run = [&](std::shared_ptr<ServerTokens> tokens, std::int64_t positions) {
    RemoteSequenceOptions ro;
    ro.model_name = "tiny-llama3";
    ro.wallet = wallet;
    ro.budget_msat = 100'000;
    ro.tokens = std::move(tokens);
    RemoteSequence s(CandidateLookup([&] { return discovery.lookup("tiny-llama3", fingerprint); }), 6, 64, ro);
    s.begin_sequence(positions + 1);
    CHECK(s.step(torch::randn({1, positions, 64})).size(1) == positions);
    return s.spent_msat();
  };
  CHECK(run(std::make_shared<ServerTokens>(store, "tiny-llama3"), 4) == 60);  // 24 of 60 block-tokens used
  CHECK(run(std::make_shared<ServerTokens>(store, "tiny-llama3"), 4) == 0);   // the first run's credit: 48 used
  CHECK(wallet->balance_msat() == 1'000'000 - 60);
  // Too little left for the next step: it pays anew in-band and replaces the token in the file,
  // which the run after it then presents.
  CHECK(run(std::make_shared<ServerTokens>(store, "tiny-llama3"), 4) == 60);
  CHECK(run(std::make_shared<ServerTokens>(store, "tiny-llama3"), 4) == 0);
  CHECK(wallet->balance_msat() == 1'000'000 - 120);
  // A token the server refuses (not one it sold) is paid anew and replaced.
  ServerTokens(store, "tiny-llama3").put(server_peer, token_expiring(static_cast<std::int64_t>(util::unix_seconds()) + 3600));
  CHECK(run(std::make_shared<ServerTokens>(store, "tiny-llama3"), 4) == 60);
  CHECK(run(std::make_shared<ServerTokens>(store, "tiny-llama3"), 4) == 0);
  CHECK(run(std::make_shared<ServerTokens>(), 4) == 60);  // in memory: buys its own
}
