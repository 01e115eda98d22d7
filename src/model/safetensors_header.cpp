#include "model/safetensors_header.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <tuple>
#include <vector>

#include "petalsln/util/error.hpp"

namespace petalsln::model {
namespace {

using nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; add byte swapping");

constexpr std::size_t kMaxRank = 8;

[[noreturn]] void bad(const std::string& what) { throw Error(ErrorCode::invalid_format, what); }

std::uint64_t element_size(StorageDType d) { return d == StorageDType::f32 ? 4 : 2; }

StorageDType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "F32") return StorageDType::f32;
  if (s == "F16") return StorageDType::f16;
  if (s == "BF16") return StorageDType::bf16;
  static const std::set<std::string> known = {"F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"};
  if (known.count(s) != 0) throw Error(ErrorCode::unsupported, where + ": dtype " + s + " is not supported (F32, F16, BF16 are)");
  bad(where + ": unknown dtype string \"" + s + "\"");
}

// Returns the number of elements of @p shape, refusing products that could overflow the
// byte-count arithmetic (elements × 16 must fit in 64 bits).
std::uint64_t parse_shape(const json& shape, const std::string& where, std::vector<std::int64_t>& out) {
  if (shape.size() > kMaxRank) bad(where + ": rank " + std::to_string(shape.size()) + " is too large");
  std::uint64_t elements = 1;
  for (const auto& d : shape) {
    if (!d.is_number_unsigned()) bad(where + ": shape entries must be non-negative integers");
    const auto v = d.get<std::uint64_t>();
    if (v != 0 && elements > std::numeric_limits<std::uint64_t>::max() / 16 / v) bad(where + ": shape is too large");
    elements *= v;
    out.push_back(static_cast<std::int64_t>(v));
  }
  return elements;
}

TensorInfo parse_entry(const std::string& name, const json& e, const std::string& file, std::uint64_t data_size) {
  const std::string where = file + ": tensor " + name;
  if (!e.is_object()) bad(where + ": header entry is not an object");
  auto dt = e.find("dtype");
  auto sh = e.find("shape");
  auto off = e.find("data_offsets");
  if (dt == e.end() || !dt->is_string()) bad(where + ": missing dtype");
  if (sh == e.end() || !sh->is_array()) bad(where + ": missing shape");
  if (off == e.end() || !off->is_array() || off->size() != 2) bad(where + ": data_offsets must be [begin, end]");
  TensorInfo t;
  t.name = name;
  t.file = file;
  t.dtype = parse_dtype(dt->get<std::string>(), where);
  const std::uint64_t elements = parse_shape(*sh, where, t.shape);
  for (const auto& o : *off) {
    if (!o.is_number_unsigned()) bad(where + ": data_offsets must be non-negative integers");
  }
  t.begin = (*off)[0].get<std::uint64_t>();
  t.end = (*off)[1].get<std::uint64_t>();
  const std::string span = "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ")";
  if (t.begin > t.end) bad(where + ": " + span + " end before they begin");
  if (t.end > data_size) bad(where + ": " + span + " lie outside the " + std::to_string(data_size) + "-byte data section (truncated file?)");
  const std::uint64_t needed = elements * element_size(t.dtype);
  if (t.end - t.begin != needed) {
    bad(where + ": shape needs " + std::to_string(needed) + " bytes but " + span + " span " + std::to_string(t.end - t.begin));
  }
  return t;
}

void check_metadata(const json& m, const std::string& file) {
  if (!m.is_object()) bad(file + ": __metadata__ must be an object of strings");
  for (const auto& [key, value] : m.items()) {
    if (!value.is_string()) bad(file + ": __metadata__[\"" + key + "\"] is not a string");
  }
}

// The tensors must tile the data section: sorted by offset, each starts where the previous
// one ended, the first at 0, the last at the section's end. This is the rule of the format's
// reference implementation (safetensors' Metadata::validate, "InvalidOffset" /
// "MetadataIncompleteBuffer"), which every writer follows, ours included. It is stricter than
// "in bounds and non-overlapping" on purpose: overlaps let two names alias one weight, and
// gaps or trailing bytes are how a file whose tensors were shifted by a few bytes would still
// pass the per-tensor size check; neither is a file any tool would have produced.
void require_exact_tiling(const std::unordered_map<std::string, TensorInfo>& tensors, std::uint64_t data_size,
                          const std::string& file) {
  std::vector<const TensorInfo*> order;
  order.reserve(tensors.size());
  for (const auto& kv : tensors) order.push_back(&kv.second);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return std::tie(a->begin, a->end, a->name) < std::tie(b->begin, b->end, b->name);
  });
  std::uint64_t pos = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo* t : order) {
    if (t->begin < pos) {
      bad(file + ": tensors " + previous->name + " and " + t->name + " overlap (" + t->name + " begins at byte " +
          std::to_string(t->begin) + ", before " + previous->name + " ends at " + std::to_string(pos) + ")");
    }
    if (t->begin > pos) {
      bad(file + ": " + std::to_string(t->begin - pos) + " bytes before tensor " + t->name + " (at " + std::to_string(pos) +
          ") belong to no tensor; safetensors tensors must be contiguous");
    }
    pos = t->end;
    previous = t;
  }
  if (pos != data_size) {
    bad(file + ": the last " + std::to_string(data_size - pos) + " bytes of the " + std::to_string(data_size) +
        "-byte data section belong to no tensor; safetensors tensors must cover it exactly");
  }
}

}  // namespace

json parse_json_object_without_duplicates(const char* begin, const char* end, const std::string& what) {
  // One set of keys per open object; a key seen twice in the same object is an error.
  std::vector<std::set<std::string>> open;
  const json::parser_callback_t check = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) open.emplace_back();
    if (event == json::parse_event_t::object_end) open.pop_back();
    if (event == json::parse_event_t::key && !open.back().insert(parsed.get<std::string>()).second) {
      bad(what + ": key \"" + parsed.get<std::string>() + "\" appears twice in one object");
    }
    return true;
  };
  json j;
  try {
    j = json::parse(begin, end, check);
  } catch (const json::exception& e) {
    // Not only parse_error: a number too large for a double ("1e999") throws out_of_range.
    bad(what + " is not valid JSON: " + e.what());
  }
  if (!j.is_object()) bad(what + " is not a JSON object");
  return j;
}

std::uint64_t safetensors_header_length(const std::uint8_t* file_bytes, std::uint64_t file_size, const std::string& file) {
  if (file_size < 8) bad(file + ": too short to be a safetensors file (" + std::to_string(file_size) + " bytes)");
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, file_bytes, 8);
  if (header_len > kMaxSafetensorsHeaderBytes || header_len > file_size - 8) {
    bad(file + ": header length " + std::to_string(header_len) + " exceeds the file (" + std::to_string(file_size) +
        " bytes) or the format's 100 MB limit");
  }
  return header_len;
}

SafetensorsHeader parse_safetensors_header(const std::uint8_t* file_bytes, std::uint64_t file_size, const std::string& file) {
  const std::uint64_t header_len = safetensors_header_length(file_bytes, file_size, file);
  const char* text = reinterpret_cast<const char*>(file_bytes) + 8;
  // The format requires the header to begin with '{' (padding may only trail it).
  if (header_len == 0 || text[0] != '{') bad(file + ": header does not begin with '{'");
  SafetensorsHeader h;
  h.data_offset = 8 + header_len;
  const json header = parse_json_object_without_duplicates(text, text + header_len, file + ": header");
  const std::uint64_t data_size = file_size - h.data_offset;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      check_metadata(entry, file);
      continue;
    }
    h.tensors.emplace(name, parse_entry(name, entry, file, data_size));
  }
  require_exact_tiling(h.tensors, data_size, file);
  return h;
}

}  // namespace petalsln::model
