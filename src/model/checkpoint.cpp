#include "petalsln/model/checkpoint.hpp"

#include <torch/torch.h>

#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "model/safetensors_header.hpp"
#include "petalsln/util/error.hpp"
#include "petalsln/util/files.hpp"

namespace petalsln {
namespace {

using nlohmann::json;

struct Shard {
  util::MappedFile file;
  std::uint64_t data_offset = 0;  // where the data section starts in the file
  std::unordered_map<std::string, TensorInfo> tensors;
};

at::ScalarType scalar_type(StorageDType d) {
  switch (d) {
    case StorageDType::f32: return at::kFloat;
    case StorageDType::f16: return at::kHalf;
    case StorageDType::bf16: return at::kBFloat16;
  }
  return at::kFloat;
}

Shard open_shard(const std::string& dir, const std::string& file) {
  Shard s;
  s.file = util::MappedFile(util::join_path(dir, file));
  auto header = model::parse_safetensors_header(s.file.data(), s.file.size(), file);
  s.data_offset = header.data_offset;
  s.tensors = std::move(header.tensors);
  return s;
}

// A shard name comes from a file we do not control: it must name a file inside the model
// folder, nothing else.
void check_shard_name(const std::string& f, const std::string& index_path) {
  if (f.empty() || f == "." || f == ".." || f.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
    throw Error(ErrorCode::invalid_format, index_path + ": shard name \"" + f + "\" is not a plain file name");
  }
}

// Reads `model.safetensors.index.json`: tensor name -> shard file. Repeated keys are refused
// (which shard holds a tensor must not depend on the JSON parser), as is an empty map.
std::unordered_map<std::string, std::string> read_index(const std::string& index_path) {
  const std::string text = util::read_file(index_path, 64u << 20);
  const json index = model::parse_json_object_without_duplicates(text.data(), text.data() + text.size(), index_path);
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) throw Error(ErrorCode::invalid_format, index_path + ": missing \"weight_map\" object");
  if (wm->empty()) throw Error(ErrorCode::invalid_format, index_path + ": \"weight_map\" lists no tensors");
  std::unordered_map<std::string, std::string> tensor_file;
  for (const auto& [name, file] : wm->items()) {
    if (!file.is_string()) throw Error(ErrorCode::invalid_format, index_path + ": weight_map[\"" + name + "\"] is not a file name");
    check_shard_name(file.get<std::string>(), index_path);
    tensor_file.emplace(name, file.get<std::string>());
  }
  return tensor_file;
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
    impl->tensor_file = read_index(index_path);
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
  // An empty tensor (a zero in its shape) has no storage: memcpy must not see its null pointer.
  if (t.end > t.begin) std::memcpy(raw.data_ptr(), shard->file.data() + shard->data_offset + t.begin, t.end - t.begin);
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
