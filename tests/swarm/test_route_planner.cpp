// RoutePlanner and choose_blocks_to_serve on synthetic swarms.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "petalsln/swarm/route_planner.hpp"
#include "petalsln/util/error.hpp"

using namespace petalsln;

namespace {

PeerId peer(std::uint8_t n) {
  PeerId p{};
  p.fill(n);
  return p;
}

ServerRecord server(std::uint8_t n, std::uint32_t begin, std::uint32_t end, double throughput,
                    std::uint64_t price = 0) {
  ServerRecord r;
  r.peer_id = peer(n);
  r.endpoint = "10.0.0." + std::to_string(n) + ":5000";
  r.model = "m";
  r.block_begin = begin;
  r.block_end = end;
  r.throughput = throughput;
  r.price_msat = price;
  return r;
}

// "peer:begin-end" for every hop, e.g. "1:0-4 2:4-8".
std::string describe(const Route& route) {
  std::string out;
  for (const RouteHop& h : route.hops) {
    if (!out.empty()) out += " ";
    out += std::to_string(h.peer_id[0]) + ":" + std::to_string(h.begin) + "-" + std::to_string(h.end);
  }
  return out;
}

std::string not_found_message(const RoutePlanner& planner, std::uint32_t begin, std::uint32_t end,
                              const RouteOptions& options = {}) {
  try {
    planner.plan_range(begin, end, options);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::not_found);
    return e.what();
  }
  FAIL("expected a coverage error");
  return {};
}

RouteOptions zero_latency() {
  RouteOptions o;
  o.default_latency = FractionalSeconds(0.0);
  return o;
}

}  // namespace

TEST_CASE("a single server covering everything is the route") {
  const RoutePlanner planner({server(1, 0, 8, 100)});
  const Route r = planner.plan(8);
  CHECK(describe(r) == "1:0-8");
  CHECK(r.hops[0].endpoint == "10.0.0.1:5000");
  CHECK(r.time_per_token.count() == doctest::Approx(0.1 + 8.0 / 100));
  CHECK(r.tokens_per_second == doctest::Approx(100.0 / 8));
}

TEST_CASE("gaps: the error names exactly the uncovered blocks") {
  const RoutePlanner planner({server(1, 0, 3, 100), server(2, 5, 8, 100)});
  CHECK(not_found_message(planner, 0, 8) == "no server covers blocks 3-4 (of 0-7)");
  const RoutePlanner two_gaps({server(1, 0, 3, 100), server(2, 4, 6, 100)});
  CHECK(not_found_message(two_gaps, 0, 8) == "no server covers blocks 3, 6-7 (of 0-7)");
  const RoutePlanner one_gap({server(1, 0, 7, 100)});
  CHECK(not_found_message(one_gap, 0, 8) == "no server covers block 7 (of 0-7)");
  const RoutePlanner empty({});
  CHECK(not_found_message(empty, 0, 4) == "no server covers blocks 0-3 (of 0-3)");
  CHECK_THROWS_AS(planner.plan(8), Error);
}

TEST_CASE("overlapping servers are cut into consecutive hops") {
  const RoutePlanner planner({server(1, 0, 5, 100), server(2, 3, 8, 100)});
  const Route r = planner.plan(8);
  REQUIRE(r.hops.size() == 2);
  CHECK(r.hops[0].begin == 0);
  CHECK(r.hops[0].end == r.hops[1].begin);
  CHECK(r.hops[1].end == 8);
  CHECK(r.hops[0].peer_id == peer(1));
  CHECK(r.hops[1].peer_id == peer(2));
  CHECK(r.hops[0].end >= 3);
  CHECK(r.hops[0].end <= 5);
}

TEST_CASE("ties are broken deterministically, whatever the input order") {
  std::vector<ServerRecord> records = {server(3, 0, 8, 100), server(1, 0, 8, 100), server(2, 0, 8, 100)};
  const std::string first = describe(RoutePlanner(records).plan(8));
  CHECK(first == "1:0-8");  // lowest peer id among equals
  std::reverse(records.begin(), records.end());
  CHECK(describe(RoutePlanner(records).plan(8)) == first);
  std::rotate(records.begin(), records.begin() + 1, records.end());
  CHECK(describe(RoutePlanner(records).plan(8)) == first);
}

TEST_CASE("a faster two-hop route beats a slow one-hop route") {
  // One slow server for all 8 blocks: 0.1 + 8/10 = 0.9 s. Two fast ones: 2 * (0.1 + 4/100) = 0.28 s.
  const RoutePlanner planner({server(1, 0, 8, 10), server(2, 0, 4, 100), server(3, 4, 8, 100)});
  const Route r = planner.plan(8);
  CHECK(describe(r) == "2:0-4 3:4-8");
  CHECK(r.time_per_token.count() == doctest::Approx(0.28));
  // With high latency the single hop wins: 2 + 0.8 = 2.8 s against 2 * (2 + 0.04) = 4.08 s.
  RouteOptions slow_network;
  slow_network.default_latency = FractionalSeconds(2.0);
  CHECK(describe(planner.plan(8, slow_network)) == "1:0-8");
}

TEST_CASE("measured latency changes the choice") {
  const RoutePlanner planner({server(1, 0, 8, 100), server(2, 0, 8, 100)});
  RouteOptions o;
  o.latency[peer(1)] = FractionalSeconds(0.5);
  o.latency[peer(2)] = FractionalSeconds(0.01);
  const Route r = planner.plan(8, o);
  CHECK(describe(r) == "2:0-8");
  CHECK(r.hops[0].latency.count() == doctest::Approx(0.01));
}

TEST_CASE("price: the limit filters, equal routes go to the cheaper one") {
  const RoutePlanner planner({server(1, 0, 8, 100, 50), server(2, 0, 8, 100, 20), server(3, 0, 8, 100, 90)});
  const Route cheapest = planner.plan(8);
  CHECK(describe(cheapest) == "2:0-8");  // same speed: the cheaper wins over the lower peer id
  CHECK(cheapest.price_msat_per_1000_tokens == 20 * 8);

  RouteOptions limit;
  limit.max_price_msat = 10;
  CHECK(not_found_message(planner, 0, 8, limit) ==
        "no server covers blocks 0-7 (of 0-7); 3 candidate(s) over the price limit");
  limit.max_price_msat = 20;
  CHECK(describe(planner.plan(8, limit)) == "2:0-8");

  // A faster server wins despite its price, unless the limit excludes it.
  const RoutePlanner fast_dear({server(1, 0, 8, 1000, 500), server(2, 0, 8, 100, 0)});
  CHECK(describe(fast_dear.plan(8)) == "1:0-8");
  RouteOptions free_only;
  free_only.max_price_msat = 0;
  CHECK(describe(fast_dear.plan(8, free_only)) == "2:0-8");
}

TEST_CASE("price tie-break over multi-hop routes sums price x blocks") {
  // Two equally fast splits: 1+2 costs 4*10 + 4*10 = 80; 3+4 costs 4*1 + 4*30 = 124.
  const RoutePlanner planner({server(1, 0, 4, 100, 10), server(2, 4, 8, 100, 10), server(3, 0, 4, 100, 1),
                              server(4, 4, 8, 100, 30)});
  const Route r = planner.plan(8);
  CHECK(r.price_msat_per_1000_tokens == 4 * 1 + 4 * 10);
  CHECK(describe(r) == "3:0-4 2:4-8");
}

TEST_CASE("absurd prices saturate instead of wrapping around") {
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() / 2;
  const RoutePlanner planner({server(1, 0, 8, 100, huge), server(2, 0, 8, 100, 1000)});
  const Route r = planner.plan(8);
  CHECK(describe(r) == "2:0-8");
}

TEST_CASE("excluded peers are never used") {
  const RoutePlanner planner({server(1, 0, 8, 1000), server(2, 0, 4, 100), server(3, 4, 8, 100)});
  RouteOptions o;
  o.excluded_peers.insert(peer(1));
  CHECK(describe(planner.plan(8, o)) == "2:0-4 3:4-8");
  o.excluded_peers.insert(peer(3));
  CHECK(not_found_message(planner, 0, 8, o) == "no server covers blocks 4-7 (of 0-7); 2 candidate(s) excluded");
}

TEST_CASE("the error names the candidates the caller left out, and why") {
  const RoutePlanner planner({server(1, 0, 4, 1000), server(2, 4, 8, 100)});
  RouteOptions o;
  o.excluded_peers.insert(peer(2));
  // A candidate with no record at all (its Info failed), and one the caller excluded itself.
  o.known_exclusions = {{"127.0.0.1:5000", ExclusionReason::unreachable, "connection refused"},
                        {"10.0.0.2:5000", ExclusionReason::full, "16 of 16 sessions in use"}};
  CHECK(not_found_message(planner, 0, 8, o) ==
        "no server covers blocks 4-7 (of 0-7): 127.0.0.1:5000 unreachable (connection refused), "
        "10.0.0.2:5000 full (16 of 16 sessions in use)");
  // An excluded peer without a reason is still counted.
  o.known_exclusions.pop_back();
  CHECK(not_found_message(planner, 0, 8, o) ==
        "no server covers blocks 4-7 (of 0-7): 127.0.0.1:5000 unreachable (connection refused); 1 candidate(s) excluded");
  // Reasons do not stop a plan that does not need the candidates.
  CHECK(describe(planner.plan_range(0, 4, o)) == "1:0-4");
  CHECK(Exclusion{"h:1", ExclusionReason::timed_out, ""}.describe() == "h:1 timed out");
}

TEST_CASE("plan_range replans exactly one failed hop's blocks") {
  const RoutePlanner planner({server(1, 0, 4, 100), server(2, 4, 8, 100), server(3, 2, 6, 50), server(4, 5, 8, 80)});
  const Route full = planner.plan(8);
  CHECK(describe(full) == "1:0-4 2:4-8");
  RouteOptions o;
  o.excluded_peers.insert(peer(2));
  const Route repair = planner.plan_range(4, 8, o);
  CHECK(describe(repair) == "3:4-5 4:5-8");  // server 4 is faster, so it takes all it can
  CHECK(repair.hops.front().begin == 4);
  CHECK(repair.hops.back().end == 8);
  o.excluded_peers.insert(peer(4));
  CHECK(not_found_message(planner, 4, 8, o) == "no server covers blocks 6-7 (of 4-7); 2 candidate(s) excluded");
  CHECK_THROWS_AS(planner.plan_range(4, 4), Error);
  CHECK_THROWS_AS(planner.plan(0), Error);
}

TEST_CASE("servers extending past the model are clipped") {
  const RoutePlanner planner({server(1, 0, 100, 100)});
  CHECK(describe(planner.plan(8)) == "1:0-8");
}

TEST_CASE("zero-throughput servers are used only when nothing else covers their blocks") {
  const RoutePlanner planner({server(1, 0, 8, 0), server(2, 0, 8, 1)});
  CHECK(describe(planner.plan(8)) == "2:0-8");
  const RoutePlanner nan_throughput({server(1, 0, 8, std::nan("")), server(2, 0, 8, 1)});
  CHECK(describe(nan_throughput.plan(8)) == "2:0-8");  // not a number counts as 0
  const RoutePlanner only_zero({server(1, 0, 8, 0)});
  const Route r = only_zero.plan(8);
  CHECK(describe(r) == "1:0-8");
  CHECK(r.tokens_per_second == 0.0);
}

TEST_CASE("max_throughput maximises the slowest hop's tokens per second") {
  // Server 1 alone: 100/8 = 12.5 tokens/s. Split 1:0-4 (100/4 = 25) + 2:4-8 (120/4 = 30): 25.
  const RoutePlanner planner({server(1, 0, 8, 100), server(2, 4, 8, 120)});
  RouteOptions o = zero_latency();
  o.mode = RouteMode::max_throughput;
  const Route r = planner.plan(8, o);
  CHECK(describe(r) == "1:0-4 2:4-8");
  CHECK(r.tokens_per_second == doctest::Approx(25.0));
  // With latency, min_latency prefers the single hop (0.18 s against 0.27 s); max_throughput
  // still splits.
  RouteOptions latency;
  latency.default_latency = FractionalSeconds(0.1);
  CHECK(describe(planner.plan(8, latency)) == "1:0-8");
  latency.mode = RouteMode::max_throughput;
  CHECK(describe(planner.plan(8, latency)) == "1:0-4 2:4-8");
}

TEST_CASE("max_throughput counts all the blocks a server runs") {
  // Accounting per hop would rate server 1 running 1-block hops back to back at 100 tokens/s;
  // really it passes 100/2 = 50. Sharing with server 2 (90/1) gives 90.
  const RoutePlanner planner({server(1, 0, 2, 100), server(2, 0, 2, 90)});
  RouteOptions o = zero_latency();
  o.mode = RouteMode::max_throughput;
  const Route r = planner.plan(2, o);
  REQUIRE(r.hops.size() == 2);
  CHECK(r.hops[0].peer_id != r.hops[1].peer_id);
  CHECK(r.tokens_per_second == doctest::Approx(90.0));
}

TEST_CASE("max_throughput does not fragment routes beyond what the bottleneck needs") {
  // Three equal servers over 4 blocks: someone runs 2 blocks, so 50 tokens/s is the best.
  // Alternating 1-block hops 1,2,1,2 would look like 100 per hop but is 50 too, with more
  // latency: the route has two hops of two blocks.
  const RoutePlanner planner({server(1, 0, 4, 100, 7), server(2, 0, 4, 100, 3), server(3, 0, 4, 100, 3)});
  RouteOptions o;
  o.mode = RouteMode::max_throughput;
  const Route r = planner.plan(4, o);
  CHECK(r.hops.size() == 2);
  CHECK(r.tokens_per_second == doctest::Approx(50.0));
  CHECK(r.price_msat_per_1000_tokens == 12);  // the two cheaper servers
  CHECK(describe(planner.plan(4, o)) == describe(r));
}

TEST_CASE("max_throughput may run one server in two hops when that is the best bottleneck") {
  // Server 1 covers [0,3), server 2 only block 1. Server 1 alone: 100/3. Server 2 taking
  // block 1: server 1 runs 2 blocks (50), server 2 one (100): 50.
  const RoutePlanner planner({server(1, 0, 3, 100), server(2, 1, 2, 100)});
  RouteOptions o = zero_latency();
  o.mode = RouteMode::max_throughput;
  const Route r = planner.plan(3, o);
  CHECK(describe(r) == "1:0-1 2:1-2 1:2-3");
  CHECK(r.tokens_per_second == doctest::Approx(50.0));
}

TEST_CASE("choose_blocks_to_serve picks the least served window") {
  const std::vector<ServerRecord> none;
  CHECK(choose_blocks_to_serve(none, 8, 3).begin == 0);  // empty swarm: ties go to the start
  CHECK(choose_blocks_to_serve(none, 8, 3).end == 3);

  const std::vector<ServerRecord> swarm = {server(1, 0, 4, 100), server(2, 6, 8, 100)};
  const BlockRange gap = choose_blocks_to_serve(swarm, 8, 2);
  CHECK(gap.begin == 4);  // blocks 4-5 are uncovered
  CHECK(gap.end == 6);
  const BlockRange wide = choose_blocks_to_serve(swarm, 8, 3);
  CHECK(wide.begin == 3);  // [3,6): coverages {0, 0, 100} beat [4,7) {0, 0, 100} by lower start
  CHECK(wide.end == 6);

  const std::vector<ServerRecord> weak_tail = {server(1, 0, 8, 100), server(2, 0, 6, 100)};
  CHECK(choose_blocks_to_serve(weak_tail, 8, 2).begin == 6);
  CHECK(choose_blocks_to_serve(weak_tail, 8, 8).begin == 0);
  CHECK_THROWS_AS(choose_blocks_to_serve(swarm, 8, 0), Error);
  CHECK_THROWS_AS(choose_blocks_to_serve(swarm, 8, 9), Error);
}
