// The one place that maps the configuration file onto the control plane's
// options (only app/ knows the config file), and decides what a reloaded
// file may change while running.
#pragma once
#include <string>
#include <vector>

#include "turnpike/app/config.hpp"
#include "turnpike/control/plane.hpp"

namespace turnpike {

control::TlsSettings tls_settings(const Config& c);

// Keys whose change needs a restart (ports, workers, EAL, listeners'
// addresses, backends, egress routes, limits, ...): empty when `next` differs
// from `cur` only in what a reload applies live (stores, EKU mode, the
// listeners' TLS versions, ciphers, groups and client-certificate mode, SNI
// certificates, ticket settings).
std::vector<std::string> restart_only_changes(const Config& cur, const Config& next);

}  // namespace turnpike
