#include "petalsln/block_server.hpp"

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "petalsln/checkpoint.hpp"
#include "petalsln/error.hpp"
#include "petalsln/model_config.hpp"
#include "petalsln/model_fingerprint.hpp"
#include "petalsln/v1/blocks.grpc.pb.h"
#include "rpc/status.hpp"
#include "rpc/tensor_codec.hpp"
#include "util/clock.hpp"
#include "util/files.hpp"
#include "util/log.hpp"

namespace petalsln {
namespace {

using Clock = std::chrono::steady_clock;


// Block-tokens per second of batch-1 decoding through every block, best of a few steps.
double measure_throughput(const BlockStack& stack) {
  auto cache = stack.new_cache(1, 16);
  auto x = torch::randn({1, 1, stack.config().hidden_size}) * 0.1;
  stack.forward(x, cache);  // warm up allocators
  double best = 1e9;
  for (int i = 0; i < 6; ++i) {
    const auto t0 = Clock::now();
    stack.forward(x, cache);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return static_cast<double>(stack.end() - stack.begin()) / std::max(best, 1e-6);
}

}  // namespace

struct BlockServer::Impl final : public v1::Blocks::Service {
  BlockServerOptions options;
  NodeIdentity identity;
  ModelConfig config;
  ModelFingerprint fingerprint{};
  std::string model_name;
  std::unique_ptr<BlockStack> stack;
  double throughput = 0;
  std::int64_t max_length = 0;
  std::int64_t cache_budget = 0;
  int bound_port = 0;
  std::unique_ptr<grpc::Server> server;

  // Sessions: their budget, and their contexts so idle ones can be cancelled.
  struct SessionEntry {
    grpc::ServerContext* context = nullptr;
    Clock::time_point last_activity;
  };
  mutable std::mutex mu;
  std::map<std::uint64_t, SessionEntry> sessions;
  std::uint64_t next_session = 1;
  std::int64_t cache_used = 0;
  std::atomic<int> active{0};
  bool stopping = false;
  std::condition_variable reaper_cv;
  std::thread reaper;

  Impl(BlockServerOptions o, NodeIdentity id) : options(std::move(o)), identity(std::move(id)) {}

  rpc::TensorLimits limits(std::int64_t max_batch) const {
    return {config.hidden_size, max_batch, max_length};
  }

  ServerRecord make_record() const {
    ServerRecord r;
    r.peer_id = identity.peer_id();
    r.endpoint = (options.announce_host.empty() ? options.listen_host : options.announce_host) + ":" + std::to_string(bound_port);
    r.model = model_name;
    r.model_fingerprint = fingerprint;
    r.block_begin = static_cast<std::uint32_t>(options.block_begin);
    r.block_end = static_cast<std::uint32_t>(options.block_end);
    r.throughput = throughput;
    {
      std::lock_guard<std::mutex> lock(mu);
      const auto per_token = std::max<std::int64_t>(1, stack->cache_bytes(1, 1, options.block_end - options.block_begin));
      r.free_cache_tokens = static_cast<std::uint64_t>((cache_budget - cache_used) / per_token);
    }
    r.price_msat = options.paywall ? options.price_msat : 0;
    r.lightning_address = options.lightning_address;
    r.public_name = options.public_name;
    r.version = PETALSLN_VERSION;
    r.issued_at = util::unix_seconds();
    r.expires_at = r.issued_at + options.record_ttl_s;
    return r;
  }

  grpc::Status check_range(std::uint32_t begin, std::uint32_t end) const {
    if (begin >= end || static_cast<int>(begin) < options.block_begin || static_cast<int>(end) > options.block_end) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "block range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                                      ") is not a non-empty part of this server's blocks [" +
                                                      std::to_string(options.block_begin) + ", " + std::to_string(options.block_end) + ")"};
    }
    return grpc::Status::OK;
  }

  grpc::Status Info(grpc::ServerContext*, const v1::InfoRequest*, v1::InfoResponse* response) override {
    const std::string signed_bytes = make_record().sign(identity);
    if (!response->mutable_record()->ParseFromString(signed_bytes)) return {grpc::StatusCode::INTERNAL, "cannot encode record"};
    response->set_server_time(util::unix_seconds());
    response->set_active_sessions(static_cast<std::uint32_t>(active.load()));
    response->set_max_sessions(static_cast<std::uint32_t>(options.max_sessions));
    return grpc::Status::OK;
  }

  // The client's `authorization` metadata, or "" when absent.
  static std::string authorization_of(const grpc::ServerContext* context) {
    const auto& md = context->client_metadata();
    auto it = md.find("authorization");
    return it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
  }

  // Ends a call with UNAUTHENTICATED and a fresh challenge in `www-authenticate`, the gRPC
  // form of an L402 402 response.
  grpc::Status payment_required(grpc::ServerContext* context, std::uint32_t begin, std::uint32_t end, const std::string& why,
                                std::uint64_t min_block_tokens = 0) {
    context->AddTrailingMetadata("www-authenticate", options.paywall->challenge(begin, end, min_block_tokens));
    return {grpc::StatusCode::UNAUTHENTICATED, "payment required: " + why};
  }

  // Checks a call's token; on success @p token_id names its credit.
  grpc::Status admit_payment(grpc::ServerContext* context, std::uint32_t begin, std::uint32_t end, std::string* token_id,
                             std::uint64_t* remaining) {
    const std::string auth = authorization_of(context);
    if (auth.empty()) return payment_required(context, begin, end, "no L402 token");
    try {
      const auto grant = options.paywall->authorize(auth, begin, end);
      *token_id = grant.token_id;
      *remaining = grant.credit_remaining;
      return grpc::Status::OK;
    } catch (const Error& e) {
      return payment_required(context, begin, end, e.what());
    }
  }

  grpc::Status Forward(grpc::ServerContext* context, const v1::ForwardRequest* request, v1::ForwardResponse* response) override {
    if (auto s = check_range(request->block_begin(), request->block_end()); !s.ok()) return s;
    return rpc::guard([&] {
      auto hidden = rpc::decode_tensor(request->hidden(), limits(options.max_batch));
      if (options.paywall) {
        std::string token;
        std::uint64_t remaining = 0;
        if (auto s = admit_payment(context, request->block_begin(), request->block_end(), &token, &remaining); !s.ok()) return s;
        const auto cost = static_cast<std::uint64_t>((request->block_end() - request->block_begin()) * hidden.size(0) * hidden.size(1));
        if (!options.paywall->debit(token, cost, &remaining)) {
          return payment_required(context, request->block_begin(), request->block_end(),
                                  "the token has " + std::to_string(remaining) + " block-tokens left, the call needs " + std::to_string(cost), cost);
        }
      }
      const auto bytes = stack->cache_bytes(hidden.size(0), hidden.size(1), static_cast<int>(request->block_end() - request->block_begin()));
      auto reservation = reserve(bytes);
      if (!reservation.ok()) return reservation;
      grpc::Status status = grpc::Status::OK;
      try {
        auto cache = stack->new_cache(hidden.size(0), hidden.size(1), static_cast<int>(request->block_begin()),
                                      static_cast<int>(request->block_end()));
        auto out = stack->forward(hidden, cache);
        rpc::encode_tensor(out, request->hidden().dtype(), response->mutable_hidden());
      } catch (...) {
        release(bytes);
        throw;
      }
      release(bytes);
      return status;
    });
  }

  grpc::Status reserve(std::int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu);
    if (cache_used + bytes > cache_budget) {
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, "the KV-cache budget cannot hold " + std::to_string(bytes) + " more bytes (" +
                                                        std::to_string(cache_budget - cache_used) + " free of " +
                                                        std::to_string(cache_budget) + ")"};
    }
    cache_used += bytes;
    return grpc::Status::OK;
  }

  void release(std::int64_t bytes) {
    std::lock_guard<std::mutex> lock(mu);
    cache_used -= bytes;
  }

  // Registers a stream as a session (or refuses it when the server is full).
  grpc::Status admit(grpc::ServerContext* context, std::uint64_t* id) {
    std::lock_guard<std::mutex> lock(mu);
    if (stopping) return {grpc::StatusCode::UNAVAILABLE, "the server is shutting down"};
    if (static_cast<int>(sessions.size()) >= options.max_sessions) {
      return {grpc::StatusCode::RESOURCE_EXHAUSTED, "the server already has its maximum of " + std::to_string(options.max_sessions) +
                                                        " sessions"};
    }
    *id = next_session++;
    sessions[*id] = {context, Clock::now()};
    active.store(static_cast<int>(sessions.size()));
    return grpc::Status::OK;
  }

  void touch(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = sessions.find(id); it != sessions.end()) it->second.last_activity = Clock::now();
  }

  void leave(std::uint64_t id) {
    std::lock_guard<std::mutex> lock(mu);
    sessions.erase(id);
    active.store(static_cast<int>(sessions.size()));
  }

  grpc::Status Inference(grpc::ServerContext* context,
                         grpc::ServerReaderWriter<v1::InferenceResponse, v1::InferenceRequest>* stream) override {
    std::uint64_t id = 0;
    if (auto s = admit(context, &id); !s.ok()) return s;
    auto status = run_session(id, context, stream);
    leave(id);
    return status;
  }

  grpc::Status run_session(std::uint64_t id, grpc::ServerContext* context,
                           grpc::ServerReaderWriter<v1::InferenceResponse, v1::InferenceRequest>* stream) {
    v1::InferenceRequest request;
    if (!stream->Read(&request)) return grpc::Status::OK;  // client went away before opening
    if (request.kind_case() != v1::InferenceRequest::kOpen) {
      return {grpc::StatusCode::FAILED_PRECONDITION, "no session is open on this stream: the first message must be `open`"};
    }
    const auto& open = request.open();
    if (auto s = check_range(open.block_begin(), open.block_end()); !s.ok()) return s;
    if (open.max_length() == 0 || open.max_length() > max_length) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "max_length " + std::to_string(open.max_length()) + " must be between 1 and " +
                                                      std::to_string(max_length)};
    }
    const std::int64_t batch = open.batch() == 0 ? 1 : open.batch();
    if (batch > options.max_batch) {
      return {grpc::StatusCode::INVALID_ARGUMENT, "batch " + std::to_string(batch) + " exceeds the limit of " + std::to_string(options.max_batch)};
    }
    Payment payment;
    if (options.paywall) {
      if (auto s = admit_payment(context, open.block_begin(), open.block_end(), &payment.token, &payment.remaining); !s.ok()) return s;
    }
    const auto bytes = stack->cache_bytes(batch, open.max_length(), static_cast<int>(open.block_end() - open.block_begin()));
    if (auto s = reserve(bytes); !s.ok()) return s;
    auto status = rpc::guard([&] {
      auto cache = stack->new_cache(batch, open.max_length(), static_cast<int>(open.block_begin()), static_cast<int>(open.block_end()));
      v1::InferenceResponse opened;
      opened.mutable_opened()->set_block_begin(open.block_begin());
      opened.mutable_opened()->set_block_end(open.block_end());
      opened.mutable_opened()->set_max_length(open.max_length());
      opened.set_credit_remaining(payment.remaining);
      if (!stream->Write(opened)) return grpc::Status::OK;
      return serve_steps(id, stream, cache, batch, payment);
    });
    release(bytes);
    return status;
  }

  // A session's current L402 token and its unspent credit.
  struct Payment {
    std::string token;
    std::uint64_t remaining = 0;
  };

  // Handles an in-band Authorize message: a new token replaces the session's.
  bool reauthorize(const v1::Authorize& msg, const KVCache& cache, Payment& payment, v1::InferenceResponse& response) {
    response.Clear();
    const auto begin = static_cast<std::uint32_t>(cache.begin()), end = static_cast<std::uint32_t>(cache.end());
    try {
      const auto grant = options.paywall->authorize(msg.authorization(), begin, end);
      payment = {grant.token_id, grant.credit_remaining};
      response.mutable_authorized()->set_credit_remaining(grant.credit_remaining);
    } catch (const Error& e) {
      response.mutable_payment_required()->set_challenge(options.paywall->challenge(begin, end));
      util::log(util::LogLevel::info, std::string("refused a token: ") + e.what());
    }
    response.set_credit_remaining(payment.remaining);
    return true;
  }

  grpc::Status serve_steps(std::uint64_t id, grpc::ServerReaderWriter<v1::InferenceResponse, v1::InferenceRequest>* stream,
                           KVCache& cache, std::int64_t batch, Payment& payment) {
    v1::InferenceRequest request;
    v1::InferenceResponse response;
    while (stream->Read(&request)) {
      touch(id);
      if (request.kind_case() == v1::InferenceRequest::kAuthorize && options.paywall) {
        reauthorize(request.authorize(), cache, payment, response);
        if (!stream->Write(response)) break;
        continue;
      }
      if (request.kind_case() != v1::InferenceRequest::kStep) {
        return {grpc::StatusCode::FAILED_PRECONDITION, "a session is already open on this stream; send `step` messages"};
      }
      const auto& step = request.step();
      if (step.position() != static_cast<std::uint64_t>(cache.length())) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "step position " + std::to_string(step.position()) + " does not match the session's length " +
                                                        std::to_string(cache.length())};
      }
      auto hidden = rpc::decode_tensor(step.hidden(), limits(batch));
      if (hidden.size(0) != batch) {
        return {grpc::StatusCode::INVALID_ARGUMENT, "batch " + std::to_string(hidden.size(0)) + " differs from the session's " + std::to_string(batch)};
      }
      if (cache.length() + hidden.size(1) > cache.max_length()) {
        return {grpc::StatusCode::OUT_OF_RANGE, "the session would reach " + std::to_string(cache.length() + hidden.size(1)) +
                                                    " positions, past its max_length of " + std::to_string(cache.max_length())};
      }
      if (options.paywall) {
        // Charge before computing: work is never given away, and a refused step leaves the
        // cache as it was so the client can pay and repeat it.
        const auto cost = static_cast<std::uint64_t>((cache.end() - cache.begin()) * hidden.size(0) * hidden.size(1));
        if (!options.paywall->debit(payment.token, cost, &payment.remaining)) {
          response.Clear();
          response.mutable_payment_required()->set_challenge(
              options.paywall->challenge(static_cast<std::uint32_t>(cache.begin()), static_cast<std::uint32_t>(cache.end()), cost));
          response.set_credit_remaining(payment.remaining);
          if (!stream->Write(response)) break;
          continue;
        }
      }
      const auto t0 = Clock::now();
      auto out = stack->forward(hidden, cache);
      const auto compute = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
      if (options.on_step) options.on_step(cache.end() - cache.begin(), hidden.size(0) * hidden.size(1));
      response.Clear();
      rpc::encode_tensor(out, step.hidden().dtype(), response.mutable_hidden());
      response.set_compute_micros(static_cast<std::uint64_t>(compute));
      response.set_credit_remaining(payment.remaining);
      if (!stream->Write(response)) break;
      touch(id);
    }
    return grpc::Status::OK;
  }

  // Cancels sessions that sat idle past step_timeout_s, so a silent peer cannot hold a slot.
  void reap_idle() {
    std::unique_lock<std::mutex> lock(mu);
    const auto timeout = std::chrono::duration<double>(options.step_timeout_s);
    while (!stopping) {
      reaper_cv.wait_for(lock, std::chrono::milliseconds(500));
      const auto now = Clock::now();
      for (auto& [sid, s] : sessions) {
        if (now - s.last_activity > timeout && s.context != nullptr) {
          util::log(util::LogLevel::info, "closing session " + std::to_string(sid) + ": idle too long");
          s.context->TryCancel();
          s.context = nullptr;
        }
      }
    }
  }
};

BlockServer::BlockServer(BlockServerOptions options, NodeIdentity identity)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(identity))) {
  auto& m = *impl_;
  auto& o = m.options;
  if (o.max_sessions <= 0 || o.cache_mb <= 0 || o.max_batch <= 0 || o.max_length < 0 || o.step_timeout_s <= 0 || o.record_ttl_s == 0) {
    throw Error(ErrorCode::invalid_argument, "server limits must be positive (max_sessions, cache_mb, max_batch, step timeout, record ttl)");
  }
  if (o.port < 0 || o.port > 65535) throw Error(ErrorCode::invalid_argument, "port " + std::to_string(o.port) + " is not in 0..65535");
  m.config = ModelConfig::load(o.model_dir);
  m.fingerprint = compute_model_fingerprint(o.model_dir);
  m.model_name = o.model_name.empty() ? util::base_name(o.model_dir) : o.model_name;
  const auto checkpoint = Checkpoint::open(o.model_dir);
  m.stack = std::make_unique<BlockStack>(m.config, checkpoint, o.block_begin, o.block_end, o.compute);
  m.max_length = o.max_length > 0 ? std::min<std::int64_t>(o.max_length, m.config.max_position_embeddings) : m.config.max_position_embeddings;
  m.cache_budget = o.cache_mb << 20;
  m.throughput = o.throughput > 0 ? o.throughput : measure_throughput(*m.stack);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.listen_host + ":" + std::to_string(o.port), grpc::InsecureServerCredentials(), &m.bound_port);
  // A step carries [batch, seq, hidden] floats; allow the largest one the limits admit.
  const auto max_message = std::min<std::int64_t>(std::int64_t{1} << 30,
                                                  static_cast<std::int64_t>(o.max_batch) * m.max_length * m.config.hidden_size * 4 + (1 << 16));
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message));
  builder.RegisterService(&m);
  m.server = builder.BuildAndStart();
  if (!m.server || m.bound_port == 0) {
    throw Error(ErrorCode::io, "cannot listen on " + o.listen_host + ":" + std::to_string(o.port));
  }
  m.reaper = std::thread([&m] { m.reap_idle(); });
}

BlockServer::~BlockServer() { shutdown(); }

void BlockServer::shutdown() {
  auto& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.stopping) return;
    m.stopping = true;
  }
  m.reaper_cv.notify_all();
  if (m.reaper.joinable()) m.reaper.join();
  // Open streams are cancelled at the deadline; handlers then return and Shutdown completes.
  m.server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  m.server->Wait();
}

int BlockServer::port() const noexcept { return impl_->bound_port; }
std::string BlockServer::endpoint() const { return impl_->make_record().endpoint; }
std::string BlockServer::peer_id_hex() const { return impl_->identity.peer_id_hex(); }
ServerRecord BlockServer::record() const { return impl_->make_record(); }
const NodeIdentity& BlockServer::identity() const noexcept { return impl_->identity; }
int BlockServer::active_sessions() const noexcept { return impl_->active.load(); }

}  // namespace petalsln
