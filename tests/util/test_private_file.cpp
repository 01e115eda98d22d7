// util's private-file creator: exclusive, mode exactly 0600 whatever the umask, no symlinks.

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "petalsln/util/error.hpp"
#include "test_support.hpp"
#include "util/private_file.hpp"

using petalsln::Error;
using petalsln::ErrorCode;
using petalsln::test::TempDir;

namespace {

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Sets the process umask for one scope.
struct UmaskScope {
  explicit UmaskScope(mode_t mask) : old(::umask(mask)) {}
  ~UmaskScope() { ::umask(old); }
  mode_t old;
};

}  // namespace

TEST_CASE("a private file is created 0600 whatever the umask, and only once") {
  TempDir dir;
  for (const mode_t mask : {mode_t{0}, mode_t{022}, mode_t{0277}}) {
    const UmaskScope scope(mask);
    const std::string path = dir.file("key-" + std::to_string(mask));
    auto created = petalsln::util::create_private_file(path, "test file");
    REQUIRE(created.has_value());
    CHECK(created->valid());
    CHECK(mode_of(path) == 0600);
    CHECK_FALSE(petalsln::util::create_private_file(path, "test file").has_value());  // exists: untouched
  }
}

TEST_CASE("a private file is never created through a symbolic link") {
  TempDir dir;
  REQUIRE(::symlink(dir.file("target").c_str(), dir.file("link").c_str()) == 0);
  CHECK_FALSE(petalsln::util::create_private_file(dir.file("link"), "test file").has_value());
  struct stat st {};
  CHECK(::lstat(dir.file("target").c_str(), &st) != 0);  // the link's target was not created
  try {
    petalsln::util::open_or_create_private_file(dir.file("link"), "test file");
    FAIL("opened a file through a symbolic link");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK(std::string(e.what()).find("test file") != std::string::npos);
  }
}

TEST_CASE("open_or_create opens an existing file and keeps its mode") {
  TempDir dir;
  const std::string path = dir.file("lock");
  { const auto first = petalsln::util::open_or_create_private_file(path, "lock file"); }
  CHECK(mode_of(path) == 0600);
  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  const auto again = petalsln::util::open_or_create_private_file(path, "lock file");
  CHECK(again.valid());
  CHECK(mode_of(path) == 0640);
}

TEST_CASE("a private file in a missing folder is an io error naming it") {
  TempDir dir;
  try {
    petalsln::util::create_private_file(dir.file("missing/key"), "key file");
    FAIL("created a file in a missing folder");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::io);
    CHECK(std::string(e.what()).find("cannot create key file") != std::string::npos);
  }
}
