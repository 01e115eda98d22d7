#pragma once
// The gateway's swarm client: one model's client side shared by every session, a pool of
// block pipelines (remote sequences, or local ones with --local) handed out one per running
// message, and the limit on how many messages generate at once. No libtorch and no Beast
// here, so the HTTP side compiles without either.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "petalsln/client/server_tokens.hpp"
#include "petalsln/gateway/gateway_options.hpp"
#include "petalsln/swarm/server_record.hpp"
#include "petalsln/text/chat_template.hpp"
#include "petalsln/text/sampler.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {
class BlockPipeline;
class Conversation;
class LocalModel;
}  // namespace petalsln

namespace petalsln::gateway {

/// One message to generate.
struct TextRequest {
  std::vector<TokenId> prompt_ids;     ///< The prompt: a stateless call's whole prompt, a session turn's new tokens.
  std::int64_t max_new_tokens = 16;    ///< At least 1; capped by the model's context.
  SamplingParams sampling;             ///< Checked by the caller (validate()).
  std::vector<std::string> stop_strings;  ///< Text that ends the reply.
  bool keep_stop_string = false;       ///< Keep the matched stop string in the text.
};

/// The work one server did for one message, from the route's receipt (RemoteSequence::work()).
struct ServerWork {
  std::string peer;                 ///< Its peer id, lower-case hex.
  std::string name;                 ///< The public name it announced ("" when none).
  std::uint32_t block_begin = 0;    ///< The blocks it ran (the last range used).
  std::uint32_t block_end = 0;      ///< One past the last block it ran.
  std::uint64_t block_tokens = 0;   ///< Blocks x tokens it processed for this message, replays included.
  std::string lightning_address;    ///< The Lightning address it announced ("" when none).
};

/// Why a reply ended.
enum class FinishReason {
  stop,       ///< The model ended its turn or a stop string matched.
  length,     ///< max_new_tokens or the model's context was reached.
  cancelled,  ///< The sink asked to stop (the client went away, or the gateway is stopping).
};

/// Returns OpenAI's name of @p reason: "stop", "length" (and "cancelled").
const char* to_string(FinishReason reason) noexcept;

/// What one message produced.
struct TextResult {
  std::string text;                 ///< The reply (stop string cut or kept as asked).
  std::vector<TokenId> new_ids;     ///< Every generated id, a final end-of-turn id included.
  std::int64_t prompt_tokens = 0;   ///< Tokens of the prompt (a session turn's new tokens): what is billed.
  std::int64_t run_prompt_tokens = 0;  ///< Tokens the route ran as the prompt (more after a replay).
  std::uint64_t block_tokens = 0;   ///< Work on a remote route during this message (blocks x tokens).
  std::vector<ServerWork> work;     ///< That work per server, in first-use order (empty on a local route).
  FinishReason finish = FinishReason::length;
};

/// Receives released text as it is produced and the count of tokens generated so far;
/// returns false to cancel.
using TextSink = std::function<bool(const std::string& delta, std::int64_t tokens)>;

class GenerationService;

/// A session's conversation: a pipeline of its own, whose caches stay open between turns, and
/// the history they hold. Made by GenerationService::open_conversation().
class SessionConversation {
 public:
  ~SessionConversation();
  SessionConversation(const SessionConversation&) = delete;             ///< Holds a route.
  SessionConversation& operator=(const SessionConversation&) = delete;  ///< Holds a route.
  /// Tokens of the conversation so far.
  std::size_t history_size() const noexcept;

 private:
  friend class GenerationService;
  SessionConversation() = default;
  GenerationService* owner_ = nullptr;  // takes the pipeline back into its pool
  std::unique_ptr<BlockPipeline> pipeline_;
  std::unique_ptr<Conversation> conversation_;
};

/// The right to generate one message, given back on destruction: counts against the limit on
/// messages generating at once, and holds a pipeline from the pool unless the message runs on
/// a session's own.
class GenerationSlot {
 public:
  ~GenerationSlot();
  GenerationSlot(const GenerationSlot&) = delete;             ///< Holds a pipeline.
  GenerationSlot& operator=(const GenerationSlot&) = delete;  ///< Holds a pipeline.

 private:
  friend class GenerationService;
  GenerationSlot(GenerationService& owner, std::unique_ptr<BlockPipeline> pipeline);
  GenerationService& owner_;
  std::unique_ptr<BlockPipeline> pipeline_;
};

/// The model, the swarm and the limit on concurrent messages. Thread-safe.
class GenerationService {
 public:
  /// Loads the model's client side (or the whole model with options.local) and joins the
  /// swarm. Throws Error(invalid_argument) for contradictory options, Error(io) when no DHT
  /// node answers, and what LocalModel::open() throws.
  explicit GenerationService(const GatewayOptions& options);
  ~GenerationService();
  GenerationService(const GenerationService&) = delete;             ///< Owns the swarm client.
  GenerationService& operator=(const GenerationService&) = delete;  ///< Owns the swarm client.

  /// The model name clients must ask for.
  const std::string& model_name() const noexcept { return model_name_; }
  /// The model's context length in tokens.
  std::int64_t context_length() const noexcept;
  /// The model's number of decoder blocks.
  std::int64_t num_blocks() const noexcept;
  /// The model's client side.
  const LocalModel& model() const noexcept { return *model_; }

  /// Encodes a conversation with the chat template; contents never become special tokens.
  /// Throws as LocalModel::encode_chat().
  std::vector<TokenId> encode_chat(const std::vector<ChatMessage>& messages) const;
  /// Encodes a raw prompt as transformers does (special tokens in the text recognised).
  std::vector<TokenId> encode_raw(const std::string& text) const;

  /// Returns a slot, or null when options.max_generations messages are already running. With
  /// @p pooled_pipeline false the slot holds no pipeline (for a session turn).
  std::unique_ptr<GenerationSlot> try_acquire(bool pooled_pipeline = true);

  /// Returns a conversation of at most @p max_length tokens on a pipeline of its own (taken
  /// from the pool, so that credit bought from servers is reused, and given back when the
  /// conversation ends; not counted; it opens nothing until its first turn). Throws ApiError 400 for a
  /// length the model cannot take.
  std::unique_ptr<SessionConversation> open_conversation(std::int64_t max_length);

  /// Generates @p request on @p slot's pipeline in a conversation opened and closed for it,
  /// streaming to @p sink. Throws ApiError: 400 for a prompt the model cannot take, 503 when
  /// no route covers the blocks or the budget is spent, 502 when the swarm fails beyond
  /// failover.
  TextResult generate(GenerationSlot& slot, const TextRequest& request, const TextSink& sink);

  /// Runs one turn of @p conversation: request.prompt_ids are the turn's new tokens (empty:
  /// continue). @p slot (from try_acquire(false)) must be held for it. Throws as generate().
  TextResult converse(GenerationSlot& slot, SessionConversation& conversation, const TextRequest& request, const TextSink& sink);

  /// The servers the gateway sees for the model now (empty with options.local).
  std::vector<ServerRecord> servers();

  /// Millisatoshis the gateway has paid each server's paywall (by peer id in hex), fees
  /// excluded, since it started.
  std::map<std::string, std::uint64_t> paywall_paid_msat() const;

  /// Messages generating now.
  std::size_t running() const;

  /// Uses only servers charging at most @p max_msat per 1000 block-tokens (with any lower
  /// limit of the options kept), so that a priced gateway never sells below cost; errors for
  /// a swarm with no such route say why. Call before serving.
  void limit_server_price(std::uint64_t max_msat, const std::string& why);

  /// Returns "" when the servers seen now cover every block within the price limit, else a
  /// sentence naming the blocks that no affordable server covers.
  std::string price_coverage_gap();

 private:
  friend class GenerationSlot;
  friend class SessionConversation;
  void give_back(std::unique_ptr<BlockPipeline> pipeline);
  void pool(std::unique_ptr<BlockPipeline> pipeline);
  std::unique_ptr<BlockPipeline> new_pipeline();
  TextResult run(Conversation& conversation, BlockPipeline& pipeline, const TextRequest& request, const TextSink& sink);
  void count_payments(BlockPipeline& pipeline, std::size_t before);
  std::string public_name(const std::string& peer_hex);

  struct Swarm;
  GatewayOptions options_;
  std::unique_ptr<LocalModel> model_;
  std::string model_name_;
  std::unique_ptr<Swarm> swarm_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<BlockPipeline>> idle_;
  std::size_t running_ = 0;
  std::map<std::string, std::uint64_t> paywall_paid_;  // by peer hex, since start
  std::string price_note_;  // why servers above a price are not used ("" = no such limit)
  std::shared_ptr<ServerTokens> server_tokens_ = std::make_shared<ServerTokens>();  // every pipeline's credit on the servers
};

}  // namespace petalsln::gateway
