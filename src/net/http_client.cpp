// HTTP(S) requests over libcurl, with the limits every peer-answered request needs.

#include "net/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <mutex>

#include "petalsln/util/error.hpp"
#include "util/uri.hpp"

namespace petalsln::lightning {
namespace {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    // CURL_GLOBAL_DEFAULT sets up OpenSSL; done once, before any thread uses an easy handle.
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw Error(ErrorCode::io, "libcurl failed to initialise");
    }
  });
}

struct CurlEasyDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The parts of a URL that are safe to show: scheme://host[:port]/path (no query, no userinfo).
struct ParsedUrl {
  std::string scheme;
  std::string host;
  std::string shown;
};

ParsedUrl parse_url(const std::string& url) {
  util::Uri uri;
  try {
    uri = util::Uri::parse(url);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_argument, "malformed URL '" + redact_url(url) + "': " + e.what());
  }
  ParsedUrl p;
  p.scheme = lower(uri.scheme);
  p.host = lower(uri.host);
  const std::string port = uri.port ? ":" + std::to_string(*uri.port) : std::string();
  p.shown = p.scheme + "://" + p.host + port + (uri.path.empty() ? "/" : uri.path);
  if (p.scheme != "http" && p.scheme != "https") {
    throw Error(ErrorCode::invalid_argument, "URL '" + p.shown + "' must be http:// or https://");
  }
  if (!uri.has_authority || p.host.empty()) throw Error(ErrorCode::invalid_argument, "URL '" + p.shown + "' has no host");
  if (uri.userinfo) {
    // Credentials belong in headers the backend controls, never in a URL that may be logged.
    throw Error(ErrorCode::invalid_argument, "URL '" + p.shown + "' must not carry a user name or password");
  }
  return p;
}

struct ReplySink {
  std::string body;
  std::size_t limit = 0;
  bool overflow = false;
  bool stop_after_first_line = false;
  bool stopped = false;  // stop_after_first_line ended the transfer on purpose
};

std::size_t write_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<ReplySink*>(user);
  const std::size_t n = size * count;
  if (sink->body.size() + n > sink->limit) {
    sink->overflow = true;
    return 0;  // makes libcurl abort the transfer with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  if (sink->stop_after_first_line) {
    const std::size_t nl = sink->body.find('\n');
    if (nl != std::string::npos) {
      sink->body.resize(nl + 1);
      sink->stopped = true;
      return 0;  // aborts the transfer; perform() then reports the line as the reply
    }
  }
  return n;
}

template <typename T>
void set_option(CURL* curl, CURLoption option, T value) {
  if (curl_easy_setopt(curl, option, value) != CURLE_OK) {
    throw Error(ErrorCode::io, "libcurl refused an option (" + std::to_string(static_cast<int>(option)) + ")");
  }
}

}  // namespace

bool is_loopback_host(const std::string& host_in) {
  std::string host = lower(host_in);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host == "::1") return true;
  // 127.0.0.0/8 written as a dotted quad.
  int parts = 0;
  std::size_t i = 0;
  int first = -1;
  while (i <= host.size()) {
    std::size_t j = i;
    while (j < host.size() && std::isdigit(static_cast<unsigned char>(host[j])) != 0) ++j;
    if (j == i || j - i > 3) return false;
    const int value = std::atoi(host.substr(i, j - i).c_str());
    if (value > 255) return false;
    if (parts == 0) first = value;
    ++parts;
    if (j == host.size()) break;
    if (host[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4 && first == 127;
}

std::string redact_url(const std::string& url) {
  const std::size_t q = url.find_first_of("?#");
  return q == std::string::npos ? url : url.substr(0, q) + "?...";
}

HttpResponse http_request(const HttpRequest& request, const HttpOptions& options) {
  global_init_once();
  const ParsedUrl url = parse_url(request.url);
  if (url.scheme == "http") {
    if (!options.allow_http_loopback) {
      throw Error(ErrorCode::invalid_argument,
                  "plain http:// is refused for '" + url.shown + "'; use https:// (plain http is allowed only to loopback hosts, when enabled for tests)");
    }
    if (!is_loopback_host(url.host)) {
      throw Error(ErrorCode::invalid_argument, "plain http:// is allowed only to loopback hosts, not '" + url.host + "'");
    }
  }
  if (request.method.empty() || request.method.find_first_of(" \r\n") != std::string::npos) {
    throw Error(ErrorCode::invalid_argument, "malformed HTTP method");
  }

  std::unique_ptr<CURL, CurlEasyDeleter> curl(curl_easy_init());
  if (!curl) throw Error(ErrorCode::io, "libcurl could not create a handle");
  CURL* c = curl.get();

  std::unique_ptr<curl_slist, CurlSlistDeleter> headers;
  for (const auto& [name, value] : request.headers) {
    if (name.find_first_of(":\r\n") != std::string::npos || value.find_first_of("\r\n") != std::string::npos) {
      throw Error(ErrorCode::invalid_argument, "malformed HTTP header '" + name + "'");
    }
    const std::string line = name + ": " + value;
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) throw Error(ErrorCode::io, "out of memory building HTTP headers");
    (void)headers.release();
    headers.reset(next);
  }
  // libcurl adds "Expect: 100-continue" to larger POSTs; the APIs we talk to don't need it.
  curl_slist* next = curl_slist_append(headers.get(), "Expect:");
  if (next == nullptr) throw Error(ErrorCode::io, "out of memory building HTTP headers");
  (void)headers.release();
  headers.reset(next);

  ReplySink sink;
  sink.limit = options.max_response_bytes;
  sink.stop_after_first_line = options.stop_after_first_line;
  char error_buffer[CURL_ERROR_SIZE] = {0};

  set_option(c, CURLOPT_URL, request.url.c_str());
  set_option(c, CURLOPT_PROTOCOLS_STR, "http,https");
  set_option(c, CURLOPT_FOLLOWLOCATION, 0L);
  set_option(c, CURLOPT_NOSIGNAL, 1L);
  set_option(c, CURLOPT_NOPROXY, "*");  // loopback test servers and nodes are reached directly
  set_option(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  set_option(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  set_option(c, CURLOPT_ERRORBUFFER, error_buffer);
  set_option(c, CURLOPT_WRITEFUNCTION, &write_body);
  set_option(c, CURLOPT_WRITEDATA, static_cast<void*>(&sink));
  set_option(c, CURLOPT_HTTPHEADER, headers.get());
  set_option(c, CURLOPT_SSL_VERIFYPEER, 1L);
  set_option(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) {
    set_option(c, CURLOPT_CAINFO, options.ca_file.c_str());
    set_option(c, CURLOPT_CAPATH, static_cast<const char*>(nullptr));
    if (options.skip_hostname_check_with_ca_file) set_option(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (request.method == "GET") {
    set_option(c, CURLOPT_HTTPGET, 1L);
  } else {
    set_option(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (!request.body.empty() || request.method == "POST") {
    set_option(c, CURLOPT_POSTFIELDS, request.body.c_str());
    set_option(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  }

  const CURLcode rc = curl_easy_perform(c);
  if (sink.overflow) {
    throw Error(ErrorCode::io, "reply from " + url.shown + " is larger than the " +
                                   std::to_string(options.max_response_bytes) + "-byte limit");
  }
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && sink.stopped)) {
    std::string why = error_buffer[0] != '\0' ? std::string(error_buffer) : std::string(curl_easy_strerror(rc));
    if (rc == CURLE_OPERATION_TIMEDOUT) why = "timed out after " + std::to_string(options.timeout.count()) + " ms";
    throw Error(ErrorCode::io, "HTTP " + request.method + " " + url.shown + " failed: " + why);
  }
  HttpResponse response;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* content_type = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type != nullptr) {
    response.content_type = lower(content_type);
  }
  response.body = std::move(sink.body);
  return response;
}

}  // namespace petalsln::lightning
