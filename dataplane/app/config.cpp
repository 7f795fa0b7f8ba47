#include "turnpike/app/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "config_keys.hpp"
#include "turnpike/net/wire.hpp"

namespace turnpike {

using config_keys::Field;
using config_keys::Where;

namespace {

toml::table parse_toml(const std::string& text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream o;
    o << origin << ':' << e.source().begin.line << ": syntax error: " << e.description();
    throw ConfigError(o.str());
  }
}

bool is_section(const std::string& name) {
  for (auto& s : config_keys::sections())
    if (name == s.name) return true;
  return false;
}

const Field<Config>* find_key(const std::string& section, const std::string& name) {
  for (auto& k : config_keys::keys())
    if (section == k.section && name == k.name) return &k;
  return nullptr;
}

const Field<port::PortOptions>* find_port_key(const std::string& name) {
  for (auto& k : config_keys::port_keys())
    if (name == k.name) return &k;
  return nullptr;
}

void read_port(port::PortOptions& p, const toml::table& t, const toml::node* where, const std::string& origin,
               std::size_t i) {
  config_keys::read_table(p, t, where, config_keys::port_keys(), origin, "ports[" + std::to_string(i) + "].");
  if (p.name.empty()) p.name = "port" + std::to_string(i);
}

Config from_table(const toml::table& root, const std::string& origin) {
  Config c = default_config();
  c.ports.clear();  // a file names its own ports; the demo port is only the no-file default
  if (const toml::node* ports = root.get("ports")) {
    if (!ports->is_array_of_tables()) Where{origin, ports, "ports"}.fail("expected [[ports]] tables");
    std::size_t i = 0;
    for (auto& pn : *ports->as_array()) {
      port::PortOptions p;
      read_port(p, *pn.as_table(), &pn, origin, i++);
      c.ports.push_back(p);
    }
  }
  for (auto& [k, v] : root) {
    const std::string key(k.str());
    if (key != "ports" && !is_section(key)) Where{origin, &v, key}.fail("unknown key");
  }
  for (auto& s : config_keys::sections()) {
    const toml::node* n = root.get(s.name);
    if (!n) continue;
    if (!n->is_table()) Where{origin, n, s.name}.fail("expected a table [" + std::string(s.name) + "]");
    config_keys::read_table(c, *n->as_table(), n, config_keys::keys(), origin, std::string(s.name) + ".", s.name);
  }
  return c;
}

// Text for humans: a TOML string without its quotes when it needs no escape.
std::string plain(const std::string& lit) {
  if (lit.empty()) return "none";
  if (lit.size() >= 2 && lit.front() == '"' && lit.back() == '"' && lit.find('\\') == std::string::npos)
    return lit.substr(1, lit.size() - 2);
  return lit;
}

// Comment lines; `last` is appended to the last one.
void comment(std::ostringstream& o, const char* text, const std::string& last = "") {
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.empty()) lines.emplace_back();
  lines.back() += (lines.back().empty() || last.empty() ? "" : " ") + last;
  for (auto& l : lines) o << "#" << (l.empty() ? "" : " ") << l << "\n";
}

}  // namespace

Config default_config() {
  Config c;
  port::PortOptions p;
  p.name = "demo0";
  p.device = "net_tap0,iface=tp-demo0";
  p.ipv4 = *net::parse_ipv4("198.18.0.1");
  p.prefix = 24;
  c.ports.push_back(p);
  return c;
}

std::string ip_text(const tcp::Addr& ip) { return ip.is_v4() ? net::ipv4_to_string(ip.v4()) : ip.v6().to_string(); }
std::string endpoint_text(const tcp::Addr& ip, std::uint16_t port) {
  return ip.is_v4() ? net::endpoint_to_string({ip.v4(), port}) : net::endpoint6_to_string({ip.v6(), port});
}

std::string Config::SipListener::endpoint() const {
  return v6 ? net::endpoint6_to_string({ip6, port}) : net::endpoint_to_string({ip, port});
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
  for (auto& p : ports)
    n += std::uint64_t(workers) * (p.rx_desc + p.tx_desc + 2 * 32 + port::af_xdp_extra_mbufs(p));
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
  if (eq == std::string::npos || eq == 0) throw ConfigError("--set " + a + ": expected section.key=value");
  const std::string path = a.substr(0, eq), value = a.substr(eq + 1), origin = "--set " + a;
  // The value in TOML syntax goes through the key's own checks; a value that
  // is not TOML (a bare word, a path) is taken as a string.
  std::string lit = value;
  try {
    (void)toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    lit = config_keys::toml_string(value);
  }
  const toml::table doc = parse_toml("v = " + lit, origin);
  const toml::node& v = *doc.get("v");
  if (path.rfind("ports.", 0) == 0) {
    // ports.N.key=value; N may be one past the last port to add one.
    const auto dot = path.find('.', 6);
    const std::string idx_text = path.substr(6, dot == std::string::npos ? std::string::npos : dot - 6);
    if (dot == std::string::npos || idx_text.empty() || idx_text.size() > 4 ||
        idx_text.find_first_not_of("0123456789") != std::string::npos)
      throw ConfigError(origin + ": expected ports.N.key=value");
    const std::size_t idx = std::stoul(idx_text);
    if (idx > c.ports.size()) throw ConfigError(origin + ": no port " + std::to_string(idx));
    const std::string key = path.substr(dot + 1);
    const Where w{origin, nullptr, "ports[" + idx_text + "]." + key};
    const auto* f = find_port_key(key);
    if (!f) w.fail("unknown key");
    port::PortOptions p = idx < c.ports.size() ? c.ports[idx] : port::PortOptions{};
    f->read(p, v, w);
    if (p.name.empty()) p.name = "port" + idx_text;
    if (idx == c.ports.size()) c.ports.push_back(p);
    else c.ports[idx] = p;
    return;
  }
  const auto dot = path.find('.');
  if (dot == std::string::npos) throw ConfigError(origin + ": expected section.key=value");
  const Where w{origin, nullptr, path};
  const auto* f = find_key(path.substr(0, dot), path.substr(dot + 1));
  if (!f) w.fail("unknown key");
  Config next = c;  // a refused override changes nothing
  f->read(next, v, w);
  c = std::move(next);
}

std::string describe(const Config& c) {
  std::ostringstream o;
  o << "workers=" << c.workers << " idle=" << (c.idle_policy() == IdlePolicy::Poll ? "poll" : "adaptive")
    << " mbufs=" << c.mbufs_needed() << " file_prefix=" << c.file_prefix << "\n";
  for (auto& p : c.ports) {
    o << "port " << p.name << ":";
    for (auto& k : config_keys::port_keys())
      if (std::string(k.name) != "name") o << " " << k.name << "=" << plain(k.show(p));
    o << "\n";
  }
  if (!c.stores_dir.empty()) {
    for (auto& l : c.effective_listeners()) {
      o << "sip listener " << l.endpoint() << ": tls=";
      for (std::size_t i = 0; i < l.tls_versions.size(); ++i) o << (i ? "+" : "") << l.tls_versions[i];
      o << " groups=" << l.groups << " client_cert=" << l.client_cert << " handshake_timeout_ms=" << l.handshake_timeout_ms
        << "\n";
    }
    for (auto& e : c.egress)
      o << "egress " << e.listen_port << " -> tls " << endpoint_text(e.ip, e.port)
        << (e.name.empty() ? "" : " name=" + e.name) << "\n";
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", c.control_mode);
    o << "control socket: " << (c.control_socket_path().empty() ? "off" : c.control_socket_path())
      << " read-only: " << (c.control_readonly_path().empty() ? "off" : c.control_readonly_path())
      << " group=" << (c.control_group.empty() ? "(the daemon's)" : c.control_group) << " mode=" << mode << "\n";
  }
  o << "metrics: " << (c.metrics_listen == "off" ? std::string("off") : "http://" + c.metrics_listen + "/metrics")
    << "\n";
  // Every key of the table with the value in force ("none": unset).
  for (auto& s : config_keys::sections()) {
    o << "[" << s.name << "]";
    for (auto& k : config_keys::keys())
      if (std::string(k.section) == s.name) o << " " << k.name << "=" << plain(k.show(c));
    o << "\n";
  }
  return o.str();
}

std::string sample_config() {
  std::ostringstream o;
  o << "# turnpike sample configuration, generated from the key table\n"
       "# (dataplane/app/config_keys.cpp: turnpike --sample-config > deploy/turnpike.toml).\n"
       "# Every key is shown with its default; commented-out keys are unset by\n"
       "# default and show an example. Install as /etc/turnpike/turnpike.toml (the\n"
       "# default path) or pass --config. Any key can be overridden on the command\n"
       "# line: --set section.key=value, --set ports.0.key=value.\n";
  const Config d = default_config();
  auto key = [&o](const auto& k, const std::string& value) {
    comment(o, k.help, "(" + k.range + (k.missing ? ", required" : "") + ")");
    if (value.empty()) o << "# " << k.name << " = " << k.example << "\n";
    else o << k.name << " = " << value << "\n";
  };
  for (auto& s : config_keys::sections()) {
    o << "\n[" << s.name << "]\n";
    if (*s.help) comment(o, s.help);
    for (auto& k : config_keys::keys())
      if (std::string(k.section) == s.name) key(k, k.show(d));
  }
  o << "\n# One [[ports]] table per port (at least one).\n[[ports]]\n";
  const port::PortOptions p;
  for (auto& k : config_keys::port_keys()) key(k, k.missing ? std::string(k.example) : k.show(p));
  return o.str();
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
  // An IPv6 backend or remote needs a port with IPv6 to leave from.
  const bool v6 = std::any_of(c.ports.begin(), c.ports.end(), [](const auto& p) { return p.has_ipv6(); });
  for (auto& [ip, port] : c.sip_backends)
    if (!ip.is_v4() && !v6)
      throw ConfigError("sip.backends: " + endpoint_text(ip, port) + " is IPv6 but no [[ports]] entry has ipv6");
  for (auto& e : c.egress)
    if (!e.ip.is_v4() && !v6)
      throw ConfigError("egress.routes: " + endpoint_text(e.ip, e.port) + " is IPv6 but no [[ports]] entry has ipv6");
  for (auto& r : c.relays)
    if (!r.ip.is_v4() && !v6)
      throw ConfigError("services.relays: " + endpoint_text(r.ip, r.port) + " is IPv6 but no [[ports]] entry has ipv6");
  if (!c.stores_dir.empty()) {
    std::set<std::string> seen;
    for (auto& l : c.effective_listeners()) {
      const std::string where = c.sip_listeners.empty() ? "sip.listen_port" : "sip.listeners";
      if (svc.count(l.port))
        throw ConfigError(where + ": port " + std::to_string(l.port) + " is also used by a service or egress route");
      if (!seen.insert(l.endpoint()).second) throw ConfigError(where + ": " + l.endpoint() + " listed twice");
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

}  // namespace turnpike
