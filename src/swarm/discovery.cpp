#include "petalsln/swarm/discovery.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace petalsln {
namespace {

void count_unauthentic(RecordProblem problem, DropCounts& dropped) {
  switch (problem) {
    case RecordProblem::oversized: ++dropped.oversized; break;
    case RecordProblem::bad_signature: ++dropped.bad_signature; break;
    default: ++dropped.malformed; break;
  }
}

// Decides what to do with the newest record of one peer; returns true to keep it.
bool keep_newest(const RecordCheck& c, const std::string& model, const ModelFingerprint& fingerprint,
                 DropCounts& dropped) {
  const ServerRecord& r = *c.record;
  if (r.is_tombstone()) return false;  // the peer withdrew
  if (r.model != model || r.model_fingerprint != fingerprint) {
    ++dropped.wrong_fingerprint;
    return false;
  }
  if (c.problem == RecordProblem::expired) ++dropped.expired;
  if (c.problem == RecordProblem::issued_in_future) ++dropped.issued_in_future;
  return c.ok();
}

}  // namespace

bool supersedes(const ServerRecord& a, const ServerRecord& b) noexcept {
  return std::make_tuple(a.issued_at, a.is_tombstone(), a.expires_at) >
         std::make_tuple(b.issued_at, b.is_tombstone(), b.expires_at);
}

LookupResult select_records(const std::vector<std::string>& values, const std::string& model,
                            const ModelFingerprint& fingerprint, std::uint64_t now, std::size_t max_record_bytes) {
  LookupResult result;
  std::map<PeerId, RecordCheck> newest;
  for (const std::string& value : values) {
    RecordCheck c = ServerRecord::check_signed(value, now, max_record_bytes);
    if (!c.record) {
      count_unauthentic(c.problem, result.dropped);
      continue;
    }
    const PeerId peer = c.record->peer_id;
    auto it = newest.find(peer);
    if (it == newest.end()) {
      newest.emplace(peer, std::move(c));
    } else if (supersedes(*c.record, *it->second.record)) {
      it->second = std::move(c);
    }
  }
  for (auto& [peer, c] : newest) {
    if (keep_newest(c, model, fingerprint, result.dropped)) result.records.push_back(std::move(*c.record));
  }
  return result;  // std::map iteration already sorted the records by peer id
}

}  // namespace petalsln
