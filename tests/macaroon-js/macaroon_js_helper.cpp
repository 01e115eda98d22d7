// Command-line access to petalsln's macaroons for the cross-check against the npm `macaroon`
// package (macaroon_crosscheck.js drives it). Every command prints one JSON object.
//
//   mint ROOT_KEY_HEX IDENTIFIER_HEX LOCATION [CAVEAT...]
//       -> {"base64", "base64_url", "binary_hex", "signature"}
//   verify ROOT_KEY_HEX BASE64 [ALLOWED_CAVEAT...]
//       -> {"parsed", "error"?, "location", "identifier_hex", "caveats", "signature", "valid", "reason"}
//       (each caveat must be one of the ALLOWED_CAVEATs)
//   verify-l402 ROOT_KEY_HEX BASE64 MODEL PEER BLOCK_BEGIN BLOCK_END NOW
//       -> {"valid", "reason", "credit", "block_begin", "block_end", "expires"}
// Exit status 0 when the command ran (whatever the verdict), 2 for a usage error.

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/macaroon.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

namespace {

using petalsln::Macaroon;
using petalsln::Verdict;
using nlohmann::json;

std::string sig_hex(const Macaroon& m) { return petalsln::util::to_hex(m.signature().data(), m.signature().size()); }

json mint(const std::vector<std::string>& args) {
  Macaroon m = Macaroon::mint(petalsln::util::from_hex(args.at(0), "root key"),
                              petalsln::util::from_hex(args.at(1), "identifier"), args.at(2));
  for (std::size_t i = 3; i < args.size(); ++i) m.add_first_party_caveat(args[i]);
  return {{"base64", m.to_base64()},
          {"base64_url", m.to_base64(petalsln::MacaroonBase64::url_safe_unpadded)},
          {"binary_hex", petalsln::util::to_hex(m.serialize())},
          {"signature", sig_hex(m)}};
}

json verify(const std::vector<std::string>& args) {
  const std::string key = petalsln::util::from_hex(args.at(0), "root key");
  json out;
  try {
    const Macaroon m = Macaroon::from_base64(args.at(1));
    const std::vector<std::string> allowed(args.begin() + 2, args.end());
    const Verdict v = m.verify(key, [&](std::string_view p) {
      for (const auto& a : allowed) {
        if (a == p) return Verdict::pass();
      }
      return Verdict::fail("caveat not allowed: " + std::string(p));
    });
    out = {{"parsed", true},       {"location", m.location()}, {"identifier_hex", petalsln::util::to_hex(m.identifier())},
           {"caveats", m.caveats()}, {"signature", sig_hex(m)}, {"valid", v.ok},
           {"reason", v.reason}};
  } catch (const petalsln::Error& e) {
    out = {{"parsed", false}, {"valid", false}, {"error", e.what()}};
  }
  return out;
}

json verify_l402(const std::vector<std::string>& args) {
  petalsln::L402Request r;
  r.model = args.at(2);
  r.peer = args.at(3);
  r.block_begin = static_cast<std::uint32_t>(std::stoul(args.at(4)));
  r.block_end = static_cast<std::uint32_t>(std::stoul(args.at(5)));
  r.now = std::stoll(args.at(6));
  try {
    petalsln::L402Terms granted;
    const Verdict v = petalsln::verify_l402_caveats(Macaroon::from_base64(args.at(1)),
                                                    petalsln::util::from_hex(args.at(0), "root key"), r, &granted);
    json out = {{"valid", v.ok}, {"reason", v.reason}};
    if (v.ok) {
      out.update({{"credit", granted.credit},
                  {"block_begin", granted.block_begin},
                  {"block_end", granted.block_end},
                  {"expires", granted.expires}});
    }
    return out;
  } catch (const petalsln::Error& e) {
    return {{"valid", false}, {"error", e.what()}};
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s mint|verify|verify-l402 ARGS...\n", argv[0]);
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    json out;
    if (command == "mint" && args.size() >= 3) {
      out = mint(args);
    } else if (command == "verify" && args.size() >= 2) {
      out = verify(args);
    } else if (command == "verify-l402" && args.size() == 7) {
      out = verify_l402(args);
    } else {
      std::fprintf(stderr, "bad command or argument count: %s\n", command.c_str());
      return 2;
    }
    std::printf("%s\n", out.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
