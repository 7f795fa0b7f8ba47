// Builds the TLS side of the daemon from the stores and the configuration:
// the trust store, ticket keys, one server context per SIP listener (server
// store + SNI certificates) and the client context (client store) used for
// egress and TLS to backends. One place, so a run-time swap can rebuild the
// same set from a new store snapshot.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "turnpike/config.hpp"
#include "turnpike/control/store.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike {

struct TlsSetup {
  std::shared_ptr<const control::TrustStore> trust;
  std::shared_ptr<tls::TicketKeys> tickets;  // null: tickets off
  std::vector<Config::SipListener> listeners;
  std::vector<std::shared_ptr<const tls::Context>> listener_ctx;  // same order as listeners
  std::shared_ptr<const tls::Context> client_ctx;  // null unless egress or TLS to backends
  std::vector<std::string> notes;  // what was loaded, for the log
};

// Returns an error text naming what is wrong; "" on success.
std::string build_tls(const Config& cfg, const control::StoreSnapshot& snap, control::StoreManager& stores,
                      control::VerdictCache* cache, TlsSetup& out);

}  // namespace turnpike
