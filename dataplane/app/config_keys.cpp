#include "config_keys.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "turnpike/net/ipv6.hpp"
#include "turnpike/net/wire.hpp"

namespace turnpike::config_keys {

void Where::fail(const std::string& what) const {
  std::ostringstream o;
  o << origin;
  if (node && node->source().begin.line) o << ':' << node->source().begin.line;
  o << ": " << key << ": " << what;
  throw ConfigError(o.str());
}

std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20 || ch == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", ch);
      out += esc;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

namespace {

// ---- row builders -------------------------------------------------------------

template <class T, class M>
Field<T> number(const char* sec, const char* name, M T::*m, long long lo, long long hi, const char* help) {
  return {sec, name, std::to_string(lo) + ".." + std::to_string(hi), help, nullptr, nullptr,
          [m, lo, hi](T& o, const toml::node& n, const Where& w) {
            if (!n.is_integer()) w.fail("expected an integer");
            const long long v = *n.value<long long>();
            if (v < lo || v > hi)
              w.fail("must be between " + std::to_string(lo) + " and " + std::to_string(hi));
            o.*m = static_cast<M>(v);
          },
          [m](const T& o) { return std::to_string(o.*m); }};
}

template <class T>
Field<T> flag(const char* sec, const char* name, bool T::*m, const char* help) {
  return {sec, name, "true | false", help, nullptr, nullptr,
          [m](T& o, const toml::node& n, const Where& w) {
            if (!n.is_boolean()) w.fail("expected true or false");
            o.*m = *n.value<bool>();
          },
          [m](const T& o) { return std::string(o.*m ? "true" : "false"); }};
}

std::string read_string(const toml::node& n, const Where& w) {
  if (!n.is_string()) w.fail("expected a string");
  return *n.value<std::string>();
}

// A string; with an `example`, empty means unset (the sample shows the
// example commented out).
template <class T>
Field<T> text(const char* sec, const char* name, std::string T::*m, const char* help, const char* example = nullptr,
              const char* missing = nullptr) {
  return {sec, name, "string", help, example, missing,
          [m](T& o, const toml::node& n, const Where& w) { o.*m = read_string(n, w); },
          [m, example](const T& o) { return example && (o.*m).empty() ? std::string() : toml_string(o.*m); }};
}

// "expected \"a\", \"b\" or \"c\""
std::string one_of(const std::vector<const char*>& options) {
  std::string s = "expected ";
  for (std::size_t i = 0; i < options.size(); ++i)
    s += (i ? (i + 1 == options.size() ? " or " : ", ") : "") + std::string("\"") + options[i] + "\"";
  return s;
}

template <class T>
Field<T> choice(const char* sec, const char* name, std::string T::*m, std::vector<const char*> options,
                const char* help, const char* example = nullptr) {
  std::string range;
  for (auto* o : options) range += (range.empty() ? "" : " | ") + std::string(o);
  return {sec, name, range, help, example, nullptr,
          [m, options](T& o, const toml::node& n, const Where& w) {
            const std::string v = read_string(n, w);
            for (auto* opt : options)
              if (v == opt) {
                o.*m = v;
                return;
              }
            w.fail(one_of(options));
          },
          [m, example](const T& o) { return example && (o.*m).empty() ? std::string() : toml_string(o.*m); }};
}

std::vector<std::string> string_array(const toml::node& n, const Where& w) {
  if (!n.is_array()) w.fail("expected an array of strings");
  std::vector<std::string> out;
  for (auto& e : *n.as_array()) {
    if (!e.is_string()) Where{w.origin, &e, w.key}.fail("expected an array of strings");
    out.push_back(*e.value<std::string>());
  }
  return out;
}

template <class V, class F>
std::string show_array(const V& v, F&& each) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + each(v[i]);
  return s + "]";
}

std::string quoted(const std::string& s) { return toml_string(s); }

template <class T>
Field<T> tls_versions(const char* sec, std::vector<std::string> T::*m, const char* help, bool unset_empty) {
  return {sec, "tls_versions", "1.2 | 1.3, at least one", help, unset_empty ? "[\"1.3\"]" : nullptr, nullptr,
          [m](T& o, const toml::node& n, const Where& w) {
            std::vector<std::string> v = string_array(n, w);
            if (v.empty()) w.fail("at least one of \"1.2\", \"1.3\"");
            for (auto& s : v)
              if (s != "1.2" && s != "1.3") w.fail("\"" + s + "\": expected \"1.2\" or \"1.3\"");
            o.*m = v;
          },
          [m, unset_empty](const T& o) {
            return unset_empty && (o.*m).empty() ? std::string() : show_array(o.*m, quoted);
          }};
}

// Decimal TCP/UDP port 1..65535.
std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  const unsigned long v = std::stoul(std::string(s));
  if (v < 1 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

template <class T>
Field<T> port_list(const char* sec, const char* name, std::vector<std::uint16_t> T::*m, const char* help,
                   const char* example) {
  return {sec, name, "TCP ports 1..65535", help, example, nullptr,
          [m](T& o, const toml::node& n, const Where& w) {
            if (!n.is_array()) w.fail("expected an array of TCP ports");
            std::vector<std::uint16_t> v;
            for (auto& e : *n.as_array()) {
              if (!e.is_integer() || *e.value<long long>() < 1 || *e.value<long long>() > 65535)
                Where{w.origin, &e, w.key}.fail("expected TCP ports 1..65535");
              v.push_back(static_cast<std::uint16_t>(*e.value<long long>()));
            }
            o.*m = v;
          },
          [m](const T& o) {
            return (o.*m).empty() ? std::string()
                                  : show_array(o.*m, [](std::uint16_t p) { return std::to_string(p); });
          }};
}

// An array of tables ([[x]] or [{...}, ...]) read through its own fields.
template <class T, class E>
Field<T> table_array(const char* sec, const char* name, std::vector<E> T::*m, const std::vector<Field<E>>* fields,
                     const char* expected, const char* element, const char* help, const char* example) {
  return {sec, name, "array of tables", help, example, nullptr,
          [=](T& o, const toml::node& n, const Where& w) {
            if (!n.is_array()) w.fail(expected);
            std::vector<E> v;
            std::size_t i = 0;
            for (auto& e : *n.as_array()) {
              const std::string pre = w.key + "[" + std::to_string(i++) + "]";
              if (!e.is_table()) Where{w.origin, &e, pre}.fail(element);
              E item{};
              read_table(item, *e.as_table(), &e, *fields, w.origin, pre + ".");
              v.push_back(item);
            }
            o.*m = v;
          },
          [=](const T& o) {
            return (o.*m).empty() ? std::string()
                                  : show_array(o.*m, [&](const E& e) { return show_inline(e, *fields); });
          }};
}

// A backend or remote: "a.b.c.d[:port]" or "[v6]:port" / "[v6]" (RFC 3986
// §3.2.2 brackets; a bare IPv6 address is refused: "2001:db8::1:5060" would
// be ambiguous). An IPv6 address must be unicast (nobody answers at :: or a
// group) and not IPv4-mapped (write the IPv4 address).
std::optional<std::pair<tcp::Addr, std::uint16_t>> parse_remote(std::string_view s, std::uint16_t default_port) {
  if (const auto ep = net::parse_endpoint(s, default_port)) return std::pair{tcp::Addr(ep->ip), ep->port};
  if (s.empty() || s.front() != '[') return std::nullopt;
  const auto ep6 = net::parse_endpoint6(s, default_port);
  if (!ep6 || ep6->ip.is_unspecified() || ep6->ip.is_multicast() || ep6->ip.is_v4_mapped()) return std::nullopt;
  return std::pair{tcp::Addr(ep6->ip), ep6->port};
}

template <class T>
Field<T> live(Field<T> f) {
  f.live = true;
  return f;
}

template <class T>
Field<T> grouped(const char* group, Field<T> f) {
  f.group = group;
  return f;
}

const char* const kListenerGroup = "sip listeners (addresses, ports, timeouts)";

// ---- sub-tables -----------------------------------------------------------------

const std::vector<Field<Config::SniCert>> kSniFields = {
    text<Config::SniCert>("", "chain", &Config::SniCert::chain, "PEM file: leaf then intermediates", nullptr,
                          "missing (PEM file: leaf then intermediates)"),
    text<Config::SniCert>("", "key", &Config::SniCert::key, "PEM private key file", nullptr,
                          "missing (PEM private key file)"),
};

const std::vector<Field<Config::SipListener>> kListenerFields = {
    {"", "address", "a.b.c.d:port or [v6]:port",
     "address and port; 0.0.0.0: every IPv4 address, [::]: every address of both families", nullptr,
     "missing (a.b.c.d:port or [v6]:port, 0.0.0.0 = every address)",
     [](Config::SipListener& l, const toml::node& n, const Where& w) {
       const std::string a = read_string(n, w);
       if (const auto ep = net::parse_endpoint(a)) {
         l.ip = ep->ip;
         l.port = ep->port;
         l.v6 = false;
       } else if (const auto ep6 = net::parse_endpoint6(a)) {
         l.ip6 = ep6->ip;
         l.port = ep6->port;
         l.v6 = true;
       } else {
         const bool looks_v6 = a.starts_with('[') || std::count(a.begin(), a.end(), ':') > 1;
         w.fail("\"" + a + "\" is not " + (looks_v6 ? "[v6]:port (the IPv6 address in brackets)" : "a.b.c.d:port"));
       }
     },
     [](const Config::SipListener& l) { return quoted(l.endpoint()); }},
    choice<Config::SipListener>("", "client_cert", &Config::SipListener::client_cert, {"none", "request", "require"},
                                "default: sip.client_cert", "\"request\""),
    tls_versions<Config::SipListener>("", &Config::SipListener::tls_versions, "default: sip.tls_versions", true),
    text<Config::SipListener>("", "ciphers", &Config::SipListener::ciphers, "default: sip.ciphers", "\"\""),
    text<Config::SipListener>("", "groups", &Config::SipListener::groups, "default: sip.groups", "\"\""),
    {"", "handshake_timeout_ms", "100..600000", "default: sip.handshake_timeout_ms", nullptr, nullptr,
     number<Config::SipListener>("", "handshake_timeout_ms", &Config::SipListener::handshake_timeout_ms, 100, 600000,
                                 "")
         .read,
     [](const Config::SipListener& l) {
       return l.handshake_timeout_ms ? std::to_string(l.handshake_timeout_ms) : std::string();
     }},
};

const std::vector<Field<Config::EgressRoute>> kRouteFields = {
    number<Config::EgressRoute>("", "listen_port", &Config::EgressRoute::listen_port, 1, 65535,
                                "plain TCP port on the inside"),
    {"", "remote", "a.b.c.d[:port] or [v6][:port]", "the remote peer (port default 5061)", nullptr,
     "missing (a.b.c.d:port)",
     [](Config::EgressRoute& r, const toml::node& n, const Where& w) {
       const std::string s = read_string(n, w);
       // RFC 3261 §19.1.2: SIP over TLS defaults to 5061.
       const auto ep = parse_remote(s, 5061);
       if (!ep) w.fail("\"" + s + (s.starts_with('[') ? "\" is not a unicast [v6][:port]" : "\" is not a.b.c.d[:port]"));
       r.ip = ep->first;
       r.port = ep->second;
     },
     [](const Config::EgressRoute& r) { return quoted(endpoint_text(r.ip, r.port)); }},
    text<Config::EgressRoute>("", "name", &Config::EgressRoute::name,
                              "RFC 5922 name to verify and send as SNI; default: the address", "\"\""),
};

}  // namespace

const std::vector<Field<port::PortOptions>>& port_keys() {
  using P = port::PortOptions;
  static const std::vector<Field<P>> k = {
      text<P>("", "name", &P::name, "name in logs and telemetry; default: portN", "\"edge0\""),
      text<P>("", "device", &P::device,
              "A vdev string (net_af_packet0,iface=eth1 / net_af_xdp0,iface=eth1 /\n"
              "net_tap0,iface=tp0 / net_memif0,...) or a PCI address bound to vfio-pci.\n"
              "net_af_packet: turnpike adds qpairs= (one per worker) and framecnt= (the\n"
              "kernel ring, sized from tcp.max_connections and the line rate: 8192 frames\n"
              "per queue by default; the PMD's own 512 loses frames under load) unless the\n"
              "string gives them. The ring's drops are counted (/turnpike/stats\n"
              "kernel_ring_drops, with the PMD's imissed/ierrors/rx_nombuf/oerrors).",
              "\"net_af_packet0,iface=eth1\"", "missing (PCI address or vdev string)"),
      {"", "ipv4", "a.b.c.d/prefix", "the port's address and prefix length (1..32, default 24)",
       "\"198.18.0.1/24\"", "missing (a.b.c.d/prefix)",
       [](P& p, const toml::node& n, const Where& w) {
         const std::string s = read_string(n, w);
         const auto slash = s.find('/');
         const auto a = net::parse_ipv4(s.substr(0, slash));
         if (!a) w.fail("\"" + s + "\" is not an IPv4 address (expected a.b.c.d/prefix)");
         p.ipv4 = *a;
         p.prefix = 24;
         if (slash != std::string::npos) {
           const std::string l = s.substr(slash + 1);
           if (l.empty() || l.size() > 2 || l.find_first_not_of("0123456789") != std::string::npos ||
               std::stoi(l) > 32 || std::stoi(l) < 1)
             w.fail("prefix length \"" + l + "\" must be 1..32");
           p.prefix = static_cast<std::uint8_t>(std::stoi(l));
         }
       },
       [](const P& p) {
         return p.ipv4 ? quoted(net::ipv4_to_string(p.ipv4) + "/" + std::to_string(p.prefix)) : std::string();
       }},
      {"", "gateway", "a.b.c.d", "next hop for addresses off the port's subnet; default: none", "\"198.18.0.254\"",
       nullptr,
       [](P& p, const toml::node& n, const Where& w) {
         const std::string s = read_string(n, w);
         const auto g = net::parse_ipv4(s);
         if (!g) w.fail("\"" + s + "\" is not an IPv4 address");
         p.gateway = *g;
       },
       [](const P& p) { return p.gateway ? quoted(net::ipv4_to_string(p.gateway)) : std::string(); }},
      {"", "ipv6", "addr/prefix", "IPv6 global address and on-link prefix (RFC 4291); sets IPv6 on for the\n"
       "port, with a link-local address from its MAC; both pass DAD (RFC 4862) at start.\n"
       "The data plane answers ping and Neighbor Discovery; default: no IPv6", "\"2001:db8::1/64\"", nullptr,
       [](P& p, const toml::node& n, const Where& w) {
         const std::string s = read_string(n, w);
         const auto a = net::parse_ipv6_prefix(s);
         if (!a || a->len == 0) w.fail("\"" + s + "\" is not an IPv6 address/prefix (1..128)");
         if (a->addr.is_unspecified() || a->addr.is_multicast() || a->addr.is_link_local() || a->addr.is_loopback() ||
             a->addr.is_v4_mapped())
           w.fail("\"" + s + "\" is not a global unicast address (the link-local one comes from the MAC)");
         p.ipv6 = a->addr;
         p.ipv6_prefix = a->len;
       },
       [](const P& p) {
         return p.has_ipv6() ? quoted(p.ipv6.to_string() + "/" + std::to_string(p.ipv6_prefix)) : std::string();
       }},
      {"", "ipv6_gateway", "IPv6 address", "default router for IPv6, usually its link-local address; default: none",
       "\"fe80::1\"", nullptr,
       [](P& p, const toml::node& n, const Where& w) {
         const std::string s = read_string(n, w);
         const auto a = net::parse_ipv6(s);
         if (!a || a->is_unspecified() || a->is_multicast() || a->is_loopback() || a->is_v4_mapped())
           w.fail("\"" + s + "\" is not a unicast IPv6 address");
         p.ipv6_gateway = *a;
       },
       [](const P& p) { return p.ipv6_gateway.is_unspecified() ? std::string() : quoted(p.ipv6_gateway.to_string()); }},
      number<P>("", "rx_desc", &P::rx_desc, 64, 16384, "RX descriptors per queue"),
      number<P>("", "tx_desc", &P::tx_desc, 64, 16384, "TX descriptors per queue"),
      number<P>("", "mtu", &P::mtu, 576, 9000, "IPv4 MTU; the TCP MSS is the smallest port's MTU - 40"),
      flag<P>("", "promiscuous", &P::promiscuous, "frames for other MACs are dropped (and counted) when false"),
  };
  return k;
}

const std::vector<Section>& sections() {
  static const std::vector<Section> s = {
      {"eal", ""},
      {"workers", ""},
      {"idle", ""},
      {"neighbor", "ARP (RFC 826) and the neighbour table, per port"},
      {"mbuf", ""},
      {"stats", ""},
      {"metrics",
       "Prometheus /metrics (docs/metrics.md) on a kernel socket, served by\n"
       "civetweb's one thread with relaxed reads of the workers' counters. Keep it\n"
       "on loopback or a management address: it has no authentication."},
      {"tcp", ""},
      {"services", ""},
      {"stores",
       "Server store (server.pem, privkey.pem), client store (client.pem,\n"
       "clientprivkey.pem) and trust store (ca.pem, *.crl); see docs/control.md and\n"
       "turnpike-certs. Without stores.dir there is no TLS service."},
      {"sip", "SIP over TLS: the listeners, their TLS settings and the backends."},
      {"egress",
       "Plain TCP from the inside carried over TLS to a remote peer, presenting the\n"
       "client store; the remote must allow serverAuth and prove `name` (RFC 5922)."},
      {"events", ""},
      {"control",
       "The control socket of turnpikectl (docs/control.md): xConfiguration,\n"
       "xStatus, xCommand Certificate (staged, then Commit or Abort), Reload.\n"
       "Served by the control thread; needs stores.dir. \"off\" disables a socket."},
      {"diagnostics", "xCommand Diagnostics Snapshot (read at each snapshot)"},
  };
  return s;
}

const std::vector<Field<Config>>& keys() {
  using C = Config;
  static const std::vector<Field<C>> k = {
      // [eal]
      grouped<C>("eal (args, file_prefix)", {"eal", "args", "array of strings",
       "Extra EAL arguments. --no-huge/--no-pci suit vdev ports on a test box; on an\n"
       "appliance with a NIC, reserve hugepages (deploy/hugepages.sh) and drop them.",
       nullptr, nullptr, [](C& c, const toml::node& n, const Where& w) { c.eal_args = string_array(n, w); },
       [](const C& c) { return show_array(c.eal_args, quoted); }}),
      grouped("eal (args, file_prefix)", text<C>("eal", "file_prefix", &C::file_prefix, "also the dpdk-telemetry.py -f argument")),
      live(choice<C>("eal", "log_level", &C::log_level, {"debug", "info", "warn", "error"}, "daemon and EAL log level")),
      // [workers]
      number<C>("workers", "count", &C::workers, 1, 64, "one RX and one TX queue per worker on every port"),
      {"workers", "cpus", "CPU numbers 0..1023",
       "One CPU per worker. Default: distinct CPUs for the workers whenever there\n"
       "are enough; the control lcore takes a spare CPU, else shares worker 0's\n"
       "(printed at start as \"placement:\", and in /turnpike/workers).",
       "[1]", nullptr,
       [](C& c, const toml::node& n, const Where& w) {
         if (!n.is_array()) w.fail("expected an array of CPU numbers");
         std::vector<unsigned> v;
         for (auto& e : *n.as_array()) {
           if (!e.is_integer() || *e.value<long long>() < 0 || *e.value<long long>() > 1023)
             Where{w.origin, &e, w.key}.fail("expected CPU numbers 0..1023");
           v.push_back(static_cast<unsigned>(*e.value<long long>()));
         }
         c.worker_cpus = v;
       },
       [](const C& c) {
         return c.worker_cpus.empty() ? std::string()
                                      : show_array(c.worker_cpus, [](unsigned x) { return std::to_string(x); });
       }},
      // [idle]
      {"idle", "policy", "poll | adaptive | auto", "auto: adaptive when every port is a vdev, else poll", nullptr,
       nullptr,
       [](C& c, const toml::node& n, const Where& w) {
         const std::string v = read_string(n, w);
         if (v == "poll") c.idle = IdlePolicy::Poll;
         else if (v == "adaptive") c.idle = IdlePolicy::Adaptive;
         else if (v == "auto") c.idle.reset();
         else w.fail(one_of({"poll", "adaptive", "auto"}));
       },
       [](const C& c) {
         return quoted(!c.idle ? "auto" : *c.idle == IdlePolicy::Poll ? "poll" : "adaptive");
       }},
      number<C>("idle", "empty_polls", &C::idle_empty_polls, 1, 1 << 20, "empty polls before the first sleep"),
      number<C>("idle", "max_sleep_us", &C::idle_max_sleep_us, 1, 100000, "sleeps double from 1 us up to this"),
      // [neighbor]
      number<C>("neighbor", "capacity", &C::neigh_capacity, 8, 1 << 20, "entries per port"),
      number<C>("neighbor", "timeout_s", &C::neigh_timeout_s, 1, 86400,
                "entries age out (RFC 1122 §2.3.2.1)"),
      number<C>("neighbor", "pending_max", &C::neigh_pending_max, 1, 65536,
                "frames held per worker while ARP resolves"),
      number<C>("neighbor", "arp_retry_ms", &C::arp_retry_ms, 10, 60000, "between ARP requests for one next hop"),
      number<C>("neighbor", "resolve_timeout_ms", &C::arp_resolve_timeout_ms, 10, 600000,
                "a held frame is dropped after this"),
      // [mbuf]
      number<C>("mbuf", "pool_size", &C::mbuf_pool_size, 0, 1 << 24, "0: sized from ports, descriptors and workers"),
      number<C>("mbuf", "cache", &C::mbuf_cache, 0, 512, "per-lcore mempool cache"),
      number<C>("mbuf", "data_room", &C::mbuf_data_room, 1024, 65535, "bytes per mbuf, headroom included"),
      // [stats]
      live(number<C>("stats", "interval_s", &C::stats_interval_s, 0, 86400, "0: counters only on SIGUSR1 and at exit")),
      // [metrics]
      grouped<C>("metrics.listen", {"metrics", "listen", "ip:port | off", "\"ip:port\", or \"off\"; a change needs a restart", nullptr, nullptr,
       [](C& c, const toml::node& n, const Where& w) {
         const std::string v = read_string(n, w);
         if (v != "off" && !net::parse_endpoint(v))
           w.fail("\"" + v + "\": expected \"ip:port\" (e.g. \"127.0.0.1:9661\") or \"off\"");
         c.metrics_listen = v;
       },
       [](const C& c) { return quoted(c.metrics_listen); }}),
      // [tcp]
      number<C>("tcp", "max_connections", &C::tcp_max_connections, 16, 1 << 22, "control blocks per worker"),
      number<C>("tcp", "rcvbuf", &C::tcp_rcvbuf, 4096, 64 << 20, "bytes per connection and direction"),
      number<C>("tcp", "sndbuf", &C::tcp_sndbuf, 4096, 64 << 20, "bytes per connection and direction"),
      number<C>("tcp", "max_buffer_mb", &C::tcp_max_buffer_mb, 1, 65536, "buffer chunks per worker, all connections"),
      number<C>("tcp", "time_wait_ms", &C::tcp_time_wait_ms, 0, 600000, "2 MSL (RFC 9293 §3.4.2)"),
      number<C>("tcp", "max_time_wait", &C::tcp_max_time_wait, 0, 1 << 22,
                "TIME_WAIT entries per worker, 80 bytes each, apart from the connection\n"
                "table (a new connection never waits for one); the oldest is evicted when\n"
                "full, as Linux's tcp_max_tw_buckets"),
      // [services]
      port_list<C>("services", "echo_ports", &C::echo_ports, "RFC 862 echo, for tests", "[7]"),
      port_list<C>("services", "discard_ports", &C::discard_ports, "RFC 863 discard", "[9]"),
      {"services", "relays", "strings LISTEN_PORT=a.b.c.d:PORT or LISTEN_PORT=[v6]:PORT",
       "plain TCP forwarders, listening on [::] (both families)", "[\"8000=198.18.0.2:7\", \"8001=[2001:db8::2]:7\"]",
       nullptr,
       [](C& c, const toml::node& n, const Where& w) {
         std::vector<Config::Relay> v;
         for (auto& s : string_array(n, w)) {
           const auto eq = s.find('=');
           const auto lp = eq == std::string::npos ? std::nullopt : parse_port(std::string_view(s).substr(0, eq));
           const auto to = eq == std::string::npos ? std::nullopt : parse_remote(s.substr(eq + 1), 0);
           if (!lp || !to || !to->second)
             w.fail("\"" + s +
                    (eq != std::string::npos && s.compare(eq + 1, 1, "[") == 0
                         ? "\" is not LISTEN_PORT=[v6]:PORT (a unicast IPv6 address)"
                         : "\" is not LISTEN_PORT=a.b.c.d:PORT"));
           v.push_back({*lp, to->first, to->second});
         }
         c.relays = v;
       },
       [](const C& c) {
         return c.relays.empty() ? std::string() : show_array(c.relays, [](const Config::Relay& r) {
           return quoted(std::to_string(r.listen_port) + "=" + endpoint_text(r.ip, r.port));
         });
       }},
      // [stores]
      grouped("stores.dir", text<C>("stores", "dir", &C::stores_dir, "the stores' directory; unset: no TLS service",
              "\"/var/lib/turnpike/stores\"")),
      live(choice<C>("stores", "eku_mode", &C::stores_eku_mode, {"on", "off"},
                "\"SIP TLS Certificate ExtendedKeyUsage Checking Mode\"; unset: keep the stored one", "\"on\"")),
      // [sip]
      grouped(kListenerGroup, number<C>("sip", "listen_port", &C::sip_port, 0, 65535, "used when no listeners are given; 0 = none")),
      grouped<C>("sip backends", {"sip", "backends", "strings a.b.c.d[:port] or [v6][:port]",
                                  "SIP backends (port default 5060)", "[\"198.18.0.2:5060\", \"[2001:db8::2]:5060\"]",
       nullptr,
       [](C& c, const toml::node& n, const Where& w) {
         std::vector<std::pair<tcp::Addr, std::uint16_t>> v;
         for (auto& s : string_array(n, w)) {
           const auto ep = parse_remote(s, 5060);
           if (!ep) w.fail("\"" + s + (s.starts_with('[') ? "\" is not a unicast [v6][:port]" : "\" is not a.b.c.d[:port]"));
           v.push_back(*ep);
         }
         c.sip_backends = v;
       },
       [](const C& c) {
         return c.sip_backends.empty() ? std::string() : show_array(c.sip_backends, [](const auto& b) {
           return quoted(endpoint_text(b.first, b.second));
         });
       }}),
      grouped("sip backends", choice<C>("sip", "balance", &C::sip_balance, {"round-robin", "least-connections"}, "per worker")),
      grouped("sip backends", number<C>("sip", "health_check_interval_ms", &C::sip_health_interval_ms, 0, 3600000,
                "TCP connect checks; 0 = off (then a failed backend is skipped backend_retry_ms)")),
      grouped("sip backends", number<C>("sip", "health_check_timeout_ms", &C::sip_health_timeout_ms, 10, 600000, "a check's deadline")),
      grouped("sip backends", number<C>("sip", "backend_retry_ms", &C::sip_backend_retry_ms, 0, 3600000,
                "without checks: how long a failed backend is skipped")),
      grouped("sip backends", flag<C>("sip", "proxy_v2", &C::sip_proxy_v2,
              "HAProxy PROXY v2 header with the client's address and TLS TLVs")),
      grouped("sip backends", flag<C>("sip", "backend_tls", &C::sip_backend_tls, "TLS to backends, presenting the client store")),
      grouped("sip backends", text<C>("sip", "backend_tls_name", &C::sip_backend_tls_name,
              "name backends must prove (RFC 5922 §7.1); default: their address", "\"core.example.net\"")),
      live(choice<C>("sip", "client_cert", &C::sip_client_cert, {"none", "request", "require"},
                "client certificates on the listeners")),
      live(tls_versions<C>("sip", &C::sip_tls_versions, "TLS versions of the listeners", false)),
      live(text<C>("sip", "ciphers", &C::sip_ciphers, "':'-separated wolfSSL/OpenSSL names; empty: AEAD suites only")),
      live(text<C>("sip", "groups", &C::sip_groups, "key exchange, preference order (also P-384, P-521, ffdhe2048)")),
      grouped(kListenerGroup, number<C>("sip", "handshake_timeout_ms", &C::sip_handshake_timeout_ms, 100, 600000,
                "a handshake not finished by then is closed")),
      live(flag<C>("sip", "session_tickets", &C::sip_session_tickets, "TLS 1.3 PSK tickets and TLS 1.2 tickets")),
      live(text<C>("sip", "ticket_key_file", &C::sip_ticket_key_file,
              "shared by several nodes: one base64 80-byte key per line, first encrypts;\n"
              "unset: keys generated and rotated here",
              "\"/etc/turnpike/ticket.keys\"")),
      live(number<C>("sip", "ticket_rotate_s", &C::sip_ticket_rotate_s, 60, 7 * 86400,
                "generated keys: a new one this often, the two before still decrypt")),
      live(number<C>("sip", "ticket_lifetime_s", &C::sip_ticket_lifetime_s, 1, 7 * 86400,
                "at most 7 days (RFC 8446 §4.6.1)")),
      number<C>("sip", "tls_hibernate_ms", &C::sip_tls_hibernate_ms, 0, 86400000,
                "a TLS session idle this long keeps only its exported state (~0.4 KiB),\n"
                "re-created on its next record; 0 = never (checked every 10 ms)"),
      grouped("sip limits", number<C>("sip", "max_header", &C::sip_max_header, 1024, 1 << 20, "RFC 3261 §18.3 framing limits: 513 beyond")),
      grouped("sip limits", number<C>("sip", "max_body", &C::sip_max_body, 0, 16 << 20, "bytes")),
      grouped("sip limits", flag<C>("sip", "keepalive_pong", &C::sip_keepalive_pong, "answer RFC 5626 CRLFCRLF pings at the edge")),
      grouped("verdict_cache", number<C>("sip", "verdict_cache", &C::verdict_cache_entries, 64, 1 << 24,
                "peer-certificate verdicts cached (entries)")),
      live(table_array<C, Config::SniCert>(
          "sip", "sni_certificates", &C::sip_sni_certs, &kSniFields, "expected an array of {chain, key} tables",
          "expected a table {chain, key}",
          "More server certificates, chosen by the ClientHello's server_name (RFC 6066)",
          "[{ chain = \"/etc/turnpike/sni/b.pem\", key = \"/etc/turnpike/sni/b.key\" }]")),
      grouped(kListenerGroup, table_array<C, Config::SipListener>(
          "sip", "listeners", &C::sip_listeners, &kListenerFields, "expected an array of tables",
          "expected a table {address, ...}",
          "Several listeners, each with its own TLS settings (unset keys: the values\n"
          "above): address, client_cert, tls_versions, ciphers, groups, handshake_timeout_ms",
          "[{ address = \"0.0.0.0:5061\" }, { address = \"198.18.0.1:5062\", client_cert = \"require\", "
          "tls_versions = [\"1.3\"] }]")),
      // [egress]
      grouped("egress routes", number<C>("egress", "handshake_timeout_ms", &C::egress_handshake_timeout_ms, 100, 600000,
                "outbound handshakes")),
      grouped("egress routes", table_array<C, Config::EgressRoute>(
          "egress", "routes", &C::egress, &kRouteFields, "expected an array of tables",
          "expected a table {listen_port, remote, name}", "listen_port, remote (a.b.c.d[:port]) and name",
          "[{ listen_port = 5070, remote = \"198.18.1.2:5061\", name = \"sip.peer.example\" }]")),
      // [events]
      text<C>("events", "file", &C::events_file, "the event log; default: the daemon log",
              "\"/var/log/turnpike/events.log\""),
      number<C>("events", "rate_per_second", &C::events_rate_per_second, 1, 100000, "per kind and source address"),
      // [control]
      text<C>("control", "socket", &C::control_socket, "default: /run/turnpike/<eal.file_prefix>.sock",
              "\"/run/turnpike/turnpike.sock\""),
      text<C>("control", "readonly_socket", &C::control_readonly_socket,
              "reads only (monitoring); every change refused; default: /run/turnpike/<eal.file_prefix>.ro.sock",
              "\"/run/turnpike/turnpike.ro.sock\""),
      text<C>("control", "group", &C::control_group,
              "owner group of both sockets: its members may connect; default: the daemon's", "\"turnpike\""),
      {"control", "mode", "octal string", "socket file mode (octal string): owner and group only", nullptr, nullptr,
       [](C& c, const toml::node& n, const Where& w) {
         const std::string m = read_string(n, w);
         if (m.empty() || m.size() > 4 || m.find_first_not_of("01234567") != std::string::npos)
           w.fail("\"" + m + "\" is not an octal mode like \"0660\"");
         c.control_mode = static_cast<std::uint32_t>(std::stoul(m, nullptr, 8));
       },
       [](const C& c) {
         char mode[8];
         std::snprintf(mode, sizeof mode, "%04o", c.control_mode);
         return quoted(mode);
       }},
      // [diagnostics]
      live(text<C>("diagnostics", "dir", &C::diagnostics_dir, "default: /var/lib/turnpike/diag", "\"/var/lib/turnpike/diag\"")),
      live(number<C>("diagnostics", "max_mb", &C::diagnostics_max_mb, 1, 4096, "capture bytes, all workers together")),
      live(number<C>("diagnostics", "max_packets", &C::diagnostics_max_packets, 1, 100000000, "packets per snapshot")),
      live(number<C>("diagnostics", "snaplen", &C::diagnostics_snaplen, 64, 262144, "bytes kept per packet")),
      live(number<C>("diagnostics", "max_seconds", &C::diagnostics_max_seconds, 1, 3600, "longest capture")),
  };
  return k;
}

}  // namespace turnpike::config_keys
