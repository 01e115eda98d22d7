#include "lightning/wallet/devnet/devnet_wallet_store.hpp"

#include <secp256k1.h>

#include "petalsln/util/error.hpp"
#include "util/random.hpp"
#include "util/secp256k1_context.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln::lightning::devnet {
namespace {

// STRICT tables make SQLite refuse a value of the wrong type instead of converting it. The
// CHECKs and the partial unique index restate, inside the file, the rules the code enforces:
// a balance never goes negative and a payment hash is paid at most once, whoever writes.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE accounts (
  name TEXT PRIMARY KEY,
  node_secret BLOB NOT NULL CHECK (length(node_secret) = 32),
  node_id BLOB NOT NULL UNIQUE CHECK (length(node_id) = 33),
  balance_msat INTEGER NOT NULL CHECK (balance_msat >= 0),
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE invoices (
  payment_hash BLOB PRIMARY KEY CHECK (length(payment_hash) = 32),
  account TEXT NOT NULL REFERENCES accounts(name),
  preimage BLOB NOT NULL CHECK (length(preimage) = 32),
  bolt11 TEXT NOT NULL,
  amount_msat INTEGER CHECK (amount_msat > 0),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open', 'settled')),
  amount_paid_msat INTEGER,
  settled_at INTEGER,
  paid_by TEXT REFERENCES accounts(name)
) STRICT;
CREATE TABLE payments (
  id INTEGER PRIMARY KEY,
  payer TEXT NOT NULL REFERENCES accounts(name),
  payment_hash BLOB NOT NULL CHECK (length(payment_hash) = 32),
  status TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
  amount_msat INTEGER NOT NULL CHECK (amount_msat >= 0),
  fee_msat INTEGER NOT NULL CHECK (fee_msat >= 0),
  preimage BLOB CHECK (preimage IS NULL OR length(preimage) = 32),
  failure_reason TEXT,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX payments_by_payer ON payments(payer, payment_hash);
CREATE UNIQUE INDEX one_success_per_hash ON payments(payment_hash) WHERE status = 'succeeded';
INSERT INTO meta(key, value) VALUES
  ('schema_version', '1'),
  ('kind', 'petalsln devnet: a simulated Lightning network, no real money');
)sql";

void check_version(Database& db) {
  Statement q(db, "SELECT value FROM meta WHERE key = 'schema_version'");
  if (!q.step()) throw Error(ErrorCode::invalid_format, "devnet file " + db.path() + " has no schema version");
  const std::string version = q.text(0);
  if (version != std::to_string(kSchemaVersion)) {
    throw Error(ErrorCode::unsupported, "devnet file " + db.path() + " has schema version " + version +
                                            "; this build reads version " + std::to_string(kSchemaVersion));
  }
}

// The devnet's node keys are stored in the devnet file itself: it is a simulation whose
// "funds" are rows in the same file, so a key there protects nothing a key elsewhere would.
Bolt11SecretKey fresh_node_secret() {
  Bolt11SecretKey key{};
  do {
    util::random_bytes(key.data(), key.size());
  } while (secp256k1_ec_seckey_verify(util::secp256k1_ctx(), key.data()) != 1);
  return key;
}

Bolt11NodeId node_id_of(const Bolt11SecretKey& secret) {
  secp256k1_pubkey pub;
  if (secp256k1_ec_pubkey_create(util::secp256k1_ctx(), &pub, secret.data()) != 1) {
    throw Error(ErrorCode::internal, "devnet: cannot derive a node id");
  }
  Bolt11NodeId id{};
  std::size_t len = id.size();
  secp256k1_ec_pubkey_serialize(util::secp256k1_ctx(), id.data(), &len, &pub, SECP256K1_EC_COMPRESSED);
  return id;
}

void check_schema(Database& db) {
  if (!util::sqlite::has_table(db, "meta") || !util::sqlite::has_table(db, "accounts")) {
    throw Error(ErrorCode::invalid_format, db.path() + " is an SQLite file but not a devnet wallet file");
  }
  check_version(db);
}

}  // namespace

util::sqlite::OpenOptions file_options(bool create) {
  util::sqlite::OpenOptions options;
  options.label = "devnet file";
  options.create = create;
  return options;
}

void ensure_schema(Database& db) {
  util::sqlite::create_or_check_schema(db, check_schema, [](Database& d) { d.exec(kSchemaSql); });
}

void open_schema(Database& db) {
  if (util::sqlite::is_empty(db)) throw Error(ErrorCode::not_found, "devnet file " + db.path() + " has no accounts yet");
  check_schema(db);
  db.enable_wal();
}

DevnetAccount insert_account(Database& db, const std::string& name, std::uint64_t fund_msat, std::uint64_t now) {
  if (find_account_node_id(db, name)) {
    throw Error(ErrorCode::invalid_argument, "devnet account '" + name + "' already exists in " + db.path());
  }
  Bolt11SecretKey secret = fresh_node_secret();
  DevnetAccount account{name, node_id_of(secret), fund_msat};
  Statement ins(db,
                "INSERT INTO accounts(name, node_secret, node_id, balance_msat, created_at) "
                "VALUES (?1, ?2, ?3, ?4, ?5)");
  ins.bind(1, name).bind_blob(2, secret.data(), secret.size()).bind_blob(3, account.node_id.data(), account.node_id.size());
  util::secure_wipe(secret.data(), secret.size());
  ins.bind(4, fund_msat).bind(5, now).run();
  return account;
}

std::optional<Bolt11NodeId> find_account_node_id(Database& db, const std::string& name) {
  Statement q(db, "SELECT node_id FROM accounts WHERE name = ?1");
  q.bind(1, name);
  if (!q.step()) return std::nullopt;
  Bolt11NodeId id{};
  q.blob(0, id.data(), id.size());
  return id;
}

Bolt11SecretKey load_node_secret(Database& db, const std::string& name) {
  Statement q(db, "SELECT node_secret FROM accounts WHERE name = ?1");
  q.bind(1, name);
  if (!q.step()) throw Error(ErrorCode::not_found, "devnet account '" + name + "' not found in " + db.path());
  Bolt11SecretKey key{};
  q.blob(0, key.data(), key.size());
  return key;
}

std::uint64_t load_balance(Database& db, const std::string& name) {
  Statement q(db, "SELECT balance_msat FROM accounts WHERE name = ?1");
  q.bind(1, name);
  if (!q.step()) throw Error(ErrorCode::not_found, "devnet account '" + name + "' not found in " + db.path());
  return q.uint64(0);
}

}  // namespace petalsln::lightning::devnet
