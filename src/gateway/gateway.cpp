#include "petalsln/gateway/gateway.hpp"

#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "gateway/connection.hpp"
#include "gateway/earnings.hpp"
#include "gateway/generation_service.hpp"
#include "gateway/invoice_api.hpp"
#include "gateway/tls.hpp"
#include "petalsln/util/error.hpp"
#include "util/log.hpp"

namespace petalsln {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

void check_options(const GatewayOptions& o) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw Error(ErrorCode::invalid_argument, what);
  };
  require(o.io_threads >= 1 && o.io_threads <= 64, "io threads must be in [1, 64]");
  require(o.max_connections >= 1, "max connections must be at least 1");
  require(o.max_header_bytes >= 1024, "max header bytes must be at least 1024");
  require(o.max_body_bytes >= 1024, "max body bytes must be at least 1024");
  require(o.max_new_tokens >= 1, "max new tokens must be at least 1");
  require(o.header_timeout.count() > 0 && o.body_timeout.count() > 0 && o.write_timeout.count() > 0 && o.idle_timeout.count() > 0 &&
              o.tls_handshake_timeout.count() > 0,
          "every timeout must be positive");
  require(o.tls_cert.empty() == o.tls_key.empty(), "TLS needs both a certificate file and a key file");
}

// The TLS context the options ask for (null: plain HTTP). Loaded before the model, so a bad
// certificate or a key others may read fails at once.
std::unique_ptr<net::ssl::context> load_tls(const GatewayOptions& o) {
  if (o.tls_cert.empty() && o.tls_key.empty()) return nullptr;
  return gateway::make_tls_context(o.tls_cert, o.tls_key);
}

}  // namespace

struct Gateway::Impl {
  explicit Impl(GatewayOptions o)
      : options(std::move(o)), service(options), billing(options, service.model_name(), service.num_blocks()), invoices(options), earnings(options),
        api{service, options, billing, invoices, earnings} {
    if (const auto cap = billing.max_server_price_msat()) {
      // Never sell below cost: a route's price per 1000 tokens is the sum over its hops of
      // price x blocks, at most cap x blocks-in-the-model when every hop charges at most cap.
      service.limit_server_price(*cap, "this gateway sells at " + std::to_string(options.price_msat_per_1k_tokens) + " msat per 1000 tokens over " +
                                           std::to_string(service.num_blocks()) + " blocks, and never below cost");
      const std::string gap = service.price_coverage_gap();
      if (!gap.empty()) util::log(util::LogLevel::warn, "petalsln-gateway: " + gap);
    }
  }

  GatewayOptions options;
  std::unique_ptr<net::ssl::context> tls = load_tls(options);  // null: plain HTTP
  gateway::GenerationService service;
  gateway::Billing billing;
  gateway::InvoiceDesk invoices;
  gateway::Earnings earnings;  // pays servers from message income (earnings.hpp)
  gateway::ApiContext api;
  net::io_context io;
  // Keeps the I/O threads running while no socket operation is pending (a message that is
  // generating, or finishing while the gateway stops, writes its answer through them later).
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(io);
  tcp::acceptor acceptor{io};
  std::vector<std::thread> io_threads;
  gateway::ConnectionHub hub;
  std::string url;
  std::mutex stop_mutex;
  bool stopped = false;

  void bind() {
    tcp::resolver resolver(io);
    const auto endpoints = resolver.resolve(options.listen_host, std::to_string(options.listen_port));
    const tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor.open(endpoint.protocol());
    acceptor.set_option(net::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    const auto bound = acceptor.local_endpoint();
    const std::string host = bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
    url = (tls ? "https://" : "http://") + host + ":" + std::to_string(bound.port());
  }

  void accept_next() {
    acceptor.async_accept(net::make_strand(io), [this](boost::system::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) admit(std::move(socket));
      accept_next();
    });
  }

  void admit(tcp::socket socket) {
    // A stream writes one small chunk or frame per token and the client sends nothing back, so
    // with Nagle each token after the first would wait for the client's delayed ACK.
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);  // a socket that refuses it still works
    auto io_ptr = gateway::make_connection(std::move(socket), tls.get());
    if (!hub.admit(io_ptr, options.max_connections)) {
      // Tell the client why, then drop it (over TLS after a handshake, bounded by its timeout).
      gateway::refuse_busy(io_ptr, tls ? options.tls_handshake_timeout : options.write_timeout);
      return;
    }
    std::thread([this, io_ptr] {
      gateway::run_connection(io_ptr, hub, api);
      hub.leave(io_ptr);  // the last touch of this object: stop() may destroy it after
    }).detach();
  }
};

Gateway::Gateway(GatewayOptions options) {
  check_options(options);
  impl_ = std::make_unique<Impl>(std::move(options));
  try {
    impl_->bind();
  } catch (const boost::system::system_error& e) {
    throw Error(ErrorCode::io, "cannot listen on " + impl_->options.listen_host + ":" + std::to_string(impl_->options.listen_port) + ": " + e.what());
  }
  impl_->accept_next();
  for (int i = 0; i < impl_->options.io_threads; ++i) impl_->io_threads.emplace_back([this] { impl_->io.run(); });
}

Gateway::~Gateway() { stop(std::chrono::milliseconds(0)); }

std::string Gateway::url() const { return impl_->url; }

const std::string& Gateway::model_name() const noexcept { return impl_->service.model_name(); }

void Gateway::stop(std::chrono::milliseconds grace) {
  std::lock_guard<std::mutex> lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  std::promise<void> closed;
  net::post(impl_->io, [this, &closed] {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
    closed.set_value();
  });
  closed.get_future().wait();
  impl_->hub.begin_stop();
  if (!impl_->hub.wait_empty(grace)) {
    impl_->hub.cancel_all();
    // A message's current step ends within the server timeout; its socket is closed already.
    impl_->hub.wait_empty(impl_->options.server_timeout + std::chrono::seconds(5));
  }
  impl_->work.reset();
  impl_->io.stop();
  for (auto& t : impl_->io_threads) t.join();
  impl_->io_threads.clear();
  impl_->earnings.stop();  // after the last message accrued; the ledger is durable
}

}  // namespace petalsln
