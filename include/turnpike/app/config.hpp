// The daemon's configuration as app/ reads it: TOML file + command-line
// overrides, validated with errors that name the key and the line. Only app/
// knows this type; it maps it onto each module's own options (options.hpp).
// Every scalar key is one row of the key table (dataplane/app/config_keys.cpp),
// which parses, overrides, describes and documents it.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "turnpike/port/port.hpp"
#include "turnpike/tcp/addr.hpp"

namespace turnpike {

enum class IdlePolicy { Poll, Adaptive };

// An address of either family as text: dotted quad, or RFC 5952 for IPv6;
// with a port, "a.b.c.d:port" or "[v6]:port" (RFC 5952 §6).
std::string ip_text(const tcp::Addr& ip);
std::string endpoint_text(const tcp::Addr& ip, std::uint16_t port);

struct Config {
  // [eal]
  std::vector<std::string> eal_args{"--no-huge", "-m", "256", "--no-pci"};
  std::string file_prefix = "turnpike";
  std::string log_level = "info";
  // [workers]
  unsigned workers = 1;
  std::vector<unsigned> worker_cpus;  // empty: spread over the CPUs we may use
  // [idle]
  std::optional<IdlePolicy> idle;     // unset: adaptive if every port is a vdev
  unsigned idle_empty_polls = 64;     // empty polls before the first sleep
  unsigned idle_max_sleep_us = 200;   // sleeps double from 1 us up to this
  // [neighbor]
  std::uint32_t neigh_capacity = 1024;
  std::uint32_t neigh_timeout_s = 300;  // RFC 1122 §2.3.2.1: entries must age out
  std::uint32_t neigh_pending_max = 256;
  std::uint32_t arp_retry_ms = 1000;
  std::uint32_t arp_resolve_timeout_ms = 3000;
  // [mbuf]
  std::uint32_t mbuf_pool_size = 0;  // 0: sized from ports, queues and workers
  std::uint32_t mbuf_cache = 256;
  std::uint16_t mbuf_data_room = 2048 + 128;
  // [tcp]
  std::uint32_t tcp_max_connections = 4096;  // per worker
  std::uint32_t tcp_rcvbuf = 256 * 1024;
  std::uint32_t tcp_sndbuf = 256 * 1024;
  std::uint32_t tcp_max_buffer_mb = 128;     // per worker, all connections
  std::uint32_t tcp_time_wait_ms = 60000;    // 2 MSL (RFC 9293 §3.4.2)
  std::uint32_t tcp_max_time_wait = 32768;   // compact TIME_WAIT entries per worker (oldest evicted)
  // [services]
  std::vector<std::uint16_t> echo_ports;     // RFC 862 echo listeners (empty: off)
  std::vector<std::uint16_t> discard_ports;  // RFC 863 discard listeners
  struct Relay {
    std::uint16_t listen_port;
    tcp::Addr ip;  // the target, IPv4 or IPv6; the relay listens on both families
    std::uint16_t port;
    bool operator==(const Relay&) const = default;
  };
  std::vector<Relay> relays;                 // "8000=198.18.0.2:7", "8001=[2001:db8::2]:7": plain TCP forwarders
  // [stores]
  std::string stores_dir;                    // server/client/trust stores; empty: no TLS service
  std::string stores_eku_mode;               // "on" | "off": applied to the stores at start; empty: keep
  // [sip]
  std::uint16_t sip_port = 5061;             // TLS listener (needs stores.dir)
  // Address (IPv4 or IPv6, issue 13 item 4) and port of each backend.
  std::vector<std::pair<tcp::Addr, std::uint16_t>> sip_backends;
  bool sip_proxy_v2 = false;
  std::string sip_client_cert = "request";   // none | request | require
  std::uint32_t sip_max_header = 16 * 1024;
  std::uint32_t sip_max_body = 64 * 1024;
  bool sip_keepalive_pong = true;
  std::uint32_t sip_handshake_timeout_ms = 10000;
  std::uint32_t verdict_cache_entries = 65536;
  // TLS of the SIP listeners (each listener may override these).
  std::vector<std::string> sip_tls_versions{"1.2", "1.3"};
  std::string sip_ciphers;                   // ':'-separated; empty: built-in AEAD suites
  std::string sip_groups = "X25519:P-256";   // key exchange, preference order
  bool sip_session_tickets = true;           // TLS 1.2 tickets + TLS 1.3 PSK tickets
  std::string sip_ticket_key_file;           // shared keys (base64 lines); empty: generated, rotated
  std::uint32_t sip_ticket_rotate_s = 43200;
  std::uint32_t sip_ticket_lifetime_s = 7200;
  std::uint32_t sip_tls_hibernate_ms = 2000;  // idle TLS sessions free their WOLFSSL (0: never)
  struct SniCert {
    std::string chain, key;  // PEM files: extra server certificates chosen by SNI
    bool operator==(const SniCert&) const = default;
  };
  std::vector<SniCert> sip_sni_certs;
  struct SipListener {
    std::uint32_t ip = 0;  // 0: every address
    std::uint16_t port = 5061;
    std::string client_cert;                 // empty: sip.client_cert
    std::vector<std::string> tls_versions;   // empty: sip.tls_versions
    std::string ciphers, groups;             // empty: the [sip] values
    std::uint32_t handshake_timeout_ms = 0;  // 0: sip.handshake_timeout_ms
    // An IPv6 listener ("[addr]:port"): ip6 instead of ip; [::] takes
    // every address of both families (dual stack).
    net::Ipv6Addr ip6{};
    bool v6 = false;
    bool operator==(const SipListener&) const = default;
    std::string endpoint() const;  // "a.b.c.d:port" or "[addr]:port"
  };
  std::vector<SipListener> sip_listeners;    // empty: one on sip.listen_port
  // Listeners with every inherited field filled in.
  std::vector<SipListener> effective_listeners() const;
  std::string sip_balance = "round-robin";   // round-robin | least-connections
  std::uint32_t sip_health_interval_ms = 2000;  // TCP connect checks; 0 = off
  std::uint32_t sip_health_timeout_ms = 1000;
  std::uint32_t sip_backend_retry_ms = 5000;    // skip after a failure when checks are off
  bool sip_backend_tls = false;              // TLS to backends, presenting the client store
  std::string sip_backend_tls_name;          // name backends must prove; empty: their address
  // [egress]: plain TCP from the inside, TLS (client store) to a remote peer
  struct EgressRoute {
    std::uint16_t listen_port = 0;
    tcp::Addr ip;  // IPv4 or IPv6
    std::uint16_t port = 5061;
    std::string name;  // RFC 5922 name to verify and send as SNI; empty: the address
    bool operator==(const EgressRoute&) const = default;
  };
  std::vector<EgressRoute> egress;
  std::uint32_t egress_handshake_timeout_ms = 10000;
  // [events]
  std::string events_file;                   // empty: events go to the daemon log
  std::uint32_t events_rate_per_second = 20; // per (kind, source address)
  // [control]: the control socket (turnpikectl) and a read-only one for monitoring
  std::string control_socket;           // empty: /run/turnpike/<file_prefix>.sock; "off": none
  std::string control_readonly_socket;  // empty: /run/turnpike/<file_prefix>.ro.sock; "off": none
  std::string control_group;            // group owning the sockets (empty: the daemon's)
  std::uint32_t control_mode = 0660;    // socket file mode
  std::string control_socket_path() const;
  std::string control_readonly_path() const;
  // [diagnostics]: xCommand Diagnostics Snapshot (read at each snapshot)
  std::string diagnostics_dir;               // empty: /var/lib/turnpike/diag
  std::uint32_t diagnostics_max_mb = 64;     // capture bytes, all workers together
  std::uint32_t diagnostics_max_packets = 200000;
  std::uint32_t diagnostics_snaplen = 65535;
  std::uint32_t diagnostics_max_seconds = 300;
  std::string diagnostics_path() const;
  // [metrics]: Prometheus /metrics on a kernel socket (docs/metrics.md)
  std::string metrics_listen = "127.0.0.1:9661";  // "ip:port" or "off"
  // [stats]
  unsigned stats_interval_s = 0;  // 0: only on SIGUSR1 and at exit
  std::vector<port::PortOptions> ports;  // [[ports]]

  IdlePolicy idle_policy() const;
  std::uint32_t mbufs_needed() const;
  bool operator==(const Config&) const = default;  // reload: what changed
};

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The embedded default: one net_tap port, no hugepages, no PCI.
Config default_config();
// Parses TOML text; `origin` names the file in messages. Throws ConfigError
// ("file:line: key: problem").
Config parse_config(const std::string& text, const std::string& origin);
Config load_config_file(const std::string& path);
// Applies "section.key=value" overrides (value in TOML syntax or a bare string).
void apply_override(Config& c, const std::string& assignment);
// Cross-field checks (ports present, addresses sane, counts in range).
void validate(const Config& c);
// What --check-config prints: the values in force, key by key.
std::string describe(const Config& c);
// The documented sample configuration (deploy/turnpike.toml): every key of
// the table with its default and description.
std::string sample_config();

}  // namespace turnpike
