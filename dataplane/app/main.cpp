// turnpike daemon: configuration, EAL, ports, workers, telemetry, signals.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <sys/random.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <filesystem>

#include "turnpike/config.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/control/store.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"
#include "turnpike/tls/engine.hpp"
#include "turnpike/log.hpp"
#include "turnpike/port/port.hpp"
#include "turnpike/worker/runtime.hpp"
#include "tls_setup.hpp"

using namespace turnpike;

namespace {

constexpr const char* kDefaultConfigPath = "/etc/turnpike/turnpike.toml";
std::atomic<bool> g_dump{false};
std::atomic<bool> g_reload{false};

void on_signal(int sig) {
  // relaxed: flags polled by the control loop; no data rides on them.
  if (sig == SIGUSR1) g_dump.store(true, std::memory_order_relaxed);
  else if (sig == SIGHUP) g_reload.store(true, std::memory_order_relaxed);
  else worker::g_stop.store(true, std::memory_order_relaxed);
}

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  std::vector<unsigned> out;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (unsigned i = 0; i < CPU_SETSIZE; ++i)
      if (CPU_ISSET(i, &set)) out.push_back(i);
  return out;
}

int run_daemon(Config cfg) {
  LogLevel lvl = LogLevel::Info;
  parse_log_level(cfg.log_level.c_str(), lvl);
  set_log_level(lvl);

  const std::vector<unsigned> cpus = allowed_cpus();
  std::vector<std::string> args = port::eal_argv(cfg, "turnpike", cpus);
  const port::Placement placement = port::plan_placement(cfg.workers, cpus, cfg.worker_cpus);
  bool own_lcores = false;
  for (auto& x : cfg.eal_args) own_lcores |= x.rfind("--lcores", 0) == 0 || x == "-l" || x == "-c";
  std::vector<char*> argv;
  std::string joined;
  for (auto& a : args) {
    argv.push_back(a.data());
    joined += " " + a;
  }
  log(LogLevel::Info, "EAL:%s", joined.c_str());
  if (rte_eal_init(int(argv.size()), argv.data()) < 0) {
    log(LogLevel::Error, "EAL initialisation failed: %s", rte_strerror(rte_errno));
    return 1;
  }
  if (rte_lcore_count() < cfg.workers + 1) {
    log(LogLevel::Error, "%u workers need %u lcores, EAL has %u (check eal.args --lcores)", cfg.workers,
        cfg.workers + 1, rte_lcore_count());
    rte_eal_cleanup();
    return 1;
  }

  auto rt = std::make_unique<worker::Runtime>();
  rt->config = cfg;
  if (!own_lcores) {
    rt->placement = placement.describe();
    rt->sharing = placement.sharing_warning();
    log(LogLevel::Info, "placement: %s", rt->placement.c_str());
    if (!rt->sharing.empty()) log(LogLevel::Warn, "%s", rt->sharing.c_str());
  } else {
    rt->placement = "eal.args sets the lcores";
  }
  rt->tsc_hz = rte_get_tsc_hz();
  const std::uint32_t nmbuf = cfg.mbufs_needed();
  rte_mempool* pool = rte_pktmbuf_pool_create("tp_mbuf", nmbuf, cfg.mbuf_cache, 0, cfg.mbuf_data_room,
                                              rte_socket_id());
  if (!pool) {
    log(LogLevel::Error, "mbuf pool of %u mbufs: %s", nmbuf, rte_strerror(rte_errno));
    rte_eal_cleanup();
    return 1;
  }
  int rc = 0;
  try {
    const std::uint32_t frames = port::af_packet_frames(cfg.tcp_max_connections, cfg.idle_max_sleep_us);
    for (auto& pc : cfg.ports) {
      const std::string dev = pc.is_vdev() ? port::effective_device(pc.device, cfg.workers, frames) : pc.device;
      port::PortInfo pi = port::setup_port(pc, dev, static_cast<std::uint16_t>(cfg.workers), pool);
      log(LogLevel::Info, "port %s: %s (%s) mac %s ipv4 %s/%u link %s %u Mb/s, %u queue(s), RSS %s, checksum offload rx %s tx %s",
          pi.name.c_str(), dev.c_str(), pi.driver.c_str(), pi.mac.to_string().c_str(),
          net::ipv4_to_string(pc.ipv4).c_str(), pc.prefix, pi.link_up ? "up" : "down", pi.link_speed_mbps, pi.queues,
          pi.rss ? "symmetric Toeplitz" : pi.rss_note.c_str(), pi.rx_csum_offload ? "on" : "off",
          pi.tx_csum_offload ? "on" : "off");
      if (pi.af_frames) {
        // Both rings (RX and TX) of every queue, framesz 2048 unless the device says otherwise.
        log(LogLevel::Info, "port %s: af_packet ring %u frames per queue%s; kernel ring drops %s", pi.name.c_str(),
            pi.af_frames, pc.device.find("framecnt=") == std::string::npos ? " (sized by turnpike: tcp.max_connections and the line rate)" : "",
            pi.kernel_ring ? "counted (PACKET_STATISTICS)" : "NOT visible (queue sockets not found)");
        if (pi.af_frames < 1024)
          log(LogLevel::Warn, "port %s: framecnt=%u is small: frames will be lost in the kernel under load",
              pi.name.c_str(), pi.af_frames);
      }
      rt->ports.push_back(pi);
      rt->neigh.push_back(std::make_unique<net::NeighborTable>(cfg.neigh_capacity, cfg.neigh_timeout_s * rt->tsc_hz));
    }
  } catch (const std::exception& e) {
    log(LogLevel::Error, "%s", e.what());
    rc = 1;
  }
  if (rc) {
    for (auto& p : rt->ports) port::stop_port(p.port_id);
    rte_eal_cleanup();
    return rc;
  }

  // SIP over TLS (eku-semantics.md): stores -> trust + server context.
  std::unique_ptr<control::EventSink> events;
  if (!cfg.events_file.empty()) {
    control::SinkOptions so;
    so.path = cfg.events_file;
    so.rate_per_second = cfg.events_rate_per_second;
    events = std::make_unique<control::EventSink>(so);
  }
  if (!rt->sharing.empty()) {
    control::EventLine ev{"Worker Placement", {{"Detail", rt->sharing}, {"Placement", rt->placement}}, 2};
    if (events) events->submit(ev);
    else log(LogLevel::Info, "event: %s", control::format_event(ev).c_str());
  }
  std::unique_ptr<control::StoreManager> stores;
  std::unique_ptr<control::VerdictCache> vcache;
  TlsSetup tlsset;  // the start-up setup: listeners and ports never change on reload
  TlsPublisher tls_pub;
  std::uint64_t trust_epoch = 1;
  if (!cfg.stores_dir.empty()) {
    control::StoreManager::Options so;
    so.dir = cfg.stores_dir;
    so.events = events.get();
    if (!events) so.on_event = [](const std::string& line) { log(LogLevel::Info, "event: %s", line.c_str()); };
    stores = std::make_unique<control::StoreManager>(so);
    std::string err = stores->load();
    if (err.empty() && !cfg.stores_eku_mode.empty()) {
      // "SIP TLS Certificate ExtendedKeyUsage Checking Mode" from the config.
      auto r = stores->apply_setting("eku_mode", cfg.stores_eku_mode, "config");
      if (!r.ok) err = r.error;
    }
    if (err.empty()) {
      vcache = std::make_unique<control::VerdictCache>(cfg.verdict_cache_entries);
      err = build_tls(cfg, *stores->snapshot(), *stores, vcache.get(), trust_epoch, nullptr, tlsset);
    }
    if (!err.empty()) {
      log(LogLevel::Error, "TLS (stores %s): %s", cfg.stores_dir.c_str(), err.c_str());
      rc = 1;
    }
    for (auto& n : tlsset.notes) log(LogLevel::Info, "TLS: %s", n.c_str());
    tls_pub.publish(std::make_shared<const TlsSetup>(tlsset));
    if (rc) {
      for (auto& p : rt->ports) port::stop_port(p.port_id);
      rte_eal_cleanup();
      return rc;
    }
  }
  auto emit_tls = [ev = events.get()](const control::TlsErrorEvent& e) {
    if (ev) ev->submit(e);
    else log(LogLevel::Info, "%s", control::format_tls_error_event(e).c_str());
  };
  auto emit_sip = [ev = events.get()](const control::EventLine& e) {
    if (ev) ev->submit(e, e.fields.size() > 1 ? std::string_view(e.fields[1].second) : std::string_view{});
    else log(LogLevel::Info, "%s", control::format_event(e).c_str());
  };

  std::vector<net::PortNet> pnets;
  for (std::size_t i = 0; i < cfg.ports.size(); ++i) {
    net::PortNet pn;
    pn.port_id = rt->ports[i].port_id;
    pn.mac = rt->ports[i].mac;
    pn.ip = cfg.ports[i].ipv4;
    pn.prefix = cfg.ports[i].prefix;
    pn.gateway = cfg.ports[i].gateway;
    pn.neigh = rt->neigh[i].get();
    pnets.push_back(pn);
  }
  const net::NetTimers timers{cfg.arp_retry_ms * rt->tsc_hz / 1000, cfg.arp_resolve_timeout_ms * rt->tsc_hz / 1000};
  const bool adaptive = cfg.idle_policy() == IdlePolicy::Adaptive;
  // Source address for active opens: the port on the destination's subnet,
  // else one with a gateway, else the first.
  auto source_for = [pnets](std::uint32_t dst) -> std::uint32_t {
    for (auto& p : pnets) {
      const std::uint32_t mask = ~std::uint32_t(0) << (32 - p.prefix);
      if ((dst & mask) == (p.ip & mask)) return p.ip;
    }
    for (auto& p : pnets)
      if (p.gateway) return p.ip;
    return pnets.empty() ? 0 : pnets[0].ip;
  };
  // Per-core TCP: one stack per worker; rings hand mis-steered segments to
  // their owner when the port cannot steer by symmetric RSS.
  tcp::Config tcfg;
  std::uint16_t mtu = 9000;
  for (auto& p : cfg.ports) mtu = std::min(mtu, p.mtu);
  tcfg.mss = static_cast<std::uint16_t>(mtu - 40);  // RFC 9293 §3.7.1: MTU minus IPv4 and TCP headers
  tcfg.rcvbuf = cfg.tcp_rcvbuf;
  tcfg.sndbuf = cfg.tcp_sndbuf;
  tcfg.max_connections = cfg.tcp_max_connections;
  tcfg.max_chunks = static_cast<std::uint32_t>((std::uint64_t(cfg.tcp_max_buffer_mb) << 20) / tcfg.chunk_size);
  tcfg.time_wait_us = std::uint64_t(cfg.tcp_time_wait_ms) * 1000;
  // RFC 6528: the ISN secret is random per boot.
  if (getrandom(&tcfg.secret, sizeof tcfg.secret, 0) != sizeof tcfg.secret)
    log(LogLevel::Warn, "getrandom failed: ISN secret is the compiled default");
  std::vector<rte_ring*> rings;
  if (cfg.workers > 1)
    for (unsigned i = 0; i < cfg.workers; ++i) {
      rte_ring* r = rte_ring_create(("tp_steer" + std::to_string(i)).c_str(), 4096, rte_socket_id(), RING_F_SC_DEQ);
      if (!r) {
        log(LogLevel::Error, "steering ring: %s", rte_strerror(rte_errno));
        return 1;
      }
      rings.push_back(r);
    }
  unsigned lcore = rte_get_next_lcore(-1, 1, 0);
  for (unsigned i = 0; i < cfg.workers; ++i, lcore = rte_get_next_lcore(lcore, 1, 0)) {
    auto w = std::make_unique<worker::Worker>();
    w->index = i;
    w->lcore = lcore;
    w->queue = static_cast<std::uint16_t>(i);
    w->tsc_hz = rt->tsc_hz;
    w->announce = i == 0;
    w->idle = {adaptive, cfg.idle_empty_polls, cfg.idle_max_sleep_us};
    for (auto& p : rt->ports) w->port_ids.push_back(p.port_id);
    const std::uint16_t q = w->queue;
    std::vector<std::uint16_t> ids = w->port_ids;
    w->net = std::make_unique<net::NetWorker>(
        pnets, pool,
        [ids, q](std::uint16_t p, rte_mbuf** pkts, std::uint16_t n) { return rte_eth_tx_burst(ids[p], q, pkts, n); },
        cfg.neigh_pending_max, timers);
    bool tx_offload = true;
    for (auto& p : rt->ports) tx_offload &= p.tx_csum_offload;
    w->tcp = std::make_unique<worker::TcpGlue>(*w->net, pool, tcfg, rt->tsc_hz, i, rings,
                                               rt->ports[0].rss ? rt->ports[0].reta_size : 0, tx_offload);
    worker::TcpGlue* glue = w->tcp.get();
    w->net->set_l4_handler([glue](std::uint16_t port, rte_mbuf* m, const net::Ipv4Hdr& ip, std::uint64_t now) {
      return glue->on_ipv4(port, m, ip, now);
    });
    for (auto [ports, discard] : {std::pair{&cfg.echo_ports, false}, std::pair{&cfg.discard_ports, true}})
      for (std::uint16_t port : *ports) {
        std::unique_ptr<tcp::Listener> svc;
        if (discard) svc = std::make_unique<tcp::DiscardService>();
        else svc = std::make_unique<tcp::EchoService>();
        if (int rc = glue->stack().listen(0, port, *svc); rc != 0) {
          log(LogLevel::Error, "%s service on port %u: %s", discard ? "discard" : "echo", port, rte_strerror(-rc));
          return 1;
        }
        w->services.push_back(std::move(svc));
      }
    for (auto& rl : cfg.relays) {
      auto relay = std::make_unique<proxy::TcpRelay>(rl.ip, rl.port);
      if (int rc2 = glue->stack().listen(0, rl.listen_port, *relay); rc2 != 0) {
        log(LogLevel::Error, "relay on port %u: %s", rl.listen_port, rte_strerror(-rc2));
        return 1;
      }
      w->relays.push_back(std::move(relay));
    }
    if (!tlsset.listeners.empty()) {
      proxy::BackendPoolOptions bo;
      for (auto [ip, port] : cfg.sip_backends) bo.backends.push_back(proxy::Backend{ip, port});
      bo.balance = cfg.sip_balance == "least-connections" ? proxy::Balance::LeastConnections : proxy::Balance::RoundRobin;
      bo.retry_us = std::uint64_t(cfg.sip_backend_retry_ms) * 1000;
      bo.check_interval_us = std::uint64_t(cfg.sip_health_interval_ms) * 1000;
      bo.check_timeout_us = std::uint64_t(cfg.sip_health_timeout_ms) * 1000;
      bo.source_for = source_for;
      bo.proxy_v2_local = cfg.sip_proxy_v2;
      w->backends = std::make_unique<proxy::BackendPool>(glue->stack(), std::move(bo));
    }
    for (std::size_t li = 0; li < tlsset.listeners.size(); ++li) {
      const auto& l = tlsset.listeners[li];
      proxy::SipProxyOptions so;
      so.proxy_v2 = cfg.sip_proxy_v2;
      so.limits.max_header = cfg.sip_max_header;
      so.limits.max_body = cfg.sip_max_body;
      so.answer_keepalive = cfg.sip_keepalive_pong;
      so.handshake_timeout_us = std::uint64_t(l.handshake_timeout_ms) * 1000;
      if (cfg.sip_backend_tls) {
        so.backend_tls = [rd = std::make_shared<TlsPublisher::Reader>(TlsPublisher::Reader{&tls_pub})] {
          const TlsSetup* t = rd->get();
          return t ? t->client_ctx : nullptr;
        };
        so.backend_tls_name = cfg.sip_backend_tls_name;
      }
      auto sp = std::make_unique<proxy::SipProxy>(
          *w->backends,
          [rd = std::make_shared<TlsPublisher::Reader>(TlsPublisher::Reader{&tls_pub}), li] {
            const TlsSetup* t = rd->get();
            return t ? t->listener_ctx[li] : nullptr;
          },
          so, emit_tls, emit_sip);
      if (int rc2 = glue->stack().listen(l.ip, l.port, *sp); rc2 != 0) {
        log(LogLevel::Error, "SIP TLS listener on %s:%u: %s", net::ipv4_to_string(l.ip).c_str(), l.port,
            rte_strerror(-rc2));
        return 1;
      }
      w->sip.push_back(std::move(sp));
    }
    for (auto& route : cfg.egress) {
      proxy::EgressOptions eo;
      eo.remote_ip = route.ip;
      eo.remote_port = route.port;
      eo.source_ip = source_for(route.ip);
      eo.name = route.name;
      eo.handshake_timeout_us = std::uint64_t(cfg.egress_handshake_timeout_ms) * 1000;
      auto eg = std::make_unique<proxy::Egress>(
          [rd = std::make_shared<TlsPublisher::Reader>(TlsPublisher::Reader{&tls_pub})] {
            const TlsSetup* t = rd->get();
            return t ? t->client_ctx : nullptr;
          },
          eo, emit_tls);
      if (int rc2 = glue->stack().listen(0, route.listen_port, *eg); rc2 != 0) {
        log(LogLevel::Error, "egress listener on port %u: %s", route.listen_port, rte_strerror(-rc2));
        return 1;
      }
      w->egress.push_back(std::move(eg));
    }
    rt->workers.push_back(std::move(w));
  }
  worker::register_telemetry(*rt);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  for (auto& w : rt->workers) rte_eal_remote_launch(worker::run, w.get(), w->lcore);
  std::string svcs;
  for (auto p : cfg.echo_ports) svcs += " echo:" + std::to_string(p);
  for (auto p : cfg.discard_ports) svcs += " discard:" + std::to_string(p);
  for (auto& l : tlsset.listeners)
    svcs += " sip-tls:" + (l.ip ? net::ipv4_to_string(l.ip) + ":" : "") + std::to_string(l.port);
  if (!tlsset.listeners.empty())
    svcs += " (" + std::to_string(cfg.sip_backends.size()) + " backend(s), " + cfg.sip_balance +
            (cfg.sip_backend_tls ? ", TLS to backends" : "") + ")";
  for (auto& e : cfg.egress)
    svcs += " egress:" + std::to_string(e.listen_port) + "->tls:" + net::ipv4_to_string(e.ip) + ":" +
            std::to_string(e.port) + (e.name.empty() ? "" : "(" + e.name + ")");
  for (auto& rl : cfg.relays)
    svcs += " relay:" + std::to_string(rl.listen_port) + "->" + net::ipv4_to_string(rl.ip) + ":" + std::to_string(rl.port);
  log(LogLevel::Info, "ready: %u worker(s) (%s%s), idle policy %s, tcp mss %u%s; telemetry: dpdk-telemetry.py -f %s, /turnpike/stats",
      cfg.workers, rt->placement.c_str(), rt->sharing.empty() ? "" : "; WORKERS SHARE A CPU",
      adaptive ? "adaptive" : "poll", tcfg.mss, svcs.c_str(), cfg.file_prefix.c_str());

  std::uint64_t last_expire = rte_get_tsc_cycles(), last_stats = last_expire;
  while (!worker::g_stop.load(std::memory_order_relaxed)) {
    usleep(50 * 1000);
    const std::uint64_t now = rte_get_tsc_cycles();
    if (g_reload.exchange(false, std::memory_order_relaxed)) {
      if (!stores) {
        log(LogLevel::Warn, "SIGHUP: no stores configured, nothing to reload");
      } else {
        // Re-read the stores (e.g. after turnpike-certs changed them) and
        // publish new contexts; on any error the old ones stay.
        auto before = stores->snapshot();
        std::string err = stores->load();
        auto snap = stores->snapshot();
        const bool trust_changed = snap->ca_pem != before->ca_pem || snap->crls != before->crls;
        auto next = std::make_shared<TlsSetup>();
        if (err.empty())
          err = build_tls(cfg, *snap, *stores, vcache.get(), trust_changed ? trust_epoch + 1 : trust_epoch,
                          tls_pub.get()->tickets, *next);
        if (!err.empty()) {
          log(LogLevel::Error, "SIGHUP: reload refused, the running certificates stay: %s", err.c_str());
        } else {
          if (trust_changed) ++trust_epoch;  // cached chain verdicts of the old trust no longer count
          for (auto& n : next->notes) log(LogLevel::Info, "TLS (reload): %s", n.c_str());
          tls_pub.publish(std::move(next));
          log(LogLevel::Info, "SIGHUP: stores generation %llu published (trust epoch %llu); open connections keep their session",
              static_cast<unsigned long long>(snap->generation), static_cast<unsigned long long>(trust_epoch));
        }
      }
    }
    if (g_dump.exchange(false, std::memory_order_relaxed)) {
      log(LogLevel::Info, "counters (SIGUSR1):\n%s", worker::format_stats(*rt).c_str());
    }
    if (now - last_expire > rt->tsc_hz) {
      // Ticket keys age on the control thread; handshakes read them lock-free.
      if (tlsset.tickets) tlsset.tickets->rotate(static_cast<std::int64_t>(std::time(nullptr)));  // shared by reloads
      // The control thread ages neighbours: a CAS-locked write off the fast path.
      for (auto& n : rt->neigh) n->expire(now);
      last_expire = now;
    }
    if (cfg.stats_interval_s && now - last_stats > cfg.stats_interval_s * rt->tsc_hz) {
      log(LogLevel::Info, "counters:\n%s", worker::format_stats(*rt).c_str());
      last_stats = now;
    }
  }
  log(LogLevel::Info, "stopping");
  rte_eal_mp_wait_lcore();
  log(LogLevel::Info, "final counters:\n%s", worker::format_stats(*rt).c_str());
  rt->workers.clear();
  if (events) events->flush();
  for (auto* r : rings) rte_ring_free(r);
  for (auto& p : rt->ports) port::stop_port(p.port_id);
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"turnpike: kernel-bypass SIP-over-TLS edge proxy"};
  std::string config_path;
  bool check = false;
  std::vector<std::string> sets;
  unsigned workers = 0;
  std::string device, ipv4, gateway, log_level;
  app.add_option("-c,--config", config_path, std::string("TOML configuration (default ") + kDefaultConfigPath +
                                                 " if present, else the embedded net_tap demo config)");
  app.add_flag("--check-config", check, "Validate the configuration, print it and exit");
  app.add_option("-s,--set", sets, "Override a key: section.key=value or ports.N.key=value (repeatable)");
  app.add_option("-w,--workers", workers, "Worker lcores (one RX/TX queue each per port)")->check(CLI::Range(1, 64));
  app.add_option("--device", device, "Device of port 0 (vdev string or PCI address)");
  app.add_option("--ipv4", ipv4, "Address/prefix of port 0");
  app.add_option("--gateway", gateway, "Default gateway of port 0");
  app.add_option("--log-level", log_level, "debug | info | warn | error");
  app.set_version_flag("--version", "turnpike 0.1.0");
  CLI11_PARSE(app, argc, argv);

  Config cfg;
  try {
    if (config_path.empty() && std::filesystem::exists(kDefaultConfigPath)) config_path = kDefaultConfigPath;
    cfg = config_path.empty() ? default_config() : load_config_file(config_path);
    for (auto& s : sets) apply_override(cfg, s);
    if (workers) apply_override(cfg, "workers.count=" + std::to_string(workers));
    if (!device.empty()) apply_override(cfg, "ports.0.device=" + device);
    if (!ipv4.empty()) apply_override(cfg, "ports.0.ipv4=" + ipv4);
    if (!gateway.empty()) apply_override(cfg, "ports.0.gateway=" + gateway);
    if (!log_level.empty()) apply_override(cfg, "eal.log_level=" + log_level);
    validate(cfg);
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "turnpike: configuration error: %s\n", e.what());
    return 2;
  }
  if (check) {
    std::printf("%s%s: configuration OK\n", describe(cfg).c_str(),
                config_path.empty() ? "embedded default" : config_path.c_str());
    return 0;
  }
  return run_daemon(std::move(cfg));
}
