#include "petalsln/server/block_server.hpp"

#include <grpcpp/grpcpp.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "petalsln/model/block_throughput.hpp"
#include "petalsln/model/checkpoint.hpp"
#include "petalsln/model/model_config.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "rpc/status.hpp"
#include "server/batch_throughput.hpp"
#include "server/block_server_impl.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace petalsln {

struct BlockServer::Impl final : rpc::BlockService {
  using BlockService::BlockService;
};

ServerRecord rpc::BlockService::make_record() const {
  ServerRecord r;
  r.peer_id = identity.peer_id();
  r.endpoint = (options.announce_host.empty() ? options.listen_host : options.announce_host) + ":" + std::to_string(bound_port);
  r.model = model_name;
  r.model_fingerprint = fingerprint;
  r.block_begin = static_cast<std::uint32_t>(options.block_begin);
  r.block_end = static_cast<std::uint32_t>(options.block_end);
  r.throughput = throughput;
  const auto per_token = std::max<std::int64_t>(1, stack->cache_bytes(1, 1, options.block_end - options.block_begin));
  const auto free_bytes = std::max<std::int64_t>(0, admission->limits().cache_budget_bytes - admission->cache_used());
  r.free_cache_tokens = static_cast<std::uint64_t>(free_bytes / per_token);
  r.price_msat = options.paywall ? options.price_msat : 0;
  r.lightning_address = options.lightning_address;
  r.public_name = options.public_name;
  r.version = PETALSLN_VERSION;
  r.weights = std::string(to_string(stack->options().weights));
  r.weight_bytes_per_block = static_cast<std::uint64_t>(stack->weight_bytes() / (options.block_end - options.block_begin));
  r.batch_throughput = batch_throughput;
  r.batch_sessions = batch_sessions;
  r.issued_at = util::unix_seconds();
  r.expires_at = r.issued_at + static_cast<std::uint64_t>(options.record_ttl.count());
  return r;
}

grpc::Status rpc::BlockService::payment_required(grpc::ServerContextBase* context, const std::string& peer, std::uint32_t begin,
                                                 std::uint32_t end, const std::string& why, std::uint64_t min_block_tokens) {
  grpc::Status status;
  const std::string challenge = in_band_challenge(peer, begin, end, min_block_tokens, &status);
  if (challenge.empty()) return status;
  context->AddTrailingMetadata("www-authenticate", challenge);
  return rpc::refused(grpc::StatusCode::UNAUTHENTICATED, "payment required: " + why);
}

std::string rpc::BlockService::in_band_challenge(const std::string& peer, std::uint32_t begin, std::uint32_t end,
                                                 std::uint64_t min_block_tokens, grpc::Status* status) {
  try {
    return options.paywall->challenge(begin, end, min_block_tokens, peer);
  } catch (const ChallengeLimitReached& e) {
    *status = rpc::refused(grpc::StatusCode::RESOURCE_EXHAUSTED, e.what());
  } catch (const std::exception& e) {
    // The wallet's message names the operator's node and its URLs: for the log only.
    util::log(util::LogLevel::error, std::string("cannot issue an invoice: ") + e.what());
    *status = rpc::refused(grpc::StatusCode::UNAVAILABLE, "the server cannot issue an invoice right now; try again later");
  }
  return {};
}

grpc::Status rpc::BlockService::admit_payment(grpc::ServerContextBase* context, const std::string& peer, std::uint32_t begin,
                                              std::uint32_t end, std::string* token_id, std::uint64_t* remaining) {
  const std::string auth = rpc::authorization_of(context);
  if (auth.empty()) return payment_required(context, peer, begin, end, "no L402 token");
  try {
    const auto grant = options.paywall->authorize(auth, begin, end);
    *token_id = grant.token_id;
    *remaining = grant.credit_remaining;
    return grpc::Status::OK;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::invalid_argument) throw;  // the store failed, not the token
    return payment_required(context, peer, begin, end, e.what());
  }
}

namespace {

// One computation cut into chunks: each chunk is a step submitted to the compute thread's
// batcher, which runs it beside other sessions' steps; its completion queues the next chunk,
// so other peers' steps run in between. The step in flight holds the run, and the last one to
// finish frees it (no step refers to itself, so nothing is kept alive by a cycle).
struct ChunkedRun : std::enable_shared_from_this<ChunkedRun> {
  rpc::BlockService* server = nullptr;
  std::string peer;
  at::Tensor hidden;
  KVCache* cache = nullptr;
  std::function<bool()> cancelled;
  std::function<void(grpc::Status, at::Tensor, std::int64_t)> done;
  std::vector<at::Tensor> outputs;
  std::int64_t next = 0, chunk = 1, micros = 0;

  void queue() {
    rpc::PendingStep step;
    step.hidden = hidden.narrow(1, next, std::min(chunk, hidden.size(1) - next));
    step.cache = cache;
    step.cancelled = cancelled;
    step.done = [self = shared_from_this()](rpc::StepOutcome outcome) { self->chunk_done(std::move(outcome)); };
    server->compute->submit(peer, std::move(step));
  }

  void chunk_done(rpc::StepOutcome outcome) {
    grpc::Status status;
    try {
      if (outcome.cancelled) {
        status = rpc::refused(grpc::StatusCode::CANCELLED, "cancelled");
      } else if (outcome.error) {
        std::rethrow_exception(outcome.error);
      } else {
        next += outcome.output.size(1);
        micros += outcome.micros;
        outputs.push_back(std::move(outcome.output));
        if (next < hidden.size(1)) return queue();
      }
    } catch (...) {
      status = rpc::status_of_current_exception();
    }
    if (!status.ok()) return done(status, at::Tensor(), 0);
    auto out = outputs.size() == 1 ? outputs[0] : torch::cat(outputs, 1);
    outputs.clear();
    done(grpc::Status::OK, std::move(out), micros);
  }
};

}  // namespace

void rpc::BlockService::compute_chunked(const std::string& peer, at::Tensor hidden, KVCache* cache, std::function<bool()> cancelled,
                                        std::function<void(grpc::Status, at::Tensor, std::int64_t)> done) {
  auto run = std::make_shared<ChunkedRun>();
  run->server = this;
  run->peer = peer;
  const std::int64_t blocks = cache->end() - cache->begin();
  run->chunk = std::max<std::int64_t>(1, kBlockRowsPerChunk / (std::max<std::int64_t>(1, hidden.size(0)) * std::max<std::int64_t>(1, blocks)));
  run->hidden = std::move(hidden);
  run->cache = cache;
  run->cancelled = std::move(cancelled);
  run->done = std::move(done);
  run->queue();
}


BlockServer::BlockServer(BlockServerOptions options, NodeIdentity identity)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(identity))) {
  auto& m = *impl_;
  auto& o = m.options;
  if (o.max_sessions <= 0 || o.cache_mb <= 0 || o.max_batch <= 0 || o.max_length < 0 || o.record_ttl.count() <= 0 ||
      o.max_sessions_per_peer < 0 || o.max_streams_per_peer < 0 || o.max_streams < 0 || o.open_timeout.count() <= 0 ||
      o.idle_timeout.count() <= 0 || o.max_batch_sessions <= 0) {
    throw Error(ErrorCode::invalid_argument, "server limits must be positive (max_sessions, cache_mb, max_batch, max_batch_sessions, "
                                             "per-address limits, timeouts, record ttl)");
  }
  if (o.cache_mb > (std::int64_t{1} << 40)) throw Error(ErrorCode::invalid_argument, "cache_mb is above 2^40");
  if (o.port < 0 || o.port > 65535) throw Error(ErrorCode::invalid_argument, "port " + std::to_string(o.port) + " is not in 0..65535");
  m.config = ModelConfig::load(o.model_dir);
  m.fingerprint = compute_model_fingerprint(o.model_dir);
  m.model_name = o.model_name.empty() ? util::base_name(o.model_dir) : o.model_name;
  const auto checkpoint = Checkpoint::open(o.model_dir);
  m.stack = std::make_unique<BlockStack>(m.config, checkpoint, o.block_begin, o.block_end, o.compute);
  m.max_length = o.max_length > 0 ? std::min<std::int64_t>(o.max_length, m.config.max_position_embeddings) : m.config.max_position_embeddings;
  m.throughput = o.throughput > 0 ? o.throughput : measure_block_throughput(*m.stack);
  // A given throughput replaces measuring (tests, known machines); the batch figure is then
  // left unannounced rather than measured beside a rate that was not.
  // A server that does not batch (max_batch_sessions 1) announces no batched figure either.
  if (o.throughput <= 0 && o.max_sessions >= 2 && o.max_batch_sessions >= 2) {
    m.batch_sessions = static_cast<std::uint32_t>(std::min({rpc::kBatchThroughputSessions, o.max_sessions, o.max_batch_sessions}));
    m.batch_throughput = rpc::measure_batch_throughput(*m.stack, static_cast<int>(m.batch_sessions));
  }

  rpc::AdmissionLimits limits;
  limits.max_sessions = o.max_sessions;
  limits.max_sessions_per_peer = o.max_sessions_per_peer > 0 ? o.max_sessions_per_peer : std::max(1, o.max_sessions * 3 / 4);
  limits.max_streams_per_peer = o.max_streams_per_peer > 0 ? o.max_streams_per_peer : limits.max_sessions_per_peer + 8;
  limits.max_streams = o.max_streams > 0 ? o.max_streams : 4 * o.max_sessions + 16;
  limits.cache_budget_bytes = o.cache_mb << 20;
  m.admission = std::make_unique<rpc::Admission>(limits);
  m.compute = std::make_unique<rpc::StepBatcher>(*m.stack, rpc::BatchLimits{o.max_batch_sessions, rpc::kBlockRowsPerBatch}, o.on_batch);
  m.control = std::make_unique<rpc::FairScheduler>(kControlThreads);

  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.listen_host + ":" + std::to_string(o.port), grpc::InsecureServerCredentials(), &m.bound_port);
  // A step carries [batch, seq, hidden] floats; allow the largest one the limits admit.
  const auto max_message = std::min<std::int64_t>(std::int64_t{1} << 30,
                                                  static_cast<std::int64_t>(o.max_batch) * m.max_length * m.config.hidden_size * 4 + (1 << 16));
  builder.SetMaxReceiveMessageSize(static_cast<int>(max_message));
  builder.SetMaxSendMessageSize(static_cast<int>(max_message));
  // A connection that carries nothing is closed, so idle sockets cost a stranger a reconnect.
  // (No per-connection stream cap: the admission refuses excess streams at once, where a
  // transport cap would make a client's excess streams wait silently instead.)
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             static_cast<int>(std::min<std::int64_t>(std::max<std::int64_t>(o.idle_timeout.count(), 60000), 3600000)));
  builder.RegisterService(&m);
  m.server = builder.BuildAndStart();
  if (!m.server || m.bound_port == 0) {
    throw Error(ErrorCode::io, "cannot listen on " + o.listen_host + ":" + std::to_string(o.port));
  }
  m.reaper = std::thread([&m] { m.reap(); });
}

BlockServer::~BlockServer() { shutdown(); }

void BlockServer::shutdown() {
  auto& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.reaper_mu);
    if (m.stopping) return;
    m.stopping = true;
  }
  m.admission->stop();
  m.reaper_cv.notify_all();
  if (m.reaper.joinable()) m.reaper.join();
  // Open streams are cancelled at the deadline; their reactors finish once their current
  // job (at most one chunk) is done, and Shutdown returns when every call has ended.
  m.server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  m.server->Wait();
}

int BlockServer::port() const noexcept { return impl_->bound_port; }
std::string BlockServer::endpoint() const { return impl_->make_record().endpoint; }
std::string BlockServer::peer_id_hex() const { return impl_->identity.peer_id_hex(); }
ServerRecord BlockServer::record() const { return impl_->make_record(); }
const NodeIdentity& BlockServer::identity() const noexcept { return impl_->identity; }
int BlockServer::active_sessions() const noexcept { return impl_->admission->sessions(); }
int BlockServer::active_calls() const noexcept { return impl_->admission->streams(); }

}  // namespace petalsln
