#include "plane_settings.hpp"

#include <algorithm>
#include <string_view>

#include "config_keys.hpp"
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
  // The key table says which keys a reload applies live; any other key that
  // changed is named by its group, once, in table order.
  std::vector<std::string> out;
  auto add = [&out](const std::string& g) {
    if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  };
  for (const auto& k : config_keys::keys()) {
    if (k.live) continue;
    const std::string group = k.group ? k.group : k.section;
      if (std::string_view(k.section) == "sip" && std::string_view(k.name) == "listeners") {
      // A listener's TLS settings apply live; its address and timeout do not.
      bool same = cur.sip_listeners.size() == next.sip_listeners.size();
      for (std::size_t i = 0; same && i < cur.sip_listeners.size(); ++i) {
        const auto &a = cur.sip_listeners[i], &b = next.sip_listeners[i];
        same = a.ip == b.ip && a.port == b.port && a.handshake_timeout_ms == b.handshake_timeout_ms;
      }
      if (!same) add(group);
      continue;
    }
    if (k.show(cur) != k.show(next)) add(group);
  }
  if (cur.ports != next.ports) add("ports");
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
  // eal.log_level is live: the daemon's level follows the file.
  if (LogLevel lvl; next.log_level != cur.log_level && parse_log_level(next.log_level.c_str(), lvl)) set_log_level(lvl);
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
