#pragma once
/// @file checkpoint.hpp
/// Read access to the weights of a Hugging Face checkpoint stored as safetensors.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace petalsln {

/// Element types petalsln reads from safetensors files.
enum class StorageDType { f32, f16, bf16 };

/// Returns "F32", "F16" or "BF16".
const char* to_string(StorageDType dtype) noexcept;

/// Where one tensor lives and what it holds, from a safetensors header.
struct TensorInfo {
  std::string name;                 ///< Tensor name, e.g. "model.layers.0.mlp.up_proj.weight".
  StorageDType dtype = StorageDType::f32;  ///< Element type on disk.
  std::vector<std::int64_t> shape;  ///< Dimensions, outermost first.
  std::string file;                 ///< Shard file name inside the model folder.
  std::uint64_t begin = 0;          ///< Byte offset of the data inside the shard's data section.
  std::uint64_t end = 0;            ///< One past the last byte.
};

/// A model folder's safetensors weights: `model.safetensors`, or the shards listed in
/// `model.safetensors.index.json`. Shards are memory-mapped on first use, so a server that
/// holds a few blocks maps (and pages in) only the files holding them. Headers are validated
/// before any byte of data is trusted: a length within the file and the format's 100 MB limit,
/// JSON without repeated keys, supported dtypes, every tensor exactly dtype size × elements
/// bytes, and tensors that tile the data section with no overlap, gap or trailing byte (the
/// reference implementation's rule). Thread-safe for concurrent reads.
class Checkpoint {
 public:
  /// Opens the weights in @p model_dir. Reads the index (if sharded) but maps no shard yet.
  /// Throws Error(not_found) when neither file exists, Error(invalid_format) for a malformed
  /// index (not a JSON object, repeated keys, no or an empty "weight_map", a shard name that is
  /// not a plain file name) or, unsharded, a malformed model.safetensors.
  static Checkpoint open(const std::string& model_dir);

  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  ~Checkpoint();

  /// Returns true if the checkpoint declares a tensor called @p name.
  bool contains(const std::string& name) const;

  /// Returns the header entry for @p name, mapping and validating its shard if needed.
  /// Throws Error(not_found) for an unknown tensor or a missing shard file, and
  /// Error(invalid_format)/Error(unsupported) for a corrupt or unsupported shard.
  TensorInfo info(const std::string& name) const;

  /// Reads tensor @p name, checks it has @p expected_shape (when non-empty), and returns a
  /// contiguous CPU copy converted to @p dtype. Throws as info(), and Error(invalid_format) on
  /// a shape mismatch.
  at::Tensor load(const std::string& name, at::ScalarType dtype,
                  const std::vector<std::int64_t>& expected_shape = {}) const;

  /// Names of every tensor the checkpoint declares (the index's names when sharded).
  std::vector<std::string> names() const;

  /// Names of the shard files mapped so far (lets tests check that only needed shards load).
  std::vector<std::string> mapped_files() const;

 private:
  struct Impl;
  explicit Checkpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace petalsln
