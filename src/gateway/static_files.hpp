#pragma once
// The web chat page's files (web/chat/ in the source tree, share/petalsln/web/chat/ when
// installed), served by the gateway from a fixed list: no other file under the folder, no
// directory listing, no path from the request ever reaches the file system.

#include <cstdint>
#include <optional>
#include <string>

#include "gateway/api_handlers.hpp"
#include "gateway/http_types.hpp"

namespace petalsln::gateway {

/// The largest static file served, in bytes (a bigger one is refused with 500 and logged).
inline constexpr std::uint64_t kStaticFileMaxBytes = 2 * 1024 * 1024;

/// Looks up @p url_path (the request's path, without its query) in the page's fixed list of
/// files and returns the file under @p web_root with its content type and safety headers
/// (Content-Security-Policy, X-Content-Type-Options, Cache-Control); nullopt when @p web_root is
/// empty or @p url_path is not one of the page's files. Throws ApiError 404 when the path is on
/// the list but the file is missing, and 500 when it is not a regular file or is too large.
std::optional<HttpResponse> static_file_response(const std::string& web_root, const std::string& url_path);

/// The path of the page's own settings: web_config_response().
inline constexpr const char* kWebConfigPath = "/api/v1/webchat";

/// What the page needs to know before the first message, as JSON: the model's name, blocks and
/// context length, whether the gateway is free, its price per 1000 tokens and the credit one
/// payment buys.
HttpResponse web_config_response(const ApiContext& api);

}  // namespace petalsln::gateway
