// The paywall's store on disk: a store written before schema versions were recorded opens with
// its root key and credits, a new store is private, and a store from a newer build is refused.

#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/stat.h>

#include <memory>
#include <string>

#include "devnet_test_support.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

const std::string kPeer = "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798";

Paywall open_paywall(const test::DevnetFixture& devnet, const std::string& store_path) {
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 100;
  po.model = "m";
  po.peer_hex = kPeer;
  po.block_begin = 0;
  po.block_end = 4;
  po.store_path = store_path;
  return Paywall(po, std::shared_ptr<Wallet>(devnet.open("bob")));
}

// Runs @p sql on the file at @p path with SQLite itself, as another program would.
void run_sql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
}

std::int64_t user_version(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const std::int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

// Writes a store the way the paywall did before schema versions: its two tables, the root key
// as TEXT holding raw bytes (here with a NUL and bytes that are not UTF-8), a token with credit.
void write_unversioned_store(const std::string& path, const std::string& root_key) {
  run_sql(path,
          "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
          "CREATE TABLE tokens (token_id TEXT PRIMARY KEY, payment_hash TEXT NOT NULL,"
          " credit INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0, expires INTEGER NOT NULL);"
          "INSERT INTO tokens VALUES ('t1', 'h1', 100, 40, 4000000000);");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO meta (key, value) VALUES ('root_key', ?)", -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_text(st, 1, root_key.data(), static_cast<int>(root_key.size()), SQLITE_TRANSIENT);
  CHECK(sqlite3_step(st) == SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace

TEST_CASE("paywall store: a store made before schema versions keeps its root key and credits") {
  test::DevnetFixture devnet;
  const std::string path = devnet.dir.file("old.paywall.db");
  std::string root_key(32, '\0');
  for (std::size_t i = 0; i < root_key.size(); ++i) root_key[i] = static_cast<char>(i * 37);  // [0] is NUL
  write_unversioned_store(path, root_key);
  Paywall paywall = open_paywall(devnet, path);
  CHECK(L402Challenge::parse(paywall.challenge(0, 4)).macaroon.signature_valid(root_key));
  std::uint64_t remaining = 0;
  CHECK(paywall.debit("t1", 10, &remaining));
  CHECK(remaining == 50);
  CHECK(user_version(path) == 1);
}

TEST_CASE("paywall store: a new store is private and current; a newer one is refused") {
  test::DevnetFixture devnet;
  const std::string path = devnet.dir.file("new.paywall.db");
  { Paywall paywall = open_paywall(devnet, path); }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(user_version(path) == 1);
  { Paywall again = open_paywall(devnet, path); }  // reopens
  run_sql(path, "PRAGMA user_version = 2");
  try {
    open_paywall(devnet, path);
    FAIL("opened a store from a newer build");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
  }
}
