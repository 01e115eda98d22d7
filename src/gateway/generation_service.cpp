#include "gateway/generation_service.hpp"

#include <chrono>

#include "gateway/api_error.hpp"
#include "gateway/budget_wallet.hpp"
#include "gateway/stop_strings.hpp"
#include "petalsln/client/conversation.hpp"
#include "petalsln/client/generator.hpp"
#include "petalsln/client/local_model.hpp"
#include "petalsln/client/remote_sequence.hpp"
#include "petalsln/model/model_fingerprint.hpp"
#include "petalsln/rpc/server_info.hpp"
#include "petalsln/swarm/discovery.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"
#include "petalsln/util/hex.hpp"

namespace petalsln::gateway {

namespace {

// Lookups are shared by every session; a DHT search takes a while, so a fresh answer is
// reused for this long (a failover still excludes the peer that failed).
constexpr std::chrono::milliseconds kLookupReuse{2000};

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

const char* to_string(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::stop: return "stop";
    case FinishReason::length: return "length";
    case FinishReason::cancelled: return "cancelled";
  }
  return "length";
}

// The discovery every remote sequence looks its candidates up through.
struct GenerationService::Swarm {
  std::unique_ptr<Discovery> discovery;
  std::string model_name;
  ModelFingerprint fingerprint{};
  std::mutex mutex;  // Discovery is not documented thread-safe: one lookup at a time
  LookupResult last;
  std::chrono::steady_clock::time_point last_at{};

  LookupResult lookup() {
    std::lock_guard<std::mutex> lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    if (last_at == std::chrono::steady_clock::time_point{} || now - last_at > kLookupReuse) {
      last = discovery->lookup(model_name, fingerprint);
      last_at = now;
    }
    return last;
  }
};

GenerationService::GenerationService(const GatewayOptions& options) : options_(options) {
  // Every pipeline pays from one budget, however many the gateway runs.
  if (options_.wallet) options_.wallet = std::make_shared<BudgetWallet>(options_.wallet, options_.budget_msat);
  const int modes = int{options.local} + int{!options.initial_peers.empty()} + int{!options.peers.empty()};
  if (modes != 1) throw Error(ErrorCode::invalid_argument, "choose exactly one of local, initial peers and peers");
  if (options.budget_msat > 0 && !options.wallet) throw Error(ErrorCode::invalid_argument, "a budget needs a wallet");
  if (options.server_timeout.count() <= 0) throw Error(ErrorCode::invalid_argument, "the server timeout must be positive");
  if (options.max_generations == 0) throw Error(ErrorCode::invalid_argument, "max generations must be at least 1");
  ComputeOptions compute;
  compute.weights = options.weights;
  model_ = LocalModel::open(options.model_dir, compute, {}, /*load_blocks=*/options.local);
  model_name_ = options.model_name.empty() ? util::base_name(model_->dir()) : options.model_name;
  if (options.local) return;
  if (!options.server_token_store.empty()) server_tokens_ = std::make_shared<ServerTokens>(options.server_token_store, model_name_);
  swarm_ = std::make_unique<Swarm>();
  swarm_->model_name = model_name_;
  swarm_->fingerprint = compute_model_fingerprint(model_->dir());
  if (!options.peers.empty()) {
    swarm_->discovery = std::make_unique<StaticDiscovery>(parse_endpoint_list(join(options.peers)), options.server_timeout);
    return;
  }
  DhtDiscoveryOptions o;
  o.bind_address = "0.0.0.0";
  o.bootstrap_nodes = parse_endpoint_list(join(options.initial_peers));
  auto dht = std::make_unique<DhtDiscovery>(o);
  if (!dht->wait_until_connected(std::chrono::milliseconds(10000))) {
    throw Error(ErrorCode::io, "could not reach any DHT node in " + join(options.initial_peers));
  }
  swarm_->discovery = std::move(dht);
}

GenerationService::~GenerationService() = default;

std::int64_t GenerationService::context_length() const noexcept { return model_->config().max_position_embeddings; }

std::int64_t GenerationService::num_blocks() const noexcept { return model_->config().num_hidden_layers; }

std::vector<TokenId> GenerationService::encode_chat(const std::vector<ChatMessage>& messages) const {
  return model_->encode_chat(messages);
}

std::vector<TokenId> GenerationService::encode_raw(const std::string& text) const {
  return model_->encode_prompt(text, /*raw=*/true);
}

std::unique_ptr<BlockPipeline> GenerationService::new_pipeline() {
  if (options_.local) return model_->new_pipeline();
  Swarm* swarm = swarm_.get();
  RemoteSequenceOptions ro;
  ro.model_name = model_name_;
  ro.wallet = options_.wallet;
  ro.budget_msat = options_.budget_msat;
  ro.tokens = server_tokens_;  // credit one pipeline bought serves them all
  ro.route.max_price_msat = options_.max_server_price_msat;
  ro.step_timeout = options_.server_timeout;
  ro.ping_timeout = options_.server_timeout;
  ro.route_timeout = options_.server_timeout;
  return std::make_unique<RemoteSequence>(CandidateLookup([swarm] { return swarm->lookup(); }),
                                          static_cast<std::uint32_t>(model_->config().num_hidden_layers),
                                          model_->config().hidden_size, ro);
}

SessionConversation::~SessionConversation() {
  conversation_.reset();
  if (owner_ != nullptr) owner_->pool(std::move(pipeline_));  // its bought credit serves the next message
}

std::size_t SessionConversation::history_size() const noexcept { return conversation_->history().size(); }

std::unique_ptr<SessionConversation> GenerationService::open_conversation(std::int64_t max_length) {
  std::unique_ptr<SessionConversation> session(new SessionConversation());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!idle_.empty()) {
      session->pipeline_ = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!session->pipeline_) session->pipeline_ = new_pipeline();
  session->owner_ = this;
  try {
    session->conversation_ = std::make_unique<Conversation>(model_->tokenizer(), model_->head(), *session->pipeline_, max_length);
  } catch (const Error& e) {
    throw bad_request(e.what());
  }
  return session;
}

std::unique_ptr<GenerationSlot> GenerationService::try_acquire(bool pooled_pipeline) {
  std::unique_ptr<BlockPipeline> pipeline;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (running_ >= options_.max_generations) return nullptr;
    ++running_;
    if (!pooled_pipeline) return std::unique_ptr<GenerationSlot>(new GenerationSlot(*this, nullptr));
    if (!idle_.empty()) {
      pipeline = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  try {
    if (!pipeline) pipeline = new_pipeline();
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    --running_;
    throw;
  }
  return std::unique_ptr<GenerationSlot>(new GenerationSlot(*this, std::move(pipeline)));
}

void GenerationService::give_back(std::unique_ptr<BlockPipeline> pipeline) {
  pool(std::move(pipeline));
  std::lock_guard<std::mutex> lock(mutex_);
  --running_;
}

void GenerationService::pool(std::unique_ptr<BlockPipeline> pipeline) {
  if (!pipeline) return;
  // An idle pooled pipeline must not hold sessions (caches, and places counted against this
  // gateway's address) on the servers.
  if (auto* remote = dynamic_cast<RemoteSequence*>(pipeline.get())) remote->end_sequence();
  std::lock_guard<std::mutex> lock(mutex_);
  // A remote pipeline keeps the credit it bought from each server: reuse it. Past the limit
  // of messages at once no more are needed (WebSocket sessions can outnumber them).
  if (idle_.size() < options_.max_generations) idle_.push_back(std::move(pipeline));
}

std::size_t GenerationService::running() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

GenerationSlot::GenerationSlot(GenerationService& owner, std::unique_ptr<BlockPipeline> pipeline)
    : owner_(owner), pipeline_(std::move(pipeline)) {}

GenerationSlot::~GenerationSlot() { owner_.give_back(std::move(pipeline_)); }

void GenerationService::limit_server_price(std::uint64_t max_msat, const std::string& why) {
  options_.max_server_price_msat = std::min(options_.max_server_price_msat.value_or(max_msat), max_msat);
  price_note_ = why;
}

std::string GenerationService::price_coverage_gap() {
  if (!swarm_ || !options_.max_server_price_msat) return {};
  const auto blocks = static_cast<std::uint32_t>(num_blocks());
  std::vector<bool> covered(blocks, false);
  for (const auto& s : servers()) {
    if (s.price_msat > *options_.max_server_price_msat) continue;
    for (std::uint32_t b = s.block_begin; b < s.block_end && b < blocks; ++b) covered[b] = true;
  }
  std::string gaps;
  for (std::uint32_t b = 0; b < blocks;) {
    if (covered[b]) {
      ++b;
      continue;
    }
    std::uint32_t e = b;
    while (e < blocks && !covered[e]) ++e;
    gaps += (gaps.empty() ? "" : ", ") + std::to_string(b) + "-" + std::to_string(e - 1);
    b = e;
  }
  if (gaps.empty()) return {};
  return "no server seen now charges at most " + std::to_string(*options_.max_server_price_msat) + " msat per 1000 block-tokens for blocks " +
         gaps + " (" + price_note_ + "); messages are refused until one does";
}

namespace {

// Maps the client layer's failures to what an API client is told; @p price_note says why
// dearer servers are not used, when that is why no route was found.
[[noreturn]] void rethrow_as_api_error(const Error& e, const std::string& price_note) {
  if (std::string(e.what()).find("budget") != std::string::npos && e.code() != ErrorCode::not_found) {
    throw ApiError(503, "server_error", std::string("the gateway's budget for the swarm is spent: ") + e.what(), "", "budget_exhausted");
  }
  switch (e.code()) {
    case ErrorCode::invalid_argument:
    case ErrorCode::out_of_range:
      throw bad_request(e.what());
    case ErrorCode::not_found:
      throw ApiError(503, "server_error",
                     std::string("the swarm cannot serve this model now: ") + e.what() + (price_note.empty() ? "" : " (" + price_note + ")"), "",
                     "swarm_unavailable");
    case ErrorCode::io:
      throw ApiError(502, "server_error", std::string("the swarm failed: ") + e.what(), "", "swarm_failed");
    default:
      throw ApiError(500, "server_error", e.what(), "", "internal_error");
  }
}

}  // namespace

namespace {

// Work done so far on a remote route (per server, cumulative over the pipeline's life);
// empty for a local one.
std::vector<RemoteWork> route_work(BlockPipeline& pipeline) {
  const auto* remote = dynamic_cast<const RemoteSequence*>(&pipeline);
  return remote == nullptr ? std::vector<RemoteWork>{} : remote->work();
}

std::string peer_hex(const PeerId& peer) { return util::to_hex(peer.data(), peer.size()); }

// The work of one message: @p after less @p before, per server, servers that did none left out.
std::vector<ServerWork> work_between(const std::vector<RemoteWork>& before, const std::vector<RemoteWork>& after) {
  std::vector<ServerWork> out;
  for (const auto& w : after) {
    std::uint64_t earlier = 0;
    for (const auto& b : before) {
      if (b.peer == w.peer) earlier = b.block_tokens;
    }
    if (w.block_tokens <= earlier) continue;
    out.push_back({peer_hex(w.peer), {}, w.block_begin, w.block_end, w.block_tokens - earlier, w.lightning_address});
  }
  return out;
}

// Payments a remote route has made so far (0 for a local one).
std::size_t payment_count(BlockPipeline& pipeline) {
  const auto* remote = dynamic_cast<const RemoteSequence*>(&pipeline);
  return remote == nullptr ? 0 : remote->payments().size();
}

}  // namespace

void GenerationService::count_payments(BlockPipeline& pipeline, std::size_t before) {
  const auto* remote = dynamic_cast<const RemoteSequence*>(&pipeline);
  if (remote == nullptr) return;
  const auto& payments = remote->payments();
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::size_t i = before; i < payments.size(); ++i) paywall_paid_[peer_hex(payments[i].peer)] += payments[i].amount_msat;
}

std::map<std::string, std::uint64_t> GenerationService::paywall_paid_msat() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return paywall_paid_;
}

// The public name a server announced, from the last lookup ("" when unknown or local).
std::string GenerationService::public_name(const std::string& peer) {
  if (!swarm_) return {};
  std::lock_guard<std::mutex> lock(swarm_->mutex);
  for (const auto& r : swarm_->last.records) {
    if (peer_hex(r.peer_id) == peer) return r.public_name;
  }
  return {};
}

TextResult GenerationService::generate(GenerationSlot& slot, const TextRequest& request, const TextSink& sink) {
  const auto prompt = static_cast<std::int64_t>(request.prompt_ids.size());
  if (request.prompt_ids.empty()) throw bad_request("the prompt is empty", "", "empty_prompt");
  if (prompt >= context_length()) {
    throw bad_request("the prompt has " + std::to_string(prompt) + " tokens; this model's context is " + std::to_string(context_length()), "",
                      "context_length_exceeded");
  }
  // A stateless call is a conversation of one turn, opened and closed for it.
  Conversation conversation(model_->tokenizer(), model_->head(), *slot.pipeline_, std::min(prompt + request.max_new_tokens, context_length()));
  return run(conversation, *slot.pipeline_, request, sink);
}

TextResult GenerationService::converse(GenerationSlot&, SessionConversation& conversation, const TextRequest& request, const TextSink& sink) {
  return run(*conversation.conversation_, *conversation.pipeline_, request, sink);
}

TextResult GenerationService::run(Conversation& conversation, BlockPipeline& pipeline, const TextRequest& request, const TextSink& sink) {
  TextResult result;
  result.prompt_tokens = static_cast<std::int64_t>(request.prompt_ids.size());
  GenerationOptions go;
  go.max_new_tokens = request.max_new_tokens;
  go.sampling = request.sampling;
  go.stop_ids = model_->stop_ids();
  StopStringFilter filter(request.stop_strings, request.keep_stop_string);
  std::int64_t tokens = 0;
  auto on_token = [&](TokenId, const std::string& piece) {
    ++tokens;
    const std::string out = filter.push(piece);
    result.text += out;
    if (sink && !sink(out, tokens)) return false;
    return !filter.stopped();
  };
  GenerationResult generated;
  const std::vector<RemoteWork> work_before = route_work(pipeline);
  const std::size_t payments_before = payment_count(pipeline);
  try {
    generated = conversation.turn(request.prompt_ids, go, on_token);
  } catch (const Error& e) {
    count_payments(pipeline, payments_before);  // paid even when the message failed
    rethrow_as_api_error(e, price_note_);
  }
  result.run_prompt_tokens = conversation.last_prompt_tokens();
  result.work = work_between(work_before, route_work(pipeline));
  for (auto& w : result.work) {
    result.block_tokens += w.block_tokens;
    w.name = public_name(w.peer);
  }
  count_payments(pipeline, payments_before);
  result.new_ids = std::move(generated.new_ids);
  if (filter.stopped()) {
    result.finish = FinishReason::stop;
  } else {
    const std::string rest = filter.finish();
    result.text += rest;
    if (!rest.empty() && sink) sink(rest, tokens);
    result.finish = generated.stop_reason == StopReason::stop_token ? FinishReason::stop
                    : generated.stop_reason == StopReason::length ? FinishReason::length
                                                                   : FinishReason::cancelled;
  }
  return result;
}

std::vector<ServerRecord> GenerationService::servers() {
  if (!swarm_) return {};
  return swarm_->lookup().records;
}

}  // namespace petalsln::gateway
