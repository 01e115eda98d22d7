#include "petalsln/swarm/route_planner.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <tuple>

#include "petalsln/util/error.hpp"

namespace petalsln {
namespace {

// Caps one hop's estimate so that sums stay far from overflow even for absurd inputs
// (a server announcing throughput 0 costs this much, and is used only when nothing else is).
constexpr double kMaxHopSeconds = 1e4;
// Routes whose bottlenecks differ by less than this relative amount count as equal.
constexpr double kBottleneckTolerance = 1e-9;

// A candidate usable for this plan, with its range clipped to the planned range. Its position
// in the usable list follows the sorted candidates: the final, deterministic tie-break.
struct Usable {
  const ServerRecord* record;
  std::uint32_t lo, hi;
  double latency_s;
  double throughput;  // announced, or 0 if not a finite positive number
};

struct FilterStats {
  std::size_t excluded = 0;
  std::size_t too_expensive = 0;
};

double latency_for(const PeerId& peer, const RouteOptions& o) {
  const auto it = o.latency.find(peer);
  const double l = (it == o.latency.end() ? o.default_latency : it->second).count();
  return std::isfinite(l) && l > 0.0 ? std::min(l, kMaxHopSeconds) : 0.0;
}

// True if the caller said why this candidate is left out (see known_exclusions).
bool explained(const ServerRecord& r, const RouteOptions& o) {
  return std::any_of(o.known_exclusions.begin(), o.known_exclusions.end(),
                     [&](const Exclusion& e) { return e.candidate == r.endpoint; });
}

std::vector<Usable> usable_servers(const std::vector<ServerRecord>& candidates, BlockRange range,
                                   const RouteOptions& o, FilterStats& stats) {
  std::vector<Usable> out;
  for (const ServerRecord& r : candidates) {
    const std::uint32_t lo = std::max(r.block_begin, range.begin);
    const std::uint32_t hi = std::min(r.block_end, range.end);
    if (lo >= hi) continue;
    if (o.excluded_peers.count(r.peer_id) != 0) {
      if (!explained(r, o)) ++stats.excluded;
    } else if (o.max_price_msat && r.price_msat > *o.max_price_msat) {
      ++stats.too_expensive;
    } else {
      const double t = std::isfinite(r.throughput) && r.throughput > 0.0 ? r.throughput : 0.0;
      out.push_back({&r, lo, hi, latency_for(r.peer_id, o), t});
    }
  }
  return out;
}

std::string block_span(std::uint32_t first, std::uint32_t last) {
  return first == last ? std::to_string(first) : std::to_string(first) + "-" + std::to_string(last);
}

// Returns the uncovered blocks as "3-4, 6" (and whether there is more than one), or "".
std::string uncovered_blocks(const std::vector<Usable>& servers, BlockRange range, bool& plural) {
  std::vector<bool> covered(range.end - range.begin, false);
  for (const Usable& s : servers) {
    for (std::uint32_t b = s.lo; b < s.hi; ++b) covered[b - range.begin] = true;
  }
  std::string out;
  std::size_t count = 0;
  for (std::uint32_t b = range.begin; b < range.end;) {
    if (covered[b - range.begin]) {
      ++b;
      continue;
    }
    std::uint32_t last = b;
    while (last + 1 < range.end && !covered[last + 1 - range.begin]) ++last;
    out += (out.empty() ? "" : ", ") + block_span(b, last);
    count += last - b + 1;
    b = last + 1;
  }
  plural = count > 1;
  return out;
}

void require_coverage(const std::vector<Usable>& servers, BlockRange range, const FilterStats& stats, const RouteOptions& o) {
  bool plural = false;
  const std::string gaps = uncovered_blocks(servers, range, plural);
  if (gaps.empty()) return;
  std::string msg = std::string("no server covers ") + (plural ? "blocks " : "block ") + gaps + " (of " +
                    block_span(range.begin, range.end - 1) + ")";
  for (std::size_t i = 0; i < o.known_exclusions.size(); ++i) msg += (i == 0 ? ": " : ", ") + o.known_exclusions[i].describe();
  if (stats.excluded > 0) msg += "; " + std::to_string(stats.excluded) + " candidate(s) excluded";
  if (stats.too_expensive > 0) msg += "; " + std::to_string(stats.too_expensive) + " candidate(s) over the price limit";
  throw Error(ErrorCode::not_found, msg);
}

double hop_seconds(const Usable& s, std::uint32_t blocks) {
  const double t = s.throughput;
  const double compute = t > 0.0 ? static_cast<double>(blocks) / t : kMaxHopSeconds;
  return std::min(s.latency_s + compute, kMaxHopSeconds);
}

double hop_rate(const Usable& s, std::uint32_t blocks) { return s.throughput / static_cast<double>(blocks); }

// Prices are announced by strangers: products and sums saturate instead of wrapping around
// (a wrapped price would make the most expensive server look free).
std::uint64_t saturating_price(std::uint64_t base, std::uint64_t price, std::uint32_t blocks) {
  const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
  if (blocks != 0 && price > max / blocks) return max;
  const std::uint64_t hop = price * blocks;
  return hop > max - base ? max : base + hop;
}

// Times are compared in whole nanoseconds so that equal routes compare equal exactly.
std::int64_t to_ns(double seconds) { return static_cast<std::int64_t>(std::llround(seconds * 1e9)); }

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

// The best known way to reach one block boundary with the last hop on one server. Labels are
// kept per (boundary, last server) so that a route never runs two consecutive hops on the same
// server: such hops are really one hop, and counting them apart would overstate its rate.
struct Label {
  bool reached = false;
  std::int64_t time_ns = 0;
  std::uint64_t price = 0;
  std::uint32_t prev = 0;          // boundary the last hop starts at
  std::size_t prev_server = kNone;  // server of the hop before it (kNone: route start)
};

using LabelTable = std::vector<std::vector<Label>>;  // [boundary - begin][server]

bool earlier(const Label& a, std::size_t ia, const Label& b, std::size_t ib) {
  return std::tie(a.time_ns, a.price, ia) < std::tie(b.time_ns, b.price, ib);
}

// The two best labels at one boundary (by time, price, server), so that extending with server
// s can use the best label whose last server is not s.
struct BestTwo {
  std::size_t first = kNone, second = kNone;
  std::size_t excluding(std::size_t s) const { return first != s ? first : second; }
};

BestTwo best_two(const std::vector<Label>& at) {
  BestTwo t;
  for (std::size_t i = 0; i < at.size(); ++i) {
    if (!at[i].reached) continue;
    if (t.first == kNone || earlier(at[i], i, at[t.first], t.first)) {
      t.second = t.first;
      t.first = i;
    } else if (t.second == kNone || earlier(at[i], i, at[t.second], t.second)) {
      t.second = i;
    }
  }
  return t;
}

// The label to extend from boundary a with server s, or nullptr; the route start when a is the
// range's first boundary.
const Label* origin(const LabelTable& labels, const BestTwo& best, std::uint32_t a, BlockRange range, std::size_t s,
                    std::size_t& from_server) {
  static const Label start{true, 0, 0, 0, kNone};
  from_server = kNone;
  if (a == range.begin) return &start;
  from_server = best.excluding(s);
  return from_server == kNone ? nullptr : &labels[a - range.begin][from_server];
}

bool better(const Label& candidate, std::size_t s_candidate, const Label& current, std::size_t s_current) {
  return !current.reached || earlier(candidate, s_candidate, current, s_current);
}

// Boundaries form a DAG in increasing order, so one forward pass is a shortest-path search.
// Hops whose rate is below min_rate are not allowed (used by max_throughput).
LabelTable shortest_paths(const std::vector<Usable>& servers, BlockRange range, double min_rate) {
  LabelTable labels(range.end - range.begin + 1, std::vector<Label>(servers.size()));
  for (std::uint32_t a = range.begin; a < range.end; ++a) {
    const BestTwo best = best_two(labels[a - range.begin]);
    for (std::size_t si = 0; si < servers.size(); ++si) {
      const Usable& s = servers[si];
      std::size_t from_server = kNone;
      const Label* from = origin(labels, best, a, range, si, from_server);
      if (from == nullptr || a < s.lo || a >= s.hi) continue;
      for (std::uint32_t b = a + 1; b <= s.hi && hop_rate(s, b - a) >= min_rate; ++b) {
        const Label next{true, from->time_ns + to_ns(hop_seconds(s, b - a)),
                         saturating_price(from->price, s.record->price_msat, b - a), a, from_server};
        Label& to = labels[b - range.begin][si];
        if (better(next, si, to, si)) to = next;
      }
    }
  }
  return labels;
}

// How many blocks server s may run in a route whose every server must pass min_rate tokens/s.
std::uint32_t capacity(const Usable& s, double min_rate) {
  const std::uint32_t span = s.hi - s.lo;
  if (min_rate <= 0.0) return span;
  const double k = std::floor(s.throughput / min_rate);
  return k >= static_cast<double>(span) ? span : static_cast<std::uint32_t>(k);
}

// Assigns every block to a covering server without exceeding capacities, or returns an empty
// vector. Blocks go left to right to the server whose range ends first (earliest deadline
// first), which finds an assignment whenever one exists.
std::vector<std::size_t> assign_blocks(const std::vector<Usable>& servers, BlockRange range, double min_rate) {
  std::vector<std::uint32_t> left(servers.size());
  for (std::size_t i = 0; i < servers.size(); ++i) left[i] = capacity(servers[i], min_rate);
  std::vector<std::size_t> owner;
  for (std::uint32_t b = range.begin; b < range.end; ++b) {
    std::size_t pick = kNone;
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (left[i] == 0 || b < servers[i].lo || b >= servers[i].hi) continue;
      if (pick == kNone || servers[i].hi < servers[pick].hi) pick = i;
    }
    if (pick == kNone) return {};
    --left[pick];
    owner.push_back(pick);
  }
  return owner;
}

// The highest rate r such that every server of some route passes r tokens/s, counting all the
// blocks a server runs in the route (a server may appear in several hops). The answer is one
// of the rates T / k, so a binary search over them with assign_blocks() finds it exactly.
double best_bottleneck(const std::vector<Usable>& servers, BlockRange range) {
  std::vector<double> rates;
  for (const Usable& s : servers) {
    for (std::uint32_t k = 1; k <= s.hi - s.lo; ++k) rates.push_back(hop_rate(s, k));
  }
  std::sort(rates.begin(), rates.end(), std::greater<>());
  rates.erase(std::unique(rates.begin(), rates.end()), rates.end());
  std::size_t lo = 0, hi = rates.size();  // the answer's index lies in [lo, hi); rates.size(): 0
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (!assign_blocks(servers, range, rates[mid] * (1.0 - kBottleneckTolerance)).empty()) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo < rates.size() ? rates[lo] : 0.0;
}

// One hop before it becomes a RouteHop: a server (index into the usable servers) and blocks.
struct Leg {
  std::size_t server;
  std::uint32_t begin, end;
};

// Walks the labels back from the best label at the last boundary.
std::vector<Leg> trace_legs(const LabelTable& labels, BlockRange range) {
  std::size_t server = best_two(labels.back()).first;
  if (server == kNone) throw Error(ErrorCode::internal, "route search failed over a covered range");
  std::vector<Leg> legs;
  for (std::uint32_t b = range.end; b > range.begin;) {
    const Label& l = labels[b - range.begin][server];
    legs.push_back(Leg{server, l.prev, b});
    b = l.prev;
    server = l.prev_server;
  }
  std::reverse(legs.begin(), legs.end());
  return legs;
}

// Turns a block-to-server assignment into legs, merging runs of one server.
std::vector<Leg> legs_from_assignment(const std::vector<std::size_t>& owner, BlockRange range) {
  std::vector<Leg> legs;
  for (std::uint32_t b = range.begin; b < range.end; ++b) {
    const std::size_t s = owner[b - range.begin];
    if (!legs.empty() && legs.back().server == s) {
      legs.back().end = b + 1;
    } else {
      legs.push_back(Leg{s, b, b + 1});
    }
  }
  return legs;
}

// True if no server runs more blocks in total than min_rate allows.
bool within_capacity(const std::vector<Leg>& legs, const std::vector<Usable>& servers, double min_rate) {
  std::map<std::size_t, std::uint32_t> used;
  for (const Leg& l : legs) used[l.server] += l.end - l.begin;
  for (const auto& [server, blocks] : used) {
    if (blocks > capacity(servers[server], min_rate)) return false;
  }
  return true;
}

// The max_throughput route: the best bottleneck, and among routes reaching it the fastest per
// token. The shortest-path search bounds each hop, not each server's total, so a route that
// reuses a server beyond its share is replaced by the block assignment that proved the
// bottleneck reachable.
std::vector<Leg> max_throughput_legs(const std::vector<Usable>& servers, BlockRange range) {
  const double min_rate = best_bottleneck(servers, range) * (1.0 - kBottleneckTolerance);
  std::vector<Leg> legs = trace_legs(shortest_paths(servers, range, min_rate), range);
  if (within_capacity(legs, servers, min_rate)) return legs;
  const std::vector<std::size_t> owner = assign_blocks(servers, range, min_rate);
  if (owner.empty()) throw Error(ErrorCode::internal, "bottleneck assignment vanished");
  return legs_from_assignment(owner, range);
}

// Builds the route and its estimates. The rate counts every block a peer runs in the route.
Route make_route(const std::vector<Leg>& legs, const std::vector<Usable>& servers) {
  Route route;
  std::map<PeerId, std::pair<double, std::uint32_t>> load;  // peer -> (throughput, blocks)
  for (const Leg& l : legs) {
    const Usable& s = servers[l.server];
    const std::uint32_t blocks = l.end - l.begin;
    route.hops.push_back(RouteHop{s.record->peer_id, s.record->endpoint, l.begin, l.end, s.throughput,
                                  FractionalSeconds(s.latency_s), s.record->price_msat, s.record->weights});
    route.time_per_token += FractionalSeconds(hop_seconds(s, blocks));
    route.price_msat_per_1000_tokens = saturating_price(route.price_msat_per_1000_tokens, s.record->price_msat, blocks);
    auto& [throughput, total] = load[s.record->peer_id];
    throughput = s.throughput;
    total += blocks;
  }
  route.tokens_per_second = std::numeric_limits<double>::infinity();
  for (const auto& [peer, tb] : load) route.tokens_per_second = std::min(route.tokens_per_second, tb.first / tb.second);
  return route;
}

bool candidate_order(const ServerRecord& a, const ServerRecord& b) {
  return std::tie(a.peer_id, a.block_begin, a.block_end) < std::tie(b.peer_id, b.block_begin, b.block_end);
}

}  // namespace

RoutePlanner::RoutePlanner(std::vector<ServerRecord> candidates) : candidates_(std::move(candidates)) {
  std::stable_sort(candidates_.begin(), candidates_.end(), candidate_order);
}

Route RoutePlanner::plan(std::uint32_t num_blocks, const RouteOptions& options) const {
  if (num_blocks == 0) throw Error(ErrorCode::invalid_argument, "cannot plan a route over zero blocks");
  return plan_range(0, num_blocks, options);
}

Route RoutePlanner::plan_range(std::uint32_t begin, std::uint32_t end, const RouteOptions& options) const {
  if (begin >= end) {
    throw Error(ErrorCode::invalid_argument,
                "cannot plan an empty block range " + std::to_string(begin) + ":" + std::to_string(end));
  }
  const BlockRange range{begin, end};
  FilterStats stats;
  const std::vector<Usable> servers = usable_servers(candidates_, range, options, stats);
  require_coverage(servers, range, stats, options);
  if (options.mode == RouteMode::max_throughput) return make_route(max_throughput_legs(servers, range), servers);
  return make_route(trace_legs(shortest_paths(servers, range, -1.0), range), servers);
}

BlockRange choose_blocks_to_serve(const std::vector<ServerRecord>& records, std::uint32_t num_blocks, std::uint32_t n) {
  if (n == 0 || n > num_blocks) {
    throw Error(ErrorCode::invalid_argument, "cannot choose " + std::to_string(n) + " blocks out of " +
                                                 std::to_string(num_blocks));
  }
  std::vector<double> coverage(num_blocks, 0.0);
  for (const ServerRecord& r : records) {
    for (std::uint32_t b = r.block_begin; b < std::min(r.block_end, num_blocks); ++b) coverage[b] += r.throughput;
  }
  BlockRange best{0, n};
  std::vector<double> best_key;
  for (std::uint32_t start = 0; start + n <= num_blocks; ++start) {
    std::vector<double> key(coverage.begin() + start, coverage.begin() + start + n);
    std::sort(key.begin(), key.end());
    if (best_key.empty() || key < best_key) {
      best_key = std::move(key);
      best = BlockRange{start, start + n};
    }
  }
  return best;
}

}  // namespace petalsln
