#pragma once
// The gateway's swarm client: one model's client side shared by every session, a pool of
// block pipelines (remote sequences, or local ones with --local) handed out one per running
// message, and the limit on how many messages generate at once. No libtorch and no Beast
// here, so the HTTP side compiles without either.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "petalsln/gateway/gateway_options.hpp"
#include "petalsln/swarm/server_record.hpp"
#include "petalsln/text/chat_template.hpp"
#include "petalsln/text/sampler.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {
class BlockPipeline;
class LocalModel;
}  // namespace petalsln

namespace petalsln::gateway {

/// One message to generate.
struct TextRequest {
  std::vector<TokenId> prompt_ids;     ///< The whole prompt (a session's history included).
  std::int64_t max_new_tokens = 16;    ///< At least 1; capped by the model's context.
  SamplingParams sampling;             ///< Checked by the caller (validate()).
  std::vector<std::string> stop_strings;  ///< Text that ends the reply.
  bool keep_stop_string = false;       ///< Keep the matched stop string in the text.
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
  std::int64_t prompt_tokens = 0;   ///< Tokens of the prompt.
  FinishReason finish = FinishReason::length;
};

/// Receives released text as it is produced and the count of tokens generated so far;
/// returns false to cancel.
using TextSink = std::function<bool(const std::string& delta, std::int64_t tokens)>;

class GenerationService;

/// The right to generate one message: a pipeline from the pool, given back on destruction.
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

  /// Returns a slot, or null when options.max_generations messages are already running.
  std::unique_ptr<GenerationSlot> try_acquire();

  /// Generates @p request on @p slot's pipeline, streaming to @p sink. Throws ApiError: 400
  /// for a prompt the model cannot take, 503 when no route covers the blocks or the budget
  /// is spent, 502 when the swarm fails beyond failover.
  TextResult generate(GenerationSlot& slot, const TextRequest& request, const TextSink& sink);

  /// The servers the gateway sees for the model now (empty with options.local).
  std::vector<ServerRecord> servers();

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
  void give_back(std::unique_ptr<BlockPipeline> pipeline);
  std::unique_ptr<BlockPipeline> new_pipeline();

  struct Swarm;
  GatewayOptions options_;
  std::unique_ptr<LocalModel> model_;
  std::string model_name_;
  std::unique_ptr<Swarm> swarm_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<BlockPipeline>> idle_;
  std::size_t running_ = 0;
  std::string price_note_;  // why servers above a price are not used ("" = no such limit)
};

}  // namespace petalsln::gateway
