// The HTTP client's defences, against a real loopback TCP server run by the test.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "net/http_client.hpp"
#include "petalsln/util/error.hpp"

using petalsln::Error;
using petalsln::ErrorCode;
using namespace petalsln::lightning;

namespace {

// Serves one canned reply per connection (after an optional delay) and remembers the last
// request it read, until destroyed.
class CannedServer {
 public:
  CannedServer(std::string reply, std::chrono::milliseconds delay = std::chrono::milliseconds(0))
      : reply_(std::move(reply)), delay_(delay) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::string last_request() const { return last_request_; }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string request;
      char buf[4096];
      // Read the headers and (for these tests) whatever body arrived with them.
      while (request.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      last_request_ = request;
      std::this_thread::sleep_for(delay_);
      std::size_t off = 0;
      while (off < reply_.size()) {
        const ssize_t n = ::send(c, reply_.data() + off, reply_.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      ::close(c);
    }
  }
  std::string reply_;
  std::chrono::milliseconds delay_;
  int fd_ = -1;
  unsigned short port_ = 0;
  std::atomic<bool> stop_{false};
  std::string last_request_;
  std::thread thread_;
};

std::string ok_reply(const std::string& body, const std::string& type = "application/json") {
  return "HTTP/1.1 200 OK\r\nContent-Type: " + type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

HttpOptions loopback_options() {
  HttpOptions o;
  o.allow_http_loopback = true;
  o.timeout = std::chrono::milliseconds(3000);
  return o;
}

}  // namespace

TEST_CASE("http: loopback hosts are recognised, nothing else is") {
  for (const char* h : {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"}) CHECK(is_loopback_host(h));
  for (const char* h : {"example.com", "128.0.0.1", "127.0.0", "127.0.0.1.example.com", "10.0.0.1", "1270.0.0.1", "",
                        "127.0.0.256", "localhost.evil"}) {
    CHECK_FALSE(is_loopback_host(h));
  }
}

TEST_CASE("http: queries are redacted") {
  CHECK(redact_url("https://n/api?key=secret") == "https://n/api?...");
  CHECK(redact_url("https://n/api#frag") == "https://n/api?...");
  CHECK(redact_url("https://n/api") == "https://n/api");
}

TEST_CASE("http: a reply comes back with status, type and body; headers and body are sent") {
  CannedServer server(ok_reply(R"({"ok":true})", "Application/JSON; charset=utf-8"));
  HttpRequest req;
  req.method = "POST";
  req.url = server.url("/v1/thing");
  req.headers = {{"X-Api-Key", "k1"}};
  req.body = R"({"a":1})";
  const HttpResponse r = http_request(req, loopback_options());
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json; charset=utf-8");
  CHECK(r.body == R"({"ok":true})");
  CHECK(server.last_request().rfind("POST /v1/thing HTTP/1.1\r\n", 0) == 0);
  CHECK(server.last_request().find("X-Api-Key: k1\r\n") != std::string::npos);
}

TEST_CASE("http: error statuses are returned, not thrown; redirects are not followed") {
  CannedServer server("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  HttpRequest req;
  req.url = server.url("/");
  CHECK(http_request(req, loopback_options()).status == 302);
}

TEST_CASE("http: plain http is refused unless allowed, and then only to loopback") {
  HttpRequest req;
  req.url = "http://127.0.0.1:9/x";
  try {
    http_request(req, HttpOptions{});
    FAIL("plain http accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("plain http") != std::string::npos);
  }
  req.url = "http://example.com/x?key=SECRET";
  try {
    http_request(req, loopback_options());
    FAIL("plain http to a remote host accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_argument);
    CHECK(std::string(e.what()).find("SECRET") == std::string::npos);
  }
  for (const char* bad : {"ftp://127.0.0.1/x", "not a url", "https://user:pw@127.0.0.1/x", "file:///etc/passwd"}) {
    req.url = bad;
    CHECK_THROWS_AS(http_request(req, loopback_options()), Error);
  }
}

TEST_CASE("http: oversized replies are refused") {
  CannedServer server(ok_reply(std::string(5000, 'x')));
  HttpRequest req;
  req.url = server.url("/big");
  HttpOptions o = loopback_options();
  o.max_response_bytes = 4096;
  try {
    http_request(req, o);
    FAIL("oversized reply accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK(std::string(e.what()).find("4096-byte limit") != std::string::npos);
  }
  o.max_response_bytes = 5000;
  CHECK(http_request(req, o).body.size() == 5000);
}

TEST_CASE("http: a slow reply times out with a clear error that hides the query") {
  CannedServer server(ok_reply("{}"), std::chrono::milliseconds(1500));
  HttpRequest req;
  req.url = server.url("/slow?key=SECRET");
  HttpOptions o = loopback_options();
  o.timeout = std::chrono::milliseconds(300);
  try {
    http_request(req, o);
    FAIL("slow reply accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    const std::string what = e.what();
    CHECK(what.find("timed out") != std::string::npos);
    CHECK(what.find("SECRET") == std::string::npos);
  }
}

TEST_CASE("http: a closed port is an io error naming the endpoint") {
  HttpRequest req;
  req.url = "http://127.0.0.1:1/x";
  try {
    http_request(req, loopback_options());
    FAIL("connected to port 1");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK(std::string(e.what()).find("127.0.0.1:1") != std::string::npos);
  }
}

TEST_CASE("http: header injection is refused") {
  HttpRequest req;
  req.url = "http://127.0.0.1:1/x";
  req.headers = {{"X-A", "v\r\nX-Evil: 1"}};
  CHECK_THROWS_AS(http_request(req, loopback_options()), Error);
}
