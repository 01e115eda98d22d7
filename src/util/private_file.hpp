#pragma once
// Files only their owner may read: key files, wallet and ledger databases, lock files. They are
// created with mode exactly 0600 in one step, so they never exist, not even for an instant,
// with wider permissions, whatever the process's umask.

#include <optional>
#include <string>
#include <string_view>

namespace petalsln::util {

/// An open file descriptor that closes itself. Move-only.
class FileDescriptor {
 public:
  /// Takes ownership of @p fd (-1 for none).
  explicit FileDescriptor(int fd = -1) noexcept : fd_(fd) {}
  ~FileDescriptor();
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept;
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  /// The descriptor, or -1 if this holds none.
  int get() const noexcept { return fd_; }
  /// True if this holds a descriptor.
  bool valid() const noexcept { return fd_ >= 0; }
  /// Gives up ownership: returns the descriptor (or -1) and leaves this empty.
  int release() noexcept;

 private:
  int fd_ = -1;
};

/// Creates @p path as a new, empty regular file of mode exactly 0600 and returns it open for
/// reading and writing (O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, then fchmod, because the
/// umask may have removed bits from 0600). Returns nullopt, touching nothing, if @p path
/// already exists (a symbolic link included: it is never followed). @p what names the file in
/// messages ("key file"). Throws Error(io) if the file cannot be created or its mode set (a
/// file this call created is removed again then).
std::optional<FileDescriptor> create_private_file(const std::string& path, std::string_view what);

/// Opens @p path for reading and writing, creating it as create_private_file() does if it does
/// not exist; never follows a symbolic link. An existing file keeps its mode. Returns the open
/// descriptor. Throws Error(io) naming @p what if the file can be neither created nor opened.
FileDescriptor open_or_create_private_file(const std::string& path, std::string_view what);

}  // namespace petalsln::util
