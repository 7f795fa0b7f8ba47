// Everything the control thread knows about the running data plane, for
// telemetry and the SIGUSR1 dump (telemetry.hpp), /metrics (metrics.hpp)
// and shutdown.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "turnpike/control/event_ring.hpp"
#include "turnpike/net/neighbor.hpp"
#include "turnpike/port/port.hpp"
#include "turnpike/worker/worker.hpp"

namespace turnpike::worker {

struct Runtime {
  // As configured, for telemetry and metrics labels (app/ fills them in).
  std::vector<port::PortOptions> port_options;  // one per entry of `ports`
  std::vector<std::string> sip_listeners;       // "ip:port", in the order of Worker::sip
  std::vector<std::string> backends;            // "ip:port", in the configured order
  std::vector<std::string> egress_routes;       // "listen->ip:port", in the order of Worker::egress
  std::vector<port::PortInfo> ports;
  std::vector<std::unique_ptr<net::NeighborTable>> neigh;  // one per port
  std::vector<std::unique_ptr<Worker>> workers;
  std::uint64_t tsc_hz = 0;
  std::string placement;  // worker -> CPU, control lcore (port::Placement::describe)
  std::string sharing;    // non-empty when workers share a CPU
  const control::SnapshotPublisher* snapshots = nullptr;  // null without stores
  std::vector<const control::EventRing*> event_rings;      // one per worker
};

}  // namespace turnpike::worker
