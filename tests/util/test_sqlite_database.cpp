// util's SQLite wrapper: private files, WAL, statements, transactions and schema versions.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "petalsln/util/error.hpp"
#include "test_support.hpp"
#include "util/sqlite_database.hpp"

using petalsln::Error;
using petalsln::ErrorCode;
using petalsln::test::TempDir;
namespace sqlite = petalsln::util::sqlite;

namespace {

sqlite::OpenOptions creating() {
  sqlite::OpenOptions o;
  o.label = "test store";
  o.create = true;
  return o;
}

std::int64_t count_rows(sqlite::Database& db) {
  sqlite::Statement q(db, "SELECT COUNT(*) FROM t");
  REQUIRE(q.step());
  return q.int64(0);
}

}  // namespace

TEST_CASE("a database is created 0600 in WAL mode, and a missing one is not created unasked") {
  TempDir dir;
  try {
    sqlite::Database missing(dir.file("none.db"));
    FAIL("opened a missing file");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
  }
  sqlite::Database db(dir.file("a.db"), creating());
  db.enable_wal();
  db.exec("CREATE TABLE t (x INTEGER)");
  struct stat st {};
  for (const char* name : {"a.db", "a.db-wal", "a.db-shm"}) {
    REQUIRE(::stat(dir.file(name).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
  }
  sqlite::Statement mode(db, "PRAGMA journal_mode");
  REQUIRE(mode.step());
  CHECK(mode.text(0) == "wal");
}

TEST_CASE("statements bind and read back every type") {
  TempDir dir;
  sqlite::Database db(dir.file("a.db"), creating());
  db.exec("CREATE TABLE v (i INTEGER, u INTEGER, s TEXT, b BLOB, n INTEGER)");
  const std::uint8_t blob[3] = {1, 0, 2};
  const std::string raw("a\0b", 3);
  sqlite::Statement ins(db, "INSERT INTO v VALUES (?1, ?2, ?3, ?4, ?5)");
  ins.bind(1, std::int64_t{-5}).bind(2, std::uint64_t{7}).bind(3, std::string_view(raw)).bind_blob(4, blob, 3);
  ins.bind(5, std::optional<std::uint64_t>()).run();
  CHECK(db.changes() == 1);
  CHECK(db.last_insert_rowid() == 1);
  sqlite::Statement q(db, "SELECT i, u, s, b, n FROM v");
  REQUIRE(q.step());
  CHECK(q.int64(0) == -5);
  CHECK(q.uint64(1) == 7);
  CHECK(q.bytes(2) == raw);
  std::uint8_t out[3] = {};
  q.blob(3, out, 3);
  CHECK(out[2] == 2);
  CHECK(q.is_null(4));
  CHECK_THROWS_AS(q.uint64(0), Error);  // negative
  CHECK_THROWS_AS(q.blob(3, out, 2), Error);  // wrong size
  CHECK_FALSE(q.step());
  sqlite::Statement big(db, "SELECT ?1");
  CHECK_THROWS_AS(big.bind(1, std::uint64_t{1} << 63), Error);
}

TEST_CASE("a write transaction commits, or rolls back when its scope throws") {
  TempDir dir;
  sqlite::Database db(dir.file("a.db"), creating());
  db.exec("CREATE TABLE t (x INTEGER)");
  {
    sqlite::ImmediateTransaction tx(db);
    db.exec("INSERT INTO t VALUES (1)");
    tx.commit();
  }
  try {
    sqlite::ImmediateTransaction tx(db);
    db.exec("INSERT INTO t VALUES (2)");
    throw std::runtime_error("fail mid-transaction");
  } catch (const std::runtime_error&) {
  }
  CHECK(count_rows(db) == 1);
}

TEST_CASE("a second writer waits for the busy timeout, then gives up") {
  TempDir dir;
  sqlite::Database a(dir.file("a.db"), creating());
  a.enable_wal();
  a.exec("CREATE TABLE t (x INTEGER)");
  sqlite::OpenOptions quick;
  quick.busy_timeout = std::chrono::milliseconds(50);
  sqlite::Database b(dir.file("a.db"), quick);
  sqlite::ImmediateTransaction holding(a);
  sqlite::ImmediateTransaction tried(b, std::nothrow);
  CHECK_FALSE(tried.began());
  try {
    sqlite::ImmediateTransaction blocked(b);
    FAIL("took a write lock another connection holds");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK(std::string(e.what()).find("still locked") != std::string::npos);
  }
  {
    const sqlite::ReadTransaction reading(b);  // readers never wait for the writer in WAL mode
    CHECK(count_rows(b) == 0);
  }
}

TEST_CASE("migrations run in order once, and a newer file is refused untouched") {
  TempDir dir;
  sqlite::Database db(dir.file("a.db"), creating());
  std::vector<int> ran;
  std::vector<sqlite::Migration> steps = {
      [&](sqlite::Database& d) { ran.push_back(1); d.exec("CREATE TABLE t (x INTEGER)"); },
      [&](sqlite::Database& d) { ran.push_back(2); d.exec("ALTER TABLE t ADD COLUMN y INTEGER"); },
  };
  CHECK(sqlite::migrate(db, {steps[0]}) == 0);
  CHECK(db.user_version() == 1);
  CHECK(sqlite::migrate(db, steps) == 1);
  CHECK(sqlite::migrate(db, steps) == 2);  // current: nothing runs
  CHECK(ran == std::vector<int>{1, 2});
  CHECK(db.user_version() == 2);
  try {
    sqlite::migrate(db, {steps[0]});
    FAIL("accepted a file newer than its migrations");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::unsupported);
  }
  CHECK(db.user_version() == 2);
}

TEST_CASE("a failing migration changes nothing") {
  TempDir dir;
  sqlite::Database db(dir.file("a.db"), creating());
  const std::vector<sqlite::Migration> steps = {
      [](sqlite::Database& d) { d.exec("CREATE TABLE t (x INTEGER)"); },
      [](sqlite::Database& d) { d.exec("NOT SQL"); },
  };
  CHECK_THROWS_AS(sqlite::migrate(db, steps), Error);
  CHECK(db.user_version() == 0);
  CHECK(sqlite::is_empty(db));
}

TEST_CASE("a file that is not a database is an invalid_format error") {
  TempDir dir;
  petalsln::test::write_file(dir.file("text.db"), std::string(4096, 'x'));
  try {
    sqlite::Database db(dir.file("text.db"));
    sqlite::is_empty(db);
    FAIL("read a text file as a database");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_format);
  }
}
