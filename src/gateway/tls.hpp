#pragma once
// The gateway's TLS: the OpenSSL context HTTPS and WSS connections are served with, loaded
// from the operator's PEM files.

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

namespace petalsln::gateway {

/// Returns a server context holding the certificate chain in @p cert_file (PEM, the server's
/// certificate first) and its private key in @p key_file (PEM), accepting TLS 1.2 and newer.
/// Throws Error(invalid_argument) if the key file may be read or written by group or others
/// (before reading it), or if either file cannot be loaded or the key does not match the
/// certificate; Error(io) if the key file is not a regular file. Messages name the files,
/// never their contents.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const std::string& cert_file, const std::string& key_file);

}  // namespace petalsln::gateway
