// petalsln-bench-l402: how long a server spends accepting an L402 token: parsing the
// Authorization value, checking the macaroon's HMAC chain and caveats and the preimage
// (the pure verification, target <= 20 us), and the whole Paywall::authorize call including
// its durable credit lookup in SQLite.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_caveats.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "util/sha256.hpp"

using namespace petalsln;
using Clock = std::chrono::steady_clock;

namespace {

template <typename F>
double median_us(int reps, F&& f) {
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main() {
  try {
    const std::string root_key(32, 'k');
    Preimage preimage{};
    preimage.fill(7);
    const auto digest = util::sha256(std::string(preimage.begin(), preimage.end()));
    L402Identifier::Bytes32 hash{};
    std::copy(digest.begin(), digest.end(), hash.begin());
    L402Terms terms;
    terms.model = "SmolLM2-135M";
    terms.peer = std::string(64, 'a');
    terms.block_begin = 0;
    terms.block_end = 10;
    terms.credit = 20000;
    terms.expires = 4102444800;  // 2100-01-01
    const L402Token token{mint_l402_macaroon(root_key, L402Identifier::random_for(hash), terms), preimage};
    const std::string header = token.to_header();
    L402Request request;
    request.model = terms.model;
    request.peer = terms.peer;
    request.block_begin = 0;
    request.block_end = 10;
    request.now = 1800000000;
    int ok = 0;
    const double verify_us = median_us(20000, [&] {
      const auto t = L402Token::parse(header);
      ok += t.verify(root_key, request).ok ? 1 : 0;
    });
    if (ok != 20000) throw std::runtime_error("verification failed during the benchmark");

    // The whole paywall path, on a real devnet wallet and store in a temporary folder.
    char dir[] = "/tmp/petalsln-bench-l402-XXXXXX";
    if (::mkdtemp(dir) == nullptr) throw std::runtime_error("mkdtemp failed");
    const std::string db = std::string(dir) + "/devnet.db";
    create_devnet_account(db, "server", 0);
    create_devnet_account(db, "client", 100000000);
    PaywallOptions po;
    po.price_msat = 1000;
    po.model = terms.model;
    po.peer_hex = terms.peer;
    po.block_begin = 0;
    po.block_end = 10;
    po.store_path = std::string(dir) + "/paywall.db";
    Paywall paywall(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=server")));
    const auto challenge = L402Challenge::parse(paywall.challenge(0, 10));
    auto client = open_wallet("devnet:" + db + "?account=client");
    const auto paid = client->pay_invoice(challenge.invoice, PayOptions{});
    const std::string auth = L402Token{challenge.macaroon, *paid.preimage}.to_header();
    const double authorize_us = median_us(2000, [&] { paywall.authorize(auth, 0, 10); });
    const auto grant = paywall.authorize(auth, 0, 10);
    const double debit_us = median_us(2000, [&] { paywall.debit(grant.token_id, 1); });
    std::printf("| metric | median |\n|---|---|\n");
    std::printf("| token verification: parse + HMAC chain + caveats + preimage | %.1f us (target <= 20 us) |\n", verify_us);
    std::printf("| Paywall::authorize (verification + SQLite credit lookup) | %.1f us |\n", authorize_us);
    std::printf("| Paywall::debit per step (durable SQLite update, WAL, synchronous=FULL) | %.1f us |\n", debit_us);
    std::remove(po.store_path.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "petalsln-bench-l402: error: %s\n", e.what());
    return 1;
  }
}
