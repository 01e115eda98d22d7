// The contributor server's Inference stream: one reactor per stream, handling one message at a
// time. Opening and paying run on the control threads (they may wait on the credit store or
// the wallet), steps on the compute thread in chunks; gRPC's own threads parse and dispatch,
// and check steps (holding a paid step's price only when the credit store is free at once). Everything the stream holds sits in its Admission ticket and its cache, both
// released when gRPC says the call is done.

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>

#include "rpc/raw_message.hpp"
#include "rpc/status.hpp"
#include "server/block_server_impl.hpp"
#include "util/log.hpp"

namespace petalsln {
namespace {

using Clock = std::chrono::steady_clock;

class InferenceCall;

// Where a step is checked: on the gRPC thread that parsed it, which must never wait, or on a
// control thread, which may (for the credit store, or the wallet).
enum class StepThread { grpc, control };

// The part of a stream that the deadline reaper can reach. Shared, so that the reaper never
// touches a finished stream; `finished` makes sure Finish is called exactly once.
struct CallGuard final : rpc::DeadlineListener {
  std::mutex mu;
  InferenceCall* call = nullptr;  // null once gRPC is done with the stream
  bool finished = false;
  bool busy = false;    // a message is being handled: no deadline applies
  bool opened = false;  // a session is open on the stream
  void deadline_passed() override;
  // True for the one caller that may call Finish.
  bool claim_finish() {
    std::lock_guard<std::mutex> lock(mu);
    if (finished) return false;
    finished = true;
    return true;
  }
};

// A step's two halves on a paid server, the compute and the durable debit, which run at once;
// the one that ends last answers (InferenceCall::answer_step).
struct StepJoin {
  std::mutex mu;
  int parts_left = 1;               // 2 on a paid server: the compute and the debit
  grpc::Status status;              // the first failure of either half
  at::Tensor output;                // the compute's output
  std::int64_t micros = 0;          // compute time charged to the step
  bool charged = false;             // the debit was made
  std::uint64_t remaining = 0;      // credit left after the debit
  v1::DType dtype = v1::DTYPE_F32;  // the encoding to answer in (the step's own)
  std::int64_t tokens = 0;          // batch x positions, for on_step
  // Marks one half done; true for the caller that finished last.
  bool part_done() {
    std::lock_guard<std::mutex> lock(mu);
    return --parts_left == 0;
  }
};

class InferenceCall final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  InferenceCall(rpc::BlockService& server, grpc::CallbackServerContext* context)
      : server_(server), context_(context), peer_(rpc::peer_address_key(context->peer())), guard_(std::make_shared<CallGuard>()) {
    guard_->call = this;
    const auto deadline = Clock::now() + server_.options.open_timeout;
    if (auto refusal = server_.admission->admit(peer_, guard_, deadline, &ticket_); !refusal.empty()) {
      end(rpc::refused(grpc::StatusCode::RESOURCE_EXHAUSTED, refusal));
      return;
    }
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return end(grpc::Status::OK);  // the client closed its side, or went away
    {
      std::lock_guard<std::mutex> lock(guard_->mu);
      if (guard_->finished) return;  // the deadline passed first
      guard_->busy = true;
    }
    v1::InferenceRequest request;
    if (!rpc::parse_raw(in_, &request)) {
      return end(rpc::refused(grpc::StatusCode::INVALID_ARGUMENT, "a message on this stream is not a valid InferenceRequest"));
    }
    dispatch(std::move(request));
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return end(rpc::refused(grpc::StatusCode::CANCELLED, "the client went away"));
    await_next();
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(guard_->mu);
      guard_->call = nullptr;
    }
    delete this;  // releases the ticket (slot, cache budget) and the cache
  }

  // Ends the stream with @p status unless it has ended already.
  void end(const grpc::Status& status) {
    if (!guard_->claim_finish()) return;
    release();
    Finish(status);
  }

  // Called by the guard (which has claimed Finish) when the stream's deadline passed.
  void expire(bool opened) {
    const auto& o = server_.options;
    release();
    Finish(rpc::refused(grpc::StatusCode::DEADLINE_EXCEEDED,
                        opened ? "the session sent nothing for " + std::to_string(o.idle_timeout.count()) + " ms and was closed"
                               : "no `open` message within " + std::to_string(o.open_timeout.count()) + " ms of the stream's start"));
  }

 private:
  // Gives back the slot, the budget and the cache before the client hears the end, so a
  // client that asks the server at once finds them free. Only called with no job in flight.
  void release() {
    cache_.reset();
    ticket_ = rpc::Admission::Ticket();
  }

  bool opened() {
    std::lock_guard<std::mutex> lock(guard_->mu);
    return guard_->opened;
  }

  void dispatch(v1::InferenceRequest request) {
    const bool is_open = request.kind_case() == v1::InferenceRequest::kOpen;
    if (!opened()) {
      if (!is_open) {
        return end(rpc::refused(grpc::StatusCode::FAILED_PRECONDITION, "no session is open on this stream: the first message must be `open`"));
      }
      return server_.control->submit(peer_, [this, open = request.open()] { open_session(open); });
    }
    if (request.kind_case() == v1::InferenceRequest::kStep) {
      // Checked here, on the thread that parsed it: a hand-off to a control thread costs a
      // thread's wake-up per hop. prepare_step hands on what might wait.
      return prepare_step(request.step(), StepThread::grpc);
    }
    if (request.kind_case() == v1::InferenceRequest::kAuthorize && server_.options.paywall) {
      return server_.control->submit(peer_, [this, auth = request.authorize()] { reauthorize(auth); });
    }
    end(rpc::refused(grpc::StatusCode::FAILED_PRECONDITION, "a session is already open on this stream; send `step` messages"));
  }

  // Waits for the next message, within the session's idle deadline.
  void await_next() {
    // The new deadline is set while still busy, so a stale one can never fire in between.
    ticket_.set_deadline(Clock::now() + (opened() ? server_.options.idle_timeout : server_.options.open_timeout));
    {
      std::lock_guard<std::mutex> lock(guard_->mu);
      guard_->busy = false;
    }
    StartRead(&in_);
  }

  void reply(const v1::InferenceResponse& response) {
    rpc::serialize_raw(response, &out_);
    StartWrite(&out_);
  }

  void open_session(const v1::OpenSession& open) {
    const grpc::Status status = rpc::guard([&] { return admit_open(open); });
    if (!status.ok()) return end(status);
    {
      std::lock_guard<std::mutex> lock(guard_->mu);
      guard_->opened = true;
    }
    v1::InferenceResponse opened;
    opened.mutable_opened()->set_block_begin(open.block_begin());
    opened.mutable_opened()->set_block_end(open.block_end());
    opened.mutable_opened()->set_max_length(open.max_length());
    opened.set_credit_remaining(payment_.remaining);
    reply(opened);
  }

  // Validates an `open`, checks its payment, then takes a session slot and cache budget, in
  // that order: nothing is held for a request that is malformed or unpaid.
  grpc::Status admit_open(const v1::OpenSession& open) {
    if (auto s = server_.check_range(open.block_begin(), open.block_end()); !s.ok()) return s;
    if (open.max_length() == 0 || open.max_length() > server_.max_length) {
      return rpc::refused(grpc::StatusCode::INVALID_ARGUMENT, "max_length " + std::to_string(open.max_length()) + " must be between 1 and " +
                                                                  std::to_string(server_.max_length));
    }
    batch_ = open.batch() == 0 ? 1 : open.batch();
    if (batch_ > server_.options.max_batch) {
      return rpc::refused(grpc::StatusCode::INVALID_ARGUMENT,
                          "batch " + std::to_string(batch_) + " exceeds the limit of " + std::to_string(server_.options.max_batch));
    }
    if (server_.options.paywall) {
      auto s = server_.admit_payment(context_, peer_, open.block_begin(), open.block_end(), &payment_.token, &payment_.remaining);
      if (!s.ok()) return s;
    }
    if (auto refusal = ticket_.open_session(); !refusal.empty()) return rpc::refused(grpc::StatusCode::RESOURCE_EXHAUSTED, refusal);
    const int blocks = static_cast<int>(open.block_end() - open.block_begin());
    const auto bytes = server_.stack->cache_bytes(batch_, open.max_length(), blocks);
    if (auto refusal = ticket_.reserve_cache(bytes); !refusal.empty()) return rpc::refused(grpc::StatusCode::RESOURCE_EXHAUSTED, refusal);
    cache_ = std::make_unique<KVCache>(server_.stack->new_cache(batch_, open.max_length(), static_cast<int>(open.block_begin()),
                                                                static_cast<int>(open.block_end())));
    return grpc::Status::OK;
  }

  // Handles an in-band Authorize message: a new token replaces the session's.
  void reauthorize(const v1::Authorize& msg) {
    const auto begin = static_cast<std::uint32_t>(cache_->begin()), end_block = static_cast<std::uint32_t>(cache_->end());
    v1::InferenceResponse response;
    try {
      const auto grant = server_.options.paywall->authorize(msg.authorization(), begin, end_block);
      payment_ = {grant.token_id, grant.credit_remaining};
      response.mutable_authorized()->set_credit_remaining(grant.credit_remaining);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::invalid_argument) return end(rpc::status_of_current_exception());
      util::log(util::LogLevel::info, std::string("refused a token: ") + e.what());
      grpc::Status status;
      const std::string challenge = server_.in_band_challenge(peer_, begin, end_block, 0, &status);
      if (challenge.empty()) return end(status);
      response.mutable_payment_required()->set_challenge(challenge);
    }
    response.set_credit_remaining(payment_.remaining);
    reply(response);
  }

  // Checks a step and holds its price, then computes it and, on a paid server, meanwhile debits
  // the held credit durably on a control thread: the debit's fsync then overlaps the compute
  // instead of preceding it. Whichever of the two ends last answers, so no output leaves before
  // its debit is on disk and work is never given away; a debit that cannot be written ends the
  // stream without the output. On gRPC's thread (@p thread) nothing may wait: a step whose
  // credit cannot be held at once (the store is busy, or a challenge must be asked of the
  // wallet) is checked again from the start on a control thread.
  void prepare_step(const v1::Step& step, StepThread thread) {
    at::Tensor hidden;
    v1::InferenceResponse early;  // a payment_required reply, when credit ran out
    std::uint64_t held = 0;       // credit reserved for this step, debited below
    bool must_wait = false;
    const grpc::Status status = rpc::guard([&] { return check_step(step, thread, &hidden, &early, &held, &must_wait); });
    if (!status.ok()) return end(status);
    if (must_wait) return server_.control->submit(peer_, [this, step] { prepare_step(step, StepThread::control); });
    if (early.has_payment_required()) return reply(early);
    auto join = std::make_shared<StepJoin>();
    join->dtype = step.hidden().dtype();
    join->tokens = hidden.size(0) * hidden.size(1);
    join->parts_left = held > 0 ? 2 : 1;
    server_.compute_chunked(
        peer_, hidden, cache_.get(), [this] { return context_->IsCancelled(); },
        [this, join](grpc::Status s, at::Tensor out, std::int64_t micros) {
          {
            std::lock_guard<std::mutex> lock(join->mu);
            if (join->status.ok()) join->status = std::move(s);
            join->output = std::move(out);
            join->micros = micros;
          }
          if (join->part_done()) answer_step(*join);
        });
    if (held == 0) return;
    if (thread == StepThread::control) return debit_held(join, payment_.token, held);
    server_.control->submit(peer_, [this, join, token = payment_.token, held] { debit_held(join, token, held); });
  }

  // Debits the @p held credit of @p token for a step computing now; answers if the compute
  // is done already.
  void debit_held(const std::shared_ptr<StepJoin>& join, const std::string& token, std::uint64_t held) {
    std::uint64_t remaining = 0;
    grpc::Status debited = rpc::guard([&] {
      server_.options.paywall->settle(token, held, held, &remaining);
      return grpc::Status::OK;
    });
    {
      std::lock_guard<std::mutex> lock(join->mu);
      if (join->status.ok()) join->status = std::move(debited);
      join->remaining = remaining;
      join->charged = true;
    }
    if (join->part_done()) answer_step(*join);
  }

  // Sends a step's output once both its compute and (on a paid server) its debit are done.
  void answer_step(StepJoin& join) {
    if (!join.status.ok()) return end(join.status);
    if (join.charged) payment_.remaining = join.remaining;
    if (server_.options.on_step) server_.options.on_step(cache_->end() - cache_->begin(), join.tokens);
    v1::InferenceResponse response;
    const grpc::Status s = rpc::guard([&] {
      rpc::encode_tensor(join.output, join.dtype, response.mutable_hidden());
      return grpc::Status::OK;
    });
    if (!s.ok()) return end(s);
    response.set_compute_micros(static_cast<std::uint64_t>(join.micros));
    response.set_credit_remaining(payment_.remaining);
    reply(response);
  }

  // Checks @p step against the session and decodes its input into @p hidden. On a paid
  // server, also holds the step's price in @p held (in memory: prepare_step debits it), or,
  // when the credit does not cover it, fills @p early with a payment_required reply instead.
  // On gRPC's thread it sets @p must_wait rather than wait for the store or ask the wallet.
  grpc::Status check_step(const v1::Step& step, StepThread thread, at::Tensor* hidden, v1::InferenceResponse* early, std::uint64_t* held,
                          bool* must_wait) {
    if (step.position() != static_cast<std::uint64_t>(cache_->length())) {
      return rpc::refused(grpc::StatusCode::INVALID_ARGUMENT, "step position " + std::to_string(step.position()) +
                                                                  " does not match the session's length " + std::to_string(cache_->length()));
    }
    *hidden = rpc::decode_tensor(step.hidden(), server_.limits(batch_));
    if (hidden->size(0) != batch_) {
      return rpc::refused(grpc::StatusCode::INVALID_ARGUMENT,
                          "batch " + std::to_string(hidden->size(0)) + " differs from the session's " + std::to_string(batch_));
    }
    if (cache_->length() + hidden->size(1) > cache_->max_length()) {
      return rpc::refused(grpc::StatusCode::OUT_OF_RANGE, "the session would reach " + std::to_string(cache_->length() + hidden->size(1)) +
                                                              " positions, past its max_length of " + std::to_string(cache_->max_length()));
    }
    if (!server_.options.paywall) return grpc::Status::OK;
    // Held before computing: work is never given away, and a refused step leaves the cache
    // as it was so the client can pay and repeat it.
    const auto cost = static_cast<std::uint64_t>((cache_->end() - cache_->begin()) * hidden->size(0) * hidden->size(1));
    auto& paywall = *server_.options.paywall;
    const std::optional<bool> reserved = thread == StepThread::grpc ? paywall.try_reserve(payment_.token, cost, &payment_.remaining)
                                                                    : paywall.reserve(payment_.token, cost, &payment_.remaining);
    if (reserved.value_or(false)) {
      *held = cost;
      payment_.remaining -= cost;
      return grpc::Status::OK;
    }
    if (thread == StepThread::grpc) {
      *must_wait = true;
      return grpc::Status::OK;
    }
    grpc::Status status;
    const std::string challenge = server_.in_band_challenge(peer_, static_cast<std::uint32_t>(cache_->begin()),
                                                            static_cast<std::uint32_t>(cache_->end()), cost, &status);
    if (challenge.empty()) return status;
    early->mutable_payment_required()->set_challenge(challenge);
    early->set_credit_remaining(payment_.remaining);
    return grpc::Status::OK;
  }

  rpc::BlockService& server_;
  grpc::CallbackServerContext* context_;
  std::string peer_;
  std::shared_ptr<CallGuard> guard_;
  rpc::Admission::Ticket ticket_;
  grpc::ByteBuffer in_, out_;
  std::unique_ptr<KVCache> cache_;
  std::int64_t batch_ = 1;
  struct {
    std::string token;
    std::uint64_t remaining = 0;
  } payment_;
};

void CallGuard::deadline_passed() {
  InferenceCall* target = nullptr;
  bool was_opened = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (call == nullptr || finished || busy) return;
    finished = true;  // claimed: no one else calls Finish, so the call stays alive until ours
    target = call;
    was_opened = opened;
  }
  target->expire(was_opened);
}

}  // namespace

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* rpc::BlockService::Inference(grpc::CallbackServerContext* context) {
  return new InferenceCall(*this, context);
}

}  // namespace petalsln
