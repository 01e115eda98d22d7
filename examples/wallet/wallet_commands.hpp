#pragma once
// petalsln-wallet's wallet commands: create-account (the devnet faucet), balance, invoice,
// pay, lookup-invoice and lookup-payment. Each prints exactly one JSON object on stdout.

#include <string>
#include <vector>

#include "common/cli.hpp"

namespace petalsln::wallet_cli {

/// The commands run_wallet_command() handles: "create-account", "balance", "invoice", "pay",
/// "lookup-invoice", "lookup-payment".
const std::vector<std::string>& wallet_command_names();

/// Returns true if @p command is one of wallet_command_names().
bool is_wallet_command(const std::string& command);

/// Declares the options @p command takes on @p args: `wallet` for every command, plus
/// `fund-sats` (create-account), `amount-msat`, `any-amount`, `memo`, `description-hash`,
/// `expiry-s` (invoice), `amount-msat` (for amount-less invoices) and `max-fee-msat` (pay),
/// `payment-hash` (lookup-invoice, lookup-payment). Does nothing for other commands.
void declare_wallet_options(const std::string& command, cli::Args& args);

/// The help text for the wallet commands, to append to the program's usage.
const char* wallet_commands_usage();

/// Runs wallet command @p command with the parsed @p args and @p positionals (the operands
/// after the command name, not including it):
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
/// all with `--wallet URI` required. Returns the exit status: 0, or 1 for a failed payment
/// (its reason printed to stderr, nothing to stdout). Throws cli::UsageError for a malformed
/// command line and petalsln::Error for what the wallet refuses.
int run_wallet_command(const std::string& command, const cli::Args& args, const std::vector<std::string>& positionals);

}  // namespace petalsln::wallet_cli
