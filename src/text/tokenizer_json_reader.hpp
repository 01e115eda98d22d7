#pragma once
// Reads tokenizer.json in one streaming pass. The vocabulary and merges (hundreds of
// thousands of entries in real tokenizers) go straight into flat vectors instead of a JSON
// tree, which more than halves load time; everything else becomes an ordinary JSON tree.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "petalsln/util/token.hpp"

namespace petalsln::text {

/// tokenizer.json, parsed.
struct TokenizerJsonDocument {
  nlohmann::json root;  ///< the whole document, with model.vocab / model.merges left empty
  bool has_vocab = false;   ///< model.vocab was an object (its entries are in `vocab`)
  bool has_merges = false;  ///< model.merges was an array (its entries are in `merges`)
  std::vector<std::pair<std::string, TokenId>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

/// Parses @p text. Throws Error(invalid_format) for malformed JSON, a vocabulary value that is
/// not a non-negative 32-bit integer, or a merge that is neither "a b" nor ["a", "b"].
TokenizerJsonDocument read_tokenizer_json(std::string_view text);

}  // namespace petalsln::text
