#pragma once
/// @file server_tokens.hpp
/// The L402 tokens a client holds, one per server, shared by several remote sequences so that
/// credit one of them bought serves the others (a gateway's pipelines, a chat's sessions) —
/// and, when kept in a file, later runs of the same program: credit bought and not used
/// survives a restart and is spent before anything new is bought.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "petalsln/swarm/node_identity.hpp"

namespace petalsln {

/// The `Authorization` value (L402 token) to present to each server, in memory or in a
/// private SQLite file. Thread-safe; several processes may share one file (each read sees
/// the latest token any of them stored, and writers wait for each other's lock).
///
/// A token is a bearer secret: the file is created 0600 (its folder 0700 when this creates
/// it), and no message or log names a token.
class ServerTokens {
 public:
  /// Tokens held in memory only, for this process's life.
  ServerTokens();

  /// Tokens kept in the SQLite file at @p path, for the model announced as @p model: a token
  /// bought for another model is never presented (nor one whose `expires=` caveat has passed).
  /// Creates the file (mode 0600) and any missing parent folders (mode 0700) if needed.
  /// Throws Error(invalid_argument) for an empty path or model; Error(invalid_format) for a
  /// file that is not a petalsln token store (another program's SQLite file, or not SQLite);
  /// Error(unsupported) for a store written by a newer petalsln; Error(io) when the file or
  /// its folders cannot be created or opened.
  ServerTokens(const std::string& path, const std::string& model);

  ~ServerTokens();
  ServerTokens(const ServerTokens&) = delete;             ///< Owns a database connection.
  ServerTokens& operator=(const ServerTokens&) = delete;  ///< Owns a database connection.

  /// Returns the token held for @p peer, if any (an expired one is not returned). Throws
  /// Error(io) if the file cannot be read (another process holding its lock past the busy
  /// timeout included).
  std::optional<std::string> get(const PeerId& peer) const;

  /// Holds @p authorization for @p peer from now on, replacing a spent or refused token, and
  /// drops tokens that have expired. Throws Error(io) if the file cannot be written.
  void put(const PeerId& peer, std::string authorization);

  /// The file the tokens live in ("" when held in memory).
  const std::string& path() const noexcept;

 private:
  struct Store;
  mutable std::mutex mutex_;
  std::map<PeerId, std::string> tokens_;  // in memory (when store_ is null)
  std::unique_ptr<Store> store_;
};

}  // namespace petalsln
