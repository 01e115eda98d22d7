#pragma once
/// @file server_tokens.hpp
/// The L402 tokens a client holds, one per server, shared by several remote sequences so that
/// credit one of them bought serves the others (a gateway's pipelines, a chat's sessions).

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "petalsln/swarm/node_identity.hpp"

namespace petalsln {

/// The `Authorization` value (L402 token) to present to each server. In memory only.
/// Thread-safe.
class ServerTokens {
 public:
  /// Returns the token held for @p peer, if any.
  std::optional<std::string> get(const PeerId& peer) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = tokens_.find(peer);
    if (it == tokens_.end()) return std::nullopt;
    return it->second;
  }

  /// Holds @p authorization for @p peer from now on (replacing a spent token).
  void put(const PeerId& peer, std::string authorization) {
    std::lock_guard<std::mutex> lock(mutex_);
    tokens_[peer] = std::move(authorization);
  }

 private:
  mutable std::mutex mutex_;
  std::map<PeerId, std::string> tokens_;
};

}  // namespace petalsln
