#include "util/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "petalsln/util/error.hpp"

namespace petalsln::util {
namespace {

constexpr mode_t kPrivateMode = S_IRUSR | S_IWUSR;  // 0600

[[noreturn]] void throw_io(const std::string& what_failed, std::string_view what, const std::string& path, int err) {
  throw Error(ErrorCode::io, what_failed + " " + std::string(what) + " " + path + ": " + std::strerror(err));
}

}  // namespace

FileDescriptor::~FileDescriptor() {
  if (fd_ >= 0) ::close(fd_);
}

FileDescriptor& FileDescriptor::operator=(FileDescriptor&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

int FileDescriptor::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

std::optional<FileDescriptor> create_private_file(const std::string& path, std::string_view what) {
  FileDescriptor file(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, kPrivateMode));
  if (!file.valid()) {
    if (errno == EEXIST) return std::nullopt;
    throw_io("cannot create", what, path, errno);
  }
  // The umask can only remove bits from 0600; fchmod makes the mode exact regardless.
  if (::fchmod(file.get(), kPrivateMode) != 0) {
    const int err = errno;
    ::unlink(path.c_str());  // never leave behind a file this call made and could not finish
    throw_io("cannot set mode 0600 on", what, path, err);
  }
  return file;
}

FileDescriptor open_or_create_private_file(const std::string& path, std::string_view what) {
  // Another process may create the file or remove it between the two calls; a few rounds
  // settle any such race.
  for (int attempt = 0;; ++attempt) {
    if (auto created = create_private_file(path, what)) return std::move(*created);
    FileDescriptor file(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (file.valid()) return file;
    if (errno != ENOENT || attempt == 2) throw_io("cannot open", what, path, errno);
  }
}

}  // namespace petalsln::util
