#pragma once
// A thin RAII layer over SQLite for the devnet wallet: one connection, prepared statements,
// and write transactions that always take the write lock up front (BEGIN IMMEDIATE), so two
// processes never both read a balance and then both spend it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace petalsln::lightning::devnet {

/// How long a connection waits for another process's write lock by default.
inline constexpr std::chrono::milliseconds kBusyTimeout{10'000};

/// Creates @p path as an empty file of mode 0600 if it does not exist (O_CREAT | O_EXCL, so
/// the file never exists with wider permissions, whatever the umask). Returns true if this
/// call created it. Throws Error(io) if it cannot.
bool create_private_file(const std::string& path);

/// One SQLite connection to an existing file, in WAL mode with a busy timeout.
class Database {
 public:
  /// Opens @p path read-write (never creating it, never changing it). Throws
  /// Error(not_found) if it does not exist, Error(io) if SQLite cannot open it.
  explicit Database(const std::string& path);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  /// Switches the file to WAL mode (persistent: readers and one writer then work at once,
  /// across processes). Throws Error(io) if SQLite refuses.
  void enable_wal();

  /// Runs @p sql (one or more statements, no results). Throws Error as check() does.
  void exec(const char* sql);

  /// Sets how long the next statements wait for a lock held by another connection.
  void set_busy_timeout(std::chrono::milliseconds timeout);

  /// Throws the Error that SQLite result @p rc stands for (doing nothing for OK, ROW and
  /// DONE): Error(io) for a locked file and I/O failures, Error(invalid_format) for a file
  /// that is not a database or is corrupt. @p what names the operation.
  void check(int rc, const char* what) const;

  /// The number of rows the last INSERT, UPDATE or DELETE changed.
  int changes() const noexcept;

  /// The raw handle, for Statement.
  sqlite3* handle() const noexcept { return db_; }
  /// The file's path, for messages.
  const std::string& path() const noexcept { return path_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

/// A prepared statement; parameters are bound by 1-based index.
class Statement {
 public:
  Statement(Database& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::uint64_t value);  ///< Throws Error(out_of_range) above INT64_MAX.
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind_blob(int index, const std::uint8_t* data, std::size_t size);
  Statement& bind_null(int index);
  /// Binds @p value, or NULL when nullopt.
  Statement& bind(int index, const std::optional<std::uint64_t>& value);

  /// Executes one step. Returns true if a row is available, false when done.
  bool step();
  /// Steps to completion, expecting no rows.
  void run();

  bool is_null(int column) const;
  std::int64_t int64(int column) const;
  /// The column as an unsigned value; throws Error(invalid_format) if negative.
  std::uint64_t uint64(int column) const;
  std::string text(int column) const;
  /// The column as a blob of exactly @p size bytes copied to @p out; throws
  /// Error(invalid_format) if it is another size.
  void blob(int column, std::uint8_t* out, std::size_t size) const;

 private:
  Database& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// True if @p db holds no schema object yet (a file just created, e.g. by create_private_file()).
bool is_empty(Database& db);

/// True if @p db has a table named @p name.
bool has_table(Database& db, const char* name);

/// Creates or checks a file's schema, safely against other processes opening the same new
/// file at once (the devnet file and the payout ledger both work this way): a file that is not
/// empty is checked with @p check BEFORE anything changes (someone else's database is refused
/// untouched); the file is switched to WAL; then, holding the write lock, @p create runs and is
/// committed if the file is still empty, else @p check runs (another process created it in the
/// meantime). @p check throws to refuse the file.
void create_or_check_schema(Database& db, const std::function<void(Database&)>& check,
                            const std::function<void(Database&)>& create);

/// A write transaction begun with BEGIN IMMEDIATE (taking the file's write lock at once, or
/// throwing Error(io) after the busy timeout). Rolled back on destruction unless committed.
class ImmediateTransaction {
 public:
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

}  // namespace petalsln::lightning::devnet
