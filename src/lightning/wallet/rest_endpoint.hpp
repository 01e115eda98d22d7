#pragma once
/// @file rest_endpoint.hpp
/// Where a REST wallet backend (LND, Core Lightning, LNbits) reaches its node, and whom it
/// trusts there: the part every backend's URI struct (LndRestUri, ClnRestUri, LnbitsUri)
/// shares, parsed the same way from `host[:port]`, `cert=FILE` and `timeout=SECONDS`.

#include <chrono>
#include <cstdint>
#include <string>

namespace petalsln {

/// A REST node's address and TLS trust. The TLS rule is the same for every backend: only
/// https is spoken; with `cert=FILE` that PEM file (the node's certificate or CA) is trusted
/// instead of the system store, AND the host name in the URI must match it. There is no switch
/// to skip the host-name check: a certificate that names only the node's own host (LND's
/// tls.cert and clnrest's certificate often name just "localhost" and the node's addresses) is
/// reached by a name it carries, e.g. through an /etc/hosts entry.
struct RestEndpoint {
  std::string host;        ///< Host name or IP literal (IPv6 in brackets).
  std::uint16_t port = 0;  ///< The port; each backend's URI has its default (see its header).
  std::string cert_file;   ///< PEM certificate(s) to trust; empty: the system store.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};  ///< Per request (`timeout=`, 1..3600 s).
};

}  // namespace petalsln
