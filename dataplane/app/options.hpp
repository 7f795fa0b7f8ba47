// The configuration file mapped onto each module's own options: the only
// place where Config (app/) meets port::, tcp::, proxy:: and control::
// options. Values only; main.cpp adds the callbacks that reach into the
// running workers. The control plane's TLS settings are in plane_settings.
#pragma once
#include <cstdint>

#include "turnpike/app/config.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/control/plane.hpp"
#include "turnpike/control/socket.hpp"
#include "turnpike/net/stack.hpp"
#include "turnpike/port/port.hpp"
#include "turnpike/proxy/backends.hpp"
#include "turnpike/proxy/egress.hpp"
#include "turnpike/proxy/sip_proxy.hpp"
#include "turnpike/tcp/stack.hpp"
#include "turnpike/worker/runtime.hpp"
#include "turnpike/worker/worker.hpp"

namespace turnpike {

port::Options port_options(const Config& c);
// The ISN secret is left at its default: the caller draws it (RFC 6528).
tcp::Config tcp_options(const Config& c);
// tls::set_hibernate_after's value (microseconds, 0: off).
std::uint64_t tls_hibernate_after_us(const Config& c);
net::NetTimers net_timers(const Config& c, std::uint64_t tsc_hz);
worker::IdleParams idle_params(const Config& c);
control::SinkOptions sink_options(const Config& c);
control::ControlOptions control_options(const Config& c);
control::Plane::Options plane_options(const Config& c);
proxy::BackendPoolOptions backend_pool_options(const Config& c);
// `l` is one of c.effective_listeners().
proxy::SipProxyOptions sip_proxy_options(const Config& c, const Config::SipListener& l);
proxy::EgressOptions egress_options(const Config& c, const Config::EgressRoute& r);
// The configured names telemetry and /metrics label counters with.
void describe_to(worker::Runtime& rt, const Config& c);

}  // namespace turnpike
