#pragma once
/// @file conversation.hpp
/// A conversation that keeps its route's KV caches between turns, so that each turn runs (and
/// is billed for) only its new tokens instead of the whole history.

#include <cstdint>
#include <vector>

#include "petalsln/client/generator.hpp"
#include "petalsln/model/block_pipeline.hpp"
#include "petalsln/model/local_head.hpp"
#include "petalsln/text/tokenizer.hpp"
#include "petalsln/util/token.hpp"

namespace petalsln {

/// One conversation on one block pipeline, whose sequence stays open from turn to turn. When
/// the pipeline fails (a remote one fails over by itself first, replaying its history onto a
/// fresh route, as it does when a server has closed an idle session), the failed turn is
/// undone and the next turn replays the whole conversation onto a fresh sequence. Borrows its
/// parts, which must outlive it. Not thread-safe: one turn at a time.
class Conversation {
 public:
  /// Wires the parts together for a conversation of at most @p max_length tokens (every
  /// turn and reply together). Throws Error(invalid_argument) unless 1 <= max_length <= the
  /// model's context.
  Conversation(const Tokenizer& tokenizer, const LocalHead& head, BlockPipeline& pipeline, std::int64_t max_length);

  /// Appends @p new_ids to the conversation (empty: continue the last reply) and generates
  /// after them, streaming to @p on_token. Runs through the pipeline only what it has not
  /// seen: the previous reply's last token and @p new_ids (everything, after a failure). The
  /// reply is cut at max_length. Throws Error(invalid_argument) when there is nothing to run
  /// or the new tokens alone would pass max_length, Error(out_of_range) for ids outside the
  /// vocabulary, and what the pipeline throws (the turn is then undone).
  GenerationResult turn(const std::vector<TokenId>& new_ids, const GenerationOptions& options, const TokenCallback& on_token = {});

  /// Every token of the conversation so far: turns and replies.
  const std::vector<TokenId>& history() const noexcept { return history_; }
  /// Tokens the last turn ran as its prompt (its new tokens, plus the whole history when it
  /// had to replay it).
  std::int64_t last_prompt_tokens() const noexcept { return last_prompt_tokens_; }
  /// The most tokens the conversation may hold.
  std::int64_t max_length() const noexcept { return max_length_; }

 private:
  const Tokenizer& tokenizer_;
  const LocalHead& head_;
  BlockPipeline& pipeline_;
  std::int64_t max_length_;
  std::vector<TokenId> history_;
  std::size_t cached_ = 0;  // tokens of history_ the open sequence has run
  bool open_ = false;
  std::int64_t last_prompt_tokens_ = 0;
};

}  // namespace petalsln
