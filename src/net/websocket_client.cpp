#include "net/websocket_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <algorithm>

#include "petalsln/util/error.hpp"
#include "util/uri.hpp"
#include "util/utf8.hpp"

namespace petalsln::lightning {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;
using PlainStream = websocket::stream<tcp::socket>;
using TlsStream = websocket::stream<asio::ssl::stream<tcp::socket>>;

constexpr std::size_t kMaxUrl = 2048;
// How long close() waits for the peer to answer the close frame and end the connection.
constexpr auto kCloseWait = std::chrono::seconds(1);

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

// A server-chosen text cut to @p max printable ASCII characters, safe for an error message.
std::string printable(std::string_view s, std::size_t max = 80) {
  std::string out;
  for (const char c : s.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

// The reason of OpenSSL's oldest queued error, which is then cleared.
std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The result of one asynchronous operation, filled in by its completion handler.
struct Completion {
  bool done = false;
  error_code ec;
};

// A completion handler recording into @p c (which is reset); fits every handler signature
// used here: (ec), (ec, bytes) and (ec, endpoint).
auto record_into(Completion& c) {
  c = {};
  return [&c](const error_code& ec, auto&&...) {
    c.ec = ec;
    c.done = true;
  };
}

}  // namespace

WebSocketUrl WebSocketUrl::parse(std::string_view url) {
  // util::Uri lets a space through in the path and query; an HTTP request line cannot carry one.
  for (const char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      throw Error(ErrorCode::invalid_argument, "WebSocket URL contains a space or control character");
    }
  }
  const std::size_t sep = url.find("://");
  const std::string scheme = lowered(url.substr(0, sep == std::string_view::npos ? 0 : sep));
  if (scheme != "ws" && scheme != "wss") throw Error(ErrorCode::invalid_argument, "relay URL must start with ws:// or wss://");
  util::UriOptions limits;
  limits.max_length = kMaxUrl;
  util::Uri uri;
  try {
    uri = util::Uri::parse(url, limits);
  } catch (const Error& e) {
    throw Error(ErrorCode::invalid_argument, std::string("WebSocket URL: ") + e.what());
  }
  if (uri.userinfo) throw Error(ErrorCode::invalid_argument, "WebSocket URL must not carry user info");
  if (uri.fragment) throw Error(ErrorCode::invalid_argument, "WebSocket URL must not have a fragment");
  if (uri.host.empty()) throw Error(ErrorCode::invalid_argument, "WebSocket URL has no host");
  WebSocketUrl out;
  out.tls = scheme == "wss";
  const bool bracketed = uri.host.front() == '[';  // an IPv6 literal, checked by Uri
  out.host = bracketed ? uri.host.substr(1, uri.host.size() - 2) : uri.host;
  out.port = uri.port.value_or(out.tls ? 443 : 80);
  out.target = (uri.path.empty() ? "/" : uri.path) + (uri.query ? "?" + *uri.query : "");
  return out;
}

// Every operation is asynchronous on a private io_context that the calling thread runs until
// the operation completes or its deadline passes: Beast's blocking calls have no deadlines.
// A read that outlives receive()'s deadline stays pending, so a partly received message is
// kept for the next call. After any other operation misses its deadline or fails, the
// connection is closed, and the aborted operations are run to their end before throwing
// (their handlers refer to this object).
struct WebSocketClient::Impl {
  WebSocketUrl url;
  WebSocketOptions options;
  asio::io_context io;  // declared first: destroyed after the streams that use it
  std::unique_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<PlainStream> plain;   // ws://
  std::unique_ptr<TlsStream> secure;    // wss://
  Completion connecting, writing, reading, closing;
  bool read_pending = false;
  beast::flat_buffer read_buffer;
  bool open = false;
  std::optional<Clock::time_point> closing_deadline;  // set once Beast starts closing
  std::uint16_t peer_close = 0;

  ~Impl() { shutdown_transport(); }

  // Calls @p f with whichever WebSocket stream this connection uses.
  template <class F>
  void with_stream(F&& f) {
    if (secure) {
      f(*secure);
    } else {
      f(*plain);
    }
  }

  tcp::socket& socket() { return secure ? beast::get_lowest_layer(*secure) : beast::get_lowest_layer(*plain); }

  std::string where() const { return "WebSocket " + url.host + ":" + std::to_string(url.port) + ": "; }

  void shutdown_transport() noexcept {
    open = false;
    if (!plain && !secure) return;
    error_code ignored;
    socket().close(ignored);
    try {
      io.restart();
      io.poll();  // the operations the close aborted complete now
    } catch (...) {
      // No handler here throws; nothing is left to undo either way.
    }
  }

  [[noreturn]] void fail(ErrorCode code, const std::string& what) {
    shutdown_transport();
    throw Error(code, where() + what);
  }

  [[noreturn]] void fail_io(const std::string& what) { fail(ErrorCode::io, what); }

  // True once Beast is closing an open connection: it sent or answered a close frame and waits
  // for the peer to end the connection.
  bool is_closing() {
    bool beast_open = false;
    with_stream([&](auto& ws) { beast_open = ws.is_open(); });
    return open && !beast_open;
  }

  // Runs handlers until @p c completes or @p deadline passes. Returns whether it completed.
  // A closing handshake gets no more than kCloseWait, so that a peer that breaks the protocol
  // and then stays silent cannot hold a caller until its own deadline.
  bool await(const Completion& c, Clock::time_point deadline) {
    while (!c.done) {
      if (!closing_deadline && is_closing()) closing_deadline = Clock::now() + kCloseWait;
      if (closing_deadline) deadline = std::min(deadline, *closing_deadline);
      if (io.stopped()) io.restart();
      if (Clock::now() >= deadline) {
        io.poll();  // what has already arrived still counts
        return c.done;
      }
      if (io.run_one_until(deadline) == 0 && Clock::now() < deadline) return c.done;  // no work left
    }
    return true;
  }

  void load_trusted_certificates() {
    tls_context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX* ctx = tls_context->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    // OpenSSL directly rather than Asio's wrappers, whose error says only "asio.ssl error".
    ERR_clear_error();
    const int loaded = options.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                               : SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr);
    if (loaded != 1) fail_io("cannot load trusted certificates: " + openssl_error());
    tls_context->set_verify_mode(asio::ssl::verify_peer);
  }

  void connect_tcp(Clock::time_point deadline) {
    error_code ec;
    tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(url.host, std::to_string(url.port), ec);
    if (ec) fail_io("cannot resolve host: " + ec.message());
    asio::async_connect(socket(), endpoints, record_into(connecting));
    if (!await(connecting, deadline)) fail_io("cannot connect: connection timed out");
    if (connecting.ec) fail_io("cannot connect: " + connecting.ec.message());
    socket().set_option(tcp::no_delay(true), ec);
  }

  // OpenSSL's own host check (not Asio's callback) so that a refusal names its reason, e.g.
  // "hostname mismatch" or "self-signed certificate".
  void connect_tls(Clock::time_point deadline) {
    SSL* ssl = secure->next_layer().native_handle();
    error_code not_ip;
    asio::ip::make_address(url.host, not_ip);
    if (!not_ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) != 1) fail_io("cannot set the IP to verify");
    } else {
      // SSL_set_tlsext_host_name() is a macro with an old-style cast; this is what it expands to.
      SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(url.host.c_str()));
      if (SSL_set1_host(ssl, url.host.c_str()) != 1) fail_io("cannot set the host name to verify");
    }
    secure->next_layer().async_handshake(asio::ssl::stream_base::client, record_into(connecting));
    if (!await(connecting, deadline)) fail_io("TLS handshake timed out");
    if (connecting.ec) {
      const long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) fail_io(std::string("TLS certificate not trusted: ") + X509_verify_cert_error_string(verify));
      fail_io("TLS handshake failed: " + connecting.ec.message());
    }
  }

  void handshake(Clock::time_point deadline) {
    const bool default_port = url.port == (url.tls ? 443 : 80);
    const bool v6 = url.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + url.host + "]" : url.host;
    if (!default_port) host += ":" + std::to_string(url.port);
    websocket::response_type response;
    with_stream([&](auto& ws) {
      ws.read_message_max(options.max_message_bytes);
      ws.auto_fragment(false);  // one frame per message, as relays expect
      ws.async_handshake(response, host, url.target, record_into(connecting));
    });
    if (!await(connecting, deadline)) fail_io("handshake timed out");
    if (connecting.ec == websocket::error::upgrade_declined) {
      fail_io("server refused the WebSocket upgrade: \"HTTP/1.1 " + std::to_string(response.result_int()) + " " +
              printable(std::string_view(response.reason().data(), response.reason().size())) + "\"");
    }
    if (connecting.ec == websocket::error::bad_sec_accept) fail_io("handshake response has a wrong Sec-WebSocket-Accept");
    if (connecting.ec) fail_io("handshake failed: " + connecting.ec.message());
    // We offered no extension or subprotocol, so a server must not choose one (RFC 6455 4.1).
    if (response.count(beast::http::field::sec_websocket_extensions) != 0 ||
        response.count(beast::http::field::sec_websocket_protocol) != 0) {
      fail_io("server chose a WebSocket extension or subprotocol that was not offered");
    }
  }

  // Throws for a read that ended in @p ec: the peer's close, a protocol violation (Beast has
  // sent the matching close frame by now), or a failed connection.
  [[noreturn]] void fail_read(const error_code& ec) {
    if (ec == websocket::error::closed) {
      with_stream([&](auto& ws) { peer_close = static_cast<std::uint16_t>(ws.reason().code); });
      if (peer_close == websocket::close_code::none) peer_close = 1005;  // the peer sent no code
      fail_io("closed by the server (code " + std::to_string(peer_close) + ")");
    }
    if (ec == websocket::error::message_too_big) {
      fail(ErrorCode::invalid_format, "message exceeds " + std::to_string(options.max_message_bytes) + " bytes");
    }
    if (ec == websocket::error::bad_frame_payload) fail(ErrorCode::invalid_format, "text message is not valid UTF-8");
    if (ec == websocket::condition::protocol_violation) fail(ErrorCode::invalid_format, "protocol violation: " + ec.message());
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) fail_io("connection closed without a close frame");
    fail_io("receive failed: " + ec.message());
  }

  // Runs a write started by @p start (recording into `writing`) to its end. Throws Error(io)
  // if it fails or misses the send deadline.
  template <class Start>
  void write(Start&& start) {
    if (!open) throw Error(ErrorCode::io, "WebSocket is closed");
    with_stream([&](auto& ws) { start(ws, record_into(writing)); });
    if (!await(writing, Clock::now() + options.send_timeout)) fail_io("send timed out");
    if (!writing.ec) return;
    // A write fails when the connection ended under it; the pending read knows why.
    if (read_pending && reading.done && reading.ec) fail_read(reading.ec);
    fail_io("send failed: " + writing.ec.message());
  }

  void start_read() {
    if (read_pending) return;
    read_pending = true;
    read_buffer.clear();
    with_stream([&](auto& ws) { ws.async_read(read_buffer, record_into(reading)); });
  }
};

WebSocketClient::WebSocketClient(const std::string& url, const WebSocketOptions& options) : impl_(std::make_unique<Impl>()) {
  Impl& c = *impl_;
  c.url = WebSocketUrl::parse(url);
  c.options = options;
  if (c.options.max_message_bytes == 0) throw Error(ErrorCode::invalid_argument, "max_message_bytes must be positive");
  const auto deadline = Clock::now() + options.connect_timeout;
  if (c.url.tls) {
    c.load_trusted_certificates();
    c.secure = std::make_unique<TlsStream>(c.io, *c.tls_context);
  } else {
    c.plain = std::make_unique<PlainStream>(c.io);
  }
  c.connect_tcp(deadline);
  if (c.url.tls) c.connect_tls(deadline);
  c.handshake(deadline);
  c.open = true;
}

WebSocketClient::~WebSocketClient() { close(1001); }

void WebSocketClient::send_text(std::string_view text) {
  if (text.size() > impl_->options.max_message_bytes) {
    throw Error(ErrorCode::invalid_argument, "WebSocket message is longer than " +
                                                 std::to_string(impl_->options.max_message_bytes) + " bytes");
  }
  if (util::find_invalid_utf8(text) != std::string_view::npos) {
    throw Error(ErrorCode::invalid_argument, "WebSocket text message is not valid UTF-8");
  }
  impl_->write([&](auto& ws, auto handler) {
    ws.text(true);
    ws.async_write(asio::buffer(text.data(), text.size()), std::move(handler));
  });
}

void WebSocketClient::send_ping(std::string_view payload) {
  if (payload.size() > 125) throw Error(ErrorCode::invalid_argument, "WebSocket ping payload is longer than 125 bytes");
  const websocket::ping_data data(payload.data(), payload.size());
  impl_->write([&](auto& ws, auto handler) { ws.async_ping(data, std::move(handler)); });
}

std::optional<WebSocketMessage> WebSocketClient::receive(std::chrono::milliseconds timeout) {
  Impl& c = *impl_;
  if (!c.open) throw Error(ErrorCode::io, "WebSocket is closed");
  c.start_read();
  if (!c.await(c.reading, Clock::now() + timeout)) {
    if (c.closing_deadline && Clock::now() >= *c.closing_deadline) {
      c.fail_io("the server did not end the connection after the close frames");
    }
    return std::nullopt;  // the read stays pending
  }
  c.read_pending = false;
  if (c.reading.ec) c.fail_read(c.reading.ec);
  WebSocketMessage message;
  c.with_stream([&](auto& ws) { message.binary = ws.got_binary(); });
  message.data = beast::buffers_to_string(c.read_buffer.data());
  c.read_buffer.clear();
  return message;
}

void WebSocketClient::close(std::uint16_t code) noexcept {
  if (!impl_ || !impl_->open) return;
  Impl& c = *impl_;
  // Beast sends the close frame and waits for the peer's answer and for the peer to end the
  // connection (RFC 6455 7.1.1), which a silent peer must not stretch beyond kCloseWait.
  try {
    c.with_stream([&](auto& ws) { ws.async_close(websocket::close_reason(code), record_into(c.closing)); });
    c.await(c.closing, Clock::now() + kCloseWait);
  } catch (...) {
    // The connection is going away either way.
  }
  c.shutdown_transport();
}

bool WebSocketClient::is_open() const noexcept { return impl_->open; }

std::uint16_t WebSocketClient::peer_close_code() const noexcept { return impl_->peer_close; }

}  // namespace petalsln::lightning
