// The one place that maps the configuration file onto the control plane's
// options (only app/ knows the config file), decides what a reloaded file
// may change while running, and applies a reload (SIGHUP, turnpikectl).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "turnpike/app/config.hpp"
#include "turnpike/control/plane.hpp"

namespace turnpike {

control::TlsSettings tls_settings(const Config& c);

// The groups of keys whose change needs a restart (ports, workers, EAL,
// listeners' addresses, backends, egress routes, limits, ...): empty when
// `next` differs from `cur` only in keys the key table marks live (the
// stores' contents, EKU mode, the listeners' TLS versions, ciphers, groups
// and client-certificate mode, SNI certificates, ticket settings, log level,
// stats interval, diagnostics).
std::vector<std::string> restart_only_changes(const Config& cur, const Config& next);

// Reads the configuration as start-up did (file, then command-line
// overrides); throws ConfigError.
using ConfigLoader = std::function<Config()>;

// Whole-config reload as one transaction: the file again (a bad one is
// refused with file:line:key and changes nothing), keys that cannot change
// live refused with the restart they need, then the stores re-read from
// disk and the TLS settings applied through the control plane. Returns ""
// or why nothing changed (SIGHUP logs it; turnpikectl reload prints it).
// `plane` is null without stores. Control thread only.
std::string reload_config_file(control::Plane* plane, Config& cur, const ConfigLoader& load, const char* source);

}  // namespace turnpike
