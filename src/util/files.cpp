#include "petalsln/util/files.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "petalsln/util/error.hpp"
#include "util/private_file.hpp"

namespace petalsln::util {
namespace {

[[noreturn]] void throw_open_error(const std::string& path, int err) {
  if (err == ENOENT) throw Error(ErrorCode::not_found, "file not found: " + path);
  throw Error(ErrorCode::io, "cannot open " + path + ": " + std::strerror(err));
}

std::size_t regular_file_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw Error(ErrorCode::io, "cannot stat " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::invalid_argument, "not a regular file: " + path);
  return static_cast<std::size_t>(st.st_size);
}

}  // namespace

std::string read_file(const std::string& path, std::size_t max_bytes) {
  const FileDescriptor f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.valid()) throw_open_error(path, errno);
  const std::size_t size = regular_file_size(f.get(), path);
  if (size > max_bytes) {
    throw Error(ErrorCode::invalid_argument, path + " is " + std::to_string(size) +
                                                 " bytes, more than the limit of " + std::to_string(max_bytes));
  }
  std::string out(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(f.get(), out.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::io, "cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) break;  // file shrank under us; return what exists
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string base_name(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const FileDescriptor f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.valid()) throw_open_error(path, errno);
  size_ = regular_file_size(f.get(), path);
  if (size_ == 0) return;
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.get(), 0);
  if (p == MAP_FAILED) throw Error(ErrorCode::io, "cannot map " + path + ": " + std::strerror(errno));
  data_ = static_cast<const std::uint8_t*>(p);
}

MappedFile::~MappedFile() { reset(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(other.data_), size_(other.size_), path_(std::move(other.path_)) {
  other.data_ = nullptr;
  other.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = other.data_;
    size_ = other.size_;
    path_ = std::move(other.path_);
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void MappedFile::reset() noexcept {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace petalsln::util
