#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "turnpike/app/config.hpp"
#include "turnpike/port/port.hpp"
#include "config_keys.hpp"
#include "options.hpp"
#include "plane_settings.hpp"

using namespace turnpike;

namespace {
std::string err(const std::string& text) {
  try {
    parse_config(text, "t.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
const char* kPort = "[[ports]]\ndevice = \"net_ring0\"\nipv4 = \"198.18.0.1/24\"\n";
}  // namespace

TEST(Config, DefaultRunsWithoutNicOrHugepages) {
  Config c = default_config();
  validate(c);
  ASSERT_EQ(c.ports.size(), 1u);
  EXPECT_TRUE(c.ports[0].is_vdev());
  EXPECT_EQ(c.idle_policy(), IdlePolicy::Adaptive);
  auto argv = port::eal_argv(port_options(c), "tp", {0, 1});
  auto has = [&](const std::string& s) { return std::find(argv.begin(), argv.end(), s) != argv.end(); };
  EXPECT_TRUE(has("--no-huge"));
  EXPECT_TRUE(has("--no-pci"));
  EXPECT_TRUE(has("--vdev=net_tap0,iface=tp-demo0"));
  EXPECT_TRUE(has("--lcores=0@0,1@1"));
}

TEST(Config, FullFile) {
  Config c = parse_config(R"(
[eal]
args = ["--no-huge", "-m", "512"]
file_prefix = "edge"
[workers]
count = 2
cpus = [1, 1]
[idle]
policy = "poll"
[neighbor]
capacity = 64
[[ports]]
name = "outside"
device = "0000:03:00.0"
ipv4 = "198.18.5.10/16"
gateway = "198.18.0.254"
rx_desc = 2048
promiscuous = true
)", "t.toml");
  EXPECT_EQ(c.workers, 2u);
  EXPECT_EQ(c.idle_policy(), IdlePolicy::Poll);
  EXPECT_EQ(c.ports[0].prefix, 16);
  EXPECT_EQ(c.ports[0].gateway, 0xc61200feu);
  EXPECT_TRUE(c.ports[0].promiscuous);
  EXPECT_FALSE(c.ports[0].is_vdev());
  auto argv = port::eal_argv(port_options(c), "tp", {0, 1});
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--allow=0000:03:00.0"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--lcores=0@0,1@1,2@1"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--file-prefix=edge"), argv.end());
}

TEST(Config, ErrorsNameKeyAndLine) {
  EXPECT_EQ(err(std::string(kPort) + "[workers]\ncount = 0\n"), "t.toml:5: workers.count: must be between 1 and 64");
  EXPECT_EQ(err(std::string(kPort) + "[workers]\ncuont = 2\n"), "t.toml:5: workers.cuont: unknown key");
  EXPECT_EQ(err("[[ports]]\ndevice = \"net_ring0\"\nipv4 = \"198.18.0.300/24\"\n"),
            "t.toml:3: ports[0].ipv4: \"198.18.0.300/24\" is not an IPv4 address (expected a.b.c.d/prefix)");
  EXPECT_EQ(err("[[ports]]\ndevice = \"net_ring0\"\nipv4 = \"198.18.0.1/33\"\n"),
            "t.toml:3: ports[0].ipv4: prefix length \"33\" must be 1..32");
  EXPECT_EQ(err("[[ports]]\ndevice = 5\nipv4 = \"198.18.0.1/24\"\n"), "t.toml:2: ports[0].device: expected a string");
  EXPECT_EQ(err(std::string(kPort) + "[idle]\npolicy = \"spin\"\n"),
            "t.toml:5: idle.policy: expected \"poll\", \"adaptive\" or \"auto\"");
  EXPECT_NE(err("[eal\n").find("t.toml:1: syntax error"), std::string::npos);
  EXPECT_EQ(err("workers = 3\n" + std::string(kPort)), "t.toml:1: workers: expected a table [workers]");
  // After [[ports]], a bare key belongs to the port table: still caught.
  EXPECT_EQ(err(std::string(kPort) + "workers = 3\n"), "t.toml:4: ports[0].workers: unknown key");
}

TEST(Config, CrossFieldValidation) {
  EXPECT_EQ(err("[[ports]]\ndevice = \"net_ring0\"\nipv4 = \"198.18.0.0/24\"\n"),
            "ports[0].ipv4: 198.18.0.0/24 is the network or broadcast address");
  EXPECT_EQ(err("[[ports]]\ndevice = \"net_ring0\"\nipv4 = \"198.18.0.1/24\"\ngateway = \"198.19.0.1\"\n"),
            "ports[0].gateway: 198.19.0.1 is not inside 198.18.0.0/24");
  EXPECT_EQ(err("[[ports]]\ndevice = \"net_ring0\"\nipv4 = \"224.0.0.1/24\"\n"),
            "ports[0].ipv4: 224.0.0.1 is not a usable unicast address");
  EXPECT_EQ(err(std::string(kPort) + kPort), "ports[1].device: used by two ports");
  EXPECT_EQ(err(std::string(kPort) + "[workers]\ncount = 2\ncpus = [1]\n"), "workers.cpus: has 1 entries for 2 workers");
  EXPECT_EQ(err("[workers]\ncount = 1\n").find("ports: at least one"), 0u);
}

TEST(Config, Overrides) {
  Config c = default_config();
  apply_override(c, "workers.count=2");
  apply_override(c, "ports.0.device=net_af_packet0,iface=x,qpairs=2");
  apply_override(c, "ports.0.ipv4=198.18.3.1/24");
  apply_override(c, "eal.file_prefix=abc");
  apply_override(c, "idle.policy=poll");
  validate(c);
  EXPECT_EQ(c.workers, 2u);
  EXPECT_EQ(c.ports[0].device, "net_af_packet0,iface=x,qpairs=2");
  EXPECT_EQ(c.ports[0].ipv4, 0xc6120301u);
  EXPECT_EQ(c.file_prefix, "abc");
  EXPECT_EQ(c.idle_policy(), IdlePolicy::Poll);
  EXPECT_THROW(apply_override(c, "workers.count=0"), ConfigError);
  EXPECT_THROW(apply_override(c, "workers.bogus=1"), ConfigError);
  EXPECT_THROW(apply_override(c, "noequals"), ConfigError);
  EXPECT_THROW(apply_override(c, "ports.5.ipv4=198.18.0.1/24"), ConfigError);
  EXPECT_EQ(c.workers, 2u);  // a refused override changes nothing
}

TEST(Config, TlsSipServicesSections) {
  Config c = parse_config(std::string(kPort) + R"(
[stores]
dir = "/var/lib/turnpike/stores"
eku_mode = "off"
[sip]
listen_port = 5061
backends = ["198.18.0.2:5060", "198.18.0.3"]
proxy_v2 = true
client_cert = "require"
[services]
echo_ports = [7]
relays = ["8000=198.18.0.2:7"]
[events]
file = "/tmp/ev.log"
[tcp]
time_wait_ms = 1000
)", "t.toml");
  EXPECT_EQ(c.stores_eku_mode, "off");
  ASSERT_EQ(c.sip_backends.size(), 2u);
  EXPECT_EQ(c.sip_backends[1].second, 5060);  // default SIP port
  EXPECT_TRUE(c.sip_proxy_v2);
  ASSERT_EQ(c.relays.size(), 1u);
  EXPECT_EQ(c.relays[0].listen_port, 8000);
  EXPECT_EQ(c.relays[0].port, 7);
  EXPECT_EQ(c.tcp_time_wait_ms, 1000u);
  EXPECT_EQ(err(std::string(kPort) + "[sip]\nbackends = [\"198.18.0.2:99999\"]\n"),
            "t.toml:5: sip.backends: \"198.18.0.2:99999\" is not a.b.c.d[:port]");
  EXPECT_EQ(err(std::string(kPort) + "[sip]\nclient_cert = \"maybe\"\n"),
            "t.toml:5: sip.client_cert: expected \"none\", \"request\" or \"require\"");
  EXPECT_EQ(err(std::string(kPort) + "[stores]\neku_mode = \"sometimes\"\n"),
            "t.toml:5: stores.eku_mode: expected \"on\" or \"off\"");
  EXPECT_EQ(err(std::string(kPort) + "[services]\nrelays = [\"8000-198.18.0.2:7\"]\n"),
            "t.toml:5: services.relays: \"8000-198.18.0.2:7\" is not LISTEN_PORT=a.b.c.d:PORT");
  EXPECT_EQ(err(std::string(kPort) + "[services]\necho_ports = [7]\ndiscard_ports = [7]\n"),
            "services.discard_ports: port 7 already used");
}

TEST(Config, EgressBackendPoolAndBackendTls) {
  Config c = parse_config(std::string(kPort) + R"(
[stores]
dir = "/var/lib/turnpike"
[sip]
backends = ["198.18.0.2:5060", "198.18.0.3"]
balance = "least-connections"
health_check_interval_ms = 500
backend_tls = true
backend_tls_name = "core.example.test"
[egress]
handshake_timeout_ms = 3000
routes = [
  { listen_port = 5070, remote = "198.18.1.2:5061", name = "peer.example.test" },
  { listen_port = 5071, remote = "198.18.1.3" },
]
)", "t.toml");
  EXPECT_EQ(c.sip_balance, "least-connections");
  EXPECT_EQ(c.sip_health_interval_ms, 500u);
  EXPECT_TRUE(c.sip_backend_tls);
  EXPECT_EQ(c.sip_backend_tls_name, "core.example.test");
  EXPECT_EQ(c.egress_handshake_timeout_ms, 3000u);
  ASSERT_EQ(c.egress.size(), 2u);
  EXPECT_EQ(c.egress[0].listen_port, 5070);
  EXPECT_EQ(c.egress[0].name, "peer.example.test");
  EXPECT_EQ(c.egress[1].port, 5061);  // SIP over TLS default (RFC 3261 §19.1.2)
  EXPECT_TRUE(c.egress[1].name.empty());
  // Overrides use the same TOML forms.
  apply_override(c, "egress.routes=[{listen_port=6000, remote=\"198.18.1.9:6001\"}]");
  ASSERT_EQ(c.egress.size(), 1u);
  EXPECT_EQ(c.egress[0].port, 6001);
  apply_override(c, "sip.balance=round-robin");
  EXPECT_EQ(c.sip_balance, "round-robin");

  const std::string st = std::string(kPort) + "[stores]\ndir = \"/x\"\n";
  EXPECT_EQ(err(st + "[sip]\nbalance = \"random\"\n"),
            "t.toml:7: sip.balance: expected \"round-robin\" or \"least-connections\"");
  EXPECT_EQ(err(st + "[egress]\nroutes = [{listen_port = 5070}]\n"), "t.toml:7: egress.routes[0].remote: missing (a.b.c.d:port)");
  EXPECT_EQ(err(st + "[egress]\nroutes = [{listen_port = 5070, remote = \"peer:5061\"}]\n"),
            "t.toml:7: egress.routes[0].remote: \"peer:5061\" is not a.b.c.d[:port]");
  EXPECT_EQ(err(st + "[egress]\nroutes = [{listen_port = 5070, remote = \"198.18.1.2\", sni = true}]\n"),
            "t.toml:7: egress.routes[0].sni: unknown key");
  EXPECT_EQ(err(st + "[egress]\nroutes = [{listen_port = 5061, remote = \"198.18.1.2\"}]\n"),
            "sip.listen_port: port 5061 is also used by a service or egress route");
  EXPECT_EQ(err(std::string(kPort) + "[egress]\nroutes = [{listen_port = 5070, remote = \"198.18.1.2\"}]\n"),
            "egress.routes: needs stores.dir (the client store and trust store)");
}

// ---- the key table --------------------------------------------------------------

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string set_err(Config& c, const std::string& a) {
  try {
    apply_override(c, a);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

// deploy/turnpike.toml is generated from the key table: every key appears
// in it with its default, and it has no key the table does not know.
TEST(ConfigKeys, SampleFileIsTheGeneratedOne) {
  const std::string file = read_file(TURNPIKE_SAMPLE_CONFIG);
  const std::string want = sample_config();
  // The first line that differs, rather than both files.
  std::istringstream a(file), b(want);
  std::string la, lb;
  int line = 0;
  bool ga = true, gb = true;
  for (;;) {  // both streams advance every round
    ga = bool(std::getline(a, la));
    gb = bool(std::getline(b, lb));
    if (!ga && !gb) break;
    ++line;
    if (ga != gb || la != lb) break;
  }
  EXPECT_TRUE(file == want) << "deploy/turnpike.toml:" << line << ": \"" << la << "\", the table gives \"" << lb
                            << "\"; regenerate: turnpike --sample-config > deploy/turnpike.toml";
  // Parsed, it is the default configuration with its one sample port.
  Config s = parse_config(file, "turnpike.toml");
  Config d = default_config();
  ASSERT_EQ(s.ports.size(), 1u);
  EXPECT_EQ(s.ports[0].device, "net_af_packet0,iface=eth1");
  s.ports = d.ports;
  EXPECT_TRUE(s == d);
}

TEST(ConfigKeys, EveryKeyInTheSampleDescribedAndOverridable) {
  const std::string sample = sample_config();
  const Config d = default_config();
  for (auto& k : config_keys::keys()) {
    SCOPED_TRACE(std::string(k.section) + "." + k.name);
    EXPECT_NE(std::string(k.help), "");
    // In the sample: set to its default, or commented out with an example.
    const std::string v = k.show(d);
    const std::string line = v.empty() ? "# " + std::string(k.name) + " = " + k.example + "\n"
                                       : std::string(k.name) + " = " + v + "\n";
    EXPECT_NE(sample.find(line), std::string::npos) << line;
    // --check-config lists it.
    EXPECT_NE(describe(d).find(" " + std::string(k.name) + "="), std::string::npos);
    // --set with the shown value (or the example) reads back what it showed.
    Config c = d;
    const std::string lit = v.empty() ? k.example : v;
    apply_override(c, std::string(k.section) + "." + k.name + "=" + lit);
    EXPECT_EQ(k.show(c), lit);
  }
  for (auto& k : config_keys::port_keys()) {
    Config c = d;
    const std::string lit = k.show(c.ports[0]).empty() ? k.example : k.show(c.ports[0]);
    apply_override(c, "ports.0." + std::string(k.name) + "=" + lit);
    EXPECT_EQ(k.show(c.ports[0]), lit) << k.name;
  }
}

TEST(ConfigKeys, OverrideErrorsNameTheKey) {
  Config c = default_config();
  EXPECT_EQ(set_err(c, "workers.bogus=1"), "--set workers.bogus=1: workers.bogus: unknown key");
  EXPECT_EQ(set_err(c, "nosuch.key=1"), "--set nosuch.key=1: nosuch.key: unknown key");
  EXPECT_EQ(set_err(c, "idle.policy=spin"), "--set idle.policy=spin: idle.policy: expected \"poll\", \"adaptive\" or \"auto\"");
  EXPECT_EQ(set_err(c, "ports.0.bogus=1"), "--set ports.0.bogus=1: ports[0].bogus: unknown key");
  EXPECT_EQ(set_err(c, "ports.x.mtu=1500"), "--set ports.x.mtu=1500: expected ports.N.key=value");
  EXPECT_EQ(set_err(c, "ports.0.mtu=100"), "--set ports.0.mtu=100: ports[0].mtu: must be between 576 and 9000");
  EXPECT_EQ(set_err(c, "control.mode=0999"), "--set control.mode=0999: control.mode: \"0999\" is not an octal mode like \"0660\"");
  EXPECT_EQ(set_err(c, "metrics.listen=127.0.0.1"),
            "--set metrics.listen=127.0.0.1: metrics.listen: \"127.0.0.1\": expected \"ip:port\" (e.g. \"127.0.0.1:9661\") or \"off\"");
  EXPECT_TRUE(c == default_config());  // refused overrides changed nothing
  // A new port through ports.N (N = the count) starts from the defaults.
  apply_override(c, "ports.1.device=net_ring1");
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[1].name, "port1");
  EXPECT_EQ(c.ports[1].mtu, 1500);
  EXPECT_EQ(set_err(c, "ports.1.ipv4=198.18.1.1/24"), "");
  EXPECT_NO_THROW(validate(c));
  // Values that are not TOML are strings; TOML forms are read as TOML.
  apply_override(c, "stores.dir=/var/lib/x y");
  EXPECT_EQ(c.stores_dir, "/var/lib/x y");
  apply_override(c, "sip.backends=[\"198.18.0.2\", \"198.18.0.3:5080\"]");
  ASSERT_EQ(c.sip_backends.size(), 2u);
  EXPECT_EQ(c.sip_backends[0].second, 5060);
  EXPECT_EQ(c.sip_backends[1].second, 5080);
}

TEST(ConfigKeys, FileErrorsFromTheTable) {
  EXPECT_EQ(err(std::string(kPort) + "[eal]\nlog_level = \"loud\"\n"),
            "t.toml:5: eal.log_level: expected \"debug\", \"info\", \"warn\" or \"error\"");
  EXPECT_EQ(err(std::string(kPort) + "[metrics]\nlisten = \"127.0.0.1:0\"\n"),
            "t.toml:5: metrics.listen: \"127.0.0.1:0\": expected \"ip:port\" (e.g. \"127.0.0.1:9661\") or \"off\"");
  EXPECT_EQ(err(std::string(kPort) + "[sip]\nlisteners = [{ address = \"198.18.0.1\" }]\n"),
            "t.toml:5: sip.listeners[0].address: \"198.18.0.1\" is not a.b.c.d:port");
  EXPECT_EQ(err(std::string(kPort) + "[sip]\nsni_certificates = [{ chain = \"a.pem\" }]\n"),
            "t.toml:5: sip.sni_certificates[0].key: missing (PEM private key file)");
  EXPECT_EQ(err(std::string(kPort) + "[tcp]\nrcvbuf = \"big\"\n"), "t.toml:5: tcp.rcvbuf: expected an integer");
  EXPECT_EQ(err(std::string(kPort) + "[sip]\nproxy_v2 = 1\n"), "t.toml:5: sip.proxy_v2: expected true or false");
  EXPECT_EQ(err(std::string(kPort) + "bogus = 1\n"), "t.toml:4: ports[0].bogus: unknown key");
  EXPECT_EQ(err("bogus = 1\n" + std::string(kPort)), "t.toml:1: bogus: unknown key");
  EXPECT_EQ(err("[[ports]]\nipv4 = \"198.18.0.1/24\"\n"), "t.toml:1: ports[0].device: missing (PCI address or vdev string)");
}

// One address parser for the config, its overrides and the listeners.
TEST(ConfigKeys, EndpointParser) {
  EXPECT_EQ(net::parse_endpoint("198.18.0.2:5060"), (net::Endpoint{0xc6120002u, 5060}));
  EXPECT_EQ(net::parse_endpoint("198.18.0.2", 5061), (net::Endpoint{0xc6120002u, 5061}));
  EXPECT_FALSE(net::parse_endpoint("198.18.0.2"));  // port required without a default
  for (const char* bad : {"198.18.0.2:", "198.18.0.2:0", "198.18.0.2:65536", "198.18.0.2:+80", "198.18.0.2:123456",
                          "peer:5061", ":5061", "198.18.0.300:5", "198.18.0.2:5060x", ""})
    EXPECT_FALSE(net::parse_endpoint(bad, 5060)) << bad;
  EXPECT_EQ(net::endpoint_to_string({0xc6120002u, 7}), "198.18.0.2:7");
}

// app/ maps the file onto each module's own options.
TEST(ConfigOptions, ModulesGetTheirOptions) {
  Config c = parse_config(std::string(kPort) + R"(
[[ports]]
device = "net_ring1"
ipv4 = "198.18.1.1/24"
mtu = 9000
[workers]
count = 2
[tcp]
max_connections = 5000
max_buffer_mb = 2
time_wait_ms = 1500
[idle]
policy = "poll"
max_sleep_us = 5000
)", "t.toml");
  const port::Options po = port_options(c);
  EXPECT_EQ(po.workers, 2u);
  EXPECT_EQ(po.ports.size(), 2u);
  EXPECT_EQ(po.af_frames(), port::af_packet_frames(5000, 5000));
  const tcp::Config t = tcp_options(c);
  EXPECT_EQ(t.mss, 1460);  // the smallest MTU's (RFC 9293 §3.7.1)
  EXPECT_EQ(t.max_connections, 5000u);
  EXPECT_EQ(t.max_chunks, (2u << 20) / t.chunk_size);
  EXPECT_EQ(t.time_wait_us, 1500000u);
  const worker::IdleParams idle = idle_params(c);
  EXPECT_FALSE(idle.adaptive);
  EXPECT_EQ(idle.max_sleep_us, 5000u);
}

TEST(ConfigOptions, ProxyAndControlOptionsInTheirUnits) {
  Config c = parse_config(std::string(kPort) + R"(
[stores]
dir = "/x"
[sip]
backends = ["198.18.0.2:5070", "198.18.0.3"]
balance = "least-connections"
health_check_interval_ms = 500
health_check_timeout_ms = 300
backend_retry_ms = 700
proxy_v2 = true
max_header = 2048
max_body = 100
keepalive_pong = false
backend_tls = true
backend_tls_name = "core.test"
listeners = [{ address = "198.18.0.1:5062", handshake_timeout_ms = 250 }]
[egress]
handshake_timeout_ms = 400
routes = [{ listen_port = 5070, remote = "198.18.1.2", name = "peer.test" }]
[control]
mode = "0640"
group = "ops"
)", "t.toml");
  const proxy::BackendPoolOptions bo = backend_pool_options(c);
  ASSERT_EQ(bo.backends.size(), 2u);
  EXPECT_EQ(bo.backends[0].port, 5070);
  EXPECT_EQ(bo.backends[1].port, 5060);
  EXPECT_EQ(bo.balance, proxy::Balance::LeastConnections);
  EXPECT_EQ(bo.check_interval_us, 500000u);
  EXPECT_EQ(bo.check_timeout_us, 300000u);
  EXPECT_EQ(bo.retry_us, 700000u);
  EXPECT_TRUE(bo.proxy_v2_local);
  const auto listeners = c.effective_listeners();
  ASSERT_EQ(listeners.size(), 1u);
  const proxy::SipProxyOptions so = sip_proxy_options(c, listeners[0]);
  EXPECT_TRUE(so.proxy_v2);
  EXPECT_EQ(so.limits.max_header, 2048u);
  EXPECT_EQ(so.limits.max_body, 100u);
  EXPECT_FALSE(so.answer_keepalive);
  EXPECT_EQ(so.handshake_timeout_us, 250000u);  // the listener's own timeout
  EXPECT_EQ(so.backend_tls_name, "core.test");
  const proxy::EgressOptions eo = egress_options(c, c.egress[0]);
  EXPECT_EQ(eo.remote_port, 5061);
  EXPECT_EQ(eo.name, "peer.test");
  EXPECT_EQ(eo.handshake_timeout_us, 400000u);
  const control::ControlOptions co = control_options(c);
  EXPECT_EQ(co.mode, 0640u);
  EXPECT_EQ(co.group, "ops");
  EXPECT_EQ(co.path, "/run/turnpike/turnpike.sock");
  // Telemetry's labels, in the order of the workers' listeners and routes.
  worker::Runtime rt;
  describe_to(rt, c);
  EXPECT_EQ(rt.sip_listeners, (std::vector<std::string>{"198.18.0.1:5062"}));
  EXPECT_EQ(rt.backends, (std::vector<std::string>{"198.18.0.2:5070", "198.18.0.3:5060"}));
  EXPECT_EQ(rt.egress_routes, (std::vector<std::string>{"5070->198.18.1.2:5061"}));
  ASSERT_EQ(rt.port_options.size(), 1u);
  EXPECT_EQ(rt.port_options[0].device, "net_ring0");
}

// Reload: the key table's live column decides; the rest is named by group.
TEST(ConfigReload, RestartOnlyChangesFromTheTable) {
  // Ends inside [sip]: `more` may start with [sip] keys.
  const std::string base = std::string(kPort) + "[stores]\ndir = \"/x\"\n[sip]\nbackends = [\"198.18.0.2:5060\"]\n"
                                                "listeners = [{ address = \"198.18.0.1:5061\" }]\n";
  const Config cur = parse_config(base, "t.toml");
  auto changes = [&](const std::string& more) { return restart_only_changes(cur, parse_config(base + more, "t.toml")); };
  using V = std::vector<std::string>;
  EXPECT_EQ(changes(""), V{});
  // Live: TLS settings, tickets, EKU mode, log level, stats, diagnostics.
  EXPECT_EQ(changes("tls_versions = [\"1.3\"]\nciphers = \"TLS13-AES128-GCM-SHA256\"\nsession_tickets = false\n"
                    "client_cert = \"require\"\nsni_certificates = [{ chain = \"b.pem\", key = \"b.key\" }]\n"
                    "[eal]\nlog_level = \"debug\"\n[stats]\ninterval_s = 5\n[diagnostics]\nmax_mb = 8\n"),
            V{});
  EXPECT_EQ(restart_only_changes(cur, parse_config(std::string(kPort) + "[stores]\ndir = \"/x\"\neku_mode = \"off\"\n"
                                                   "[sip]\nbackends = [\"198.18.0.2:5060\"]\n"
                                                   "listeners = [{ address = \"198.18.0.1:5061\", groups = \"P-256\" }]\n",
                                                   "t.toml")),
            V{});  // a listener's TLS settings are live too
  // Restart: named by group, each once.
  EXPECT_EQ(changes("balance = \"least-connections\"\nproxy_v2 = true\n"), V{"sip backends"});
  EXPECT_EQ(changes("max_body = 10\nverdict_cache = 128\n[tcp]\nmax_connections = 2048\n"),
            (V{"tcp", "sip limits", "verdict_cache"}));
  EXPECT_EQ(changes("[workers]\ncount = 2\n[metrics]\nlisten = \"off\"\n"), (V{"workers", "metrics.listen"}));
  EXPECT_EQ(restart_only_changes(cur, parse_config(std::string(kPort) + "[stores]\ndir = \"/x\"\n[sip]\nbackends = "
                                                   "[\"198.18.0.2:5060\"]\nlisteners = [{ address = \"198.18.0.1:5062\" }]\n",
                                                   "t.toml")),
            V{"sip listeners (addresses, ports, timeouts)"});
  Config more_ports = cur;
  apply_override(more_ports, "ports.0.mtu=9000");
  EXPECT_EQ(restart_only_changes(cur, more_ports), V{"ports"});
  // Every key is either live or named in a group a restart message shows.
  for (auto& k : config_keys::keys()) EXPECT_TRUE(k.live || k.group || *k.section) << k.name;
}

// Dual-stack listeners (issue 13 item 4): "[v6]:port" beside "a.b.c.d:port";
// the same endpoint spelled twice is refused like an IPv4 one.
TEST(ConfigKeys, Ipv6Listeners) {
  const Config c = parse_config(std::string(kPort) + R"(
[stores]
dir = "/nonexistent"
[sip]
listeners = [{ address = "[::]:5061" }, { address = "[2001:DB8::1]:5062" }, { address = "198.18.0.1:5061" }]
)",
                                "t.toml");
  ASSERT_EQ(c.sip_listeners.size(), 3u);
  EXPECT_TRUE(c.sip_listeners[0].v6);
  EXPECT_TRUE(c.sip_listeners[0].ip6.is_unspecified());
  EXPECT_EQ(c.sip_listeners[0].endpoint(), "[::]:5061");
  EXPECT_EQ(c.sip_listeners[1].endpoint(), "[2001:db8::1]:5062");  // RFC 5952 text
  EXPECT_FALSE(c.sip_listeners[2].v6);
  EXPECT_EQ(c.sip_listeners[2].endpoint(), "198.18.0.1:5061");
  EXPECT_EQ(err(std::string(kPort) + "[sip]\nlisteners = [{ address = \"[2001:db8::1]\" }]\n"),
            "t.toml:5: sip.listeners[0].address: \"[2001:db8::1]\" is not [v6]:port (the IPv6 address in brackets)");
  EXPECT_EQ(err(std::string(kPort) +
                "[stores]\ndir = \"/nonexistent\"\n[sip]\nlisteners = [{ address = \"[::]:5061\" }, { address = "
                "\"[0::0]:5061\" }]\n"),
            "sip.listeners: [::]:5061 listed twice");
}

// Backends and egress remotes by IPv6 address (issue 13 item 4): "[v6]:port"
// or "[v6]" (default port), RFC 5952 text back, a unicast address only, and
// a port with IPv6 to leave from; the modules get the addresses.
TEST(ConfigKeys, Ipv6BackendsAndEgressRemotes) {
  const std::string p6 = std::string(kPort) + "ipv6 = \"2001:db8::1/64\"\n";
  Config c = parse_config(p6 + R"(
[stores]
dir = "/nonexistent"
[sip]
backends = ["[2001:DB8::2]:5080", "[2001:db8::3]", "198.18.0.2"]
[egress]
routes = [{ listen_port = 5070, remote = "[2001:db8::9]" }, { listen_port = 5071, remote = "[2001:db8::9]:6001", name = "peer.test" }]
)",
                          "t.toml");
  validate(c);
  ASSERT_EQ(c.sip_backends.size(), 3u);
  EXPECT_FALSE(c.sip_backends[0].first.is_v4());
  EXPECT_EQ(endpoint_text(c.sip_backends[0].first, c.sip_backends[0].second), "[2001:db8::2]:5080");
  EXPECT_EQ(endpoint_text(c.sip_backends[1].first, c.sip_backends[1].second), "[2001:db8::3]:5060");
  EXPECT_EQ(endpoint_text(c.sip_backends[2].first, c.sip_backends[2].second), "198.18.0.2:5060");
  ASSERT_EQ(c.egress.size(), 2u);
  EXPECT_EQ(endpoint_text(c.egress[0].ip, c.egress[0].port), "[2001:db8::9]:5061");  // RFC 3261 §19.1.2
  EXPECT_EQ(ip_text(c.egress[1].ip), "2001:db8::9");
  EXPECT_NE(describe(c).find("egress 5071 -> tls [2001:db8::9]:6001 name=peer.test"), std::string::npos);
  const proxy::BackendPoolOptions bo = backend_pool_options(c);
  ASSERT_EQ(bo.backends.size(), 3u);
  EXPECT_EQ(bo.backends[0].endpoint(), "[2001:db8::2]:5080");
  EXPECT_EQ(bo.backends[0].host(), "2001:db8::2");  // the TLS name by address
  EXPECT_EQ(bo.backends[2].endpoint(), "198.18.0.2:5060");
  const proxy::EgressOptions eo = egress_options(c, c.egress[1]);
  EXPECT_EQ(eo.remote_ip, tcp::Addr(*net::parse_ipv6("2001:db8::9")));
  EXPECT_EQ(eo.remote_port, 6001);
  worker::Runtime rt;
  describe_to(rt, c);
  EXPECT_EQ(rt.backends, (std::vector<std::string>{"[2001:db8::2]:5080", "[2001:db8::3]:5060", "198.18.0.2:5060"}));
  EXPECT_EQ(rt.egress_routes[1], "5071->[2001:db8::9]:6001");
  // The generated file form reads back the same.
  apply_override(c, "sip.backends=[\"[2001:db8::4]:5090\"]");
  ASSERT_EQ(c.sip_backends.size(), 1u);
  EXPECT_EQ(endpoint_text(c.sip_backends[0].first, c.sip_backends[0].second), "[2001:db8::4]:5090");

  // A bare IPv6 address is ambiguous with a port; :: and groups answer nobody.
  for (const char* bad : {"2001:db8::2", "[::]:5060", "[ff02::1]:5060", "[::ffff:198.18.0.2]:5060", "[2001:db8::2]:0"})
    EXPECT_NE(err(p6 + "[sip]\nbackends = [\"" + bad + "\"]\n"), "") << bad;
  EXPECT_EQ(err(p6 + "[sip]\nbackends = [\"[ff02::1]\"]\n"),
            "t.toml:6: sip.backends: \"[ff02::1]\" is not a unicast [v6][:port]");
  EXPECT_EQ(err(p6 + "[stores]\ndir = \"/x\"\n[egress]\nroutes = [{listen_port = 5070, remote = \"[::]\"}]\n"),
            "t.toml:8: egress.routes[0].remote: \"[::]\" is not a unicast [v6][:port]");
  // Without a port that has IPv6 there is nothing to leave from.
  EXPECT_EQ(err(std::string(kPort) + "[sip]\nbackends = [\"[2001:db8::2]:5060\"]\n"),
            "sip.backends: [2001:db8::2]:5060 is IPv6 but no [[ports]] entry has ipv6");
  EXPECT_EQ(err(std::string(kPort) + "[stores]\ndir = \"/x\"\n[egress]\nroutes = [{listen_port = 5070, remote = \"[2001:db8::9]\"}]\n"),
            "egress.routes: [2001:db8::9]:5061 is IPv6 but no [[ports]] entry has ipv6");
}

// Relays to IPv6 targets (issue 13 item 4): "LISTEN_PORT=[v6]:PORT" beside
// the IPv4 form, RFC 5952 text back, a unicast address with a port only,
// and a port with IPv6 to leave from.
TEST(ConfigKeys, Ipv6RelayTargets) {
  const std::string p6 = std::string(kPort) + "ipv6 = \"2001:db8::1/64\"\n";
  Config c = parse_config(p6 + "[services]\nrelays = [\"8000=[2001:DB8::2]:7\", \"8001=198.18.0.2:9\"]\n", "t.toml");
  validate(c);
  ASSERT_EQ(c.relays.size(), 2u);
  EXPECT_EQ(c.relays[0].listen_port, 8000);
  EXPECT_FALSE(c.relays[0].ip.is_v4());
  EXPECT_EQ(c.relays[0].ip, tcp::Addr(*net::parse_ipv6("2001:db8::2")));
  EXPECT_EQ(c.relays[0].port, 7);
  EXPECT_EQ(c.relays[1].ip, tcp::Addr(0xC6120002u));
  // Shown as written back, and read back the same.
  const std::string shown = describe(c);
  EXPECT_NE(shown.find("relays=[\"8000=[2001:db8::2]:7\", \"8001=198.18.0.2:9\"]"), std::string::npos) << shown;
  Config back = parse_config(p6 + "[services]\nrelays = [\"8000=[2001:db8::2]:7\", \"8001=198.18.0.2:9\"]\n", "t.toml");
  EXPECT_TRUE(back.relays == c.relays);
  const auto bad = [&](const std::string& r) { return err(p6 + "[services]\nrelays = [\"" + r + "\"]\n"); };
  EXPECT_EQ(bad("8000=[2001:db8::2]"), "t.toml:6: services.relays: \"8000=[2001:db8::2]\" is not LISTEN_PORT=[v6]:PORT (a unicast IPv6 address)");
  EXPECT_EQ(bad("8000=[ff02::1]:7"), "t.toml:6: services.relays: \"8000=[ff02::1]:7\" is not LISTEN_PORT=[v6]:PORT (a unicast IPv6 address)");
  EXPECT_EQ(bad("8000=[::]:7"), "t.toml:6: services.relays: \"8000=[::]:7\" is not LISTEN_PORT=[v6]:PORT (a unicast IPv6 address)");
  EXPECT_EQ(bad("8000=2001:db8::2:7"), "t.toml:6: services.relays: \"8000=2001:db8::2:7\" is not LISTEN_PORT=a.b.c.d:PORT");
  EXPECT_EQ(bad("8000=198.18.0.2"), "t.toml:6: services.relays: \"8000=198.18.0.2\" is not LISTEN_PORT=a.b.c.d:PORT");
  // An IPv6 target needs a port with IPv6 to leave from.
  EXPECT_EQ(err(std::string(kPort) + "[services]\nrelays = [\"8000=[2001:db8::2]:7\"]\n"),
            "services.relays: [2001:db8::2]:7 is IPv6 but no [[ports]] entry has ipv6");
}
