#include "petalsln/swarm/node_identity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <utility>

#include "petalsln/util/error.hpp"
#include "petalsln/util/hex.hpp"
#include "util/private_file.hpp"
#include "util/random.hpp"
#include "util/schnorr.hpp"
#include "util/secure_wipe.hpp"

namespace petalsln {
namespace {

using Secret = util::SecretKey;

// Wipes a string holding secret material however the scope is left.
struct SecretString {
  std::string text;
  ~SecretString() { util::secure_wipe(text.data(), text.size()); }
};

// A digest as the byte string util's BIP-340 functions sign.
std::string_view as_bytes(const Digest32& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

std::string mode_string(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

[[noreturn]] void throw_errno(const std::string& what, const std::string& path) {
  throw Error(ErrorCode::io, what + " " + path + ": " + std::strerror(errno));
}

// Refuses files others could read: a leaked key lets anyone impersonate the node.
void check_private_regular_file(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno("cannot stat key file", path);
  if (!S_ISREG(st.st_mode)) throw Error(ErrorCode::invalid_argument, "key file " + path + " is not a regular file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw Error(ErrorCode::invalid_argument, "key file " + path + " has mode " + mode_string(st.st_mode) +
                                                 ": it must not be accessible by group or others (chmod 600 " +
                                                 path + ")");
  }
}

void read_secret_file(int fd, const std::string& path, SecretString& out) {
  char buf[128];  // a valid file is 65 bytes; anything that fills this is malformed anyway
  std::size_t used = 0;
  while (used < sizeof buf) {
    const ssize_t n = ::read(fd, buf + used, sizeof buf - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("cannot read key file", path);
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  out.text.assign(buf, used);
  util::secure_wipe(buf, sizeof buf);
}

// The file holds 64 hex digits and an optional final newline; the message never quotes it.
Secret parse_secret_file(std::string_view text, const std::string& path) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  Secret secret{};
  const std::string what = "key file " + path;
  util::from_hex_into(text, secret.data(), secret.size(), what.c_str());
  return secret;
}

// Formats the key file's content in place, so no unwiped copy of the secret is left on the heap.
void key_file_line(const Secret& secret, SecretString& out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out.text.assign(2 * secret.size() + 1, '\n');
  for (std::size_t i = 0; i < secret.size(); ++i) {
    out.text[2 * i] = kDigits[secret[i] >> 4];
    out.text[2 * i + 1] = kDigits[secret[i] & 0x0f];
  }
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("cannot write key file", path);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

NodeIdentity NodeIdentity::from_secret(const Secret& secret) {
  if (!util::is_valid_secret_key(secret)) {
    throw Error(ErrorCode::invalid_argument, "secret key is zero or not below the secp256k1 group order");
  }
  NodeIdentity id;
  id.peer_id_ = util::xonly_public_key(secret);
  id.secret_ = secret;
  return id;
}

NodeIdentity NodeIdentity::generate() {
  // A uniformly random 32-byte string is a valid key except with probability ~2^-128; retry then.
  for (;;) {
    Secret secret{};
    util::random_bytes(secret.data(), secret.size());
    const bool valid = util::is_valid_secret_key(secret);
    if (valid) {
      NodeIdentity id = from_secret(secret);
      util::secure_wipe(secret.data(), secret.size());
      return id;
    }
    util::secure_wipe(secret.data(), secret.size());
  }
}

NodeIdentity NodeIdentity::load_or_create(const std::string& path) {
  util::FileDescriptor f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!f.valid() && errno == ENOENT) {
    if (auto created = util::create_private_file(path, "key file")) {
      NodeIdentity id = generate();
      SecretString text;
      key_file_line(id.secret_, text);
      try {
        write_all(created->get(), text.text, path);
        if (::fsync(created->get()) != 0) throw_errno("cannot sync key file", path);
      } catch (...) {
        ::unlink(path.c_str());  // never leave a half-written key behind
        throw;
      }
      return id;
    }
    f = util::FileDescriptor(::open(path.c_str(), O_RDONLY | O_CLOEXEC));  // another process just created it
  }
  if (!f.valid()) throw_errno("cannot open key file", path);
  check_private_regular_file(f.get(), path);
  SecretString text;
  read_secret_file(f.get(), path, text);
  Secret secret = parse_secret_file(text.text, path);
  try {
    NodeIdentity id = from_secret(secret);
    util::secure_wipe(secret.data(), secret.size());
    return id;
  } catch (const Error&) {
    util::secure_wipe(secret.data(), secret.size());
    throw Error(ErrorCode::invalid_format, "key file " + path + " does not hold a valid secp256k1 secret key");
  }
}

NodeIdentity::~NodeIdentity() { wipe(); }

NodeIdentity::NodeIdentity(NodeIdentity&& other) noexcept : secret_(other.secret_), peer_id_(other.peer_id_) {
  other.wipe();
}

NodeIdentity& NodeIdentity::operator=(NodeIdentity&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    peer_id_ = other.peer_id_;
    other.wipe();
  }
  return *this;
}

void NodeIdentity::wipe() noexcept {
  util::secure_wipe(secret_.data(), secret_.size());
  peer_id_.fill(0);
}

NodeIdentity NodeIdentity::clone() const {
  NodeIdentity copy;
  copy.secret_ = secret_;
  copy.peer_id_ = peer_id_;
  return copy;
}

std::string NodeIdentity::peer_id_hex() const { return util::to_hex(peer_id_.data(), peer_id_.size()); }

SchnorrSignature NodeIdentity::sign(const Digest32& msg32) const {
  std::array<std::uint8_t, 32> aux{};
  util::random_bytes(aux.data(), aux.size());
  return sign_with_aux(msg32, aux);
}

SchnorrSignature NodeIdentity::sign_with_aux(const Digest32& msg32, const std::array<std::uint8_t, 32>& aux_rand32) const {
  if (!util::is_valid_secret_key(secret_)) throw Error(ErrorCode::internal, "signing with an empty or moved-from NodeIdentity");
  return util::schnorr_sign(secret_, as_bytes(msg32), &aux_rand32);
}

bool NodeIdentity::verify(const PeerId& peer_id, const Digest32& msg32, const SchnorrSignature& signature) noexcept {
  return util::schnorr_verify(peer_id, as_bytes(msg32), signature);
}

}  // namespace petalsln
