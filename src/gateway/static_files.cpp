// The web chat page's files, served from a fixed list (see static_files.hpp).

#include "gateway/static_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <nlohmann/json.hpp>

#include "gateway/api_error.hpp"
#include "gateway/invoice_api.hpp"
#include "util/log.hpp"

namespace petalsln::gateway {

namespace {

struct StaticFile {
  const char* url_path;
  const char* file;  // relative to the web root; never derived from the request
  const char* content_type;
  const char* fallback = nullptr;  // where the file is in the source tree when not installed
};

// Every file the page consists of. A request for anything else is not a static file.
constexpr std::array<StaticFile, 6> kFiles{{
    {"/", "index.html", "text/html; charset=utf-8"},
    {"/index.html", "index.html", "text/html; charset=utf-8"},
    {"/app.js", "app.js", "text/javascript; charset=utf-8"},
    {"/style.css", "style.css", "text/css; charset=utf-8"},
    {"/favicon.svg", "favicon.svg", "image/svg+xml"},
    // npm's qrcode-generator: vendored into the installed page, read from node_modules in the
    // source tree (scripts/install-js-deps.sh).
    {"/vendor/qrcode.js", "vendor/qrcode.js", "text/javascript; charset=utf-8", "node_modules/qrcode-generator/dist/qrcode.js"},
}};

// The page loads only its own files and talks only to this gateway (HTTP and WebSocket);
// QR codes are drawn as data: images.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string read_file(const std::string& path, const std::string& fallback) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0 && !fallback.empty()) f.fd = ::open(fallback.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) throw ApiError(404, "invalid_request_error", "this file of the web chat page is missing");
  struct stat st {};
  if (::fstat(f.fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) > kStaticFileMaxBytes) {
    util::log(util::LogLevel::error, "gateway: web file " + path + " is not a regular file of at most " + std::to_string(kStaticFileMaxBytes) + " bytes");
    throw ApiError(500, "server_error", "internal error", "", "internal_error");
  }
  std::string data(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(f.fd, data.data() + done, data.size() - done);
    if (n < 0) throw ApiError(500, "server_error", "internal error", "", "internal_error");
    if (n == 0) break;  // shrank while being read
    done += static_cast<std::size_t>(n);
  }
  data.resize(done);
  return data;
}

}  // namespace

std::optional<HttpResponse> static_file_response(const std::string& web_root, const std::string& url_path) {
  if (web_root.empty()) return std::nullopt;
  for (const auto& f : kFiles) {
    if (url_path != f.url_path) continue;
    const std::string fallback = f.fallback ? web_root + "/" + f.fallback : std::string();
    HttpResponse response{200, f.content_type, read_file(web_root + "/" + f.file, fallback), {}};
    response.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    response.headers.emplace_back("Cache-Control", "no-cache");
    return response;
  }
  return std::nullopt;
}

HttpResponse web_config_response(const ApiContext& api) {
  const nlohmann::json out = {{"ok", true},
                              {"model", api.service.model_name()},
                              {"num_blocks", api.service.num_blocks()},
                              {"context_length", api.service.context_length()},
                              {"free", api.billing.free()},
                              {"price_msat_per_1k_tokens", api.billing.free() ? 0 : api.options.price_msat_per_1k_tokens},
                              {"credit_tokens", api.options.credit_tokens},
                              {"max_new_tokens", api.options.max_new_tokens},
                              {"demo_wallet", api.invoices.has_demo_wallet()}};
  HttpResponse response{200, "application/json", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), {}};
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

}  // namespace petalsln::gateway
