#include "options.hpp"

#include <algorithm>

namespace turnpike {

port::Options port_options(const Config& c) {
  port::Options o;
  o.eal_args = c.eal_args;
  o.file_prefix = c.file_prefix;
  o.debug_log = c.log_level == "debug";
  o.workers = c.workers;
  o.worker_cpus = c.worker_cpus;
  o.connections_per_worker = c.tcp_max_connections;
  o.max_sleep_us = c.idle_max_sleep_us;
  o.ports = c.ports;
  return o;
}

tcp::Config tcp_options(const Config& c) {
  tcp::Config t;
  std::uint16_t mtu = 9000;
  for (auto& p : c.ports) mtu = std::min(mtu, p.mtu);
  t.mss = static_cast<std::uint16_t>(mtu - 40);  // RFC 9293 §3.7.1: MTU minus IPv4 and TCP headers
  t.rcvbuf = c.tcp_rcvbuf;
  t.sndbuf = c.tcp_sndbuf;
  t.max_connections = c.tcp_max_connections;
  t.max_chunks = static_cast<std::uint32_t>((std::uint64_t(c.tcp_max_buffer_mb) << 20) / t.chunk_size);
  t.time_wait_us = std::uint64_t(c.tcp_time_wait_ms) * 1000;
  t.max_time_wait = c.tcp_max_time_wait;
  return t;
}

std::uint64_t tls_hibernate_after_us(const Config& c) { return std::uint64_t(c.sip_tls_hibernate_ms) * 1000; }

net::NetTimers net_timers(const Config& c, std::uint64_t tsc_hz) {
  net::NetTimers t{c.arp_retry_ms * tsc_hz / 1000, c.arp_resolve_timeout_ms * tsc_hz / 1000};
  t.announce_interval = 2 * tsc_hz;  // RFC 5227 §1.1 ANNOUNCE_INTERVAL
  return t;
}

worker::IdleParams idle_params(const Config& c) {
  return {c.idle_policy() == IdlePolicy::Adaptive, c.idle_empty_polls, c.idle_max_sleep_us};
}

control::SinkOptions sink_options(const Config& c) {
  control::SinkOptions so;
  so.path = c.events_file;
  so.rate_per_second = c.events_rate_per_second;
  return so;
}

control::ControlOptions control_options(const Config& c) {
  control::ControlOptions co;
  co.path = c.control_socket_path();
  co.readonly_path = c.control_readonly_path();
  co.group = c.control_group;
  co.mode = static_cast<mode_t>(c.control_mode);
  return co;
}

control::Plane::Options plane_options(const Config& c) {
  control::Plane::Options po;
  po.stores_dir = c.stores_dir;
  po.verdict_cache_entries = c.verdict_cache_entries;
  po.eku_mode = c.stores_eku_mode;
  return po;
}

proxy::BackendPoolOptions backend_pool_options(const Config& c) {
  proxy::BackendPoolOptions bo;
  for (auto [ip, port] : c.sip_backends) bo.backends.push_back(proxy::Backend{ip, port});
  bo.balance = c.sip_balance == "least-connections" ? proxy::Balance::LeastConnections : proxy::Balance::RoundRobin;
  bo.retry_us = std::uint64_t(c.sip_backend_retry_ms) * 1000;
  bo.check_interval_us = std::uint64_t(c.sip_health_interval_ms) * 1000;
  bo.check_timeout_us = std::uint64_t(c.sip_health_timeout_ms) * 1000;
  bo.proxy_v2_local = c.sip_proxy_v2;
  return bo;
}

proxy::SipProxyOptions sip_proxy_options(const Config& c, const Config::SipListener& l) {
  proxy::SipProxyOptions so;
  so.proxy_v2 = c.sip_proxy_v2;
  so.limits.max_header = c.sip_max_header;
  so.limits.max_body = c.sip_max_body;
  so.answer_keepalive = c.sip_keepalive_pong;
  so.handshake_timeout_us = std::uint64_t(l.handshake_timeout_ms) * 1000;
  if (c.sip_backend_tls) so.backend_tls_name = c.sip_backend_tls_name;
  return so;
}

proxy::EgressOptions egress_options(const Config& c, const Config::EgressRoute& r) {
  proxy::EgressOptions eo;
  eo.remote_ip = r.ip;
  eo.remote_port = r.port;
  eo.name = r.name;
  eo.handshake_timeout_us = std::uint64_t(c.egress_handshake_timeout_ms) * 1000;
  return eo;
}

void describe_to(worker::Runtime& rt, const Config& c) {
  rt.port_options = c.ports;
  rt.sip_listeners.clear();
  if (!c.stores_dir.empty())
    for (auto& l : c.effective_listeners()) rt.sip_listeners.push_back(l.endpoint());
  rt.backends.clear();
  for (auto& [ip, port] : c.sip_backends) rt.backends.push_back(endpoint_text(ip, port));
  rt.egress_routes.clear();
  for (auto& r : c.egress) rt.egress_routes.push_back(std::to_string(r.listen_port) + "->" + endpoint_text(r.ip, r.port));
}

}  // namespace turnpike
