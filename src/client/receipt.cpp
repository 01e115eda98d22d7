#include "petalsln/client/receipt.hpp"

#include <limits>
#include <nlohmann/json.hpp>

#include "petalsln/util/hex.hpp"

namespace petalsln {

namespace {

using ojson = nlohmann::ordered_json;

template <typename Bytes>
std::string hex(const Bytes& bytes) {
  return util::to_hex(bytes.data(), bytes.size());
}

ojson route_json(const std::vector<RouteHop>& route) {
  auto out = ojson::array();
  for (const auto& hop : route) {
    out.push_back({{"peer", hex(hop.peer_id)}, {"endpoint", hop.endpoint}, {"blocks", {hop.begin, hop.end}}, {"weights", hop.weights}});
  }
  return out;
}

ojson payments_json(const std::vector<RemotePayment>& payments) {
  auto out = ojson::array();
  for (const auto& p : payments) {
    out.push_back({{"peer", hex(p.peer)},
                   {"amount_msat", p.amount_msat},
                   {"fee_msat", p.fee_msat},
                   {"payment_hash", hex(p.payment_hash)},
                   {"preimage", hex(p.preimage)}});
  }
  return out;
}

ojson work_json(const std::vector<RemoteWork>& work) {
  auto out = ojson::array();
  for (const auto& w : work) {
    out.push_back({{"peer", hex(w.peer)},
                   {"blocks", {w.block_begin, w.block_end}},
                   {"block_tokens", w.block_tokens},
                   {"lightning_address", w.lightning_address.empty() ? ojson(nullptr) : ojson(w.lightning_address)}});
  }
  return out;
}

std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

}  // namespace

std::uint64_t Receipt::spent_msat() const noexcept {
  std::uint64_t total = 0;
  for (const auto& p : payments) total = add_saturating(total, add_saturating(p.amount_msat, p.fee_msat));
  return total;
}

std::string Receipt::to_json() const {
  const ojson out{{"route", route_json(route)}, {"payments", payments_json(payments)}, {"work", work_json(work)}};
  // Endpoints and addresses come from servers' records: never let dump() throw on bad UTF-8.
  return out.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

}  // namespace petalsln
