#include "petalsln/checkpoint.hpp"

#include <torch/torch.h>

#include <cstring>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "petalsln/error.hpp"
#include "util/files.hpp"

namespace petalsln {
namespace {

using nlohmann::json;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little-endian; add byte swapping");

// A safetensors header is JSON; real ones are kilobytes to a few megabytes. Anything
// larger is a corrupt length field, not a model.
constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;
constexpr std::size_t kMaxRank = 8;

struct Shard {
  util::MappedFile file;
  std::uint64_t data_offset = 0;  // where the data section starts in the file
  std::unordered_map<std::string, TensorInfo> tensors;
};

std::size_t element_size(StorageDType d) { return d == StorageDType::f32 ? 4 : 2; }

at::ScalarType scalar_type(StorageDType d) {
  switch (d) {
    case StorageDType::f32: return at::kFloat;
    case StorageDType::f16: return at::kHalf;
    case StorageDType::bf16: return at::kBFloat16;
  }
  return at::kFloat;
}

StorageDType parse_dtype(const std::string& s, const std::string& where) {
  if (s == "F32") return StorageDType::f32;
  if (s == "F16") return StorageDType::f16;
  if (s == "BF16") return StorageDType::bf16;
  static const std::set<std::string> known = {"F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"};
  if (known.count(s) != 0) throw Error(ErrorCode::unsupported, where + ": dtype " + s + " is not supported (F32, F16, BF16 are)");
  throw Error(ErrorCode::invalid_format, where + ": unknown dtype string \"" + s + "\"");
}

TensorInfo parse_entry(const std::string& name, const json& e, const std::string& file, std::uint64_t data_size) {
  const std::string where = file + ": tensor " + name;
  if (!e.is_object()) throw Error(ErrorCode::invalid_format, where + ": header entry is not an object");
  auto dt = e.find("dtype");
  auto sh = e.find("shape");
  auto off = e.find("data_offsets");
  if (dt == e.end() || !dt->is_string()) throw Error(ErrorCode::invalid_format, where + ": missing dtype");
  if (sh == e.end() || !sh->is_array()) throw Error(ErrorCode::invalid_format, where + ": missing shape");
  if (off == e.end() || !off->is_array() || off->size() != 2) throw Error(ErrorCode::invalid_format, where + ": data_offsets must be [begin, end]");
  TensorInfo t;
  t.name = name;
  t.file = file;
  t.dtype = parse_dtype(dt->get<std::string>(), where);
  if (sh->size() > kMaxRank) throw Error(ErrorCode::invalid_format, where + ": rank " + std::to_string(sh->size()) + " is too large");
  std::uint64_t elements = 1;
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) throw Error(ErrorCode::invalid_format, where + ": shape entries must be non-negative integers");
    const auto v = d.get<std::uint64_t>();
    if (v != 0 && elements > std::numeric_limits<std::uint64_t>::max() / 16 / v) {
      throw Error(ErrorCode::invalid_format, where + ": shape is too large");
    }
    elements *= v;
    t.shape.push_back(static_cast<std::int64_t>(v));
  }
  for (const auto& o : *off) {
    if (!o.is_number_unsigned()) throw Error(ErrorCode::invalid_format, where + ": data_offsets must be non-negative integers");
  }
  t.begin = (*off)[0].get<std::uint64_t>();
  t.end = (*off)[1].get<std::uint64_t>();
  if (t.begin > t.end || t.end > data_size) {
    throw Error(ErrorCode::invalid_format, where + ": data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                                               ") lie outside the " + std::to_string(data_size) + "-byte data section (truncated file?)");
  }
  if (t.end - t.begin != elements * element_size(t.dtype)) {
    throw Error(ErrorCode::invalid_format, where + ": shape needs " + std::to_string(elements * element_size(t.dtype)) +
                                               " bytes but data_offsets span " + std::to_string(t.end - t.begin));
  }
  return t;
}

Shard open_shard(const std::string& dir, const std::string& file) {
  Shard s;
  s.file = util::MappedFile(util::join_path(dir, file));
  const std::uint64_t size = s.file.size();
  if (size < 8) throw Error(ErrorCode::invalid_format, file + ": too short to be a safetensors file (" + std::to_string(size) + " bytes)");
  std::uint64_t header_len = 0;
  std::memcpy(&header_len, s.file.data(), 8);
  if (header_len > kMaxHeaderBytes || header_len > size - 8) {
    throw Error(ErrorCode::invalid_format, file + ": header length " + std::to_string(header_len) + " exceeds the file (" +
                                               std::to_string(size) + " bytes) or the 100 MiB limit");
  }
  s.data_offset = 8 + header_len;
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(s.file.data()) + 8, reinterpret_cast<const char*>(s.file.data()) + s.data_offset);
  } catch (const json::parse_error& e) {
    throw Error(ErrorCode::invalid_format, file + ": header is not valid JSON: " + e.what());
  }
  if (!header.is_object()) throw Error(ErrorCode::invalid_format, file + ": header is not a JSON object");
  const std::uint64_t data_size = size - s.data_offset;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    s.tensors.emplace(name, parse_entry(name, entry, file, data_size));
  }
  return s;
}

}  // namespace

const char* to_string(StorageDType dtype) noexcept {
  switch (dtype) {
    case StorageDType::f32: return "F32";
    case StorageDType::f16: return "F16";
    case StorageDType::bf16: return "BF16";
  }
  return "?";
}

struct Checkpoint::Impl {
  std::string dir;
  std::unordered_map<std::string, std::string> tensor_file;  // name -> shard file
  mutable std::mutex mu;
  mutable std::unordered_map<std::string, std::shared_ptr<Shard>> shards;

  std::shared_ptr<Shard> shard(const std::string& file) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = shards.find(file);
    if (it != shards.end()) return it->second;
    auto s = std::make_shared<Shard>(open_shard(dir, file));
    shards.emplace(file, s);
    return s;
  }
};

Checkpoint::Checkpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

Checkpoint Checkpoint::open(const std::string& model_dir) {
  auto impl = std::make_unique<Impl>();
  impl->dir = model_dir;
  const std::string index_path = util::join_path(model_dir, "model.safetensors.index.json");
  const std::string single = "model.safetensors";
  if (util::is_regular_file(index_path)) {
    json index;
    try {
      index = json::parse(util::read_file(index_path, 64u << 20));
    } catch (const json::parse_error& e) {
      throw Error(ErrorCode::invalid_format, index_path + " is not valid JSON: " + e.what());
    }
    auto wm = index.is_object() ? index.find("weight_map") : index.end();
    if (wm == index.end() || !wm->is_object()) throw Error(ErrorCode::invalid_format, index_path + ": missing \"weight_map\" object");
    for (const auto& [name, file] : wm->items()) {
      if (!file.is_string()) throw Error(ErrorCode::invalid_format, index_path + ": weight_map[\"" + name + "\"] is not a file name");
      const auto f = file.get<std::string>();
      // Shard names come from a file we do not control: keep them inside the model folder.
      if (f.empty() || f.find('/') != std::string::npos || f == "." || f == "..") {
        throw Error(ErrorCode::invalid_format, index_path + ": shard name \"" + f + "\" is not a plain file name");
      }
      impl->tensor_file.emplace(name, f);
    }
  } else if (util::is_regular_file(util::join_path(model_dir, single))) {
    auto shard = std::make_shared<Shard>(open_shard(model_dir, single));
    for (const auto& [name, info] : shard->tensors) impl->tensor_file.emplace(name, single);
    impl->shards.emplace(single, std::move(shard));
  } else {
    throw Error(ErrorCode::not_found, "no model.safetensors or model.safetensors.index.json in " + model_dir);
  }
  return Checkpoint(std::move(impl));
}

bool Checkpoint::contains(const std::string& name) const { return impl_->tensor_file.count(name) != 0; }

TensorInfo Checkpoint::info(const std::string& name) const {
  auto it = impl_->tensor_file.find(name);
  if (it == impl_->tensor_file.end()) throw Error(ErrorCode::not_found, "tensor " + name + " is not in the checkpoint at " + impl_->dir);
  auto shard = impl_->shard(it->second);
  auto t = shard->tensors.find(name);
  if (t == shard->tensors.end()) {
    throw Error(ErrorCode::not_found, "tensor " + name + " is listed for " + it->second + " but that file does not hold it");
  }
  return t->second;
}

at::Tensor Checkpoint::load(const std::string& name, at::ScalarType dtype, const std::vector<std::int64_t>& expected_shape) const {
  const TensorInfo t = info(name);
  if (!expected_shape.empty() && expected_shape != t.shape) {
    auto fmt = [](const std::vector<std::int64_t>& s) {
      std::string out = "[";
      for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
      return out + "]";
    };
    throw Error(ErrorCode::invalid_format, "tensor " + name + " has shape " + fmt(t.shape) + ", expected " + fmt(expected_shape));
  }
  auto shard = impl_->shard(t.file);
  // Copy into an aligned tensor first: safetensors offsets need not be aligned to the element.
  at::Tensor raw = torch::empty(t.shape, torch::TensorOptions().dtype(scalar_type(t.dtype)));
  std::memcpy(raw.data_ptr(), shard->file.data() + shard->data_offset + t.begin, t.end - t.begin);
  return raw.scalar_type() == dtype ? raw : raw.to(dtype);
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->tensor_file.size());
  for (const auto& kv : impl_->tensor_file) out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Checkpoint::mapped_files() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<std::string> out;
  for (const auto& kv : impl_->shards) out.push_back(kv.first);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace petalsln
