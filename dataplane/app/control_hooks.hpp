// What the control socket (control/socket, DPDK-free) reads from the data
// plane: xStatus counters per worker, port, SIP edge, backend and egress,
// and the xConfiguration keys that only the config file knows.
#pragma once
#include <vector>

#include "turnpike/app/config.hpp"
#include "turnpike/control/socket.hpp"
#include "turnpike/worker/runtime.hpp"

namespace turnpike {

// Reads worker state from the control thread as telemetry does (relaxed
// counters; live sizes may be a moment old).
std::vector<control::Item> dataplane_status(const worker::Runtime& rt);
// Backends, egress routes, limits and the control keys of `c`.
std::vector<control::Item> config_items(const Config& c);

}  // namespace turnpike
