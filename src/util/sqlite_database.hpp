#pragma once
// The one SQLite layer of the library (the devnet wallet, the paywall's store and the payout
// ledger use it): a connection to a private file in WAL mode with a busy timeout, prepared
// statements with bound parameters, RAII transactions, and schema versions. Write transactions
// always take the write lock up front (BEGIN IMMEDIATE), so two processes never both read a
// balance and then both spend it.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace petalsln::util::sqlite {

/// How long a connection waits for another process's write lock unless told otherwise.
inline constexpr std::chrono::milliseconds kDefaultBusyTimeout{10'000};

/// How Database opens its file.
struct OpenOptions {
  /// Names the file in messages, followed by its path ("devnet file", "paywall store").
  std::string label = "database";
  /// Create the file, empty and of mode exactly 0600, if it does not exist (before SQLite sees
  /// it, so it is never readable by others; SQLite gives the -wal and -shm files the main
  /// file's mode). Without it a missing file is an error.
  bool create = false;
  /// Open the connection in SQLite's serialized mode, for callers that may use it from several
  /// threads at once; without it the caller must never do so.
  bool serialized = false;
  /// How long statements wait for a lock held by another connection.
  std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout;
};

class Statement;

/// One SQLite connection to a regular file, with foreign keys enforced.
class Database {
 public:
  /// Opens @p path read-write, creating it first if @p options say so (never otherwise).
  /// Throws Error(not_found) if it does not exist, Error(invalid_argument) if it is not a
  /// regular file, Error(io) if it cannot be created or SQLite cannot open it.
  explicit Database(const std::string& path, OpenOptions options = {});
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Switches the file to WAL mode (persistent: readers and one writer then work at once,
  /// across processes). Throws Error(io) if SQLite refuses within the busy timeout.
  void enable_wal();

  /// Runs @p sql (one or more statements, no results). Throws Error as a failed step does.
  void exec(const char* sql);

  /// Sets how long the next statements wait for a lock held by another connection.
  void set_busy_timeout(std::chrono::milliseconds timeout);
  /// The wait set last (by the options or set_busy_timeout()).
  std::chrono::milliseconds busy_timeout() const noexcept { return busy_timeout_; }

  /// The number of rows the last INSERT, UPDATE or DELETE changed.
  int changes() const noexcept;
  /// The rowid of the last row this connection inserted.
  std::int64_t last_insert_rowid() const noexcept;

  /// The file's schema version (PRAGMA user_version; 0 for a file that never set one).
  int user_version();

  /// The file's path, for messages.
  const std::string& path() const noexcept { return path_; }
  /// The label and path that name the file in messages ("devnet file /x/y").
  std::string describe() const { return label_ + " " + path_; }

 private:
  friend class Statement;
  friend class ImmediateTransaction;
  friend class ReadTransaction;

  // Throws the Error that SQLite result @p rc stands for (doing nothing for OK, ROW and DONE):
  // Error(io) for a lock still held after the busy timeout and for I/O failures,
  // Error(invalid_format) for a file that is not a database or is corrupt. @p what names the
  // operation.
  void check(int rc, const char* what) const;

  sqlite3* db_ = nullptr;
  std::string path_;
  std::string label_;
  std::chrono::milliseconds busy_timeout_{0};
};

/// A prepared statement; parameters are bound by 1-based index, columns read by 0-based index.
/// Binding and stepping throw as Database::exec() does.
class Statement {
 public:
  /// Prepares @p sql (one statement) on @p db, which must outlive it.
  Statement(Database& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  /// Binds a signed integer. Returns *this.
  Statement& bind(int index, std::int64_t value);
  /// Binds an unsigned integer. Returns *this. Throws Error(out_of_range) above INT64_MAX.
  Statement& bind(int index, std::uint64_t value);
  /// Binds @p text as TEXT (its bytes as they are; it may hold any byte). Returns *this.
  Statement& bind(int index, std::string_view text);
  /// Binds a NUL-terminated string as TEXT. Returns *this.
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  /// Binds @p value, or NULL when nullopt. Returns *this.
  Statement& bind(int index, const std::optional<std::uint64_t>& value);
  /// Binds @p size bytes at @p data as a BLOB. Returns *this.
  Statement& bind_blob(int index, const std::uint8_t* data, std::size_t size);
  /// Binds NULL. Returns *this.
  Statement& bind_null(int index);

  /// Executes one step. Returns true if a row is available, false when done.
  bool step();
  /// Steps to completion, ignoring any rows.
  void run();

  /// True if the column is NULL.
  bool is_null(int column) const;
  /// The column as a signed integer.
  std::int64_t int64(int column) const;
  /// The column as an unsigned value. Throws Error(invalid_format) if it is negative.
  std::uint64_t uint64(int column) const;
  /// The column as text ("" for NULL).
  std::string text(int column) const;
  /// The column's bytes exactly as stored, whatever its type ("" for NULL).
  std::string bytes(int column) const;
  /// Copies the column, which must be exactly @p size bytes, to @p out. Throws
  /// Error(invalid_format) if it is another size.
  void blob(int column, std::uint8_t* out, std::size_t size) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// A write transaction begun with BEGIN IMMEDIATE (taking the file's write lock at once).
/// Rolled back on destruction (an exception included) unless committed.
class ImmediateTransaction {
 public:
  /// Begins it. Throws Error(io) if the lock is not obtained within the busy timeout.
  explicit ImmediateTransaction(Database& db);
  /// Like the constructor above, but a lock not obtained within the busy timeout leaves the
  /// transaction unbegun (began() is false) instead of throwing; other failures still throw.
  ImmediateTransaction(Database& db, std::nothrow_t);
  ~ImmediateTransaction();
  ImmediateTransaction(const ImmediateTransaction&) = delete;
  ImmediateTransaction& operator=(const ImmediateTransaction&) = delete;

  /// Commits. Throws Error(io) if SQLite cannot.
  void commit();

  /// True while the transaction is open (begun and not yet committed).
  bool began() const noexcept { return open_; }

 private:
  Database& db_;
  bool open_ = true;
};

/// A read transaction: every statement inside it sees one consistent snapshot of the file.
/// Ended on destruction.
class ReadTransaction {
 public:
  /// Begins it. Throws Error as Database::exec() does.
  explicit ReadTransaction(Database& db);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Database& db_;
};

/// True if @p db holds no schema object yet (a file just created).
bool is_empty(Database& db);

/// True if @p db has a table named @p name.
bool has_table(Database& db, const char* name);

/// Creates or checks a file's schema, safely against other processes opening the same new
/// file at once: a file that is not empty is checked with @p check BEFORE anything changes
/// (someone else's database is refused untouched); the file is switched to WAL; then, holding
/// the write lock, @p create runs and is committed if the file is still empty, else @p check
/// runs (another process created it in the meantime). @p check throws to refuse the file.
void create_or_check_schema(Database& db, const std::function<void(Database&)>& check,
                            const std::function<void(Database&)>& create);

/// One step of a schema: changes a file at schema version N into version N + 1.
using Migration = std::function<void(Database&)>;

/// Brings @p db to schema version migrations.size() (PRAGMA user_version): runs, in order,
/// the migrations the file lacks (migrations[N] takes it from N to N + 1), all inside one
/// BEGIN IMMEDIATE transaction that also records the new version, so a failure changes
/// nothing and two processes opening one file at once apply each step once. A file already
/// current takes no write lock. Returns the version the file had. Throws
/// Error(unsupported) for a file newer than @p migrations know (left untouched), and what a
/// migration throws.
int migrate(Database& db, const std::vector<Migration>& migrations);

}  // namespace petalsln::util::sqlite
