#pragma once
/// @file devnet.hpp
/// The devnet, petalsln's embedded simulated Lightning network (one SQLite file; no real
/// money), as far as a user needs it beyond the Wallet interface: its URIs and its faucet.
/// Open a devnet wallet with open_wallet("devnet:PATH?account=NAME").

#include <cstdint>
#include <string>

#include "petalsln/lightning/bolt11.hpp"

namespace petalsln {

/// The parts of a devnet wallet URI, `devnet:PATH?account=NAME`.
struct DevnetUri {
  std::string path;     ///< The devnet file, absolute or relative to the working directory.
  std::string account;  ///< The account name, [a-z0-9_-]{1,64}.

  /// Parses @p uri. PATH is taken as written (no percent-decoding, though every '%' must
  /// begin a valid %-escape) and must not be empty, contain '?', '#' or a control character,
  /// or start with "//"; `account` must be the only parameter, written without escapes. With
  /// @p require_account false, a bare `devnet:PATH` is accepted too (account left empty), for
  /// tools that name the account separately. Throws Error(invalid_argument) naming what is wrong.
  static DevnetUri parse(const std::string& uri, bool require_account = true);

  /// Returns "devnet:PATH?account=NAME" ("devnet:PATH" when the account is empty).
  std::string to_string() const;
};

/// Returns true if @p name is a valid devnet account name: 1 to 64 of [a-z0-9_-].
bool is_valid_devnet_account_name(const std::string& name) noexcept;

/// One account of a devnet file, as the devnet faucet created it.
struct DevnetAccount {
  std::string name;            ///< The account name.
  Bolt11NodeId node_id{};      ///< Its node's public key: the payee of the invoices it issues.
  std::uint64_t balance_msat = 0;  ///< Its balance at creation.
};

/// The devnet faucet: creates account @p name holding @p fund_msat made from nothing (only a
/// simulation can do that), with a fresh random node key, in the devnet file at @p path,
/// creating the file (mode 0600) and its schema if absent. Returns the new account.
/// Throws Error(invalid_argument) for a bad name, a duplicate name or more than 21 million
/// bitcoin; Error(invalid_format) if the file is not a devnet file, Error(unsupported) for a
/// newer schema, Error(io) if SQLite cannot open it.
DevnetAccount create_devnet_account(const std::string& path, const std::string& name, std::uint64_t fund_msat);

}  // namespace petalsln
