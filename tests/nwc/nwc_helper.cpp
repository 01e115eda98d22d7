// Test helper for the Nostr Wallet Connect tests (tests/nwc/test_nwc.py): runs petalsln's
// WebSocket client, Nostr event signing and NwcWallet from the command line, printing one JSON
// object per line; failures print {"error": CODE, "message": ...} and exit 1.
//
//   nwc_helper ws URL MAX_BYTES WAIT_MS [--ca=PEM] [--ping] [MESSAGE...]
//       connect (trusting only the CAs in PEM for wss:// if given, the system store
//       otherwise), send each MESSAGE, then print every message received until WAIT_MS
//       passes with nothing ({"text"|"binary": ...}, then {"timeout": true}) or the
//       connection ends
//   nwc_helper sign SECRET_HEX CONTENT        print a signed kind-1 event
//   nwc_helper verify EVENT_JSON              print {"valid": bool}
//   nwc_helper wallet URI TIMEOUT_MS [--ca=PEM] COMMAND [ARGS]
//       (--ca: the CAs trusted for a wss:// relay instead of the system store)
//       COMMAND: info | balance | invoice AMOUNT_MSAT MEMO | pay BOLT11 |
//                lookup-invoice HASH | lookup-payment HASH | describe
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lightning/wallet/nwc/nostr_event.hpp"
#include "net/websocket_client.hpp"
#include "lightning/wallet/nwc/nwc_wallet.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"

using namespace petalsln;
using nlohmann::json;

namespace {

void print(const json& j) {
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

std::string hex32(const std::array<std::uint8_t, 32>& a) { return util::to_hex(a.data(), a.size()); }

int run_ws(const std::vector<std::string>& a) {
  lightning::WebSocketOptions opts;
  opts.max_message_bytes = std::stoul(a.at(1));
  opts.connect_timeout = std::chrono::milliseconds(5000);
  const auto wait = std::chrono::milliseconds(std::stol(a.at(2)));
  std::size_t first = 3;
  if (a.size() > first && a[first].rfind("--ca=", 0) == 0) opts.ca_file = a[first++].substr(5);
  lightning::WebSocketClient ws(a.at(0), opts);
  for (std::size_t i = first; i < a.size(); ++i) {
    if (a[i] == "--ping") {
      ws.send_ping("are you there");
    } else {
      ws.send_text(a[i]);
    }
  }
  for (;;) {
    auto m = ws.receive(wait);
    if (!m) {
      print({{"timeout", true}});
      ws.close();
      return 0;
    }
    print({{m->binary ? "binary" : "text", m->binary ? util::to_hex(m->data) : m->data}});
  }
}

int run_wallet(std::vector<std::string> a) {
  NwcOptions opts;
  if (a.size() > 2 && a[2].rfind("--ca=", 0) == 0) {
    opts.ca_file = a[2].substr(5);
    a.erase(a.begin() + 2);
  }
  opts.request_timeout = std::chrono::milliseconds(std::stol(a.at(1)));
  opts.info_timeout = opts.request_timeout;
  opts.connect_timeout = std::chrono::milliseconds(3000);
  auto w = NwcWallet::open(a.at(0), opts);
  const std::string& cmd = a.at(2);
  if (cmd == "describe") {
    print({{"describe", w->describe()}});
  } else if (cmd == "info") {
    print({{"methods", w->supported_methods()},
           {"encryption", w->encryption() == NwcEncryption::nip44_v2 ? "nip44_v2" : "nip04"}});
  } else if (cmd == "balance") {
    print({{"balance_msat", w->balance_msat()}});
  } else if (cmd == "invoice") {
    InvoiceRequest req;
    req.amount_msat = std::stoull(a.at(3));
    req.memo = a.at(4);
    const auto inv = w->create_invoice(req);
    print({{"bolt11", inv.bolt11}, {"payment_hash", hex32(inv.payment_hash)}});
  } else if (cmd == "pay") {
    PayOptions po;
    po.timeout = opts.request_timeout;
    const auto r = w->pay_invoice(a.at(3), po);
    json out{{"status", to_string(r.status)}, {"payment_hash", hex32(r.payment_hash)}, {"fee_msat", r.fee_msat},
             {"amount_msat", r.amount_msat}, {"failure_reason", r.failure_reason}};
    if (r.preimage) out["preimage"] = hex32(*r.preimage);
    print(out);
  } else if (cmd == "lookup-invoice" || cmd == "lookup-payment") {
    PaymentHash h{};
    util::from_hex_into(a.at(3), h.data(), h.size());
    if (cmd == "lookup-invoice") {
      const auto s = w->lookup_invoice(h);
      print({{"settled", s.settled}, {"expired", s.expired}, {"amount_paid_msat", s.amount_paid_msat}, {"settled_at", s.settled_at}});
    } else {
      const auto r = w->lookup_payment(h);
      if (!r) {
        print({{"found", false}});
      } else {
        json out{{"found", true}, {"status", to_string(r->status)}, {"amount_msat", r->amount_msat}};
        if (r->preimage) out["preimage"] = hex32(*r->preimage);
        print(out);
      }
    }
  } else {
    throw Error(ErrorCode::invalid_argument, "unknown wallet command " + cmd);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nwc_helper ws|sign|verify|wallet ...\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::vector<std::string> a(argv + 2, argv + argc);
  try {
    if (mode == "ws") return run_ws(a);
    if (mode == "wallet") return run_wallet(a);
    if (mode == "sign") {
      lightning::NostrSecretKey sk{};
      util::from_hex_into(a.at(0), sk.data(), sk.size());
      lightning::NostrEvent e;
      e.kind = 1;
      e.created_at = 1700000000;
      e.tags = {{"t", "petalsln"}, {"x", "tag with \"quotes\" and \\ and\nnewline"}};
      e.content = a.at(1);
      lightning::sign_event(e, sk);
      print(e.to_json());
      return 0;
    }
    if (mode == "verify") {
      const auto e = lightning::parse_event(json::parse(a.at(0)));
      print({{"valid", lightning::verify_event(e)}});
      return 0;
    }
  } catch (const Error& e) {
    print({{"error", to_string(e.code())}, {"message", e.what()}});
    return 1;
  } catch (const std::exception& e) {
    print({{"error", "exception"}, {"message", e.what()}});
    return 1;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
