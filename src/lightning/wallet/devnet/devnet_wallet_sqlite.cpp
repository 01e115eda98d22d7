#include "lightning/wallet/devnet/devnet_wallet_sqlite.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <thread>

#include "petalsln/util/error.hpp"

namespace petalsln::lightning::devnet {

bool create_private_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    throw Error(ErrorCode::io, "cannot create devnet file " + path + ": " + std::strerror(errno));
  }
  // The umask can only remove bits from 0600; fchmod makes the mode exact regardless.
  const bool ok = ::fchmod(fd, S_IRUSR | S_IWUSR) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) throw Error(ErrorCode::io, "cannot set mode 0600 on devnet file " + path + ": " + std::strerror(err));
  return true;
}

Database::Database(const std::string& path) : path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw Error(ErrorCode::not_found, "devnet file not found: " + path);
    throw Error(ErrorCode::io, "cannot stat devnet file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::invalid_argument, "devnet path is not a regular file: " + path);
  // SQLite creates the -wal and -shm files with the main file's mode, so they are 0600 too.
  const int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error(ErrorCode::io, "cannot open devnet file " + path + ": " + msg);
  }
  set_busy_timeout(kBusyTimeout);
  sqlite3_extended_result_codes(db_, 1);
  try {
    exec("PRAGMA foreign_keys=ON");
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

void Database::enable_wal() {
  // Switching to WAL needs an exclusive lock, and SQLite can report SQLITE_BUSY for it without
  // calling the busy handler (seen when several processes open a fresh file at once). So retry
  // here, for as long as the busy timeout would have waited.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (true) {
    try {
      Statement wal(*this, "PRAGMA journal_mode=WAL");
      if (!wal.step() || wal.text(0) != "wal") {
        throw Error(ErrorCode::io, "devnet file " + path_ + ": cannot switch to WAL mode");
      }
      return;
    } catch (const Error& e) {
      const bool locked = std::string(e.what()).find("still locked") != std::string::npos;
      if (!locked || std::chrono::steady_clock::now() >= deadline) throw;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Database::~Database() { sqlite3_close(db_); }

void Database::exec(const char* sql) { check(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr), sql); }

void Database::set_busy_timeout(std::chrono::milliseconds timeout) {
  const auto ms = std::min<std::chrono::milliseconds::rep>(timeout.count(), std::numeric_limits<int>::max());
  sqlite3_busy_timeout(db_, static_cast<int>(std::max<std::chrono::milliseconds::rep>(ms, 0)));
}

int Database::changes() const noexcept { return sqlite3_changes(db_); }

void Database::check(int rc, const char* what) const {
  const int primary = rc & 0xff;
  if (primary == SQLITE_OK || primary == SQLITE_ROW || primary == SQLITE_DONE) return;
  const std::string where = "devnet file " + path_ + " (" + what + "): ";
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    throw Error(ErrorCode::io, where + "still locked by another process after the busy timeout");
  }
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    throw Error(ErrorCode::invalid_format, where + "not a devnet wallet file (" + sqlite3_errstr(rc) + ")");
  }
  throw Error(ErrorCode::io, where + sqlite3_errmsg(db_));
}

Statement::Statement(Database& db, const char* sql) : db_(db) {
  db_.check(sqlite3_prepare_v2(db_.handle(), sql, -1, &stmt_, nullptr), sql);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::int64_t value) {
  db_.check(sqlite3_bind_int64(stmt_, index, value), "bind");
  return *this;
}

Statement& Statement::bind(int index, std::uint64_t value) {
  if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorCode::out_of_range, "devnet: value " + std::to_string(value) + " does not fit the devnet file");
  }
  return bind(index, static_cast<std::int64_t>(value));
}

Statement& Statement::bind(int index, std::string_view text) {
  db_.check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}

Statement& Statement::bind_blob(int index, const std::uint8_t* data, std::size_t size) {
  db_.check(sqlite3_bind_blob(stmt_, index, data, static_cast<int>(size), SQLITE_TRANSIENT), "bind");
  return *this;
}

Statement& Statement::bind_null(int index) {
  db_.check(sqlite3_bind_null(stmt_, index), "bind");
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::uint64_t>& value) {
  return value ? bind(index, *value) : bind_null(index);
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
  if (v < 0) throw Error(ErrorCode::invalid_format, "devnet file " + db_.path() + ": negative amount stored");
  return static_cast<std::uint64_t>(v);
}

std::string Statement::text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

void Statement::blob(int column, std::uint8_t* out, std::size_t size) const {
  const void* p = sqlite3_column_blob(stmt_, column);
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n < 0 || static_cast<std::size_t>(n) != size) {
    throw Error(ErrorCode::invalid_format,
                "devnet file " + db_.path() + ": stored value has " + std::to_string(n) + " bytes, expected " +
                    std::to_string(size));
  }
  std::memcpy(out, p, size);
}

ImmediateTransaction::ImmediateTransaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

ImmediateTransaction::ImmediateTransaction(Database& db, std::nothrow_t) : db_(db) {
  const int rc = sqlite3_exec(db_.handle(), "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
  if ((rc & 0xff) == SQLITE_BUSY) {
    open_ = false;
    return;
  }
  db_.check(rc, "BEGIN IMMEDIATE");
}

ImmediateTransaction::~ImmediateTransaction() {
  // Rolling back after a failure must not throw from a destructor; SQLite also rolls back by
  // itself when an error already ended the transaction, which makes ROLLBACK fail harmlessly.
  if (open_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void ImmediateTransaction::commit() {
  db_.exec("COMMIT");
  open_ = false;
}

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

}  // namespace petalsln::lightning::devnet
