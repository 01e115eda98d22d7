#pragma once
// Typed reads of a request's fields, JSON or form, each refusing a wrong type or an
// out-of-range value with a 400 that names the field: the one place every dialect's input
// checks live, so /v1/* and /api/* refuse the same things the same way.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "petalsln/text/sampler.hpp"

namespace petalsln::gateway {

/// Parses @p body as a JSON object. Throws ApiError(400) for malformed JSON (NaN and
/// Infinity are not JSON) or a value that is not an object.
nlohmann::json parse_json_object(const std::string& body);

/// Returns @p object's field @p name as a string, nullopt when absent or null. Throws
/// ApiError(400) naming the field when it has another type or exceeds @p max_bytes.
std::optional<std::string> json_string(const nlohmann::json& object, const char* name, std::size_t max_bytes);
/// As json_string() for an integer in [@p low, @p high] (a float with no fraction counts).
std::optional<std::int64_t> json_integer(const nlohmann::json& object, const char* name, std::int64_t low, std::int64_t high);
/// As json_string() for a finite number in [@p low, @p high].
std::optional<double> json_number(const nlohmann::json& object, const char* name, double low, double high);
/// As json_string() for a boolean.
std::optional<bool> json_bool(const nlohmann::json& object, const char* name);
/// As json_string() for a string or a list of strings (OpenAI's `stop`): at most
/// @p max_count non-empty strings of at most @p max_bytes each.
std::vector<std::string> json_string_list(const nlohmann::json& object, const char* name, std::size_t max_count,
                                          std::size_t max_bytes);

/// Form fields (chat.petals.dev's /api/v1/generate): the same checks over text values.
std::optional<std::int64_t> form_integer(const std::map<std::string, std::string>& form, const char* name, std::int64_t low,
                                         std::int64_t high);
/// See form_integer(): a finite number in [@p low, @p high].
std::optional<double> form_number(const std::map<std::string, std::string>& form, const char* name, double low, double high);
/// See form_integer(): "1"/"0"/"true"/"false" (any case).
std::optional<bool> form_bool(const std::map<std::string, std::string>& form, const char* name);

/// Builds sampling parameters the way transformers' generate() reads chat.petals.dev's
/// fields: greedy unless @p do_sample; temperature, top_k, top_p, repetition penalty as given.
/// Throws ApiError(400) for values SamplingParams::validate() refuses.
SamplingParams petals_sampling(std::optional<bool> do_sample, std::optional<double> temperature, std::optional<std::int64_t> top_k,
                               std::optional<double> top_p, std::optional<double> repetition_penalty);

/// Returns a seed from the kernel's random source (for requests that name none).
std::uint64_t random_seed();

/// Returns @p prefix followed by 24 random hex digits (response ids).
std::string random_id(const std::string& prefix);

}  // namespace petalsln::gateway
