#include "server/admission.hpp"

#include <arpa/inet.h>

#include <cstring>
#include <utility>
#include <vector>

#include "petalsln/util/error.hpp"

namespace petalsln::rpc {

Admission::Admission(AdmissionLimits limits) : limits_(limits) {
  if (limits.max_streams <= 0 || limits.max_sessions <= 0 || limits.max_streams_per_peer <= 0 ||
      limits.max_sessions_per_peer <= 0 || limits.cache_budget_bytes <= 0) {
    throw Error(ErrorCode::invalid_argument, "admission limits must be positive");
  }
}

std::string Admission::admit(const std::string& peer, std::weak_ptr<DeadlineListener> listener, Clock::time_point deadline, Ticket* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return "the server is shutting down";
  if (static_cast<int>(calls_.size()) >= limits_.max_streams) {
    return "the server already has its maximum of " + std::to_string(limits_.max_streams) + " calls in progress";
  }
  PeerCounts& counts = peers_[peer];
  if (counts.streams >= limits_.max_streams_per_peer) {
    return "this address already has the maximum of " + std::to_string(limits_.max_streams_per_peer) +
           " calls in progress per address";
  }
  ++counts.streams;
  const std::uint64_t id = next_id_++;
  calls_[id] = Call{peer, std::move(listener), deadline, false, 0};
  out->release();
  out->owner_ = this;
  out->id_ = id;
  out->peer_ = peer;
  return {};
}

std::string Admission::open_session(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Call& call = calls_.at(id);
  if (call.session) return {};
  if (sessions_ >= limits_.max_sessions) {
    return "the server already has its maximum of " + std::to_string(limits_.max_sessions) + " sessions";
  }
  PeerCounts& counts = peers_[call.peer];
  if (counts.sessions >= limits_.max_sessions_per_peer) {
    return "this address already has the maximum of " + std::to_string(limits_.max_sessions_per_peer) +
           " sessions per address";
  }
  ++counts.sessions;
  ++sessions_;
  call.session = true;
  return {};
}

std::string Admission::reserve_cache(std::uint64_t id, std::int64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  // Compared without adding, so no size a peer can ask for overflows the sum.
  if (bytes < 0 || bytes > limits_.cache_budget_bytes - cache_used_) {
    return "the KV-cache budget cannot hold " + std::to_string(bytes) + " more bytes (" +
           std::to_string(limits_.cache_budget_bytes - cache_used_) + " free of " + std::to_string(limits_.cache_budget_bytes) + ")";
  }
  cache_used_ += bytes;
  calls_.at(id).cache_bytes += bytes;
  return {};
}

void Admission::set_deadline(std::uint64_t id, Clock::time_point deadline) {
  std::lock_guard<std::mutex> lock(mu_);
  calls_.at(id).deadline = deadline;
}

void Admission::release(std::uint64_t id) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = calls_.find(id);
  if (it == calls_.end()) return;
  auto peer = peers_.find(it->second.peer);
  if (peer != peers_.end()) {
    --peer->second.streams;
    if (it->second.session) --peer->second.sessions;
    if (peer->second.streams == 0) peers_.erase(peer);
  }
  if (it->second.session) --sessions_;
  cache_used_ -= it->second.cache_bytes;
  calls_.erase(it);
}

void Admission::expire_overdue(Clock::time_point now) {
  // Listeners are told outside the lock: telling one may end its call, whose ticket then
  // takes the lock to release itself. The shared_ptr keeps each alive until told.
  std::vector<std::shared_ptr<DeadlineListener>> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, call] : calls_) {
      if (call.deadline > now) continue;
      call.deadline = Clock::time_point::max();
      if (auto listener = call.listener.lock()) due.push_back(std::move(listener));
    }
  }
  for (auto& listener : due) listener->deadline_passed();
}

void Admission::stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
}

int Admission::sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_;
}

int Admission::streams() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(calls_.size());
}

std::int64_t Admission::cache_used() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_used_;
}

Admission::Ticket::~Ticket() { release(); }

Admission::Ticket::Ticket(Ticket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_), peer_(std::move(other.peer_)) {}

Admission::Ticket& Admission::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    id_ = other.id_;
    peer_ = std::move(other.peer_);
  }
  return *this;
}

void Admission::Ticket::release() noexcept {
  if (owner_ != nullptr) owner_->release(id_);
  owner_ = nullptr;
}

std::string Admission::Ticket::open_session() { return owner_->open_session(id_); }
std::string Admission::Ticket::reserve_cache(std::int64_t bytes) { return owner_->reserve_cache(id_, bytes); }
void Admission::Ticket::set_deadline(Clock::time_point deadline) { owner_->set_deadline(id_, deadline); }

std::string peer_address_key(const std::string& grpc_peer) {
  if (grpc_peer.rfind("ipv4:", 0) == 0) {
    const auto colon = grpc_peer.rfind(':');
    return colon > 5 ? grpc_peer.substr(5, colon - 5) : grpc_peer;
  }
  if (grpc_peer.rfind("ipv6:[", 0) == 0) {
    const auto close = grpc_peer.find(']');
    if (close == std::string::npos) return grpc_peer;
    std::string host = grpc_peer.substr(6, close - 6);
    if (const auto zone = host.find('%'); zone != std::string::npos) host.resize(zone);
    unsigned char a[16];
    if (inet_pton(AF_INET6, host.c_str(), a) != 1) return grpc_peer;
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char text[INET6_ADDRSTRLEN];
    if (std::memcmp(a, kMapped, sizeof kMapped) == 0) {
      return inet_ntop(AF_INET, a + 12, text, sizeof text) != nullptr ? std::string(text) : grpc_peer;
    }
    if (host == "::1") return host;  // loopback is one host, not a /64
    std::memset(a + 8, 0, 8);
    return inet_ntop(AF_INET6, a, text, sizeof text) != nullptr ? std::string(text) + "/64" : grpc_peer;
  }
  return grpc_peer;
}

}  // namespace petalsln::rpc
