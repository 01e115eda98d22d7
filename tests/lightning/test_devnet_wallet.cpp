// The devnet wallet: URIs, the faucet's accounts, the file itself, invoices and lookups.
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include <functional>
#include <string>

#include "devnet_test_support.hpp"
#include "petalsln/util/error.hpp"
#include "test_support.hpp"

using namespace petalsln;
using petalsln::test::DevnetFixture;
using petalsln::test::request;

namespace {

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("expected petalsln::Error");
  return ErrorCode::internal;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("expected petalsln::Error");
  return "";
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

}  // namespace

TEST_CASE("devnet URI: valid forms round-trip") {
  DevnetUri a = DevnetUri::parse("devnet:/tmp/x.db?account=alice");
  CHECK(a.path == "/tmp/x.db");
  CHECK(a.account == "alice");
  CHECK(a.to_string() == "devnet:/tmp/x.db?account=alice");
  DevnetUri b = DevnetUri::parse("devnet:rel/dir/wallet.sqlite?account=node_1-a");
  CHECK(b.path == "rel/dir/wallet.sqlite");
  CHECK(b.account == "node_1-a");
  CHECK(DevnetUri::parse("devnet:x?account=" + std::string(64, 'z')).account.size() == 64);
}

TEST_CASE("devnet URI: malformed ones are refused with a reason") {
  const char* bad[] = {
      "devnet:/tmp/x.db",                       // no account
      "devnet:?account=alice",                  // empty path
      "devnet:///tmp/x.db?account=alice",       // authority form
      "devnet:/tmp/x.db?account=",              // empty name
      "devnet:/tmp/x.db?account=Alice",         // upper case
      "devnet:/tmp/x.db?account=al ice",        // space
      "devnet:/tmp/x.db?acount=alice",          // typo
      "devnet:/tmp/x.db?account=alice&fee=1",   // extra parameter
      "devnet:/tmp/x.db?account=a&account=b",   // repeated
      "devnet:/tmp/x.db?account=a?b",           // '?' in the name
      "lnd:/tmp/x.db?account=alice",            // other scheme
      "DEVNET:/tmp/x.db?account=alice",
  };
  for (const char* uri : bad) {
    CAPTURE(uri);
    CHECK(code_of([&] { DevnetUri::parse(uri); }) == ErrorCode::invalid_argument);
  }
  CHECK(code_of([] { DevnetUri::parse("devnet:x?account=" + std::string(65, 'a')); }) == ErrorCode::invalid_argument);
  CHECK(message_of([] { DevnetUri::parse("devnet:/x?account=a&b=c"); }).find("only parameter") != std::string::npos);
  CHECK(message_of([] { DevnetUri::parse("devnet:/x?wallet=a"); }).find("unknown parameter 'wallet'") !=
        std::string::npos);
}

TEST_CASE("devnet open_wallet: schemes, missing files and accounts") {
  test::TempDir dir;
  CHECK(code_of([] { open_wallet("lndrest://host:8080?macaroon=secret"); }) == ErrorCode::unsupported);
  CHECK(message_of([] { open_wallet("lndrest://host:8080?macaroon=secret"); }).find("secret") == std::string::npos);
  CHECK(code_of([] { open_wallet("/tmp/x.db"); }) == ErrorCode::invalid_argument);
  CHECK(code_of([] { open_wallet(""); }) == ErrorCode::invalid_argument);
  CHECK(code_of([&] { open_wallet("devnet:" + dir.file("none.db") + "?account=alice"); }) == ErrorCode::not_found);
  create_devnet_account(dir.file("w.db"), "alice", 5);
  auto w = open_wallet("devnet:" + dir.file("w.db") + "?account=alice");
  CHECK(w->describe() == "devnet:" + dir.file("w.db") + "?account=alice");
  CHECK(w->balance_msat() == 5);
  CHECK(code_of([&] { open_wallet("devnet:" + dir.file("w.db") + "?account=bob"); }) == ErrorCode::not_found);
}

TEST_CASE("devnet faucet: accounts are created once, with distinct node keys") {
  DevnetFixture net;
  auto alice = net.open("alice");
  auto bob = net.open("bob");
  CHECK(alice->balance_msat() == 1'000'000);
  CHECK(bob->balance_msat() == 0);
  CHECK(alice->account() == "alice");
  CHECK(alice->node_id() != bob->node_id());
  CHECK((alice->node_id()[0] == 2 || alice->node_id()[0] == 3));
  CHECK(code_of([&] { create_devnet_account(net.path, "alice", 1); }) == ErrorCode::invalid_argument);
  CHECK(message_of([&] { create_devnet_account(net.path, "alice", 1); }).find("already exists") !=
        std::string::npos);
  CHECK(alice->balance_msat() == 1'000'000);  // the refused duplicate added nothing
  CHECK(code_of([&] { create_devnet_account(net.path, "Bad Name", 1); }) == ErrorCode::invalid_argument);
  CHECK(code_of([&] { create_devnet_account(net.path, "big", DevnetWallet::kMaxFundMsat + 1); }) ==
        ErrorCode::invalid_argument);
  DevnetAccount dave = create_devnet_account(net.path, "dave", DevnetWallet::kMaxFundMsat);
  CHECK(dave.node_id == net.open("dave")->node_id());
  CHECK(net.open("dave")->balance_msat() == DevnetWallet::kMaxFundMsat);
  CHECK(code_of([&] { DevnetWallet(net.path, "nobody"); }) == ErrorCode::not_found);
  CHECK(code_of([&] { DevnetWallet(net.path, "UPPER"); }) == ErrorCode::invalid_argument);
}

TEST_CASE("devnet file: mode 0600 for the database, its WAL and shared-memory files") {
  test::TempDir dir;
  const std::string path = dir.file("devnet.db");
  const mode_t old = ::umask(0);  // the most permissive umask must still give 0600
  create_devnet_account(path, "alice", 100);
  auto alice = std::make_unique<DevnetWallet>(path, "alice");
  alice->create_invoice(request(10));
  ::umask(old);
  CHECK(mode_of(path) == 0600);
  REQUIRE(exists(path + "-wal"));
  REQUIRE(exists(path + "-shm"));
  CHECK(mode_of(path + "-wal") == 0600);
  CHECK(mode_of(path + "-shm") == 0600);
}

TEST_CASE("devnet file: other files are refused, never converted") {
  test::TempDir dir;
  test::write_file(dir.file("text.db"), "hello, this is not a database at all, just some text....");
  CHECK(code_of([&] { DevnetWallet(dir.file("text.db"), "alice"); }) == ErrorCode::invalid_format);
  CHECK(code_of([&] { create_devnet_account(dir.file("text.db"), "alice", 1); }) == ErrorCode::invalid_format);
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(dir.file("other.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  CHECK(code_of([&] { create_devnet_account(dir.file("other.db"), "alice", 1); }) == ErrorCode::invalid_format);
  CHECK(code_of([&] { DevnetWallet(dir.file("other.db"), "alice"); }) == ErrorCode::invalid_format);
  REQUIRE(sqlite3_open(dir.file("other.db").c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "delete");  // not switched to WAL
  sqlite3_finalize(st);
  sqlite3_close(db);
  CHECK(code_of([&] { DevnetWallet(dir.path(), "alice"); }) == ErrorCode::invalid_argument);
  test::write_file(dir.file("empty.db"), "");
  CHECK(code_of([&] { DevnetWallet(dir.file("empty.db"), "alice"); }) == ErrorCode::not_found);
}

TEST_CASE("devnet file: a newer schema version is refused") {
  DevnetFixture net;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(net.path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "UPDATE meta SET value = '2' WHERE key = 'schema_version'", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(db);
  CHECK(code_of([&] { net.open("alice"); }) == ErrorCode::unsupported);
}

TEST_CASE("devnet invoice: a real regtest BOLT11 signed by the account's node key") {
  DevnetFixture net;
  auto bob = net.open("bob");
  CreatedInvoice created = bob->create_invoice(request(12'345, 600));
  CHECK(created.bolt11.rfind("lnbcrt", 0) == 0);
  const Bolt11Invoice inv = Bolt11Invoice::decode(created.bolt11);
  CHECK(inv.signature_valid);
  CHECK(inv.network == Bolt11Network::regtest);
  CHECK(inv.amount_msat == std::optional<std::uint64_t>(12'345));
  CHECK(inv.payment_hash == created.payment_hash);
  REQUIRE(inv.payee_node_id.has_value());
  CHECK(*inv.payee_node_id == bob->node_id());
  CHECK(inv.payee == std::optional<Bolt11NodeId>(bob->node_id()));
  CHECK(inv.description == std::optional<std::string>("devnet test"));
  CHECK(inv.expiry_seconds() == 600);
  CHECK(inv.timestamp == *net.time.now);
  CHECK(inv.encode() == created.bolt11);

  InvoiceRequest hashed;
  hashed.amount_msat = 1000;
  hashed.description_hash = util::sha256("a long LNURL metadata document");
  const Bolt11Invoice h = Bolt11Invoice::decode(bob->create_invoice(hashed).bolt11);
  CHECK(!h.description.has_value());
  CHECK(h.description_hash == hashed.description_hash);

  const Bolt11Invoice any = Bolt11Invoice::decode(bob->create_invoice(request(std::nullopt)).bolt11);
  CHECK(!any.amount_msat.has_value());
  CHECK(created.payment_hash != bob->create_invoice(request(12'345)).payment_hash);
}

TEST_CASE("devnet invoice: bad requests are refused") {
  DevnetFixture net;
  auto bob = net.open("bob");
  CHECK(code_of([&] { bob->create_invoice(request(0)); }) == ErrorCode::invalid_argument);
  CHECK(code_of([&] { bob->create_invoice(request(1, 0)); }) == ErrorCode::invalid_argument);
  CHECK(code_of([&] { bob->create_invoice(request(DevnetWallet::kMaxFundMsat + 1)); }) == ErrorCode::invalid_argument);
  InvoiceRequest long_memo = request(1);
  long_memo.memo = std::string(700, 'm');
  CHECK(code_of([&] { bob->create_invoice(long_memo); }) == ErrorCode::invalid_argument);
}

TEST_CASE("devnet lookups: invoices are private to the issuing account, expiry is reported") {
  DevnetFixture net;
  auto bob = net.open("bob");
  auto carol = net.open("carol");
  CreatedInvoice created = bob->create_invoice(request(100, 60));
  InvoiceStatus s = bob->lookup_invoice(created.payment_hash);
  CHECK(s.payment_hash == created.payment_hash);
  CHECK(!s.settled);
  CHECK(!s.expired);
  CHECK(s.amount_paid_msat == 0);
  CHECK(s.settled_at == 0);
  CHECK(code_of([&] { carol->lookup_invoice(created.payment_hash); }) == ErrorCode::not_found);
  CHECK(code_of([&] { bob->lookup_invoice(PaymentHash{}); }) == ErrorCode::not_found);
  *net.time.now += 60;
  CHECK(bob->lookup_invoice(created.payment_hash).expired);
  CHECK(!bob->lookup_payment(created.payment_hash).has_value());
  CHECK(to_string(PaymentStatus::pending) == std::string("pending"));
  CHECK(to_string(PaymentStatus::succeeded) == std::string("succeeded"));
  CHECK(to_string(PaymentStatus::failed) == std::string("failed"));
}
