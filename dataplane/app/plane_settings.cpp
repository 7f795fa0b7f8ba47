#include "plane_settings.hpp"

#include "turnpike/log.hpp"

namespace turnpike {

namespace {
tls::ClientCertMode cert_mode(const std::string& s) {
  return s == "none" ? tls::ClientCertMode::None : s == "require" ? tls::ClientCertMode::Require : tls::ClientCertMode::Request;
}
}  // namespace

control::TlsSettings tls_settings(const Config& c) {
  control::TlsSettings s;
  for (const auto& l : c.effective_listeners()) {
    control::TlsSettings::Listener o;
    o.ip = l.ip;
    o.port = l.port;
    o.tls_versions = l.tls_versions;
    o.ciphers = l.ciphers;
    o.groups = l.groups;
    o.client_cert = cert_mode(l.client_cert);
    o.handshake_timeout_ms = l.handshake_timeout_ms;
    s.listeners.push_back(o);
  }
  for (const auto& sc : c.sip_sni_certs) s.sni.push_back({sc.chain, sc.key});
  s.tickets = c.sip_session_tickets;
  s.ticket_key_file = c.sip_ticket_key_file;
  s.ticket_rotate_s = c.sip_ticket_rotate_s;
  s.ticket_lifetime_s = c.sip_ticket_lifetime_s;
  s.client_context = !c.egress.empty() || c.sip_backend_tls;
  s.client_groups = c.sip_groups;
  return s;
}

std::vector<std::string> restart_only_changes(const Config& cur, const Config& next) {
  // Copy what may change live from `next` over a copy of `cur`: whatever
  // still differs needs a restart. Then name it group by group.
  Config live = cur;
  live.stores_eku_mode = next.stores_eku_mode;
  live.sip_tls_versions = next.sip_tls_versions;
  live.sip_ciphers = next.sip_ciphers;
  live.sip_groups = next.sip_groups;
  live.sip_client_cert = next.sip_client_cert;
  live.sip_session_tickets = next.sip_session_tickets;
  live.sip_ticket_key_file = next.sip_ticket_key_file;
  live.sip_ticket_rotate_s = next.sip_ticket_rotate_s;
  live.sip_ticket_lifetime_s = next.sip_ticket_lifetime_s;
  live.sip_sni_certs = next.sip_sni_certs;
  live.log_level = next.log_level;
  live.stats_interval_s = next.stats_interval_s;
  // Listeners: TLS settings live, addresses and timeouts not.
  if (cur.sip_listeners.size() == next.sip_listeners.size()) {
    for (std::size_t i = 0; i < cur.sip_listeners.size(); ++i) {
      auto& l = live.sip_listeners[i];
      const auto& n = next.sip_listeners[i];
      l.tls_versions = n.tls_versions;
      l.ciphers = n.ciphers;
      l.groups = n.groups;
      l.client_cert = n.client_cert;
    }
  }
  std::vector<std::string> out;
  if (live == next) return out;
  auto differs = [&](const char* what, bool same) {
    if (!same) out.emplace_back(what);
  };
  differs("eal (args, file_prefix)", live.eal_args == next.eal_args && live.file_prefix == next.file_prefix);
  differs("workers", live.workers == next.workers && live.worker_cpus == next.worker_cpus);
  differs("idle", live.idle == next.idle && live.idle_empty_polls == next.idle_empty_polls &&
                      live.idle_max_sleep_us == next.idle_max_sleep_us);
  differs("ports", live.ports == next.ports);
  differs("mbuf", live.mbuf_pool_size == next.mbuf_pool_size && live.mbuf_cache == next.mbuf_cache &&
                      live.mbuf_data_room == next.mbuf_data_room);
  differs("tcp", live.tcp_max_connections == next.tcp_max_connections && live.tcp_rcvbuf == next.tcp_rcvbuf &&
                     live.tcp_sndbuf == next.tcp_sndbuf && live.tcp_max_buffer_mb == next.tcp_max_buffer_mb &&
                     live.tcp_time_wait_ms == next.tcp_time_wait_ms &&
                     live.tcp_max_time_wait == next.tcp_max_time_wait);
  differs("services", live.echo_ports == next.echo_ports && live.discard_ports == next.discard_ports &&
                          live.relays == next.relays);
  differs("stores.dir", live.stores_dir == next.stores_dir);
  differs("sip listeners (addresses, ports, timeouts)",
          live.sip_listeners == next.sip_listeners && live.sip_port == next.sip_port &&
              live.sip_handshake_timeout_ms == next.sip_handshake_timeout_ms);
  differs("sip backends", live.sip_backends == next.sip_backends && live.sip_balance == next.sip_balance &&
                              live.sip_health_interval_ms == next.sip_health_interval_ms &&
                              live.sip_health_timeout_ms == next.sip_health_timeout_ms &&
                              live.sip_backend_retry_ms == next.sip_backend_retry_ms &&
                              live.sip_backend_tls == next.sip_backend_tls &&
                              live.sip_backend_tls_name == next.sip_backend_tls_name &&
                              live.sip_proxy_v2 == next.sip_proxy_v2);
  differs("egress routes", live.egress == next.egress && live.egress_handshake_timeout_ms == next.egress_handshake_timeout_ms);
  differs("sip limits", live.sip_max_header == next.sip_max_header && live.sip_max_body == next.sip_max_body &&
                           live.sip_keepalive_pong == next.sip_keepalive_pong);
  differs("verdict_cache", live.verdict_cache_entries == next.verdict_cache_entries);
  differs("events", live.events_file == next.events_file && live.events_rate_per_second == next.events_rate_per_second);
  differs("control (socket paths, group, mode)",
          live.control_socket == next.control_socket && live.control_readonly_socket == next.control_readonly_socket &&
              live.control_group == next.control_group && live.control_mode == next.control_mode);
  differs("metrics.listen", live.metrics_listen == next.metrics_listen);
  if (out.empty()) out.emplace_back("other keys");
  return out;
}

std::string reload_config_file(control::Plane* plane, Config& cur, const ConfigLoader& load, const char* source) {
  Config next;
  try {
    next = load();
  } catch (const ConfigError& e) {
    log(LogLevel::Error, "%s: reload refused, nothing changed: %s", source, e.what());
    if (plane) plane->emit({"Configuration Change Refused", {{"Detail", e.what()}, {"Source", source}}, 2});
    return std::string("reload refused, nothing changed: ") + e.what();
  }
  const std::vector<std::string> restart = restart_only_changes(cur, next);
  if (!restart.empty()) {
    std::string keys;
    for (auto& k : restart) keys += (keys.empty() ? "" : ", ") + k;
    const std::string msg = "these changes need a restart (systemctl restart turnpike): " + keys;
    log(LogLevel::Error, "%s: reload refused, nothing changed: %s", source, msg.c_str());
    if (plane) plane->emit({"Configuration Change Refused", {{"Detail", msg}, {"Source", source}}, 2});
    return "reload refused, nothing changed: " + msg;
  }
  if (!plane) {
    cur = next;
    log(LogLevel::Info, "%s: configuration re-read (no stores configured)", source);
    return {};
  }
  // The config's EKU mode, when given, is part of the same reload.
  control::Transaction t = plane->stores().begin();
  if (!next.stores_eku_mode.empty() && next.stores_eku_mode != cur.stores_eku_mode) {
    control::EkuMode m;
    if (control::parse_eku_mode(next.stores_eku_mode, m)) t.set_eku_mode(m);
  }
  const control::TlsSettings ts = tls_settings(next);
  control::Plane::Change c;
  c.settings = &ts;
  c.stores = t.dirty() ? &t : nullptr;
  c.reread_stores = !t.dirty();  // turnpike-certs may have changed the directory
  c.source = source;
  const control::ApplyResult r = plane->apply(c);
  if (!r.ok) {
    log(LogLevel::Error, "%s: reload refused, the running configuration and certificates stay: %s", source,
        r.error.c_str());
    return "reload refused, the running configuration and certificates stay: " + r.error;
  }
  cur = next;
  for (auto& n : r.warnings) log(LogLevel::Info, "TLS (reload): %s", n.c_str());
  auto snap = plane->publisher().current_shared();
  log(LogLevel::Info,
      "%s: snapshot %llu published (stores generation %llu, trust epoch %llu, built in %lld us); open connections "
      "keep their session",
      source, static_cast<unsigned long long>(r.generation), static_cast<unsigned long long>(snap->store_generation),
      static_cast<unsigned long long>(snap->trust_epoch), static_cast<long long>(r.build_time.count()));
  return {};
}

}  // namespace turnpike
