#include "gateway/connection.hpp"

#include <array>
#include <future>
#include <type_traits>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

namespace petalsln::gateway {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using error_code = boost::system::error_code;
using Parser = http::request_parser<http::string_body>;

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection over Stream (PlainStream or TlsStream): every function below is written once
// for both, so HTTPS and WSS run exactly the code HTTP and WS do.
template <class Stream>
struct StreamIo final : ConnectionIo {
  template <class... TlsContext>
  explicit StreamIo(net::ip::tcp::socket socket, TlsContext&... tls)
      : ConnectionIo(socket.get_executor()), stream(std::move(socket), tls...) {}

  Stream stream;                                  ///< Moved into ws on upgrade.
  std::optional<websocket::stream<Stream>> ws;    ///< After an upgrade.

  // The TCP socket under every layer, wherever the stream now lives.
  net::ip::tcp::socket& socket() { return ws ? beast::get_lowest_layer(*ws).socket() : beast::get_lowest_layer(stream).socket(); }

  void post_close() override {
    net::post(executor, [self = std::static_pointer_cast<StreamIo>(shared_from_this())] {
      error_code ignored;
      self->socket().close(ignored);
    });
  }

  void serve(ConnectionHub& hub, ApiContext& api) noexcept override;
  void refuse_busy(std::chrono::milliseconds timeout) override;
};

template <class Stream>
constexpr bool is_tls = std::is_same_v<Stream, TlsStream>;

// Runs the operation @p initiate starts on @p io's strand and waits for it at most
// @p timeout (then closes the socket, which ends it). Returns its error, or timeout.
template <class Initiate>
error_code run_on_strand(ConnectionIo& io, Initiate initiate, std::chrono::milliseconds timeout) {
  auto done = std::make_shared<std::promise<error_code>>();
  auto result = done->get_future();
  net::post(io.executor, [initiate, done]() mutable { initiate([done](error_code ec, auto&&...) { done->set_value(ec); }); });
  if (result.wait_for(timeout) == std::future_status::timeout) {
    io.post_close();
    result.wait();
    return beast::error::timeout;
  }
  return result.get();
}

constexpr std::chrono::milliseconds kForever{std::chrono::hours(24 * 365)};

// Writes responses to one HTTP request (whole or chunked) within the write timeout.
template <class Stream>
class BeastResponseWriter final : public ResponseWriter {
 public:
  BeastResponseWriter(StreamIo<Stream>& io, ConnectionHub& hub, const GatewayOptions& options, unsigned version, bool keep_alive, bool head)
      : io_(io), hub_(hub), options_(options), version_(version), keep_alive_(keep_alive), head_(head) {}

  bool respond(const HttpResponse& r) override {
    if (account.status == 0) account.status = r.status;
    http::response<http::string_body> res{static_cast<http::status>(r.status), version_};
    res.set(http::field::server, "petalsln-gateway");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res.insert(name, value);  // a 402 has two WWW-Authenticate
    res.body() = head_ ? std::string() : r.body;
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    if (head_) res.content_length(r.body.size());
    return ok(run_on_strand(io_, [this, &res](auto handler) { http::async_write(io_.stream, res, std::move(handler)); }, options_.write_timeout));
  }

  bool begin_stream(int status, const std::string& content_type) override {
    account.status = status;
    http::response<http::empty_body> res{static_cast<http::status>(status), version_};
    res.set(http::field::server, "petalsln-gateway");
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-cache");
    res.keep_alive(keep_alive_);
    res.chunked(true);
    http::response_serializer<http::empty_body> serializer{res};
    return ok(run_on_strand(io_, [this, &serializer](auto handler) { http::async_write_header(io_.stream, serializer, std::move(handler)); },
                            options_.write_timeout));
  }

  bool write_chunk(const std::string& data) override {
    if (data.empty()) return !failed_;
    if (failed_) return false;
    return ok(run_on_strand(io_, [this, &data](auto handler) { net::async_write(io_.stream, http::make_chunk(net::buffer(data)), std::move(handler)); },
                            options_.write_timeout));
  }

  bool end_stream() override {
    if (failed_) return false;
    return ok(run_on_strand(io_, [this](auto handler) { net::async_write(io_.stream, http::make_chunk_last(), std::move(handler)); },
                            options_.write_timeout));
  }

  bool cancelled() const override { return failed_ || hub_.cancelled(); }
  bool failed() const noexcept { return failed_; }

 private:
  bool ok(error_code ec) {
    if (ec) failed_ = true;
    return !ec;
  }
  StreamIo<Stream>& io_;
  ConnectionHub& hub_;
  const GatewayOptions& options_;
  unsigned version_;
  bool keep_alive_;
  bool head_;
  bool failed_ = false;
};

// Writes a plain-text refusal of a request that could not be read, then the connection ends.
template <class Stream>
void refuse(StreamIo<Stream>& io, const GatewayOptions& options, int status, const std::string& message) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.body() = R"({"error": {"message": ")" + message + R"(", "type": "invalid_request_error", "param": null, "code": null}})";
  res.keep_alive(false);
  res.prepare_payload();
  run_on_strand(io, [&io, &res](auto handler) { http::async_write(io.stream, res, std::move(handler)); }, options.write_timeout);
}

std::string log_line(const std::string& method, const std::string& path, const RequestAccount& a, std::int64_t ms) {
  return "gateway: " + method + " " + path + " " + std::to_string(a.status) + " tokens=" + std::to_string(a.tokens) +
         " msat=" + std::to_string(a.msat) + " ms=" + std::to_string(ms);
}

// A WebSocket session's messages over Beast.
template <class Stream>
class BeastChannel final : public MessageChannel {
 public:
  BeastChannel(StreamIo<Stream>& io, ConnectionHub& hub, const std::shared_ptr<ConnectionIo>& self, const GatewayOptions& options,
               std::string path)
      : io_(io), hub_(hub), self_(self), options_(options), path_(std::move(path)) {}

  ChannelMessage receive() override {
    if (!hub_.set_idle(self_, true)) return {};
    buffer_.clear();
    const error_code ec = run_on_strand(io_, [this](auto handler) { io_.ws->async_read(buffer_, std::move(handler)); }, kForever);
    hub_.set_idle(self_, false);
    if (ec) return {};
    ChannelMessage m;
    m.kind = io_.ws->got_binary() ? ChannelMessage::Kind::binary : ChannelMessage::Kind::text;
    m.data = beast::buffers_to_string(buffer_.data());
    return m;
  }

  bool send(const std::string& text) override {
    if (failed_) return false;
    io_.ws->text(true);
    const error_code ec =
        run_on_strand(io_, [this, &text](auto handler) { io_.ws->async_write(net::buffer(text), std::move(handler)); }, options_.write_timeout);
    failed_ = failed_ || static_cast<bool>(ec);
    return !failed_;
  }

  bool cancelled() const override { return failed_ || hub_.cancelled(); }

  void log(const std::string& what, const RequestAccount& account, std::int64_t ms) override {
    if (options_.request_log) options_.request_log(log_line("WS", path_ + " " + what, account, ms));
  }

 private:
  StreamIo<Stream>& io_;
  ConnectionHub& hub_;
  std::shared_ptr<ConnectionIo> self_;
  const GatewayOptions& options_;
  std::string path_;
  beast::flat_buffer buffer_;
  bool failed_ = false;
};

// The client's IP address ("" once the socket is gone).
template <class Stream>
std::string remote_address(StreamIo<Stream>& io) {
  error_code ec;
  const auto endpoint = io.socket().remote_endpoint(ec);
  return ec ? std::string() : endpoint.address().to_string();
}

template <class Stream>
void run_websocket(const std::shared_ptr<StreamIo<Stream>>& io, ConnectionHub& hub, ApiContext& api, Parser& parser) {
  const GatewayOptions& options = api.options;
  const std::string remote = remote_address(*io);  // before the socket moves into the WebSocket
  std::promise<void> moved;
  net::post(io->executor, [&] {
    io->ws.emplace(std::move(io->stream));
    websocket::stream_base::timeout t;
    t.handshake_timeout = options.header_timeout;
    t.idle_timeout = options.idle_timeout;
    t.keep_alive_pings = true;
    io->ws->set_option(t);
    io->ws->read_message_max(options.max_body_bytes);
    io->ws->set_option(websocket::stream_base::decorator([](websocket::response_type& r) { r.set(http::field::server, "petalsln-gateway"); }));
    moved.set_value();
  });
  moved.get_future().wait();
  const auto request = parser.release();
  if (run_on_strand(*io, [&io, &request](auto handler) { io->ws->async_accept(request, std::move(handler)); }, options.header_timeout)) return;
  BeastChannel<Stream> channel(*io, hub, io, options, std::string(request.target()));
  run_petals_session(api, channel, remote);
  // Say goodbye properly when the socket still stands (the client may have gone already).
  run_on_strand(*io, [&io](auto handler) { io->ws->async_close(websocket::close_code::normal, std::move(handler)); }, options.write_timeout);
}

HttpRequest to_request(const http::request<http::string_body>& req) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  const std::string target(req.target());
  const std::size_t q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? std::string() : target.substr(q + 1);
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(field.value());
  }
  r.body = req.body();
  return r;
}

// Reads one request: waits (idle) for its first byte, then its head and body within their
// timeouts. Returns the error; beast's header_limit/body_limit say what was too large.
template <class Stream>
error_code read_request(const std::shared_ptr<StreamIo<Stream>>& io, ConnectionHub& hub, const GatewayOptions& options,
                        beast::flat_buffer& buffer, Parser& parser, bool first) {
  if (buffer.size() == 0) {
    if (!hub.set_idle(io, true)) return net::error::operation_aborted;
    const auto wait = first ? options.header_timeout : options.idle_timeout;
    const error_code ec = run_on_strand(*io, [&io, &buffer](auto handler) {
      io->stream.async_read_some(buffer.prepare(4096), [&buffer, h = std::move(handler)](error_code e, std::size_t n) mutable {
        buffer.commit(n);
        h(e, n);
      });
    }, wait);
    hub.set_idle(io, false);
    if (ec) return ec;
  } else {
    hub.set_idle(io, false);
  }
  error_code ec = run_on_strand(*io, [&io, &buffer, &parser](auto handler) { http::async_read_header(io->stream, buffer, parser, std::move(handler)); },
                                options.header_timeout);
  if (ec || parser.is_done()) return ec;
  return run_on_strand(*io, [&io, &buffer, &parser](auto handler) { http::async_read(io->stream, buffer, parser, std::move(handler)); },
                       options.body_timeout);
}

// Serves one request; returns true when the connection may carry another.
template <class Stream>
bool serve_one(const std::shared_ptr<StreamIo<Stream>>& io, ConnectionHub& hub, ApiContext& api, beast::flat_buffer& buffer, bool first) {
  const GatewayOptions& options = api.options;
  Parser parser;
  parser.header_limit(options.max_header_bytes);
  parser.body_limit(options.max_body_bytes);
  const auto started = std::chrono::steady_clock::now();
  const error_code ec = read_request(io, hub, options, buffer, parser, first);
  if (ec == http::error::header_limit) {
    refuse(*io, options, 431, "the request head is larger than " + std::to_string(options.max_header_bytes) + " bytes");
    return false;
  }
  if (ec == http::error::body_limit) {
    refuse(*io, options, 413, "the request body is larger than " + std::to_string(options.max_body_bytes) + " bytes");
    return false;
  }
  if (ec == beast::error::timeout && parser.got_some()) {
    refuse(*io, options, 408, "the request took too long to arrive");
    return false;
  }
  if (ec) {
    if (parser.got_some() && ec != http::error::end_of_stream && ec != net::error::operation_aborted) refuse(*io, options, 400, "malformed HTTP request");
    return false;
  }
  auto& req = parser.get();
  HttpRequest request = to_request(req);
  request.remote = remote_address(*io);
  if (websocket::is_upgrade(req) && request.path == kPetalsWebSocketPath) {
    run_websocket(io, hub, api, parser);
    return false;
  }
  BeastResponseWriter<Stream> writer(*io, hub, options, req.version(), req.keep_alive(), req.method() == http::verb::head);
  handle_request(api, request, writer);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (options.request_log) options.request_log(log_line(request.method, request.path, writer.account, ms));
  return req.keep_alive() && !writer.failed();
}

// Completes the TLS handshake of a TLS connection within the handshake timeout (true when
// done; nothing to do on a plain one). The connection counts as idle meanwhile, so a stop
// closes it, and a stranger who never finishes holds it no longer than the timeout.
template <class Stream>
bool handshake(const std::shared_ptr<StreamIo<Stream>>& io, ConnectionHub& hub, const GatewayOptions& options) {
  if constexpr (is_tls<Stream>) {
    if (!hub.set_idle(io, true)) return false;
    const error_code ec = run_on_strand(*io, [&io](auto handler) { io->stream.async_handshake(net::ssl::stream_base::server, std::move(handler)); },
                                        options.tls_handshake_timeout);
    hub.set_idle(io, false);
    return !ec;
  } else {
    return true;
  }
}

// What a client past max_connections reads before the socket closes.
const std::string& busy_response() {
  static const std::string body =
      R"({"error": {"message": "too many connections; retry shortly", "type": "server_error", "param": null, "code": null}})";
  static const std::string text =
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nConnection: close\r\n"
      "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return text;
}

// Reads and drops what the client of a refused connection still sends (its request, a TLS
// close_notify) until it closes or the stream's expiry passes, then closes: closing with
// unread data would reset the connection, and a client could lose the answer or fail
// writing. Holds @p io until done.
template <class Stream>
void drain_then_close(std::shared_ptr<StreamIo<Stream>> io, std::shared_ptr<std::array<char, 512>> scratch) {
  auto& tcp = beast::get_lowest_layer(io->stream);
  tcp.async_read_some(net::buffer(*scratch), [io, scratch](error_code ec, std::size_t) mutable {
    if (!ec) return drain_then_close(std::move(io), std::move(scratch));
    error_code ignored;
    io->socket().close(ignored);
  });
}

template <class Stream>
void StreamIo<Stream>::serve(ConnectionHub& hub, ApiContext& api) noexcept {
  const auto self = std::static_pointer_cast<StreamIo>(shared_from_this());
  try {
    if (handshake(self, hub, api.options)) {
      beast::flat_buffer buffer;
      for (bool first = true; serve_one(self, hub, api, buffer, first); first = false) {
      }
    }
  } catch (const std::exception&) {
    // Nothing more can be said to this client; the socket closes below.
  }
  std::promise<void> closed;
  net::post(executor, [&] {
    error_code ignored;
    socket().shutdown(net::ip::tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
}

template <class Stream>
void StreamIo<Stream>::refuse_busy(std::chrono::milliseconds timeout) {
  auto self = std::static_pointer_cast<StreamIo>(shared_from_this());
  // The operations below keep the connection alive until done; the expiry bounds them all.
  beast::get_lowest_layer(stream).expires_after(timeout);
  auto write = [self] {
    net::async_write(self->stream, net::buffer(busy_response()), [self](error_code ec, std::size_t) {
      error_code ignored;
      if (ec) {
        self->socket().close(ignored);
        return;
      }
      self->socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);  // the answer is whole
      drain_then_close(self, std::make_shared<std::array<char, 512>>());
    });
  };
  if constexpr (is_tls<Stream>) {
    stream.async_handshake(net::ssl::stream_base::server, [self, write](error_code ec) {
      if (!ec) return write();
      error_code ignored;
      self->socket().close(ignored);
    });
  } else {
    write();
  }
}

}  // namespace

std::shared_ptr<ConnectionIo> make_connection(net::ip::tcp::socket socket, net::ssl::context* tls) {
  if (tls != nullptr) return std::make_shared<StreamIo<TlsStream>>(std::move(socket), *tls);
  return std::make_shared<StreamIo<PlainStream>>(std::move(socket));
}

void refuse_busy(const std::shared_ptr<ConnectionIo>& io, std::chrono::milliseconds timeout) { io->refuse_busy(timeout); }

void run_connection(const std::shared_ptr<ConnectionIo>& io, ConnectionHub& hub, ApiContext& api) { io->serve(hub, api); }

// ---- the hub ----

bool ConnectionHub::admit(const std::shared_ptr<ConnectionIo>& io, std::size_t max_connections) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || all_.size() >= max_connections) return false;
  all_.insert(io);
  return true;
}

void ConnectionHub::leave(const std::shared_ptr<ConnectionIo>& io) {
  std::lock_guard<std::mutex> lock(mutex_);
  all_.erase(io);
  empty_.notify_all();
}

bool ConnectionHub::set_idle(const std::shared_ptr<ConnectionIo>& io, bool idle) {
  std::lock_guard<std::mutex> lock(mutex_);
  io->idle = idle;
  return !(idle && stopping_);
}

void ConnectionHub::begin_stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  for (const auto& io : all_) {
    if (io->idle) io->post_close();
  }
}

void ConnectionHub::cancel_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  cancelled_ = true;
  for (const auto& io : all_) io->post_close();
}

bool ConnectionHub::wait_empty(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return empty_.wait_for(lock, timeout, [this] { return all_.empty(); });
}

}  // namespace petalsln::gateway
