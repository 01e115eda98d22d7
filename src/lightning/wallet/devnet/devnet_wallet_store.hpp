#pragma once
// The devnet file's schema and its account rows, shared by the wallet's operations.

#include <cstdint>
#include <optional>
#include <string>

#include "petalsln/lightning/bolt11.hpp"
#include "util/sqlite_database.hpp"
#include "lightning/wallet/devnet/devnet_wallet.hpp"

namespace petalsln {

namespace lightning::devnet {

// The devnet file is an SQLite database opened through util's wrapper.
using util::sqlite::Database;
using util::sqlite::ImmediateTransaction;
using util::sqlite::Statement;

/// How the devnet file is opened: named "devnet file" in messages, and created empty with
/// mode 0600 first when @p create is true.
util::sqlite::OpenOptions file_options(bool create);

}  // namespace lightning::devnet

// The wallet's connection; defined here so that every devnet source file can reach it.
struct DevnetWallet::Db {
  explicit Db(const std::string& path) : database(path, lightning::devnet::file_options(false)) {}
  lightning::devnet::Database database;
};

}  // namespace petalsln

namespace petalsln::lightning::devnet {

/// The schema version this build reads and writes (the `meta` table's schema_version).
inline constexpr int kSchemaVersion = 1;

/// Creates the schema in @p db if the file is empty; checks it otherwise. Either way the
/// file ends in WAL mode. Throws Error(invalid_format) for a database that is not a devnet
/// file (left untouched), Error(unsupported) for another schema version.
void ensure_schema(Database& db);

/// Checks that @p db holds a devnet schema this build knows, then makes sure the file is in
/// WAL mode. Throws as ensure_schema() does, and Error(not_found) for an empty file (one
/// whose first account is still being created).
void open_schema(Database& db);

/// Inserts account @p name with @p fund_msat and a fresh node key. Must run inside an
/// ImmediateTransaction. Throws Error(invalid_argument) if the name is taken.
DevnetAccount insert_account(Database& db, const std::string& name, std::uint64_t fund_msat, std::uint64_t now);

/// Returns the node id of account @p name, or nullopt if there is no such account.
std::optional<Bolt11NodeId> find_account_node_id(Database& db, const std::string& name);

/// Returns the node secret key of account @p name (which must exist). The caller wipes it.
Bolt11SecretKey load_node_secret(Database& db, const std::string& name);

/// Returns the balance of account @p name (which must exist).
std::uint64_t load_balance(Database& db, const std::string& name);

}  // namespace petalsln::lightning::devnet
