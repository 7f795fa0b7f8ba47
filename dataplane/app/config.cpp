#include "turnpike/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "turnpike/net/wire.hpp"

namespace turnpike {

namespace {

[[noreturn]] void fail(const std::string& origin, const toml::node* n, const std::string& key,
                       const std::string& what) {
  std::ostringstream o;
  o << origin;
  if (n && n->source().begin.line) o << ':' << n->source().begin.line;
  o << ": " << key << ": " << what;
  throw ConfigError(o.str());
}

// Walks one table and refuses keys we do not know: a typo must not be
// silently ignored on an edge appliance.
class Reader {
 public:
  Reader(const std::string& origin, const toml::table& t, std::string prefix)
      : origin_(origin), t_(t), prefix_(std::move(prefix)) {}
  ~Reader() noexcept(false) {
    if (std::uncaught_exceptions()) return;
    for (auto& [k, v] : t_)
      if (!seen_.count(std::string(k.str())))
        fail(origin_, &v, prefix_ + std::string(k.str()), "unknown key");
  }

  template <class T>
  bool get(const char* key, T& out, long long lo = 0, long long hi = 0) {
    const toml::node* n = t_.get(key);
    seen_.insert(key);
    if (!n) return false;
    const std::string name = prefix_ + key;
    if constexpr (std::is_same_v<T, std::string>) {
      auto v = n->value<std::string>();
      if (!v || !n->is_string()) fail(origin_, n, name, "expected a string");
      out = *v;
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!n->is_boolean()) fail(origin_, n, name, "expected true or false");
      out = *n->value<bool>();
    } else {
      if (!n->is_integer()) fail(origin_, n, name, "expected an integer");
      const long long v = *n->value<long long>();
      if (v < lo || v > hi)
        fail(origin_, n, name, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      out = static_cast<T>(v);
    }
    return true;
  }

  const toml::node* raw(const char* key) {
    seen_.insert(key);
    return t_.get(key);
  }
  const std::string& origin() const { return origin_; }
  std::string name(const char* key) const { return prefix_ + key; }

 private:
  const std::string& origin_;
  const toml::table& t_;
  std::string prefix_;
  std::set<std::string> seen_;
};

const toml::table* subtable(const std::string& origin, const toml::table& root, const char* key) {
  const toml::node* n = root.get(key);
  if (!n) return nullptr;
  if (!n->is_table()) fail(origin, n, key, "expected a table [" + std::string(key) + "]");
  return n->as_table();
}

std::vector<std::string> string_array(const std::string& origin, const toml::node* n, const std::string& key) {
  if (!n->is_array()) fail(origin, n, key, "expected an array of strings");
  std::vector<std::string> out;
  for (auto& e : *n->as_array()) {
    if (!e.is_string()) fail(origin, &e, key, "expected an array of strings");
    out.push_back(*e.value<std::string>());
  }
  return out;
}

void parse_cidr(const std::string& origin, const toml::node* n, const std::string& key, const std::string& s,
                std::uint32_t& ip, std::uint8_t& prefix) {
  const auto slash = s.find('/');
  const auto a = net::parse_ipv4(s.substr(0, slash));
  if (!a) fail(origin, n, key, "\"" + s + "\" is not an IPv4 address (expected a.b.c.d/prefix)");
  ip = *a;
  prefix = 24;
  if (slash != std::string::npos) {
    const std::string p = s.substr(slash + 1);
    if (p.empty() || p.size() > 2 || p.find_first_not_of("0123456789") != std::string::npos || std::stoi(p) > 32 ||
        std::stoi(p) < 1)
      fail(origin, n, key, "prefix length \"" + p + "\" must be 1..32");
    prefix = static_cast<std::uint8_t>(std::stoi(p));
  }
}

std::vector<std::string> tls_versions(const std::string& origin, const toml::node* n, const std::string& key) {
  std::vector<std::string> v = string_array(origin, n, key);
  if (v.empty()) fail(origin, n, key, "at least one of \"1.2\", \"1.3\"");
  for (auto& s : v)
    if (s != "1.2" && s != "1.3") fail(origin, n, key, "\"" + s + "\": expected \"1.2\" or \"1.3\"");
  return v;
}

Config from_table(const toml::table& root, const std::string& origin) {
  Config c = default_config();
  c.ports.clear();  // a file names its own ports; the demo port is only the no-file default
  {
    Reader top(origin, root, "");
    for (const char* k : {"eal", "workers", "idle", "neighbor", "mbuf", "stats", "tcp", "services", "stores", "sip", "egress", "events", "control", "diagnostics", "metrics"}) top.raw(k);
    if (const toml::node* ports = top.raw("ports")) {
      if (!ports->is_array_of_tables()) fail(origin, ports, "ports", "expected [[ports]] tables");
      c.ports.clear();
      std::size_t i = 0;
      for (auto& pn : *ports->as_array()) {
        const std::string pre = "ports[" + std::to_string(i++) + "].";
        Reader r(origin, *pn.as_table(), pre);
        PortConfig p;
        r.get("name", p.name);
        if (!r.get("device", p.device)) fail(origin, &pn, pre + "device", "missing (PCI address or vdev string)");
        std::string cidr;
        if (!r.get("ipv4", cidr)) fail(origin, &pn, pre + "ipv4", "missing (a.b.c.d/prefix)");
        parse_cidr(origin, r.raw("ipv4"), pre + "ipv4", cidr, p.ipv4, p.prefix);
        std::string gw;
        if (r.get("gateway", gw)) {
          auto g = net::parse_ipv4(gw);
          if (!g) fail(origin, r.raw("gateway"), pre + "gateway", "\"" + gw + "\" is not an IPv4 address");
          p.gateway = *g;
        }
        r.get("rx_desc", p.rx_desc, 64, 16384);
        r.get("tx_desc", p.tx_desc, 64, 16384);
        r.get("mtu", p.mtu, 576, 9000);
        r.get("promiscuous", p.promiscuous);
        if (p.name.empty()) p.name = "port" + std::to_string(i - 1);
        c.ports.push_back(p);
      }
    }
  }
  if (auto* t = subtable(origin, root, "eal")) {
    Reader r(origin, *t, "eal.");
    if (auto* n = r.raw("args")) c.eal_args = string_array(origin, n, "eal.args");
    r.get("file_prefix", c.file_prefix);
    r.get("log_level", c.log_level);
  }
  if (auto* t = subtable(origin, root, "workers")) {
    Reader r(origin, *t, "workers.");
    r.get("count", c.workers, 1, 64);
    if (auto* n = r.raw("cpus")) {
      if (!n->is_array()) fail(origin, n, "workers.cpus", "expected an array of CPU numbers");
      c.worker_cpus.clear();
      for (auto& e : *n->as_array()) {
        if (!e.is_integer() || *e.value<long long>() < 0 || *e.value<long long>() > 1023)
          fail(origin, &e, "workers.cpus", "expected CPU numbers 0..1023");
        c.worker_cpus.push_back(static_cast<unsigned>(*e.value<long long>()));
      }
    }
  }
  if (auto* t = subtable(origin, root, "idle")) {
    Reader r(origin, *t, "idle.");
    std::string pol;
    if (r.get("policy", pol)) {
      if (pol == "poll") c.idle = IdlePolicy::Poll;
      else if (pol == "adaptive") c.idle = IdlePolicy::Adaptive;
      else if (pol != "auto") fail(origin, r.raw("policy"), "idle.policy", "expected \"poll\", \"adaptive\" or \"auto\"");
    }
    r.get("empty_polls", c.idle_empty_polls, 1, 1 << 20);
    r.get("max_sleep_us", c.idle_max_sleep_us, 1, 100000);
  }
  if (auto* t = subtable(origin, root, "neighbor")) {
    Reader r(origin, *t, "neighbor.");
    r.get("capacity", c.neigh_capacity, 8, 1 << 20);
    r.get("timeout_s", c.neigh_timeout_s, 1, 86400);
    r.get("pending_max", c.neigh_pending_max, 1, 65536);
    r.get("arp_retry_ms", c.arp_retry_ms, 10, 60000);
    r.get("resolve_timeout_ms", c.arp_resolve_timeout_ms, 10, 600000);
  }
  if (auto* t = subtable(origin, root, "mbuf")) {
    Reader r(origin, *t, "mbuf.");
    r.get("pool_size", c.mbuf_pool_size, 0, 1 << 24);
    r.get("cache", c.mbuf_cache, 0, 512);
    r.get("data_room", c.mbuf_data_room, 1024, 65535);
  }
  if (auto* t = subtable(origin, root, "tcp")) {
    Reader r(origin, *t, "tcp.");
    r.get("max_connections", c.tcp_max_connections, 16, 1 << 22);
    r.get("rcvbuf", c.tcp_rcvbuf, 4096, 64 << 20);
    r.get("sndbuf", c.tcp_sndbuf, 4096, 64 << 20);
    r.get("max_buffer_mb", c.tcp_max_buffer_mb, 1, 65536);
    r.get("time_wait_ms", c.tcp_time_wait_ms, 0, 600000);
    r.get("max_time_wait", c.tcp_max_time_wait, 0, 1 << 22);
  }
  if (auto* t = subtable(origin, root, "services")) {
    Reader r(origin, *t, "services.");
    if (auto* n = r.raw("relays")) {
      c.relays.clear();
      for (auto& s : string_array(origin, n, "services.relays")) {
        // LISTEN_PORT=IP:PORT
        const auto eq = s.find('='), colon = s.rfind(':');
        const auto ip = eq == std::string::npos || colon == std::string::npos || colon < eq
                            ? std::nullopt
                            : net::parse_ipv4(s.substr(eq + 1, colon - eq - 1));
        auto num = [](const std::string& v) {
          return v.empty() || v.size() > 5 || v.find_first_not_of("0123456789") != std::string::npos ? -1L
                                                                                                    : std::stol(v);
        };
        const long lp = ip ? num(s.substr(0, eq)) : -1, tp = ip ? num(s.substr(colon + 1)) : -1;
        if (!ip || lp < 1 || lp > 65535 || tp < 1 || tp > 65535)
          fail(origin, n, "services.relays", "\"" + s + "\" is not LISTEN_PORT=a.b.c.d:PORT");
        c.relays.push_back({static_cast<std::uint16_t>(lp), *ip, static_cast<std::uint16_t>(tp)});
      }
    }
    for (auto [key, out] : {std::pair{"echo_ports", &c.echo_ports}, std::pair{"discard_ports", &c.discard_ports}}) {
      const toml::node* n = r.raw(key);
      if (!n) continue;
      const std::string name = std::string("services.") + key;
      if (!n->is_array()) fail(origin, n, name, "expected an array of TCP ports");
      out->clear();
      for (auto& e : *n->as_array()) {
        if (!e.is_integer() || *e.value<long long>() < 1 || *e.value<long long>() > 65535)
          fail(origin, &e, name, "expected TCP ports 1..65535");
        out->push_back(static_cast<std::uint16_t>(*e.value<long long>()));
      }
    }
  }
  if (auto* t = subtable(origin, root, "stores")) {
    Reader r(origin, *t, "stores.");
    r.get("dir", c.stores_dir);
    if (r.get("eku_mode", c.stores_eku_mode) && c.stores_eku_mode != "on" && c.stores_eku_mode != "off")
      fail(origin, r.raw("eku_mode"), "stores.eku_mode", "expected \"on\" or \"off\"");
  }
  if (auto* t = subtable(origin, root, "sip")) {
    Reader r(origin, *t, "sip.");
    r.get("listen_port", c.sip_port, 0, 65535);
    if (auto* n = r.raw("backends")) {
      for (auto& s : string_array(origin, n, "sip.backends")) {
        const auto colon = s.rfind(':');
        const auto ip = net::parse_ipv4(s.substr(0, colon));
        long port = 5060;
        if (colon != std::string::npos) {
          const std::string ps = s.substr(colon + 1);
          port = ps.empty() || ps.find_first_not_of("0123456789") != std::string::npos || ps.size() > 5 ? -1 : std::stol(ps);
        }
        if (!ip || port < 1 || port > 65535) fail(origin, n, "sip.backends", "\"" + s + "\" is not a.b.c.d[:port]");
        c.sip_backends.emplace_back(*ip, static_cast<std::uint16_t>(port));
      }
    }
    r.get("proxy_v2", c.sip_proxy_v2);
    if (r.get("client_cert", c.sip_client_cert) && c.sip_client_cert != "none" && c.sip_client_cert != "request" &&
        c.sip_client_cert != "require")
      fail(origin, r.raw("client_cert"), "sip.client_cert", "expected \"none\", \"request\" or \"require\"");
    r.get("max_header", c.sip_max_header, 1024, 1 << 20);
    r.get("max_body", c.sip_max_body, 0, 16 << 20);
    r.get("keepalive_pong", c.sip_keepalive_pong);
    r.get("handshake_timeout_ms", c.sip_handshake_timeout_ms, 100, 600000);
    r.get("verdict_cache", c.verdict_cache_entries, 64, 1 << 24);
    if (auto* n = r.raw("tls_versions")) c.sip_tls_versions = tls_versions(origin, n, "sip.tls_versions");
    r.get("ciphers", c.sip_ciphers);
    r.get("groups", c.sip_groups);
    r.get("session_tickets", c.sip_session_tickets);
    r.get("ticket_key_file", c.sip_ticket_key_file);
    r.get("ticket_rotate_s", c.sip_ticket_rotate_s, 60, 7 * 86400);
    r.get("ticket_lifetime_s", c.sip_ticket_lifetime_s, 1, 7 * 86400);  // RFC 8446 §4.6.1: at most 7 days
    if (auto* n = r.raw("sni_certificates")) {
      if (!n->is_array()) fail(origin, n, "sip.sni_certificates", "expected an array of {chain, key} tables");
      std::size_t i = 0;
      for (auto& e : *n->as_array()) {
        const std::string pre = "sip.sni_certificates[" + std::to_string(i++) + "].";
        if (!e.is_table()) fail(origin, &e, pre.substr(0, pre.size() - 1), "expected a table {chain, key}");
        Reader er(origin, *e.as_table(), pre);
        Config::SniCert sc;
        if (!er.get("chain", sc.chain)) fail(origin, &e, pre + "chain", "missing (PEM file: leaf then intermediates)");
        if (!er.get("key", sc.key)) fail(origin, &e, pre + "key", "missing (PEM private key file)");
        c.sip_sni_certs.push_back(sc);
      }
    }
    if (auto* n = r.raw("listeners")) {
      if (!n->is_array()) fail(origin, n, "sip.listeners", "expected an array of tables");
      std::size_t i = 0;
      for (auto& e : *n->as_array()) {
        const std::string pre = "sip.listeners[" + std::to_string(i++) + "].";
        if (!e.is_table()) fail(origin, &e, pre.substr(0, pre.size() - 1), "expected a table {address, ...}");
        Reader er(origin, *e.as_table(), pre);
        Config::SipListener l;
        std::string addr;
        if (!er.get("address", addr)) fail(origin, &e, pre + "address", "missing (a.b.c.d:port, 0.0.0.0 = every address)");
        const auto colon = addr.rfind(':');
        const auto ip = net::parse_ipv4(addr.substr(0, colon));
        long port = -1;
        if (colon != std::string::npos) {
          const std::string ps = addr.substr(colon + 1);
          port = ps.empty() || ps.find_first_not_of("0123456789") != std::string::npos || ps.size() > 5 ? -1 : std::stol(ps);
        }
        if (!ip || port < 1 || port > 65535) fail(origin, er.raw("address"), pre + "address", "\"" + addr + "\" is not a.b.c.d:port");
        l.ip = *ip;
        l.port = static_cast<std::uint16_t>(port);
        if (er.get("client_cert", l.client_cert) && l.client_cert != "none" && l.client_cert != "request" &&
            l.client_cert != "require")
          fail(origin, er.raw("client_cert"), pre + "client_cert", "expected \"none\", \"request\" or \"require\"");
        if (auto* v = er.raw("tls_versions")) l.tls_versions = tls_versions(origin, v, pre + "tls_versions");
        er.get("ciphers", l.ciphers);
        er.get("groups", l.groups);
        er.get("handshake_timeout_ms", l.handshake_timeout_ms, 100, 600000);
        c.sip_listeners.push_back(l);
      }
    }
    if (r.get("balance", c.sip_balance) && c.sip_balance != "round-robin" && c.sip_balance != "least-connections")
      fail(origin, r.raw("balance"), "sip.balance", "expected \"round-robin\" or \"least-connections\"");
    r.get("health_check_interval_ms", c.sip_health_interval_ms, 0, 3600000);
    r.get("health_check_timeout_ms", c.sip_health_timeout_ms, 10, 600000);
    r.get("backend_retry_ms", c.sip_backend_retry_ms, 0, 3600000);
    r.get("backend_tls", c.sip_backend_tls);
    r.get("backend_tls_name", c.sip_backend_tls_name);
  }
  if (auto* t = subtable(origin, root, "egress")) {
    Reader r(origin, *t, "egress.");
    r.get("handshake_timeout_ms", c.egress_handshake_timeout_ms, 100, 600000);
    if (auto* n = r.raw("routes")) {
      if (!n->is_array()) fail(origin, n, "egress.routes", "expected an array of tables");
      std::size_t i = 0;
      for (auto& e : *n->as_array()) {
        const std::string pre = "egress.routes[" + std::to_string(i++) + "].";
        if (!e.is_table()) fail(origin, &e, pre.substr(0, pre.size() - 1), "expected a table {listen_port, remote, name}");
        Reader er(origin, *e.as_table(), pre);
        Config::EgressRoute route;
        if (!er.get("listen_port", route.listen_port, 1, 65535)) fail(origin, &e, pre + "listen_port", "missing");
        std::string remote;
        if (!er.get("remote", remote)) fail(origin, &e, pre + "remote", "missing (a.b.c.d:port)");
        const auto colon = remote.rfind(':');
        const auto ip = net::parse_ipv4(remote.substr(0, colon));
        long port = 5061;
        if (colon != std::string::npos) {
          const std::string ps = remote.substr(colon + 1);
          port = ps.empty() || ps.find_first_not_of("0123456789") != std::string::npos || ps.size() > 5 ? -1 : std::stol(ps);
        }
        if (!ip || port < 1 || port > 65535) fail(origin, er.raw("remote"), pre + "remote", "\"" + remote + "\" is not a.b.c.d[:port]");
        route.ip = *ip;
        route.port = static_cast<std::uint16_t>(port);
        er.get("name", route.name);
        c.egress.push_back(route);
      }
    }
  }
  if (auto* t = subtable(origin, root, "events")) {
    Reader r(origin, *t, "events.");
    r.get("file", c.events_file);
    r.get("rate_per_second", c.events_rate_per_second, 1, 100000);
  }
  if (auto* t = subtable(origin, root, "control")) {
    Reader r(origin, *t, "control.");
    r.get("socket", c.control_socket);
    r.get("readonly_socket", c.control_readonly_socket);
    r.get("group", c.control_group);
    std::string mode;
    r.get("mode", mode);
    if (!mode.empty()) {
      if (mode.size() > 4 || mode.find_first_not_of("01234567") != std::string::npos)
        fail(origin, r.raw("mode"), "control.mode", "\"" + mode + "\" is not an octal mode like \"0660\"");
      c.control_mode = static_cast<std::uint32_t>(std::stoul(mode, nullptr, 8));
    }
  }
  if (auto* t = subtable(origin, root, "diagnostics")) {
    Reader r(origin, *t, "diagnostics.");
    r.get("dir", c.diagnostics_dir);
    r.get("max_mb", c.diagnostics_max_mb, 1, 4096);
    r.get("max_packets", c.diagnostics_max_packets, 1, 100000000);
    r.get("snaplen", c.diagnostics_snaplen, 64, 262144);
    r.get("max_seconds", c.diagnostics_max_seconds, 1, 3600);
  }
  if (auto* t = subtable(origin, root, "metrics")) {
    Reader r(origin, *t, "metrics.");
    if (r.get("listen", c.metrics_listen) && c.metrics_listen != "off") {
      // "ip:port" with an IPv4 address and a port 1..65535.
      const std::string& v = c.metrics_listen;
      const std::size_t colon = v.rfind(':');
      const std::string port = colon == std::string::npos ? "" : v.substr(colon + 1);
      if (colon == std::string::npos || !net::parse_ipv4(v.substr(0, colon)) || port.empty() || port.size() > 5 ||
          port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) < 1 ||
          std::stoul(port) > 65535)
        fail(origin, r.raw("listen"), "metrics.listen",
             "\"" + v + "\": expected \"ip:port\" (e.g. \"127.0.0.1:9661\") or \"off\"");
    }
  }
  if (auto* t = subtable(origin, root, "stats")) {
    Reader r(origin, *t, "stats.");
    r.get("interval_s", c.stats_interval_s, 0, 86400);
  }
  return c;
}

toml::table parse_toml(const std::string& text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << origin << ':' << e.source().begin.line << ": syntax error: " << e.description();
    throw ConfigError(o.str());
  }
}

}  // namespace

Config default_config() {
  Config c;
  PortConfig p;
  p.name = "demo0";
  p.device = "net_tap0,iface=tp-demo0";
  p.ipv4 = *net::parse_ipv4("198.18.0.1");
  p.prefix = 24;
  c.ports.push_back(p);
  return c;
}

std::vector<Config::SipListener> Config::effective_listeners() const {
  std::vector<SipListener> out = sip_listeners;
  if (out.empty() && sip_port) out.push_back(SipListener{0, sip_port, {}, {}, {}, {}, 0});
  for (auto& l : out) {
    if (l.client_cert.empty()) l.client_cert = sip_client_cert;
    if (l.tls_versions.empty()) l.tls_versions = sip_tls_versions;
    if (l.ciphers.empty()) l.ciphers = sip_ciphers;
    if (l.groups.empty()) l.groups = sip_groups;
    if (!l.handshake_timeout_ms) l.handshake_timeout_ms = sip_handshake_timeout_ms;
  }
  return out;
}

IdlePolicy Config::idle_policy() const {
  if (idle) return *idle;
  for (auto& p : ports)
    if (!p.is_vdev()) return IdlePolicy::Poll;
  return IdlePolicy::Adaptive;
}

std::string Config::control_socket_path() const {
  if (control_socket == "off") return {};
  return control_socket.empty() ? "/run/turnpike/" + file_prefix + ".sock" : control_socket;
}

std::string Config::diagnostics_path() const {
  return diagnostics_dir.empty() ? "/var/lib/turnpike/diag" : diagnostics_dir;
}

std::string Config::control_readonly_path() const {
  if (control_readonly_socket == "off") return {};
  return control_readonly_socket.empty() ? "/run/turnpike/" + file_prefix + ".ro.sock" : control_readonly_socket;
}

std::uint32_t Config::mbufs_needed() const {
  if (mbuf_pool_size) return mbuf_pool_size;
  std::uint64_t n = 0;
  for (auto& p : ports) n += std::uint64_t(workers) * (p.rx_desc + p.tx_desc + 2 * 32);
  n += std::uint64_t(workers + 1) * mbuf_cache + neigh_pending_max * workers + 1024;
  return static_cast<std::uint32_t>(n);
}

Config parse_config(const std::string& text, const std::string& origin) {
  Config c = from_table(parse_toml(text, origin), origin);
  validate(c);
  return c;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open config file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

void apply_override(Config& c, const std::string& a) {
  const auto eq = a.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + a + ": expected section.key=value");
  const std::string path = a.substr(0, eq), value = a.substr(eq + 1);
  // Re-express the override as TOML so it goes through the same checks.
  // Re-express the override as TOML so it goes through the same checks; a
  // value that is not TOML (a bare word, a path) is taken as a string.
  std::string lit = value;
  try {
    (void)toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    std::ostringstream o;
    o << toml::value<std::string>(value);
    lit = o.str();
  }
  std::string doc;
  const auto dot = path.find('.');
  if (path.rfind("ports.", 0) == 0) {
    // ports.N.key=value: edit the Nth port through a synthetic [[ports]] list.
    const auto dot2 = path.find('.', 6);
    if (dot2 == std::string::npos) throw ConfigError("--set " + a + ": expected ports.N.key=value");
    const std::size_t idx = std::stoul(path.substr(6, dot2 - 6));
    if (idx > c.ports.size()) throw ConfigError("--set " + a + ": no port " + std::to_string(idx));
    if (idx == c.ports.size()) c.ports.push_back(PortConfig{});
    PortConfig& p = c.ports[idx];
    std::ostringstream o;
    o << "[[ports]]\nname = " << toml::value<std::string>(p.name.empty() ? "port" + std::to_string(idx) : p.name)
      << "\ndevice = " << toml::value<std::string>(p.device.empty() ? "unset" : p.device) << "\nipv4 = "
      << toml::value<std::string>(net::ipv4_to_string(p.ipv4) + "/" + std::to_string(p.prefix)) << "\n";
    if (p.gateway) o << "gateway = " << toml::value<std::string>(net::ipv4_to_string(p.gateway)) << "\n";
    o << "rx_desc = " << p.rx_desc << "\ntx_desc = " << p.tx_desc << "\nmtu = " << p.mtu
      << "\npromiscuous = " << (p.promiscuous ? "true" : "false") << "\n";
    toml::table t = parse_toml(o.str(), "--set");
    auto& pt = *t["ports"].as_array()->get(0)->as_table();
    toml::table v = parse_toml("v = " + lit, "--set " + a);
    pt.insert_or_assign(path.substr(dot2 + 1), *v.get("v"));
    Config tmp = from_table(t, "--set " + a);
    c.ports[idx] = tmp.ports.at(0);
    return;
  }
  if (dot == std::string::npos) throw ConfigError("--set " + a + ": expected section.key=value");
  doc = "[" + path.substr(0, dot) + "]\n" + path.substr(dot + 1) + " = " + lit + "\n";
  toml::table t = parse_toml(doc, "--set " + a);
  // Merge: parse the override on top of the current values of that section.
  Config tmp = from_table(t, "--set " + a);
  const std::string sec = path.substr(0, dot), key = path.substr(dot + 1);
  if (sec == "eal") {
    if (key == "args") c.eal_args = tmp.eal_args;
    else if (key == "file_prefix") c.file_prefix = tmp.file_prefix;
    else if (key == "log_level") c.log_level = tmp.log_level;
  } else if (sec == "workers") {
    if (key == "count") c.workers = tmp.workers;
    else c.worker_cpus = tmp.worker_cpus;
  } else if (sec == "idle") {
    if (key == "policy") c.idle = tmp.idle;
    else if (key == "empty_polls") c.idle_empty_polls = tmp.idle_empty_polls;
    else c.idle_max_sleep_us = tmp.idle_max_sleep_us;
  } else if (sec == "neighbor") {
    if (key == "capacity") c.neigh_capacity = tmp.neigh_capacity;
    else if (key == "timeout_s") c.neigh_timeout_s = tmp.neigh_timeout_s;
    else if (key == "pending_max") c.neigh_pending_max = tmp.neigh_pending_max;
    else if (key == "arp_retry_ms") c.arp_retry_ms = tmp.arp_retry_ms;
    else c.arp_resolve_timeout_ms = tmp.arp_resolve_timeout_ms;
  } else if (sec == "mbuf") {
    if (key == "pool_size") c.mbuf_pool_size = tmp.mbuf_pool_size;
    else if (key == "cache") c.mbuf_cache = tmp.mbuf_cache;
    else c.mbuf_data_room = tmp.mbuf_data_room;
  } else if (sec == "metrics") {
    c.metrics_listen = tmp.metrics_listen;
  } else if (sec == "stats") {
    c.stats_interval_s = tmp.stats_interval_s;
  } else if (sec == "tcp") {
    if (key == "max_connections") c.tcp_max_connections = tmp.tcp_max_connections;
    else if (key == "rcvbuf") c.tcp_rcvbuf = tmp.tcp_rcvbuf;
    else if (key == "sndbuf") c.tcp_sndbuf = tmp.tcp_sndbuf;
    else if (key == "max_buffer_mb") c.tcp_max_buffer_mb = tmp.tcp_max_buffer_mb;
    else if (key == "max_time_wait") c.tcp_max_time_wait = tmp.tcp_max_time_wait;
    else c.tcp_time_wait_ms = tmp.tcp_time_wait_ms;
  } else if (sec == "stores") {
    if (key == "dir") c.stores_dir = tmp.stores_dir;
    else c.stores_eku_mode = tmp.stores_eku_mode;
  } else if (sec == "sip") {
    if (key == "listen_port") c.sip_port = tmp.sip_port;
    else if (key == "backends") c.sip_backends = tmp.sip_backends;
    else if (key == "proxy_v2") c.sip_proxy_v2 = tmp.sip_proxy_v2;
    else if (key == "client_cert") c.sip_client_cert = tmp.sip_client_cert;
    else if (key == "max_header") c.sip_max_header = tmp.sip_max_header;
    else if (key == "max_body") c.sip_max_body = tmp.sip_max_body;
    else if (key == "keepalive_pong") c.sip_keepalive_pong = tmp.sip_keepalive_pong;
    else if (key == "handshake_timeout_ms") c.sip_handshake_timeout_ms = tmp.sip_handshake_timeout_ms;
    else if (key == "balance") c.sip_balance = tmp.sip_balance;
    else if (key == "tls_versions") c.sip_tls_versions = tmp.sip_tls_versions;
    else if (key == "ciphers") c.sip_ciphers = tmp.sip_ciphers;
    else if (key == "groups") c.sip_groups = tmp.sip_groups;
    else if (key == "session_tickets") c.sip_session_tickets = tmp.sip_session_tickets;
    else if (key == "ticket_key_file") c.sip_ticket_key_file = tmp.sip_ticket_key_file;
    else if (key == "ticket_rotate_s") c.sip_ticket_rotate_s = tmp.sip_ticket_rotate_s;
    else if (key == "ticket_lifetime_s") c.sip_ticket_lifetime_s = tmp.sip_ticket_lifetime_s;
    else if (key == "sni_certificates") c.sip_sni_certs = tmp.sip_sni_certs;
    else if (key == "listeners") c.sip_listeners = tmp.sip_listeners;
    else if (key == "health_check_interval_ms") c.sip_health_interval_ms = tmp.sip_health_interval_ms;
    else if (key == "health_check_timeout_ms") c.sip_health_timeout_ms = tmp.sip_health_timeout_ms;
    else if (key == "backend_retry_ms") c.sip_backend_retry_ms = tmp.sip_backend_retry_ms;
    else if (key == "backend_tls") c.sip_backend_tls = tmp.sip_backend_tls;
    else if (key == "backend_tls_name") c.sip_backend_tls_name = tmp.sip_backend_tls_name;
    else c.verdict_cache_entries = tmp.verdict_cache_entries;
  } else if (sec == "egress") {
    if (key == "routes") c.egress = tmp.egress;
    else c.egress_handshake_timeout_ms = tmp.egress_handshake_timeout_ms;
  } else if (sec == "events") {
    if (key == "file") c.events_file = tmp.events_file;
    else c.events_rate_per_second = tmp.events_rate_per_second;
  } else if (sec == "control") {
    if (key == "socket") c.control_socket = tmp.control_socket;
    else if (key == "readonly_socket") c.control_readonly_socket = tmp.control_readonly_socket;
    else if (key == "group") c.control_group = tmp.control_group;
    else c.control_mode = tmp.control_mode;
  } else if (sec == "diagnostics") {
    if (key == "dir") c.diagnostics_dir = tmp.diagnostics_dir;
    else if (key == "max_mb") c.diagnostics_max_mb = tmp.diagnostics_max_mb;
    else if (key == "max_packets") c.diagnostics_max_packets = tmp.diagnostics_max_packets;
    else if (key == "snaplen") c.diagnostics_snaplen = tmp.diagnostics_snaplen;
    else c.diagnostics_max_seconds = tmp.diagnostics_max_seconds;
  } else if (sec == "services") {
    if (key == "echo_ports") c.echo_ports = tmp.echo_ports;
    else if (key == "relays") c.relays = tmp.relays;
    else c.discard_ports = tmp.discard_ports;
  }
}

void validate(const Config& c) {
  if (c.ports.empty()) throw ConfigError("ports: at least one [[ports]] entry is required");
  std::set<std::uint16_t> svc;
  for (auto p : c.echo_ports)
    if (!svc.insert(p).second) throw ConfigError("services.echo_ports: port " + std::to_string(p) + " listed twice");
  for (auto p : c.discard_ports)
    if (!svc.insert(p).second) throw ConfigError("services.discard_ports: port " + std::to_string(p) + " already used");
  for (auto& r : c.relays)
    if (!svc.insert(r.listen_port).second)
      throw ConfigError("services.relays: port " + std::to_string(r.listen_port) + " already used");
  for (auto& e : c.egress)
    if (!svc.insert(e.listen_port).second)
      throw ConfigError("egress.routes: port " + std::to_string(e.listen_port) + " already used");
  if (!c.stores_dir.empty()) {
    std::set<std::pair<std::uint32_t, std::uint16_t>> seen;
    for (auto& l : c.effective_listeners()) {
      const std::string where = c.sip_listeners.empty() ? "sip.listen_port" : "sip.listeners";
      if (svc.count(l.port))
        throw ConfigError(where + ": port " + std::to_string(l.port) + " is also used by a service or egress route");
      if (!seen.insert({l.ip, l.port}).second)
        throw ConfigError(where + ": " + net::ipv4_to_string(l.ip) + ":" + std::to_string(l.port) + " listed twice");
    }
  }
  if (!c.egress.empty() && c.stores_dir.empty())
    throw ConfigError("egress.routes: needs stores.dir (the client store and trust store)");
  std::set<std::string> names, devices;
  for (std::size_t i = 0; i < c.ports.size(); ++i) {
    const auto& p = c.ports[i];
    const std::string pre = "ports[" + std::to_string(i) + "].";
    if (!names.insert(p.name).second) throw ConfigError(pre + "name: duplicate port name \"" + p.name + "\"");
    if (p.device.empty() || p.device == "unset") throw ConfigError(pre + "device: missing");
    if (!devices.insert(p.device).second) throw ConfigError(pre + "device: used by two ports");
    if (p.ipv4 == 0 || (p.ipv4 >> 28) >= 0xe || (p.ipv4 >> 24) == 127)
      throw ConfigError(pre + "ipv4: " + net::ipv4_to_string(p.ipv4) + " is not a usable unicast address");
    const std::uint32_t mask = ~std::uint32_t(0) << (32 - p.prefix);
    if (p.prefix < 31 && ((p.ipv4 & ~mask) == 0 || (p.ipv4 & ~mask) == ~mask))
      throw ConfigError(pre + "ipv4: " + net::ipv4_to_string(p.ipv4) + "/" + std::to_string(p.prefix) +
                        " is the network or broadcast address");
    if (p.gateway && (p.gateway & mask) != (p.ipv4 & mask))
      throw ConfigError(pre + "gateway: " + net::ipv4_to_string(p.gateway) + " is not inside " +
                        net::ipv4_to_string(p.ipv4 & mask) + "/" + std::to_string(p.prefix));
    if (p.gateway == p.ipv4) throw ConfigError(pre + "gateway: equals the port's own address");
  }
  if (c.file_prefix.empty()) throw ConfigError("eal.file_prefix: must not be empty");
  if (!c.worker_cpus.empty() && c.worker_cpus.size() != c.workers)
    throw ConfigError("workers.cpus: has " + std::to_string(c.worker_cpus.size()) + " entries for " +
                      std::to_string(c.workers) + " workers");
  if (c.mbuf_pool_size && c.mbuf_pool_size < c.mbufs_needed() / 2)
    throw ConfigError("mbuf.pool_size: " + std::to_string(c.mbuf_pool_size) +
                      " is too small for the configured queues (need about " +
                      std::to_string([&] {
                        Config auto_sized = c;
                        auto_sized.mbuf_pool_size = 0;
                        return auto_sized.mbufs_needed();
                      }()) + ")");
}

std::string describe(const Config& c) {
  std::ostringstream o;
  o << "workers=" << c.workers << " idle=" << (c.idle_policy() == IdlePolicy::Poll ? "poll" : "adaptive")
    << " mbufs=" << c.mbufs_needed() << " file_prefix=" << c.file_prefix << "\n";
  for (auto& p : c.ports)
    o << "port " << p.name << ": device=" << p.device << " ipv4=" << net::ipv4_to_string(p.ipv4) << "/"
      << int(p.prefix) << " gateway=" << (p.gateway ? net::ipv4_to_string(p.gateway) : "none")
      << " rx_desc=" << p.rx_desc << " tx_desc=" << p.tx_desc << " mtu=" << p.mtu
      << " promiscuous=" << (p.promiscuous ? "on" : "off") << "\n";
  if (!c.stores_dir.empty()) {
    o << "stores: " << c.stores_dir << (c.stores_eku_mode.empty() ? "" : " eku_mode=" + c.stores_eku_mode) << "\n";
    for (auto& l : c.effective_listeners()) {
      o << "sip listener " << net::ipv4_to_string(l.ip) << ":" << l.port << ": tls=";
      for (std::size_t i = 0; i < l.tls_versions.size(); ++i) o << (i ? "+" : "") << l.tls_versions[i];
      o << " groups=" << l.groups << " client_cert=" << l.client_cert << " handshake_timeout_ms=" << l.handshake_timeout_ms
        << "\n";
    }
    o << "sip backends:";
    for (auto& [ip, port] : c.sip_backends) o << " " << net::ipv4_to_string(ip) << ":" << port;
    o << " balance=" << c.sip_balance << " health_check_interval_ms=" << c.sip_health_interval_ms
      << " proxy_v2=" << (c.sip_proxy_v2 ? "on" : "off") << " backend_tls=" << (c.sip_backend_tls ? "on" : "off")
      << " session_tickets=" << (c.sip_session_tickets ? "on" : "off") << "\n";
    for (auto& e : c.egress)
      o << "egress " << e.listen_port << " -> tls " << net::ipv4_to_string(e.ip) << ":" << e.port
        << (e.name.empty() ? "" : " name=" + e.name) << "\n";
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", c.control_mode);
    o << "control socket: " << (c.control_socket_path().empty() ? "off" : c.control_socket_path())
      << " read-only: " << (c.control_readonly_path().empty() ? "off" : c.control_readonly_path())
      << " group=" << (c.control_group.empty() ? "(the daemon's)" : c.control_group) << " mode=" << mode << "\n";
    o << "diagnostics: dir=" << c.diagnostics_path() << " max_mb=" << c.diagnostics_max_mb
      << " max_packets=" << c.diagnostics_max_packets << " snaplen=" << c.diagnostics_snaplen
      << " max_seconds=" << c.diagnostics_max_seconds << "\n";
  }
  o << "metrics: " << (c.metrics_listen == "off" ? std::string("off") : "http://" + c.metrics_listen + "/metrics")
    << "\n";
  return o.str();
}

}  // namespace turnpike
