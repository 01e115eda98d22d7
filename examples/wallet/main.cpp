// petalsln-wallet: a small Lightning wallet tool. Every command prints one JSON object.
//
//   petalsln-wallet decode BOLT11
//   petalsln-wallet --wallet URI balance
//
// Each command is a CLI11 subcommand: decode here, the wallet commands in wallet_commands.cpp.

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

int run_decode(const wallet_cli::WalletFlags& f) {
  if (f.wallet) throw cli::UsageError("option --wallet does not apply to decode");
  if (f.operands.size() != 1) throw cli::UsageError("decode takes exactly one argument: the BOLT11 invoice");
  const auto check = f.allow_bad_signature ? Bolt11SignatureCheck::report : Bolt11SignatureCheck::require;
  const auto invoice = Bolt11Invoice::decode(strip_uri_scheme(f.operands[0]), check);
  std::printf("%s\n", invoice_json(invoice).dump().c_str());
  return 0;
}

// decode needs no wallet, so it does not take --wallet after its name (no fallthrough).
void declare_decode(CLI::App& app, wallet_cli::WalletFlags& f) {
  CLI::App* decode = app.add_subcommand("decode",
      "decode and check a BOLT11 invoice of any network (no wallet\n"
      "needed). A \"lightning:\" prefix is accepted. Prints:\n"
      "  network                mainnet, testnet, signet, regtest or simnet\n"
      "  amount_msat            the amount, or null for \"any amount\"\n"
      "  timestamp              creation time, Unix seconds\n"
      "  payment_hash           hex\n"
      "  payment_secret         hex\n"
      "  description            text (or description_hash: hex)\n"
      "  expiry                 seconds (3600 when the invoice has none)\n"
      "  min_final_cltv_expiry  blocks (18 when the invoice has none)\n"
      "  payee                  the payee's node id, 33-byte hex: the 'n'\n"
      "                         field, else recovered from the signature\n"
      "  features               the set feature bits, ascending\n"
      "  route_hints            [[{pubkey, short_channel_id\n"
      "                         (\"BLOCKxTXxOUTPUT\"), fee_base_msat,\n"
      "                         fee_proportional_millionths,\n"
      "                         cltv_expiry_delta}, ...], ...]\n"
      "  fallback_addresses     [{version, program (hex)}], when present\n"
      "  metadata               hex, when present\n"
      "  expires_at             timestamp + expiry\n"
      "  signature_valid        true (a bad signature is an error unless\n"
      "                         --allow-bad-signature)");
  decode->group("Commands");
  decode->add_option("BOLT11", f.operands)->option_text("BOLT11");
  cli::add_flag(*decode, "--allow-bad-signature", f.allow_bad_signature,
                "print an invoice whose signature does not check out, with\n"
                "\"signature_valid\": false, instead of failing");
}

// Declares every option and command of petalsln-wallet on @p app, bound to the fields of @p f.
void declare_flags(CLI::App& app, wallet_cli::WalletFlags& f) {
  cli::configure(app, "petalsln-wallet COMMAND [options] [arguments]");
  app.add_option("--wallet", f.wallet, "the wallet, e.g. devnet:PATH?account=NAME (wallet commands)")
      ->option_text("URI")->group("Options");
  cli::add_help_flag(app, "Options", "show this help (also: petalsln-wallet COMMAND --help)");
  declare_decode(app, f);
  wallet_cli::declare_wallet_commands(app, f);
  // At most one command; none is reported by main() (CLI11 would say "A subcommand is
  // required" even for a misspelt one, where its "not expected: frobnicate" is clearer).
  app.require_subcommand(0, 1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "A small Lightning wallet tool. Every command prints one JSON object on stdout; errors go to\n"
      "stderr as \"petalsln-wallet: error: REASON\" (exit status 1; 2 for a malformed command line).",
      "petalsln-wallet"};
  wallet_cli::WalletFlags flags;
  declare_flags(app, flags);
  return cli::run_main("petalsln-wallet", [&] {
    if (!cli::parse(app, argc, argv)) return 0;
    if (app.get_subcommands().empty()) throw cli::UsageError("no command given");
    if (app.got_subcommand("decode")) return run_decode(flags);
    return wallet_cli::run_wallet_command(app, flags);
  });
}
