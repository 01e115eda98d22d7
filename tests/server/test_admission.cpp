// Admission (who may hold what), the fair scheduler, and peer address keys: the bookkeeping
// behind the contributor server's limits, tested without a network.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "petalsln/util/error.hpp"
#include "server/admission.hpp"
#include "server/fair_scheduler.hpp"

using namespace petalsln;
using rpc::Admission;

namespace {

rpc::AdmissionLimits small_limits() {
  rpc::AdmissionLimits l;
  l.max_streams = 6;
  l.max_sessions = 4;
  l.max_streams_per_peer = 3;
  l.max_sessions_per_peer = 2;
  l.cache_budget_bytes = 1000;
  return l;
}

struct CountingListener : rpc::DeadlineListener {
  std::atomic<int> told{0};
  void deadline_passed() override { ++told; }
};

const auto kNever = Admission::Clock::time_point::max();

}  // namespace

TEST_CASE("admission: per-address and global limits, each named in its refusal") {
  Admission a(small_limits());
  std::vector<Admission::Ticket> held(3);
  for (auto& t : held) REQUIRE(a.admit("10.0.0.1", {}, kNever, &t).empty());
  Admission::Ticket extra;
  const auto refusal = a.admit("10.0.0.1", {}, kNever, &extra);
  CHECK(refusal.find("3 calls in progress per address") != std::string::npos);
  CHECK_FALSE(extra.valid());

  // Another address is unaffected by the first one's calls.
  Admission::Ticket other;
  CHECK(a.admit("10.0.0.2", {}, kNever, &other).empty());
  CHECK(held[0].open_session().empty());
  CHECK(held[1].open_session().empty());
  CHECK(held[2].open_session().find("2 sessions per address") != std::string::npos);
  CHECK(other.open_session().empty());
  CHECK(a.sessions() == 3);

  // The global stream limit holds whatever the number of addresses.
  std::vector<Admission::Ticket> more(2);
  CHECK(a.admit("10.0.0.3", {}, kNever, &more[0]).empty());
  CHECK(a.admit("10.0.0.4", {}, kNever, &more[1]).empty());
  Admission::Ticket seventh;
  CHECK(a.admit("10.0.0.5", {}, kNever, &seventh).find("maximum of 6 calls") != std::string::npos);
  CHECK(more[0].open_session().empty());
  CHECK(more[1].open_session().find("maximum of 4 sessions") != std::string::npos);
}

TEST_CASE("admission: a ticket gives everything back when destroyed or moved over") {
  Admission a(small_limits());
  {
    Admission::Ticket t;
    REQUIRE(a.admit("p", {}, kNever, &t).empty());
    CHECK(t.open_session().empty());
    CHECK(t.reserve_cache(600).empty());
    CHECK(t.reserve_cache(500).find("400 free of 1000") != std::string::npos);
    CHECK(a.cache_used() == 600);
    Admission::Ticket moved = std::move(t);
    CHECK_FALSE(t.valid());
    CHECK(moved.valid());
    CHECK(a.streams() == 1);
  }
  CHECK(a.streams() == 0);
  CHECK(a.sessions() == 0);
  CHECK(a.cache_used() == 0);
  // A cache request the budget could never hold, or a negative one, never overflows the sum.
  Admission::Ticket t;
  REQUIRE(a.admit("p", {}, kNever, &t).empty());
  CHECK_FALSE(t.reserve_cache(INT64_MAX).empty());
  CHECK_FALSE(t.reserve_cache(-5).empty());
  CHECK(a.cache_used() == 0);
}

TEST_CASE("admission: deadlines are reported once, never to a call that ended") {
  Admission a(small_limits());
  auto listener = std::make_shared<CountingListener>();
  const auto t0 = Admission::Clock::now();
  Admission::Ticket t;
  REQUIRE(a.admit("p", listener, t0 + std::chrono::seconds(1), &t).empty());
  a.expire_overdue(t0);
  CHECK(listener->told == 0);
  a.expire_overdue(t0 + std::chrono::seconds(2));
  a.expire_overdue(t0 + std::chrono::seconds(3));
  CHECK(listener->told == 1);
  t.set_deadline(t0 + std::chrono::seconds(5));
  a.expire_overdue(t0 + std::chrono::seconds(6));
  CHECK(listener->told == 2);

  auto gone = std::make_shared<CountingListener>();
  {
    Admission::Ticket u;
    REQUIRE(a.admit("q", gone, t0, &u).empty());
  }
  a.expire_overdue(t0 + std::chrono::seconds(9));
  CHECK(gone->told == 0);
}

TEST_CASE("admission: a stopping server refuses everything; bad limits are refused") {
  Admission a(small_limits());
  a.stop();
  Admission::Ticket t;
  CHECK(a.admit("p", {}, kNever, &t) == "the server is shutting down");
  auto bad = small_limits();
  bad.max_sessions_per_peer = 0;
  CHECK_THROWS_AS(Admission{bad}, Error);
}

TEST_CASE("peer address keys: IPv4, mapped IPv4, IPv6 /64 prefixes") {
  CHECK(rpc::peer_address_key("ipv4:127.0.0.1:5555") == "127.0.0.1");
  CHECK(rpc::peer_address_key("ipv4:127.0.0.2:1") == "127.0.0.2");
  CHECK(rpc::peer_address_key("ipv6:[::ffff:127.0.0.1]:80") == "127.0.0.1");
  CHECK(rpc::peer_address_key("ipv6:[::1]:80") == "::1");
  CHECK(rpc::peer_address_key("ipv6:[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443") == "2001:db8:1:2::/64");
  CHECK(rpc::peer_address_key("ipv6:[2001:db8:1:2::7]:443") == rpc::peer_address_key("ipv6:[2001:db8:1:2::8]:9"));
  CHECK(rpc::peer_address_key("unix:/tmp/sock") == "unix:/tmp/sock");
  CHECK(rpc::peer_address_key("ipv6:[not an address]:1") == "ipv6:[not an address]:1");
}

TEST_CASE("fair scheduler: a flooding peer's backlog waits behind every other peer's next job") {
  std::vector<std::string> order;
  std::mutex mu;
  {
    rpc::FairScheduler s(1);
    std::atomic<bool> go{false};
    s.submit("gate", [&] {
      while (!go) std::this_thread::yield();
    });
    for (int i = 0; i < 20; ++i) {
      s.submit("flood", [&, i] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back("flood" + std::to_string(i));
      });
    }
    s.submit("honest", [&] {
      std::lock_guard<std::mutex> lock(mu);
      order.push_back("honest");
    });
    go = true;
  }  // the destructor runs every queued job
  REQUIRE(order.size() == 21);
  // The honest job ran second: after the flood's first job, not after its twentieth.
  CHECK(order[0] == "flood0");
  CHECK(order[1] == "honest");
  CHECK(order[20] == "flood19");
}

TEST_CASE("fair scheduler: a chain of jobs takes turns with another peer's chain") {
  std::vector<char> order;
  std::mutex mu;
  {
    rpc::FairScheduler s(1);
    std::function<void(char, int)> chain;
    chain = [&](char who, int left) {
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(who);
      }
      if (left > 1) s.submit(std::string(1, who), [&, who, left] { chain(who, left - 1); });
    };
    std::atomic<bool> go{false};
    s.submit("gate", [&] {
      while (!go) std::this_thread::yield();
    });
    s.submit("a", [&] { chain('a', 4); });
    s.submit("b", [&] { chain('b', 4); });
    go = true;
    while (s.pending() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(std::string(order.begin(), order.end()) == "abababab");
}

TEST_CASE("fair scheduler: an escaping exception does not stop the worker") {
  std::atomic<int> ran{0};
  {
    rpc::FairScheduler s(2);
    s.submit("p", [] { throw std::runtime_error("boom"); });
    s.submit("p", [&] { ++ran; });
  }
  CHECK(ran == 1);
  CHECK_THROWS_AS(rpc::FairScheduler{0}, Error);
}

TEST_CASE("fair scheduler: a peer's jobs run one at a time, so a blocked peer holds one thread, not all") {
  std::atomic<bool> release{false};
  std::atomic<int> blocked_running{0}, max_blocked_running{0}, others_done{0};
  {
    rpc::FairScheduler s(3);
    for (int i = 0; i < 6; ++i) {
      s.submit("stuck", [&] {
        const int now = ++blocked_running;
        int seen = max_blocked_running.load();
        while (now > seen && !max_blocked_running.compare_exchange_weak(seen, now)) {
        }
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        --blocked_running;
      });
    }
    for (int i = 0; i < 10; ++i) s.submit("other" + std::to_string(i % 3), [&] { ++others_done; });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (others_done < 10 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    CHECK(others_done == 10);  // finished while the stuck peer's first job still blocks
    release = true;
  }
  CHECK(max_blocked_running == 1);
}
