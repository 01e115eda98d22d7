#include "petalsln/client/remote_sequence.hpp"

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "petalsln/lightning/bolt11.hpp"
#include "petalsln/lightning/l402.hpp"
#include "petalsln/lightning/l402_identifier.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/call_failure.hpp"
#include "rpc/channels.hpp"
#include "rpc/retry_backoff.hpp"
#include "rpc/tensor_codec.hpp"
#include "util/clock.hpp"

namespace petalsln {
namespace {

using Stream = grpc::ClientReaderWriter<v1::InferenceRequest, v1::InferenceResponse>;

// A hop stopped answering correctly; carries the peer so it can be excluded, and why, so the
// client knows whether waiting could help.
struct HopFailure {
  PeerId peer{};
  std::string message;
  Exclusion why;               // the hop's endpoint and the classified reason
  bool while_opening = false;  // failed to open a session (as opposed to mid-sequence)
};

// No route covers the blocks asked for; transient when a candidate was left out for a reason
// that may clear by itself (see is_transient()), so that retrying after a pause can help.
struct NoRoute {
  std::string message;
  bool transient = false;
};

bool any_transient(const std::vector<Exclusion>& why) {
  return std::any_of(why.begin(), why.end(), [](const Exclusion& e) { return is_transient(e.reason); });
}

// Keeps one entry per candidate, the last one reported (the freshest reason).
std::vector<Exclusion> latest_per_candidate(const std::vector<Exclusion>& why) {
  std::vector<Exclusion> out;
  for (const auto& e : why) {
    auto same = std::find_if(out.begin(), out.end(), [&](const Exclusion& o) { return o.candidate == e.candidate; });
    if (same != out.end()) {
      *same = e;
    } else {
      out.push_back(e);
    }
  }
  return out;
}

// Seconds with a fraction, for messages and the retry arithmetic that works in seconds.
double seconds_of(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

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
  void arm(grpc::ClientContext* ctx, std::chrono::milliseconds timeout) {
    std::lock_guard<std::mutex> lock(mu_);
    ctx_ = ctx;
    fired_ = false;
    deadline_ = std::chrono::steady_clock::now() + timeout;
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
  CandidateLookup source;
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
  std::shared_ptr<ServerTokens> tokens;          // the L402 Authorization value per server (maybe shared)
  std::map<PeerId, ServerRecord> known;          // the latest record per server
  std::vector<RemotePayment> payments;
  std::vector<RemoteWork> work;
  std::uint64_t spent = 0;
  std::vector<Exclusion> hop_failures;  // sessions that failed since the last successful plan, with why
  std::set<PeerId> banned;              // peers that failed in a way waiting cannot fix (this sequence)


  // The preimage this wallet already holds for @p hash, if it paid that invoice. A server
  // hands one requester's concurrent sessions the same unpaid challenge (so that a stranger
  // cannot make it mint invoices without end), so sessions of one client sharing a wallet may
  // race to pay it: the loser would fail "already paid", yet the winner's proof of payment
  // serves both (the server meters the credit on the one token). Paying twice is impossible,
  // so nothing is spent twice either.
  std::optional<L402Token::Preimage> paid_before(const PaymentHash& hash) {
    try {
      const auto earlier = options.wallet->lookup_payment(hash);
      if (earlier && earlier->status == PaymentStatus::succeeded && earlier->preimage) return *earlier->preimage;
    } catch (const Error&) {
      // A backend that cannot tell: pay (or report the failure) as usual.
    }
    return std::nullopt;
  }

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
    if (auto preimage = paid_before(id.payment_hash)) {
      emit("reusing this wallet's earlier payment of " + who + "'s invoice for " + std::to_string(credit) + " block-tokens");
      return L402Token{challenge.macaroon, *preimage}.to_header();
    }
    PayOptions po;
    po.max_fee_msat = options.budget_msat - spent - amount;
    const auto result = options.wallet->pay_invoice(challenge.invoice, po);
    if (result.status != PaymentStatus::succeeded || !result.preimage) {
      // Another session of this wallet may have paid the same invoice a moment before.
      if (auto preimage = paid_before(id.payment_hash)) return L402Token{challenge.macaroon, *preimage}.to_header();
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
    // A server that answers wrongly is refused for good; one that went away or is slow may be back.
    Exclusion why{s.hop.endpoint, ExclusionReason::refused, what};
    if (s.stream) {
      const auto status = s.stream->Finish();
      s.stream.reset();
      if (timed_out) {
        why = Exclusion{s.hop.endpoint, ExclusionReason::timed_out, "no answer within " + rpc::seconds_text(seconds_of(options.step_timeout))};
        detail += ": " + why.detail;
      } else {
        detail += ": " + std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message();
        if (!status.ok()) why = rpc::exclusion_from_status(s.hop.endpoint, status, seconds_of(options.step_timeout));
      }
    }
    throw HopFailure{s.hop.peer_id, "server " + s.hop.endpoint + " (" + short_peer(s.hop.peer_id) + ") " + detail, why};
  }

  std::unique_ptr<HopSession> open(const RouteHop& hop) {
    // A priced server answers an unpaid open with UNAUTHENTICATED and a challenge; pay it and
    // open again with the token (twice at most: a server that keeps asking is failed over).
    for (int attempt = 0;; ++attempt) {
      auto s = std::make_unique<HopSession>();
      s->hop = hop;
      s->stub = v1::Blocks::NewStub(rpc::channel_for(hop.endpoint));
      s->ctx = std::make_unique<grpc::ClientContext>();
      const auto presented = tokens->get(hop.peer_id);
      if (presented) s->ctx->AddMetadata("authorization", *presented);
      watchdog.arm(s->ctx.get(), options.step_timeout);
      s->stream = s->stub->Inference(s->ctx.get());
      v1::InferenceRequest req;
      auto* o = req.mutable_open();
      o->set_block_begin(hop.begin);
      o->set_block_end(hop.end);
      o->set_max_length(static_cast<std::uint32_t>(max_length));
      o->set_batch(1);
      v1::InferenceResponse resp;
      const auto t0 = std::chrono::steady_clock::now();
      if (s->stream->Write(req) && s->stream->Read(&resp)) return finish_open(std::move(s), resp);
      const bool timed_out = watchdog.disarm();
      const auto status = s->stream->Finish();
      s->stream.reset();
      const auto& trailers = s->ctx->GetServerTrailingMetadata();
      auto challenge = trailers.find("www-authenticate");
      if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED || challenge == trailers.end() || attempt >= 2) {
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        Exclusion why = timed_out ? Exclusion{hop.endpoint, ExclusionReason::timed_out, "no answer within " + rpc::seconds_text(waited)}
                                  : rpc::exclusion_from_status(hop.endpoint, status, waited);
        throw HopFailure{hop.peer_id,
                         "server " + hop.endpoint + " (" + short_peer(hop.peer_id) + ") refused the session: " +
                             std::to_string(static_cast<int>(status.error_code())) + " " + status.error_message(),
                         std::move(why), true};
      }
      // Another sequence or process sharing the tokens may have replaced the refused token
      // meanwhile: present its token before buying one more.
      if (const auto now = tokens->get(hop.peer_id); now && now != presented) continue;
      tokens->put(hop.peer_id, pay_challenge(hop, std::string(challenge->second.data(), challenge->second.size())));
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
    watchdog.arm(s.ctx.get(), options.step_timeout);
    if (!s.stream->Write(req) || !s.stream->Read(&resp)) fail(s, "failed a step");
    watchdog.disarm();
    for (int attempt = 0; resp.kind_case() == v1::InferenceResponse::kPaymentRequired; ++attempt) {
      // Credit ran out mid-session: pay in-band, keeping the server's cache, then repeat the step.
      if (attempt >= 2) fail(s, "kept asking for payment");
      const std::string token = pay_challenge(s.hop, resp.payment_required().challenge());
      tokens->put(s.hop.peer_id, token);
      v1::InferenceRequest auth;
      auth.mutable_authorize()->set_authorization(token);
      watchdog.arm(s.ctx.get(), options.step_timeout);
      if (!s.stream->Write(auth) || !s.stream->Read(&resp)) fail(s, "failed to take a payment");
      watchdog.disarm();
      if (resp.kind_case() == v1::InferenceResponse::kPaymentRequired) continue;
      if (resp.kind_case() != v1::InferenceResponse::kAuthorized) fail(s, "answered a payment with something else");
      t0 = std::chrono::steady_clock::now();
      watchdog.arm(s.ctx.get(), options.step_timeout);
      if (!s.stream->Write(req) || !s.stream->Read(&resp)) fail(s, "failed a step");
      watchdog.disarm();
    }
    const auto round_trip = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
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
      timings.push_back({hop_index, x.size(1), round_trip, std::chrono::microseconds(resp.compute_micros())});
    }
    return out;
  }

  // Latency per candidate: the lookup's own round trip when it asked the servers itself,
  // otherwise an Info ping (all at once). Candidates that fail the ping are excluded, and why
  // is added to @p why.
  void measure(const LookupResult& found, std::vector<Exclusion>& why) {
    for (const auto& c : found.records) known[c.peer_id] = c;
    if (!options.ping_servers) return;
    std::vector<std::string> endpoints;
    std::vector<PeerId> peers;
    for (const auto& c : found.records) {
      if (route_options.excluded_peers.count(c.peer_id) != 0) continue;
      if (auto rtt = found.round_trip.find(c.peer_id); rtt != found.round_trip.end()) {
        route_options.latency[c.peer_id] = rtt->second;
        continue;
      }
      endpoints.push_back(c.endpoint);
      peers.push_back(c.peer_id);
    }
    const auto outcomes = fetch_server_infos(endpoints, options.ping_timeout);
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      const auto& o = outcomes[i];
      std::optional<Exclusion> failure = o.failure;
      if (o.info && o.info->max_sessions > 0 && o.info->active_sessions >= o.info->max_sessions) {
        failure = Exclusion{o.endpoint, ExclusionReason::full,
                            std::to_string(o.info->active_sessions) + " of " + std::to_string(o.info->max_sessions) + " sessions in use"};
      }
      if (failure) {
        route_options.excluded_peers.insert(peers[i]);
        why.push_back(*failure);
      } else {
        route_options.latency[peers[i]] = o.info->round_trip;
      }
    }
  }

  // One planning attempt over [begin, end): a fresh lookup, pings, the planner. Throws
  // NoRoute (naming why each candidate was left out) when the blocks cannot be covered.
  Route plan_once(std::uint32_t begin, std::uint32_t end) {
    const LookupResult found = source();
    std::vector<Exclusion> why = hop_failures;
    why.insert(why.end(), found.excluded.begin(), found.excluded.end());
    measure(found, why);
    route_options.known_exclusions = latest_per_candidate(why);
    try {
      return RoutePlanner(found.records).plan_range(begin, end, route_options);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::not_found) throw;
      // A lookup that found no server at all and left none out is no verdict: a DHT node still
      // joining, or a get that failed under load, answers the same as an empty swarm, and
      // servers being (re)started have not announced yet. Ask again until the timeout.
      if (found.records.empty() && found.excluded.empty()) {
        throw NoRoute{std::string(e.what()) + ": the lookup found no server for this model", true};
      }
      throw NoRoute{e.what(), any_transient(route_options.known_exclusions)};
    }
  }

  // Plans [begin, end), retrying with @p backoff while the only candidates for some blocks
  // are unreachable, timed out or full (they may be starting, restarting or busy), until the
  // backoff's deadline. Fails at once when nothing transient is in the way. Throws
  // Error(not_found) with the last attempt's reasons.
  Route plan(std::uint32_t begin, std::uint32_t end, rpc::RetryBackoff& backoff) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int attempt = 1;; ++attempt) {
      try {
        return plan_once(begin, end);
      } catch (const NoRoute& none) {
        if (!none.transient || !backoff.wait()) {
          const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          const std::string retried = attempt > 1 ? "; still so after " + std::to_string(attempt) + " attempts in " +
                                                        rpc::seconds_text(waited)
                                                  : "";
          throw Error(ErrorCode::not_found, none.message + retried);
        }
        if (attempt == 1) emit(none.message + "; retrying for up to " + rpc::seconds_text(seconds_of(options.route_timeout)));
        forgive();
      }
    }
  }

  // Before a retry: servers that failed for a reason that may have cleared get another chance.
  void forgive() {
    route_options.excluded_peers = options.route.excluded_peers;
    route_options.excluded_peers.insert(banned.begin(), banned.end());
    hop_failures.erase(std::remove_if(hop_failures.begin(), hop_failures.end(), [](const Exclusion& e) { return is_transient(e.reason); }),
                       hop_failures.end());
  }

  // Leaves a failed hop's peer out of the next plans, remembering why; returns true if the
  // failure counts as a failover (a session opened and then failed, or a permanent failure),
  // false for a transient refusal to open (a full or unreachable server: bounded by the
  // retry deadline, not by max_failovers).
  bool exclude(const HopFailure& f) {
    route_options.excluded_peers.insert(f.peer);
    if (!is_transient(f.why.reason)) banned.insert(f.peer);
    hop_failures.push_back(f.why);
    return !(f.while_opening && is_transient(f.why.reason));
  }

  rpc::RetryBackoff::Clock::time_point retry_deadline() const {
    return rpc::RetryBackoff::Clock::now() + std::chrono::duration_cast<rpc::RetryBackoff::Clock::duration>(options.route_timeout);
  }

  // Replaces hops[i] (failed, or never opened) by a fresh chain over the same blocks and
  // rebuilds its cache by replaying everything the failed hop had been sent. Transient
  // failures are retried until @p deadline.
  void replace(std::size_t i, const HopFailure& failure, rpc::RetryBackoff::Clock::time_point deadline) {
    const std::uint32_t begin = hops[i]->hop.begin, end = hops[i]->hop.end;
    const std::vector<at::Tensor> history = hops[i]->history;
    bool counts = exclude(failure);
    std::string last = failure.message;
    hops[i].reset();
    rpc::RetryBackoff backoff(deadline);
    while (true) {
      if (counts && failovers >= options.max_failovers) {
        throw Error(ErrorCode::io, "gave up after " + std::to_string(failovers) + " failovers; last: " + last);
      }
      const auto plan = this->plan(begin, end, backoff);  // throws not_found
      if (counts) ++failovers;
      emit(last + "; replacing blocks " + std::to_string(begin) + "-" + std::to_string(end - 1) + " with " +
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
        hop_failures.clear();
        return;
      } catch (const HopFailure& again) {
        counts = exclude(again);
        last = again.message;
        emit(again.message);
      }
    }
  }
};

namespace {

CandidateLookup lookup_of(CandidateSource source) {
  if (!source) return {};
  return [source = std::move(source)] {
    LookupResult r;
    r.records = source();
    return r;
  };
}

}  // namespace

RemoteSequence::RemoteSequence(CandidateSource source, std::uint32_t num_blocks, std::int64_t hidden_size, RemoteSequenceOptions options)
    : RemoteSequence(lookup_of(std::move(source)), num_blocks, hidden_size, std::move(options)) {}

RemoteSequence::RemoteSequence(CandidateLookup source, std::uint32_t num_blocks, std::int64_t hidden_size, RemoteSequenceOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (!source) throw Error(ErrorCode::invalid_argument, "RemoteSequence needs a candidate source");
  if (num_blocks == 0 || hidden_size <= 0) throw Error(ErrorCode::invalid_argument, "RemoteSequence needs blocks and a hidden size");
  if (options.step_timeout.count() <= 0 || options.ping_timeout.count() <= 0 || options.route_timeout.count() < 0 ||
      options.max_failovers < 0) {
    throw Error(ErrorCode::invalid_argument, "invalid timeout or failover limit");
  }
  impl_->source = std::move(source);
  impl_->num_blocks = num_blocks;
  impl_->hidden_size = hidden_size;
  impl_->options = std::move(options);
  impl_->tokens = impl_->options.tokens ? impl_->options.tokens : std::make_shared<ServerTokens>();
  impl_->on_event = &on_event;
}

RemoteSequence::~RemoteSequence() = default;

void RemoteSequence::end_sequence() noexcept { impl_->hops.clear(); }  // each HopSession cancels its stream

void RemoteSequence::begin_sequence(std::int64_t max_length) {
  auto& m = *impl_;
  if (max_length <= 0 || max_length > UINT32_MAX) throw Error(ErrorCode::invalid_argument, "max_length must be positive");
  m.hops.clear();
  m.failovers = 0;
  m.timings.clear();
  m.max_length = max_length;
  m.route_options = m.options.route;
  m.hop_failures.clear();
  m.banned.clear();
  // One deadline for planning and opening the whole route, however many retries it takes.
  const auto deadline = m.retry_deadline();
  rpc::RetryBackoff backoff(deadline);
  const auto plan = m.plan(0, m.num_blocks, backoff);
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
      m.replace(i, f, deadline);
      i += 1;  // replace() opened fresh sessions covering the same blocks
      while (i < m.hops.size() && m.hops[i - 1]->hop.end != hop.end) ++i;
    }
  }
  m.hop_failures.clear();
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
      m.replace(i, f, m.retry_deadline());  // the same x then goes to the replacement at index i
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
