#pragma once
/// @file swarm_chat.hpp
/// The client role as one object: a model's client side (tokenizer, chat template, head)
/// plus the blocks either in this process or on the swarm (found through the DHT or a static
/// list of servers), paying priced servers from a wallet within a budget, and a receipt of
/// what each reply cost. petalsln-chat and the C ABI are both built on it.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/client/generator.hpp"
#include "petalsln/client/receipt.hpp"
#include "petalsln/lightning/wallet.hpp"
#include "petalsln/model/weight_format.hpp"
#include "petalsln/swarm/route_planner.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {

class LocalModel;

/// Where a SwarmChat runs its blocks and how it pays for them.
struct SwarmChatOptions {
  /// Run every block in this process (the model is loaded with its blocks). Exactly one of
  /// local, initial_peers and peers must be chosen.
  bool local = false;
  /// How the weights computed in this process are kept in memory: the head's, and with
  /// `local` every block's (the servers' formats are their own, announced in their records).
  WeightFormat weights = WeightFormat::f32;
  /// DHT nodes ("host:port") to join to find the model's servers.
  std::vector<std::string> initial_peers;
  /// Servers ("host:port") to use directly through their Info call, no DHT.
  std::vector<std::string> peers;
  /// The name servers announce the model under ("" = the model folder's base name).
  std::string model_name;
  /// How long a server may take: for one step before the client fails over, for an Info
  /// answer, and for a route to become available when the servers it needs are unreachable,
  /// slow or full (the client retries with backoff until then; see
  /// RemoteSequenceOptions::route_timeout).
  std::chrono::milliseconds server_timeout{30000};
  /// Longest wait to reach a DHT node before giving up.
  std::chrono::milliseconds dht_connect_timeout{10000};
  /// Pays priced servers (null: free servers only). Shared: the caller may keep using it.
  std::shared_ptr<Wallet> wallet;
  /// Most the whole chat may spend over all replies, fees included (needs a wallet when > 0).
  std::uint64_t budget_msat = 0;
  /// Skip servers charging more than this per 1000 block-tokens (nullopt: no limit).
  std::optional<std::uint64_t> max_price_msat;
  /// The file keeping the L402 tokens bought from servers (see ServerTokens), so that credit
  /// this chat bought and did not use serves the next chat on the same file instead of being
  /// bought again; "": tokens held in memory for this chat only. Unused in local mode.
  std::string token_store;
};

/// A chat with one model. The blocks' KV caches live for one generate() call; the route,
/// payments and work accumulate over the chat's life (credit bought for one reply pays for the
/// next ones). Not thread-safe: one generate() at a time.
class SwarmChat {
 public:
  /// Opens the model at @p model_dir (with its blocks only when options.local) and, in swarm
  /// mode, the discovery: joins the DHT (throws Error(io) if no node answers within
  /// dht_connect_timeout) or checks the static list. Throws Error(invalid_argument) for
  /// options that contradict each other (not exactly one mode, a budget without a wallet, a
  /// non-positive timeout, a malformed endpoint), whatever LocalModel::open() throws, and what
  /// ServerTokens throws for options.token_store (a file that is not a token store included).
  /// Nothing is planned or paid until the first generate().
  SwarmChat(const std::string& model_dir, SwarmChatOptions options, const std::function<void(const std::string&, int, int)>& progress = {});
  /// Closes the sessions and leaves the DHT.
  ~SwarmChat();
  SwarmChat(const SwarmChat&) = delete;             ///< Owns sessions, sockets and threads.
  SwarmChat& operator=(const SwarmChat&) = delete;  ///< Owns sessions, sockets and threads.

  /// The model's client side (tokenizer, chat template, head, stop ids).
  const LocalModel& model() const noexcept;

  /// True when the blocks run on the swarm.
  bool remote() const noexcept;

  /// Encodes @p text as one user message through the chat template, or as is when @p raw
  /// (see LocalModel::encode_prompt()).
  std::vector<TokenId> encode_prompt(const std::string& text, bool raw) const;

  /// Generates a reply after @p prompt_ids (nothing at all when options.max_new_tokens is 0),
  /// streaming each token to @p on_token (return false to stop: StopReason::cancelled).
  /// options.stop_ids are used as given; stop_ids() are the model's. Throws what
  /// Generator::generate() and RemoteSequence throw: Error(not_found) when no route covers
  /// the blocks, Error(out_of_range) when paying would exceed the budget, Error(io) when the
  /// swarm fails beyond failover.
  GenerationResult generate(const std::vector<TokenId>& prompt_ids, const GenerationOptions& options,
                            const TokenCallback& on_token = {});

  /// The current route (empty in local mode or before the first generate()).
  std::vector<RouteHop> route() const;

  /// Millisatoshis paid so far in this chat, fees included.
  std::uint64_t spent_msat() const noexcept;

  /// The receipt so far: the route, every payment and each server's work over the chat's
  /// life (empty in local mode). Receipt::to_json() gives its JSON form.
  Receipt receipt() const;

  /// Called for each notable swarm event (failover, replan) with a one-line description.
  /// May be left empty.
  std::function<void(const std::string&)> on_event;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Returns the one-line JSON object petalsln-chat --json prints for one reply:
/// `{"prompt_ids", "new_ids", "text", "stop_reason"}` followed, when @p chat runs on the swarm,
/// by its receipt's "route", "payments" and "work". Invalid UTF-8 in the text (which decoding
/// never produces) would be replaced, never thrown.
std::string generation_json(const std::vector<TokenId>& prompt_ids, const GenerationResult& result, const SwarmChat* chat);

}  // namespace petalsln
