#include <gtest/gtest.h>

#include <rte_thash.h>

#include "turnpike/config.hpp"
#include "turnpike/port/port.hpp"

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
  auto argv = port::eal_argv(c, "tp", {0, 1});
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
  auto argv = port::eal_argv(c, "tp", {0, 1});
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

TEST(Port, SymmetricKeyAndNames) {
  auto k = port::symmetric_rss_key(40);
  ASSERT_EQ(k.size(), 40u);
  for (std::size_t i = 0; i + 1 < k.size(); i += 2) {
    EXPECT_EQ(k[i], 0x6d);
    EXPECT_EQ(k[i + 1], 0x5a);
  }
  EXPECT_EQ(port::dpdk_port_name("net_af_packet0,iface=x"), "net_af_packet0");
  EXPECT_EQ(port::dpdk_port_name("0000:03:00.0"), "0000:03:00.0");
}

TEST(Port, SymmetricKeyHashesBothDirectionsAlike) {
  auto k = port::symmetric_rss_key(40);
  // Toeplitz over (src, dst, sport, dport) as DPDK's software RSS computes it.
  for (std::uint32_t i = 0; i < 1000; ++i) {
    const std::uint32_t a = 0xc6120000u + i * 7919u, b = 0xc6130000u + i * 104729u;
    const std::uint16_t pa = static_cast<std::uint16_t>(1024 + i * 13), pb = 5061;
    std::uint32_t fwd[3] = {a, b, (std::uint32_t(pa) << 16) | pb};
    std::uint32_t rev[3] = {b, a, (std::uint32_t(pb) << 16) | pa};
    ASSERT_EQ(rte_softrss(fwd, 3, k.data()), rte_softrss(rev, 3, k.data())) << i;
  }
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
