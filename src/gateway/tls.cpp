#include "gateway/tls.hpp"

#include <sys/stat.h>

#include <openssl/ssl.h>

#include <boost/system/system_error.hpp>

#include "petalsln/util/error.hpp"

namespace petalsln::gateway {

namespace {

// The key is the gateway's identity to every client: refuse it where others could copy it,
// as the macaroon key file is refused.
void check_key_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::io, "the TLS key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    throw Error(ErrorCode::invalid_argument,
                "the TLS key file " + path + " may be read by others: chmod 600 it (and consider the key leaked)");
  }
}

}  // namespace

std::unique_ptr<boost::asio::ssl::context> make_tls_context(const std::string& cert_file, const std::string& key_file) {
  namespace ssl = boost::asio::ssl;
  if (cert_file.empty() || key_file.empty()) {
    throw Error(ErrorCode::invalid_argument, "TLS needs both a certificate file and a key file");
  }
  check_key_file(key_file);
  auto context = std::make_unique<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  const char* step = "certificate file ";  // what is being loaded, for the message
  try {
    context->use_certificate_chain_file(cert_file);
    step = "key file ";
    context->use_private_key_file(key_file, ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    if (step[0] == 'k' && e.code().message().find("mismatch") != std::string::npos) {
      throw Error(ErrorCode::invalid_argument, "the TLS key file " + key_file + " does not hold the key of the certificate " + cert_file);
    }
    const std::string file = step[0] == 'c' ? cert_file : key_file;
    throw Error(ErrorCode::invalid_argument, std::string("cannot load the TLS ") + step + file + ": " + e.code().message());
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    throw Error(ErrorCode::invalid_argument, "the TLS key file " + key_file + " does not hold the key of the certificate " + cert_file);
  }
  return context;
}

}  // namespace petalsln::gateway
