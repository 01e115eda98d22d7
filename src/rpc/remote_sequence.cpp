#include "petalsln/remote_sequence.hpp"

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "petalsln/bolt11.hpp"
#include "petalsln/error.hpp"
#include "petalsln/l402.hpp"
#include "petalsln/l402_identifier.hpp"
#include "petalsln/server_info.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/channels.hpp"
#include "rpc/tensor_codec.hpp"
#include "util/clock.hpp"
#include "util/hex.hpp"

namespace petalsln {
namespace {

using Stream = grpc::ClientReaderWriter<v1::InferenceRequest, v1::InferenceResponse>;

// A hop stopped answering correctly; carries the peer so it can be excluded.
struct HopFailure {
  PeerId peer{};
  std::string message;
};

std::string short_peer(const PeerId& p) { return util::to_hex(p.data(), 4) + "…"; }

// Cancels a stream whose step outlives its deadline. One thread serves the whole sequence
// and polls every 20 ms, so arming a step costs an uncontended lock and never a wake-up
// (a notify per step showed up as a context switch in the per-hop latency).
class Watchdog {
 public:
  Watchdog() : thread_([this] { run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void arm(grpc::ClientContext* ctx, double seconds) {
    std::lock_guard<std::mutex> lock(mu_);
    ctx_ = ctx;
    fired_ = false;
    deadline_ = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  }
  // Returns true if the deadline passed and the call was cancelled.
  bool disarm() {
    std::lock_guard<std::mutex> lock(mu_);
    ctx_ = nullptr;
    return fired_;
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(20));
      if (ctx_ != nullptr && std::chrono::steady_clock::now() >= deadline_) {
        ctx_->TryCancel();
        ctx_ = nullptr;
        fired_ = true;
      }
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  grpc::ClientContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point deadline_;
  bool fired_ = false;
  bool stop_ = false;
  std::thread thread_;
};

struct HopSession {
  RouteHop hop;
  std::unique_ptr<v1::Blocks::Stub> stub;
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<Stream> stream;
  std::vector<at::Tensor> history;  // every input sent, for replay on a replacement
  std::int64_t length = 0;

  ~HopSession() {
    if (stream) {
      // Cancelling ends the server's handler at once and frees its cache; a clean
      // WritesDone/Finish would wait for a server that may be gone.
      ctx->TryCancel();
      stream->Finish();
    }
  }
};

}  // namespace

struct RemoteSequence::Impl {
  CandidateSource source;
  std::uint32_t num_blocks;
  std::int64_t hidden_size;
  RemoteSequenceOptions options;
  RouteOptions route_options;  // options.route plus peers excluded during this sequence
  std::vector<std::unique_ptr<HopSession>> hops;
  std::int64_t max_length = 0;
  int failovers = 0;
  Watchdog watchdog;
  std::function<void(const RemoteEvent&)>* on_event = nullptr;
  std::vector<HopTiming> timings;
  static constexpr std::size_t kMaxTimings = 1 << 16;  // a long chat must not grow without bound
  std::map<PeerId, std::string> tokens;          // the L402 Authorization value per server
  std::map<PeerId, ServerRecord> known;          // the latest record per server
  std::vector<RemotePayment> payments;
  std::vector<RemoteWork> work;
  std::uint64_t spent = 0;


  // Checks a challenge against what the server announced and what we are willing to pay,
  // pays it, and returns the resulting Authorization value. Nothing is paid if any check fails.
  std::string pay_challenge(const RouteHop& hop, const std::string& header) {
    const std::string who = "server " + hop.endpoint + " (" + short_peer(hop.peer_id) + ")";
    if (!options.wallet) throw Error(ErrorCode::invalid_argument, who + " asks for payment and this client has no wallet");
    const auto challenge = L402Challenge::parse(header);
    const auto invoice = Bolt11Invoice::decode(challenge.invoice);
    const auto id = L402Identifier::decode(challenge.macaroon.identifier());
    auto refuse = [&](const std::string& why) -> std::string {
      throw Error(ErrorCode::invalid_argument, who + " sent an unacceptable L402 challenge: " + why);
    };
    if (!invoice.amount_msat || *invoice.amount_msat == 0) refuse("its invoice has no amount");
    if (invoice.is_expired(util::unix_seconds())) refuse("its invoice has expired");
    if (invoice.payment_hash != id.payment_hash) refuse("the invoice and the macaroon name different payment hashes");
    // Read the caveats the server bound (they cannot be verified without its root key, but a
    // server that sells something other than what we asked for is not paid).
    std::uint64_t credit = 0;
    for (const auto& c : challenge.macaroon.caveats()) {
      if (c.rfind("peer=", 0) == 0 && c.substr(5) != util::to_hex(hop.peer_id.data(), hop.peer_id.size())) refuse("it is for another peer");
      if (c.rfind("model=", 0) == 0 && !options.model_name.empty() && c.substr(6) != options.model_name) refuse("it is for another model");
      if (c.rfind("credit=", 0) == 0) credit = std::strtoull(c.c_str() + 7, nullptr, 10);
      if (c.rfind("blocks=", 0) == 0) {
        unsigned a = 0, b = 0;
        if (std::sscanf(c.c_str() + 7, "%u-%u", &a, &b) != 2 || a > hop.begin || b < hop.end) refuse("it does not cover blocks " + std::to_string(hop.begin) + "-" + std::to_string(hop.end - 1));
      }
    }
    if (credit == 0) refuse("it grants no credit");
    const std::uint64_t amount = *invoice.amount_msat;
    // Budget first, in a form that cannot overflow whatever amount a hostile invoice names.
    if (amount > options.budget_msat - std::min(spent, options.budget_msat)) {
      throw Error(ErrorCode::out_of_range, "budget exceeded: paying " + who + " " + std::to_string(amount) + " msat would bring spending to " +
                                               std::to_string(spent) + " + " + std::to_string(amount) + " msat, over the budget of " +
                                               std::to_string(options.budget_msat) + " msat; nothing was paid");
    }
    // The price per 1000 block-tokens the invoice implies (amount <= budget keeps this in range).
    const auto implied_price = static_cast<std::uint64_t>(static_cast<unsigned __int128>(amount) * 1000 / credit);
    auto it = known.find(hop.peer_id);
    const std::uint64_t announced = it == known.end() ? 0 : it->second.price_msat;
    if (implied_price > announced) refuse("it charges " + std::to_string(implied_price) + " msat per 1000 block-tokens, more than the announced " + std::to_string(announced));
    if (options.route.max_price_msat && implied_price > *options.route.max_price_msat) refuse("it charges more than the maximum price");
    PayOptions po;
    po.max_fee_msat = options.budget_msat - spent - amount;
    const auto result = options.wallet->pay_invoice(challenge.invoice, po);
    if (result.status != PaymentStatus::succeeded || !result.preimage) {
      throw Error(ErrorCode::io, "paying " + who + " failed: " + result.failure_reason);
    }
    spent += result.amount_msat + result.fee_msat;
    payments.push_back({hop.peer_id, result.amount_msat, result.fee_msat, result.payment_hash, *result.preimage});
    emit("paid " + who + " " + std::to_string(result.amount_msat) + " msat for " + std::to_string(credit) + " block-tokens");
    const L402Token token{challenge.macaroon, *result.preimage};
    return token.to_header();
  }

  void count_work(const RouteHop& hop, std::int64_t tokens_processed) {
    const auto amount = static_cast<std::uint64_t>(hop.end - hop.begin) * static_cast<std::uint64_t>(tokens_processed);
    for (auto& w : work) {
      if (w.peer == hop.peer_id) {
        w.block_tokens += amount;
        w.block_begin = hop.begin;
        w.block_end = hop.end;
        return;
      }
    }
    auto it = known.find(hop.peer_id);
    work.push_back({hop.peer_id, hop.begin, hop.end, amount, it == known.end() ? std::string() : it->second.lightning_address});
  }

  void emit(const std::string& message) {
    if (on_event != nullptr && *on_event) (*on_event)(RemoteEvent{message});
  }

  [[noreturn]] void fail(HopSession& s, const std::string& what) {
    const bool timed_out = watchdog.disarm();
    std::string detail = what;
    if (s.stream) {
      const auto status = s.stream->Finish();
      s.stream.reset();
      detail += timed_out ? ": no answer within " + std::to_string(options.step_timeout_s) + " s"
                          : ": " + std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message();
    }
    throw HopFailure{s.hop.peer_id, "server " + s.hop.endpoint + " (" + short_peer(s.hop.peer_id) + ") " + detail};
  }

  std::unique_ptr<HopSession> open(const RouteHop& hop) {
    // A priced server answers an unpaid open with UNAUTHENTICATED and a challenge; pay it and
    // open again with the token (twice at most: a server that keeps asking is failed over).
    for (int attempt = 0;; ++attempt) {
      auto s = std::make_unique<HopSession>();
      s->hop = hop;
      s->stub = v1::Blocks::NewStub(rpc::channel_for(hop.endpoint));
      s->ctx = std::make_unique<grpc::ClientContext>();
      if (auto t = tokens.find(hop.peer_id); t != tokens.end()) s->ctx->AddMetadata("authorization", t->second);
      watchdog.arm(s->ctx.get(), options.step_timeout_s);
      s->stream = s->stub->Inference(s->ctx.get());
      v1::InferenceRequest req;
      auto* o = req.mutable_open();
      o->set_block_begin(hop.begin);
      o->set_block_end(hop.end);
      o->set_max_length(static_cast<std::uint32_t>(max_length));
      o->set_batch(1);
      v1::InferenceResponse resp;
      if (s->stream->Write(req) && s->stream->Read(&resp)) return finish_open(std::move(s), resp);
      watchdog.disarm();
      const auto status = s->stream->Finish();
      s->stream.reset();
      const auto& trailers = s->ctx->GetServerTrailingMetadata();
      auto challenge = trailers.find("www-authenticate");
      if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED || challenge == trailers.end() || attempt >= 2) {
        throw HopFailure{hop.peer_id, "server " + hop.endpoint + " (" + short_peer(hop.peer_id) + ") refused the session: " +
                                          std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message()};
      }
      tokens[hop.peer_id] = pay_challenge(hop, std::string(challenge->second.data(), challenge->second.size()));
    }
  }

  std::unique_ptr<HopSession> finish_open(std::unique_ptr<HopSession> s, const v1::InferenceResponse& resp) {
    const RouteHop& hop = s->hop;
    watchdog.disarm();
    if (resp.kind_case() != v1::InferenceResponse::kOpened || resp.opened().block_begin() != hop.begin ||
        resp.opened().block_end() != hop.end) {
      fail(*s, "answered the session request with something else");
    }
    return s;
  }

  at::Tensor send(HopSession& s, const at::Tensor& x, std::size_t hop_index = 0) {
    v1::InferenceRequest req;
    auto* st = req.mutable_step();
    rpc::encode_tensor(x, v1::DTYPE_F32, st->mutable_hidden());
    st->set_position(static_cast<std::uint64_t>(s.length));
    v1::InferenceResponse resp;
    auto t0 = std::chrono::steady_clock::now();
    watchdog.arm(s.ctx.get(), options.step_timeout_s);
    if (!s.stream->Write(req) || !s.stream->Read(&resp)) fail(s, "failed a step");
    watchdog.disarm();
    for (int attempt = 0; resp.kind_case() == v1::InferenceResponse::kPaymentRequired; ++attempt) {
      // Credit ran out mid-session: pay in-band, keeping the server's cache, then repeat the step.
      if (attempt >= 2) fail(s, "kept asking for payment");
      tokens[s.hop.peer_id] = pay_challenge(s.hop, resp.payment_required().challenge());
      v1::InferenceRequest auth;
      auth.mutable_authorize()->set_authorization(tokens[s.hop.peer_id]);
      watchdog.arm(s.ctx.get(), options.step_timeout_s);
      if (!s.stream->Write(auth) || !s.stream->Read(&resp)) fail(s, "failed to take a payment");
      watchdog.disarm();
      if (resp.kind_case() == v1::InferenceResponse::kPaymentRequired) continue;
      if (resp.kind_case() != v1::InferenceResponse::kAuthorized) fail(s, "answered a payment with something else");
      t0 = std::chrono::steady_clock::now();
      watchdog.arm(s.ctx.get(), options.step_timeout_s);
      if (!s.stream->Write(req) || !s.stream->Read(&resp)) fail(s, "failed a step");
      watchdog.disarm();
    }
    const double round_trip = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (resp.kind_case() != v1::InferenceResponse::kHidden) fail(s, "sent no hidden states");
    at::Tensor out;
    try {
      out = rpc::decode_tensor(resp.hidden(), {hidden_size, x.size(0), x.size(1)});
    } catch (const Error& e) {
      fail(s, std::string("sent bad hidden states: ") + e.what());
    }
    if (out.sizes() != x.sizes()) fail(s, "sent hidden states of the wrong shape");
    s.history.push_back(x);
    s.length += x.size(1);
    count_work(s.hop, x.size(0) * x.size(1));
    if (timings.size() < kMaxTimings) {
      timings.push_back({hop_index, x.size(1), round_trip, static_cast<double>(resp.compute_micros()) * 1e-6});
    }
    return out;
  }

  // Latency per candidate from an Info ping; unreachable candidates are excluded.
  void measure(const std::vector<ServerRecord>& candidates) {
    for (const auto& c : candidates) known[c.peer_id] = c;
    if (!options.ping_servers) return;
    const auto timeout = std::chrono::milliseconds(static_cast<long>(options.ping_timeout_s * 1000));
    for (const auto& c : candidates) {
      if (route_options.excluded_peers.count(c.peer_id) != 0) continue;
      try {
        route_options.latency_s[c.peer_id] = fetch_server_info(c.endpoint, timeout).round_trip_s;
      } catch (const Error&) {
        route_options.excluded_peers.insert(c.peer_id);
      }
    }
  }

  // Replaces hops[i] (failed, or never opened) by a fresh chain over the same blocks and
  // rebuilds its cache by replaying everything the failed hop had been sent.
  void replace(std::size_t i, const HopFailure& failure) {
    const std::uint32_t begin = hops[i]->hop.begin, end = hops[i]->hop.end;
    const std::vector<at::Tensor> history = hops[i]->history;
    route_options.excluded_peers.insert(failure.peer);
    hops[i].reset();
    while (true) {
      if (failovers >= options.max_failovers) {
        throw Error(ErrorCode::io, "gave up after " + std::to_string(failovers) + " failovers; last: " + failure.message);
      }
      ++failovers;
      const auto candidates = source();
      measure(candidates);
      const auto plan = RoutePlanner(candidates).plan_range(begin, end, route_options);  // throws not_found
      emit(failure.message + "; replacing blocks " + std::to_string(begin) + "-" + std::to_string(end - 1) + " with " +
           std::to_string(plan.hops.size()) + " hop(s)");
      try {
        std::vector<std::unique_ptr<HopSession>> fresh;
        for (const auto& h : plan.hops) fresh.push_back(open(h));
        for (const auto& input : history) {
          at::Tensor y = input;
          for (auto& s : fresh) y = send(*s, y);
        }
        hops.erase(hops.begin() + static_cast<std::ptrdiff_t>(i));
        for (std::size_t k = 0; k < fresh.size(); ++k) hops.insert(hops.begin() + static_cast<std::ptrdiff_t>(i + k), std::move(fresh[k]));
        return;
      } catch (const HopFailure& again) {
        route_options.excluded_peers.insert(again.peer);
        emit(again.message);
      }
    }
  }
};

RemoteSequence::RemoteSequence(CandidateSource source, std::uint32_t num_blocks, std::int64_t hidden_size, RemoteSequenceOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!source) throw Error(ErrorCode::invalid_argument, "RemoteSequence needs a candidate source");
  if (num_blocks == 0 || hidden_size <= 0) throw Error(ErrorCode::invalid_argument, "RemoteSequence needs blocks and a hidden size");
  if (options.step_timeout_s <= 0 || options.max_failovers < 0) throw Error(ErrorCode::invalid_argument, "invalid timeout or failover limit");
  impl_->source = std::move(source);
  impl_->num_blocks = num_blocks;
  impl_->hidden_size = hidden_size;
  impl_->options = std::move(options);
  impl_->on_event = &on_event;
}

RemoteSequence::~RemoteSequence() = default;

void RemoteSequence::begin_sequence(std::int64_t max_length) {
  auto& m = *impl_;
  if (max_length <= 0 || max_length > UINT32_MAX) throw Error(ErrorCode::invalid_argument, "max_length must be positive");
  m.hops.clear();
  m.failovers = 0;
  m.timings.clear();
  m.max_length = max_length;
  m.route_options = m.options.route;
  const auto candidates = m.source();
  m.measure(candidates);
  const auto plan = RoutePlanner(candidates).plan(m.num_blocks, m.route_options);
  for (const auto& h : plan.hops) {
    auto placeholder = std::make_unique<HopSession>();
    placeholder->hop = h;
    m.hops.push_back(std::move(placeholder));
  }
  for (std::size_t i = 0; i < m.hops.size();) {
    const RouteHop hop = m.hops[i]->hop;
    try {
      m.hops[i] = m.open(hop);
      ++i;
    } catch (const HopFailure& f) {
      m.hops[i] = std::make_unique<HopSession>();
      m.hops[i]->hop = hop;
      m.replace(i, f);
      i += 1;  // replace() opened fresh sessions covering the same blocks
      while (i < m.hops.size() && m.hops[i - 1]->hop.end != hop.end) ++i;
    }
  }
}

at::Tensor RemoteSequence::step(const at::Tensor& hidden) {
  auto& m = *impl_;
  if (m.hops.empty()) throw Error(ErrorCode::invalid_argument, "step() called before begin_sequence()");
  at::Tensor x = hidden.to(at::kFloat).contiguous();
  for (std::size_t i = 0; i < m.hops.size();) {
    try {
      x = m.send(*m.hops[i], x, i);
      ++i;
    } catch (const HopFailure& f) {
      m.replace(i, f);  // the same x then goes to the replacement at index i
    }
  }
  return x;
}

std::vector<RouteHop> RemoteSequence::route() const {
  std::vector<RouteHop> out;
  for (const auto& h : impl_->hops) out.push_back(h->hop);
  return out;
}

int RemoteSequence::failovers() const noexcept { return impl_->failovers; }

const std::vector<HopTiming>& RemoteSequence::timings() const noexcept { return impl_->timings; }

const std::vector<RemotePayment>& RemoteSequence::payments() const noexcept { return impl_->payments; }

std::vector<RemoteWork> RemoteSequence::work() const { return impl_->work; }

std::uint64_t RemoteSequence::spent_msat() const noexcept { return impl_->spent; }

}  // namespace petalsln
