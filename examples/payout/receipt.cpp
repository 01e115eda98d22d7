#include "payout/receipt.hpp"

#include <nlohmann/json.hpp>

#include "petalsln/lightning/lightning_address.hpp"
#include "petalsln/util/error.hpp"

namespace petalsln::payout_cli {

namespace {
constexpr std::size_t kMaxWorkEntries = 256;
}

std::vector<WorkEntry> parse_receipt_work(const std::string& text, bool allow_http_loopback) {
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) throw Error(ErrorCode::invalid_format, "the receipt is not a JSON object");
  // contains()/at() rather than find() iterators: GCC's -Wnull-dereference misreads the latter.
  if (!j.contains("work") || !j.at("work").is_array()) {
    throw Error(ErrorCode::invalid_format, "the receipt has no \"work\" array (was it printed by petalsln-chat --json in swarm mode?)");
  }
  const nlohmann::json& work = j.at("work");
  if (work.size() > kMaxWorkEntries) throw Error(ErrorCode::invalid_format, "the receipt's \"work\" has more than 256 entries");
  std::vector<WorkEntry> out;
  std::size_t i = 0;
  for (const auto& w : work) {
    const std::string where = "receipt work[" + std::to_string(i++) + "]";
    if (!w.is_object()) throw Error(ErrorCode::invalid_format, where + " is not an object");
    if (!w.contains("block_tokens") || !w.at("block_tokens").is_number_unsigned()) {
      throw Error(ErrorCode::invalid_format, where + ": \"block_tokens\" must be a non-negative integer");
    }
    if (!w.contains("lightning_address") || !(w.at("lightning_address").is_null() || w.at("lightning_address").is_string())) {
      throw Error(ErrorCode::invalid_format, where + ": \"lightning_address\" must be a string or null");
    }
    const nlohmann::json& address = w.at("lightning_address");
    WorkEntry e;
    e.block_tokens = w.at("block_tokens").get<std::uint64_t>();
    if (address.is_string() && !address.get<std::string>().empty()) {
      try {
        e.lightning_address = LightningAddress::parse(address.get<std::string>(), allow_http_loopback).to_string();
      } catch (const Error& err) {
        throw Error(ErrorCode::invalid_format, where + ": " + err.what());
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace petalsln::payout_cli
