#include "petalsln/client/server_tokens.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include "petalsln/lightning/l402.hpp"
#include "petalsln/util/error.hpp"
#include "util/clock.hpp"
#include "util/sqlite_database.hpp"

namespace petalsln {

namespace {

using util::sqlite::Database;
using util::sqlite::Statement;

constexpr const char* kKind = "petalsln server tokens";
constexpr int kSchemaVersion = 1;

// The store's layout. `expires` is the token's earliest `expires=` caveat (unix seconds), or
// NULL when it names none; the primary key keeps one token per model and server.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tokens (
  model TEXT NOT NULL,
  peer BLOB NOT NULL CHECK (length(peer) = 32),
  authorization TEXT NOT NULL,
  expires INTEGER,
  stored_at INTEGER NOT NULL,
  PRIMARY KEY (model, peer));
PRAGMA user_version = 1;
)sql";

std::string meta(Database& db, const char* key) {
  Statement q(db, "SELECT value FROM meta WHERE key = ?1");
  q.bind(1, key);
  return q.step() ? q.text(0) : std::string();
}

// Refuses, untouched, a file that is not a token store or is one of a newer layout.
void check_schema(Database& db) {
  if (!util::sqlite::has_table(db, "meta") || !util::sqlite::has_table(db, "tokens") || meta(db, "kind") != kKind) {
    throw Error(ErrorCode::invalid_format, "token store " + db.path() + " is an SQLite file but not a petalsln token store");
  }
  const int version = db.user_version();
  if (version != kSchemaVersion) {
    throw Error(ErrorCode::unsupported, "token store " + db.path() + " has schema version " + std::to_string(version) +
                                            "; this build reads version " + std::to_string(kSchemaVersion));
  }
}

void create_schema(Database& db) {
  db.exec(kSchemaSql);
  Statement ins(db, "INSERT INTO meta(key, value) VALUES ('kind', ?1)");
  ins.bind(1, kKind).run();
}

// Creates the folders of @p path that do not exist yet, each 0700 (the tokens are secrets;
// folders that already exist keep their modes).
void create_private_parents(const std::string& path) {
  std::vector<std::filesystem::path> missing;
  std::error_code ec;
  for (auto dir = std::filesystem::path(path).parent_path(); !dir.empty() && !std::filesystem::exists(dir, ec);
       dir = dir.parent_path()) {
    missing.push_back(dir);
    if (dir == dir.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      throw Error(ErrorCode::io, "cannot create the token store's folder " + it->string() + ": " + std::strerror(errno));
    }
  }
}

// The earliest `expires=` caveat of @p authorization (unix seconds), or nullopt when it names
// none or is not an L402 token this client can read (it is then kept until replaced).
std::optional<std::int64_t> expiry_of(const std::string& authorization) {
  try {
    std::optional<std::int64_t> earliest;
    const L402Token token = L402Token::parse(authorization);
    for (const auto& c : token.macaroon.caveats()) {
      if (c.rfind("expires=", 0) != 0) continue;
      errno = 0;
      char* end = nullptr;
      const long long v = std::strtoll(c.c_str() + 8, &end, 10);
      if (errno != 0 || end == c.c_str() + 8 || *end != '\0') continue;
      earliest = earliest ? std::min<std::int64_t>(*earliest, v) : v;
    }
    return earliest;
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::int64_t now_seconds() { return static_cast<std::int64_t>(util::unix_seconds()); }

}  // namespace

struct ServerTokens::Store {
  std::unique_ptr<Database> db;
  std::string path;
  std::string model;
};

ServerTokens::ServerTokens() = default;

ServerTokens::ServerTokens(const std::string& path, const std::string& model) : store_(std::make_unique<Store>()) {
  if (path.empty()) throw Error(ErrorCode::invalid_argument, "the token store needs a path");
  if (model.empty()) throw Error(ErrorCode::invalid_argument, "the token store needs a model name");
  create_private_parents(path);
  util::sqlite::OpenOptions open;
  open.label = "token store";
  open.create = true;      // 0600 before SQLite sees it; -wal and -shm get the same mode
  open.serialized = true;  // guarded by mutex_ too, but a connection must never race itself
  store_->db = std::make_unique<Database>(path, open);
  util::sqlite::create_or_check_schema(*store_->db, check_schema, create_schema);
  store_->path = path;
  store_->model = model;
}

ServerTokens::~ServerTokens() = default;

std::optional<std::string> ServerTokens::get(const PeerId& peer) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!store_) {
    const auto it = tokens_.find(peer);
    if (it == tokens_.end()) return std::nullopt;
    return it->second;
  }
  Statement q(*store_->db,
              "SELECT authorization FROM tokens WHERE model = ?1 AND peer = ?2 AND (expires IS NULL OR expires > ?3)");
  q.bind(1, std::string_view(store_->model)).bind_blob(2, peer.data(), peer.size()).bind(3, now_seconds());
  if (!q.step()) return std::nullopt;
  return q.text(0);
}

void ServerTokens::put(const PeerId& peer, std::string authorization) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!store_) {
    tokens_[peer] = std::move(authorization);
    return;
  }
  const auto expires = expiry_of(authorization);
  const auto now = now_seconds();
  Database& db = *store_->db;
  util::sqlite::ImmediateTransaction tx(db);
  Statement del(db, "DELETE FROM tokens WHERE expires IS NOT NULL AND expires <= ?1");
  del.bind(1, now).run();
  Statement ins(db, "INSERT OR REPLACE INTO tokens (model, peer, authorization, expires, stored_at) VALUES (?1, ?2, ?3, ?4, ?5)");
  ins.bind(1, std::string_view(store_->model)).bind_blob(2, peer.data(), peer.size()).bind(3, std::string_view(authorization));
  if (expires) {
    ins.bind(4, *expires);
  } else {
    ins.bind_null(4);
  }
  ins.bind(5, now).run();
  tx.commit();
}

const std::string& ServerTokens::path() const noexcept {
  static const std::string kInMemory;
  return store_ ? store_->path : kInMemory;
}

}  // namespace petalsln
