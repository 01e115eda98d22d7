// petalsln-wallet: a small Lightning wallet tool. Every command prints one JSON object.
//
//   petalsln-wallet decode BOLT11
//
// Commands live in the table kCommands below: each names its options and its run function,
// so adding one (balance, invoice, pay, ...) is one function and one table entry.

#include <strings.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/cli.hpp"
#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "wallet/wallet_commands.hpp"

using namespace petalsln;
using nlohmann::ordered_json;

namespace {

const char* kUsage = R"(usage: petalsln-wallet COMMAND [options] [arguments]

A small Lightning wallet tool. Every command prints one JSON object on stdout; errors go to
stderr as "petalsln-wallet: error: REASON" (exit status 1; 2 for a malformed command line).

Commands:
  decode BOLT11            decode and check a BOLT11 invoice of any network (no wallet
                           needed). A "lightning:" prefix is accepted. Prints:
                             network                mainnet, testnet, signet, regtest or simnet
                             amount_msat            the amount, or null for "any amount"
                             timestamp              creation time, Unix seconds
                             payment_hash           hex
                             payment_secret         hex
                             description            text (or description_hash: hex)
                             expiry                 seconds (3600 when the invoice has none)
                             min_final_cltv_expiry  blocks (18 when the invoice has none)
                             payee                  the payee's node id, 33-byte hex: the 'n'
                                                    field, else recovered from the signature
                             features               the set feature bits, ascending
                             route_hints            [[{pubkey, short_channel_id
                                                    ("BLOCKxTXxOUTPUT"), fee_base_msat,
                                                    fee_proportional_millionths,
                                                    cltv_expiry_delta}, ...], ...]
                             fallback_addresses     [{version, program (hex)}], when present
                             metadata               hex, when present
                             expires_at             timestamp + expiry
                             signature_valid        true (a bad signature is an error unless
                                                    --allow-bad-signature)
    --allow-bad-signature  print an invoice whose signature does not check out, with
                           "signature_valid": false, instead of failing

Options:
  -h, --help               show this help (also: petalsln-wallet COMMAND --help)
)";

/// One command: its name, its options, and what it does with the parsed command line.
struct Command {
  const char* name;
  void (*declare)(cli::Args& args);
  int (*run)(const cli::Args& args, const std::vector<std::string>& operands);
};

std::string hex(const std::uint8_t* data, std::size_t size) { return util::to_hex(data, size); }

template <typename Bytes>
std::string hex(const Bytes& b) {
  return hex(b.data(), b.size());
}

ordered_json route_hints_json(const Bolt11Invoice& inv) {
  ordered_json hints = ordered_json::array();
  for (const auto& hint : inv.route_hints) {
    ordered_json hops = ordered_json::array();
    for (const auto& hop : hint) {
      hops.push_back({{"pubkey", hex(hop.pubkey)},
                      {"short_channel_id", format_short_channel_id(hop.short_channel_id)},
                      {"fee_base_msat", hop.fee_base_msat},
                      {"fee_proportional_millionths", hop.fee_proportional_millionths},
                      {"cltv_expiry_delta", hop.cltv_expiry_delta}});
    }
    hints.push_back(hops);
  }
  return hints;
}

void add_optional_fields(const Bolt11Invoice& inv, ordered_json& out) {
  if (!inv.fallback_addresses.empty()) {
    ordered_json list = ordered_json::array();
    for (const auto& a : inv.fallback_addresses) list.push_back({{"version", a.version}, {"program", hex(a.program)}});
    out["fallback_addresses"] = list;
  }
  if (inv.metadata) out["metadata"] = hex(*inv.metadata);
}

ordered_json invoice_json(const Bolt11Invoice& inv) {
  ordered_json out;
  out["network"] = to_string(inv.network);
  out["amount_msat"] = inv.amount_msat ? ordered_json(*inv.amount_msat) : ordered_json(nullptr);
  out["timestamp"] = inv.timestamp;
  out["payment_hash"] = hex(inv.payment_hash);
  out["payment_secret"] = hex(inv.payment_secret);
  if (inv.description) out["description"] = *inv.description;
  if (inv.description_hash) out["description_hash"] = hex(*inv.description_hash);
  out["expiry"] = inv.expiry_seconds();
  out["min_final_cltv_expiry"] = inv.min_final_cltv_expiry_delta();
  out["payee"] = inv.payee ? ordered_json(hex(*inv.payee)) : ordered_json(nullptr);
  out["features"] = inv.features;
  out["route_hints"] = route_hints_json(inv);
  add_optional_fields(inv, out);
  out["expires_at"] = inv.expires_at();
  out["signature_valid"] = inv.signature_valid;
  return out;
}

// Wallets and QR codes often hand out "lightning:<invoice>" (BOLT #11's URI scheme).
std::string strip_uri_scheme(const std::string& text) {
  const std::string scheme = "lightning:";
  if (text.size() > scheme.size() && strncasecmp(text.c_str(), scheme.c_str(), scheme.size()) == 0) {
    return text.substr(scheme.size());
  }
  return text;
}

void declare_decode(cli::Args& args) { args.flag("allow-bad-signature"); }

int run_decode(const cli::Args& args, const std::vector<std::string>& operands) {
  if (operands.size() != 1) throw cli::UsageError("decode takes exactly one argument: the BOLT11 invoice");
  const auto check = args.has("allow-bad-signature") ? Bolt11SignatureCheck::report : Bolt11SignatureCheck::require;
  const auto invoice = Bolt11Invoice::decode(strip_uri_scheme(operands[0]), check);
  std::printf("%s\n", invoice_json(invoice).dump().c_str());
  return 0;
}

const Command kCommands[] = {
    {"decode", declare_decode, run_decode},
};

const Command* find_command(const std::string& name) {
  for (const auto& c : kCommands) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

// The command is the first argument that is not an option or an option's value. Options
// that take a value are known by name here because the parser is built per command.
std::string command_name(int argc, char** argv) {
  static const char* const kValued[] = {"--wallet",           "--fund-sats", "--amount-msat",  "--memo",
                                       "--description-hash", "--expiry-s",  "--max-fee-msat", "--payment-hash"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] != '-') return a;
    for (const char* v : kValued) {
      if (a == v) ++i;  // skip its value ("--name=value" needs no skipping)
    }
  }
  return "";
}

int dispatch(int argc, char** argv) {
  cli::Args args;
  args.flag("help");
  const std::string name = command_name(argc, argv);
  const Command* command = name.empty() ? nullptr : find_command(name);
  const bool wallet_command = wallet_cli::is_wallet_command(name);
  if (command != nullptr) command->declare(args);
  if (wallet_command) wallet_cli::declare_wallet_options(name, args);
  args.parse(argc, argv);
  if (args.has("help")) {
    std::fputs(kUsage, stdout);
    std::fputs(wallet_cli::wallet_commands_usage(), stdout);
    return 0;
  }
  if (name.empty()) throw cli::UsageError("no command given");
  const auto& pos = args.positionals();
  const std::vector<std::string> operands(pos.begin() + 1, pos.end());
  if (wallet_command) return wallet_cli::run_wallet_command(name, args, operands);
  if (command == nullptr) throw cli::UsageError("unknown command \"" + name + "\"");
  return command->run(args, operands);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main("petalsln-wallet", [&] {
    return dispatch(argc, argv);
  });
}
