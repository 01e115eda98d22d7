#pragma once
// Helpers shared by the unit tests: where the fixtures are, temporary folders, JSON loading.

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace petalsln::test {

/// Absolute path of a fixture checkpoint folder, e.g. fixture_dir("tiny-llama3").
inline std::string fixture_dir(const std::string& name) { return std::string(PETALSLN_FIXTURES_DIR) + "/" + name; }

/// Absolute path of the bundled demo model.
inline std::string demo_model_dir() { return PETALSLN_DEMO_MODEL_DIR; }

/// Returns the whole content of @p path (throws std::runtime_error if unreadable).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Writes @p content to @p path, replacing it.
inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path);
  out << content;
}

/// A fresh directory under $TMPDIR (or /tmp), removed with its files on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/petalsln-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() { remove_tree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The directory's path.
  const std::string& path() const { return path_; }
  /// Path of @p name inside the directory.
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Copies file @p src into the directory under @p name.
  void copy_in(const std::string& src, const std::string& name) const { write_file(file(name), slurp(src)); }

 private:
  static void remove_tree(const std::string& p) {
    if (DIR* d = ::opendir(p.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        std::string child = p + "/" + n;
        struct stat st {};
        if (::lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
          remove_tree(child);
        } else {
          ::unlink(child.c_str());
        }
      }
      ::closedir(d);
    }
    ::rmdir(p.c_str());
  }
  std::string path_;
};

}  // namespace petalsln::test
