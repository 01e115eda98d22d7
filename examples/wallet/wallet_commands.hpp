#pragma once
// petalsln-wallet's wallet commands: create-account (the devnet faucet), balance, invoice,
// pay, lookup-invoice and lookup-payment. Each prints exactly one JSON object on stdout.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/cli.hpp"

namespace petalsln::wallet_cli {

/// petalsln-wallet's command line, as parsed: one field per option (unset optionals were not
/// given) and the operands after the command's name.
struct WalletFlags {
  std::optional<std::string> wallet;
  std::vector<std::string> operands;
  bool allow_bad_signature = false;        // decode
  std::optional<std::int64_t> fund_sats;   // create-account
  std::optional<std::int64_t> amount_msat; // invoice, pay
  bool any_amount = false;                 // invoice
  std::optional<std::string> memo;         // invoice
  std::optional<std::string> description_hash;
  std::optional<std::int64_t> expiry_s;
  std::optional<std::int64_t> max_fee_msat;  // pay
  std::optional<std::string> payment_hash;   // lookup-invoice, lookup-payment
};

/// Declares on @p app (which has declared `--wallet`, bound to @p flags.wallet) the wallet
/// commands, each with its options and operands bound to @p flags and with `--wallet`
/// required; listed in the help under their own heading. Call it after the program's own
/// options and help flag, so each command inherits the help flag and takes `--wallet` after its
/// name as well as before it.
void declare_wallet_commands(CLI::App& app, WalletFlags& flags);

/// Runs the wallet command that @p app parsed (one declared by declare_wallet_commands), with
/// @p flags as parsed:
///   create-account [NAME] --fund-sats N   devnet only; NAME defaults to the URI's account
///                                          -> {"account", "balance_msat"}
///   balance                                -> {"balance_msat"}
///   invoice (--amount-msat N | --any-amount) [--memo M | --description-hash HEX] [--expiry-s S]
///                                          -> {"bolt11", "payment_hash"}
///   pay BOLT11 [--amount-msat N] [--max-fee-msat N]  -> {"payment_hash", "preimage", "fee_msat"}
///   lookup-invoice --payment-hash HEX      -> {"payment_hash", "settled", "expired",
///                                              "amount_paid_msat", "settled_at"}
///   lookup-payment --payment-hash HEX      -> {"found": false} or {"found": true, "payment_hash",
///                                              "status", "preimage" (succeeded only),
///                                              "amount_msat", "fee_msat", "failure_reason"}
/// Returns the exit status: 0, or 1 for a failed payment (its reason printed to stderr, nothing
/// to stdout). Throws cli::UsageError for a malformed command line (also when @p app parsed no
/// wallet command) and petalsln::Error for what the wallet refuses.
int run_wallet_command(const CLI::App& app, const WalletFlags& flags);

}  // namespace petalsln::wallet_cli
