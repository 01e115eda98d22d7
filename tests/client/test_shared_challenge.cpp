// Several sessions of one client opening at once on one priced server (and closing them). The server hands one
// requester the same unpaid challenge while it is open (so that a stranger cannot make it mint
// invoices without end), so the sessions race to pay one invoice: one pays, and the others
// must use its proof of payment rather than fail "invoice already paid" — and nothing is paid
// twice. Real gRPC on loopback, a real devnet wallet in a temporary folder.

#include "torch_doctest.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/client/server_tokens.hpp"
#include "petalsln/lightning/devnet.hpp"
#include "petalsln/lightning/paywall.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/server/block_server.hpp"
#include "petalsln/swarm/discovery.hpp"
#include "test_support.hpp"

using namespace petalsln;

namespace {

const std::string kModel = test::fixture_dir("tiny-llama3");  // 6 blocks, hidden 64

// A wallet whose payments start late, so that every session holds the challenge before the
// first payment settles it (the race this test is about, made certain).
class SlowPayingWallet final : public Wallet {
 public:
  explicit SlowPayingWallet(std::shared_ptr<Wallet> inner) : inner_(std::move(inner)) {}
  CreatedInvoice create_invoice(const InvoiceRequest& request) override { return inner_->create_invoice(request); }
  PaymentResult pay_invoice(const std::string& bolt11, const PayOptions& options) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    PaymentResult r = inner_->pay_invoice(bolt11, options);
    (r.status == PaymentStatus::succeeded ? succeeded : failed)++;
    return r;
  }
  InvoiceStatus lookup_invoice(const PaymentHash& hash) override { return inner_->lookup_invoice(hash); }
  std::optional<PaymentResult> lookup_payment(const PaymentHash& hash) override { return inner_->lookup_payment(hash); }
  std::uint64_t balance_msat() override { return inner_->balance_msat(); }
  std::string describe() const override { return inner_->describe(); }
  std::atomic<int> succeeded{0};  ///< Payments that went through.
  std::atomic<int> failed{0};     ///< Payments refused (e.g. already paid).

 private:
  std::shared_ptr<Wallet> inner_;
};

}  // namespace

TEST_CASE("remote sequences sharing a wallet pay one shared challenge once, and all open") {
  test::TempDir dir;
  const std::string db = dir.file("devnet.db");
  create_devnet_account(db, "server", 0);
  create_devnet_account(db, "client", 1'000'000);
  auto identity = NodeIdentity::generate();
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 6000;  // enough for every session below on one token
  po.model = "tiny-llama3";
  po.peer_hex = identity.peer_id_hex();
  po.block_begin = 0;
  po.block_end = 6;
  po.store_path = dir.file("paywall.db");
  auto server_wallet = std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=server"));
  BlockServerOptions o;
  o.model_dir = kModel;
  o.model_name = "tiny-llama3";
  o.block_begin = 0;
  o.block_end = 6;
  o.throughput = 1000;
  o.cache_mb = 256;
  o.paywall = std::make_shared<Paywall>(po, server_wallet);
  o.price_msat = 1000;
  BlockServer server(o, std::move(identity));

  auto wallet = std::make_shared<SlowPayingWallet>(std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=client")));
  StaticDiscovery discovery({server.endpoint()}, std::chrono::milliseconds(10000));
  const auto fingerprint = compute_model_fingerprint(kModel);
  std::mutex lookup_mutex;
  RemoteSequenceOptions ro;
  ro.model_name = "tiny-llama3";
  ro.wallet = wallet;
  ro.budget_msat = 100'000;
  constexpr int kSessions = 4;
  std::vector<std::unique_ptr<RemoteSequence>> sequences;
  for (int i = 0; i < kSessions; ++i) {
    sequences.push_back(std::make_unique<RemoteSequence>(CandidateLookup([&] {
                                                           std::lock_guard<std::mutex> lock(lookup_mutex);
                                                           return discovery.lookup("tiny-llama3", fingerprint);
                                                         }),
                                                         6, 64, ro));
  }
  std::vector<std::future<std::int64_t>> runs;
  for (auto& s : sequences) {
    runs.push_back(std::async(std::launch::async, [&s] {
      s->begin_sequence(16);
      return s->step(torch::randn({1, 4, 64})).size(1);
    }));
  }
  for (auto& r : runs) CHECK(r.get() == 4);
  // One invoice, paid once: the others were refused "already paid" and used its proof.
  CHECK(wallet->succeeded.load() == 1);
  std::uint64_t spent = 0;
  for (auto& s : sequences) spent += s->spent_msat();
  CHECK(spent == 6000);
  CHECK(server_wallet->balance_msat() == 6000);
  CHECK(wallet->balance_msat() == 1'000'000 - 6000);
  // end_sequence() frees the sessions on the server at once; the credit stays for the next.
  CHECK(server.active_sessions() == kSessions);
  for (auto& s : sequences) s->end_sequence();
  for (int i = 0; i < 100 && server.active_sessions() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(server.active_sessions() == 0);
  sequences[0]->begin_sequence(8);
  CHECK(sequences[0]->step(torch::randn({1, 2, 64})).size(1) == 2);
  CHECK(wallet->succeeded.load() == 1);  // no new payment
}

TEST_CASE("remote sequences sharing their tokens spend credit one of them bought") {
  test::TempDir dir;
  const std::string db = dir.file("devnet.db");
  create_devnet_account(db, "server", 0);
  create_devnet_account(db, "client", 1'000'000);
  auto identity = NodeIdentity::generate();
  PaywallOptions po;
  po.price_msat = 1000;
  po.credit_block_tokens = 6000;
  po.model = "tiny-llama3";
  po.peer_hex = identity.peer_id_hex();
  po.block_begin = 0;
  po.block_end = 6;
  po.store_path = dir.file("paywall.db");
  BlockServerOptions o;
  o.model_dir = kModel;
  o.model_name = "tiny-llama3";
  o.block_begin = 0;
  o.block_end = 6;
  o.throughput = 1000;
  o.cache_mb = 256;
  o.paywall = std::make_shared<Paywall>(po, std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=server")));
  o.price_msat = 1000;
  BlockServer server(o, std::move(identity));
  auto wallet = std::make_shared<SlowPayingWallet>(std::shared_ptr<Wallet>(open_wallet("devnet:" + db + "?account=client")));
  StaticDiscovery discovery({server.endpoint()}, std::chrono::milliseconds(10000));
  const auto fingerprint = compute_model_fingerprint(kModel);
  RemoteSequenceOptions ro;
  ro.model_name = "tiny-llama3";
  ro.wallet = wallet;
  ro.budget_msat = 100'000;
  ro.tokens = std::make_shared<ServerTokens>();
  auto run = [&] {
    RemoteSequence s(CandidateLookup([&] { return discovery.lookup("tiny-llama3", fingerprint); }), 6, 64, ro);
    s.begin_sequence(16);
    CHECK(s.step(torch::randn({1, 4, 64})).size(1) == 4);
    return s.spent_msat();
  };
  CHECK(run() == 6000);
  CHECK(run() == 0);  // a new sequence, the same tokens: nothing bought
  CHECK(run() == 0);
  CHECK(wallet->succeeded.load() == 1);
  ro.tokens.reset();  // its own tokens: it buys
  CHECK(run() == 6000);
}
