#pragma once
/// @file files.hpp
/// File helpers shared by every layer: whole-file reads with a size cap, and read-only
/// memory mappings (safetensors weights are mapped, never copied wholesale).

#include <cstddef>
#include <cstdint>
#include <string>

namespace petalsln::util {

/// Reads the whole file at @p path. Throws Error(not_found) if it does not exist,
/// Error(io) if it cannot be read, Error(invalid_argument) if it exceeds @p max_bytes.
std::string read_file(const std::string& path, std::size_t max_bytes = 64u << 20);

/// Returns true if @p path names an existing regular file.
bool is_regular_file(const std::string& path);

/// Returns true if @p path names an existing directory.
bool is_directory(const std::string& path);

/// Returns the last component of @p path, ignoring trailing slashes ("a/b/" -> "b").
std::string base_name(std::string path);

/// Joins two path components with exactly one '/'.
std::string join_path(const std::string& dir, const std::string& name);

/// A read-only, private memory mapping of a whole file. Move-only; unmaps on destruction.
class MappedFile {
 public:
  MappedFile() = default;
  /// Maps @p path. Throws Error(not_found) / Error(io) on failure. An empty file maps to an
  /// empty view.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  /// First byte of the mapping (nullptr when empty).
  const std::uint8_t* data() const noexcept { return data_; }
  /// Size of the file in bytes.
  std::size_t size() const noexcept { return size_; }
  /// The path this mapping was opened from.
  const std::string& path() const noexcept { return path_; }

 private:
  void reset() noexcept;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

}  // namespace petalsln::util
