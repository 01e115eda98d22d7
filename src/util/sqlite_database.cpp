#include "util/sqlite_database.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <thread>

#include "petalsln/util/error.hpp"
#include "util/private_file.hpp"

namespace petalsln::util::sqlite {
namespace {

// Refuses what SQLite must not open: a missing path (unless created first) or one that is not
// a regular file.
void check_regular_file(const std::string& path, const std::string& label) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw Error(ErrorCode::not_found, label + " not found: " + path);
    throw Error(ErrorCode::io, "cannot stat " + label + " " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::invalid_argument, label + " path is not a regular file: " + path);
}

sqlite3* open_connection(const std::string& path, const OpenOptions& options) {
  const int threading = options.serialized ? SQLITE_OPEN_FULLMUTEX : SQLITE_OPEN_NOMUTEX;
  sqlite3* db = nullptr;
  // Never SQLITE_OPEN_CREATE: a file SQLite created would have the umask's mode.
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | threading, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    throw Error(ErrorCode::io, "cannot open " + options.label + " " + path + ": " + msg);
  }
  return db;
}

}  // namespace

Database::Database(const std::string& path, OpenOptions options) : path_(path), label_(options.label) {
  if (options.create) create_private_file(path, label_);  // nullopt: it exists already
  check_regular_file(path, label_);
  // SQLite creates the -wal and -shm files with the main file's mode, so they are 0600 too.
  db_ = open_connection(path, options);
  set_busy_timeout(options.busy_timeout);
  sqlite3_extended_result_codes(db_, 1);
  try {
    exec("PRAGMA foreign_keys=ON");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

Database::~Database() { sqlite3_close(db_); }

void Database::enable_wal() {
  // Switching to WAL needs an exclusive lock, and SQLite can report SQLITE_BUSY for it without
  // calling the busy handler (seen when several processes open a fresh file at once). So retry
  // here, for as long as the busy timeout would have waited.
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout_;
  while (true) {
    try {
      Statement wal(*this, "PRAGMA journal_mode=WAL");
      if (!wal.step() || wal.text(0) != "wal") throw Error(ErrorCode::io, describe() + ": cannot switch to WAL mode");
      return;
    } catch (const Error& e) {
      const bool locked = std::string(e.what()).find("still locked") != std::string::npos;
      if (!locked || std::chrono::steady_clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Database::exec(const char* sql) { check(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), sql); }

void Database::set_busy_timeout(std::chrono::milliseconds timeout) {
  busy_timeout_ = std::max(timeout, std::chrono::milliseconds(0));
  const auto ms = std::min<std::chrono::milliseconds::rep>(busy_timeout_.count(), std::numeric_limits<int>::max());
  sqlite3_busy_timeout(db_, static_cast<int>(ms));
}

int Database::changes() const noexcept { return sqlite3_changes(db_); }

std::int64_t Database::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }

int Database::user_version() {
  Statement q(*this, "PRAGMA user_version");
  if (!q.step()) throw Error(ErrorCode::io, describe() + ": cannot read its schema version");
  return static_cast<int>(q.int64(0));
}

void Database::check(int rc, const char* what) const {
  const int primary = rc & 0xff;
  if (primary == SQLITE_OK || primary == SQLITE_ROW || primary == SQLITE_DONE) return;
  const std::string where = describe() + " (" + what + "): ";
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw Error(ErrorCode::io, where + "still locked by another process after the busy timeout");
  }
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    throw Error(ErrorCode::invalid_format, where + "not a database this build can read (" + sqlite3_errstr(rc) + ")");
  }
  throw Error(ErrorCode::io, where + sqlite3_errmsg(db_));
}

Statement::Statement(Database& db, const char* sql) : db_(db) {
  db_.check(sqlite3_prepare_v2(db_.db_, sql, -1, &stmt_, nullptr), sql);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::int64_t value) {
  db_.check(sqlite3_bind_int64(stmt_, index, value), "bind");
  return *this;
}

Statement& Statement::bind(int index, std::uint64_t value) {
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorCode::out_of_range, "value " + std::to_string(value) + " does not fit the " + db_.describe());
  }
  return bind(index, static_cast<std::int64_t>(value));
}

Statement& Statement::bind(int index, std::string_view text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error(ErrorCode::out_of_range, "a text of " + std::to_string(text.size()) + " bytes does not fit the " + db_.describe());
  }
  db_.check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::uint64_t>& value) {
  return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_blob(int index, const std::uint8_t* data, std::size_t size) {
  if (size > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw Error(ErrorCode::out_of_range, "a blob of " + std::to_string(size) + " bytes does not fit the " + db_.describe());
  }
  db_.check(sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size), SQLITE_TRANSIENT), "bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  db_.check(sqlite3_bind_null(stmt_, index), "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  db_.check(rc, sqlite3_sql(stmt_));
  return false;
}

void Statement::run() {
  while (step()) {
  }
}

bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

std::int64_t Statement::int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::uint64_t Statement::uint64(int column) const {
  const std::int64_t v = int64(column);
  if (v < 0) throw Error(ErrorCode::invalid_format, db_.describe() + ": negative amount stored");
  return static_cast<std::uint64_t>(v);
}

std::string Statement::text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::string Statement::bytes(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

void Statement::blob(int column, std::uint8_t* out, std::size_t size) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n < 0 || static_cast<std::size_t>(n) != size) {
    throw Error(ErrorCode::invalid_format, db_.describe() + ": stored value has " + std::to_string(n) +
                                               " bytes, expected " + std::to_string(size));
  }
  std::memcpy(out, p, size);
}

ImmediateTransaction::ImmediateTransaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

ImmediateTransaction::ImmediateTransaction(Database& db, std::nothrow_t) : db_(db) {
  const int rc = sqlite3_exec(db_.db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if ((rc & 0xff) == SQLITE_BUSY) {
    open_ = false;
    return;
  }
  db_.check(rc, "BEGIN IMMEDIATE");
}

ImmediateTransaction::~ImmediateTransaction() {
  // Rolling back after a failure must not throw from a destructor; SQLite also rolls back by
  // itself when an error already ended the transaction, which makes ROLLBACK fail harmlessly.
  if (open_) sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

void ImmediateTransaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

ReadTransaction::ReadTransaction(Database& db) : db_(db) { db_.exec("BEGIN"); }

// Nothing was written, so rolling back and committing end it alike; ROLLBACK cannot fail.
ReadTransaction::~ReadTransaction() { sqlite3_exec(db_.db_, "ROLLBACK", nullptr, nullptr, nullptr); }

bool is_empty(Database& db) {
  Statement q(db, "SELECT 1 FROM sqlite_master LIMIT 1");
  return !q.step();
}

bool has_table(Database& db, const char* name) {
  Statement q(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  q.bind(1, name);
  return q.step();
}

void create_or_check_schema(Database& db, const std::function<void(Database&)>& check,
                            const std::function<void(Database&)>& create) {
  if (!is_empty(db)) check(db);  // refuse someone else's database before changing it
  db.enable_wal();
  ImmediateTransaction tx(db);
  if (is_empty(db)) {
    create(db);
    tx.commit();
    return;
  }
  check(db);  // another process created it in the meantime
}

namespace {

void refuse_newer(Database& db, int version, std::size_t known) {
  if (version < 0 || static_cast<std::size_t>(version) > known) {
    throw Error(ErrorCode::unsupported, db.describe() + " has schema version " + std::to_string(version) +
                                            "; this build knows versions up to " + std::to_string(known));
  }
}

}  // namespace

int migrate(Database& db, const std::vector<Migration>& migrations) {
  const int before = db.user_version();
  refuse_newer(db, before, migrations.size());
  if (static_cast<std::size_t>(before) == migrations.size()) return before;
  ImmediateTransaction tx(db);
  const int version = db.user_version();  // another process may have migrated it meanwhile
  refuse_newer(db, version, migrations.size());
  for (std::size_t step = static_cast<std::size_t>(version); step < migrations.size(); ++step) migrations[step](db);
  // PRAGMA takes no bound parameters; the number is ours, not outside input.
  db.exec(("PRAGMA user_version = " + std::to_string(migrations.size())).c_str());
  tx.commit();
  return version;
}

}  // namespace petalsln::util::sqlite
