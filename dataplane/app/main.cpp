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
#include <functional>

#include "turnpike/app/config.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/control/metrics.hpp"
#include "turnpike/control/plane.hpp"
#include "turnpike/control/socket.hpp"
#include "turnpike/log.hpp"
#include "turnpike/port/port.hpp"
#include "turnpike/worker/metrics.hpp"
#include "turnpike/worker/rcu.hpp"
#include "turnpike/worker/runtime.hpp"
#include "turnpike/worker/telemetry.hpp"
#include "control_hooks.hpp"
#include "diagnostics.hpp"
#include "turnpike/diag/mbuf_capture.hpp"
#include "options.hpp"
#include "plane_settings.hpp"
#include "sizing.hpp"

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

int run_daemon(Config cfg, const ConfigLoader& reload_config) {
  LogLevel lvl = LogLevel::Info;
  parse_log_level(cfg.log_level.c_str(), lvl);
  set_log_level(lvl);

  const std::vector<unsigned> cpus = allowed_cpus();
  const port::Options popt = port_options(cfg);
  std::vector<std::string> args = port::eal_argv(popt, "turnpike", cpus);
  const port::Placement placement = port::plan_placement(popt.workers, cpus, popt.worker_cpus);
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
  describe_to(*rt, cfg);
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
  rte_mempool* pool = port::create_mbuf_pool(popt, "tp_mbuf", nmbuf, cfg.mbuf_cache, cfg.mbuf_data_room,
                                             rte_socket_id());
  if (!pool) {
    log(LogLevel::Error, "mbuf pool of %u mbufs: %s", nmbuf, rte_strerror(rte_errno));
    rte_eal_cleanup();
    return 1;
  }
  int rc = 0;
  try {
    const std::uint32_t frames = popt.af_frames();
    for (auto& pc : popt.ports) {
      const std::vector<std::string> devs =
          pc.is_vdev() ? port::effective_devices(pc.device, cfg.workers, frames) : std::vector<std::string>{pc.device};
      port::PortInfo pi = port::setup_port(pc, devs, static_cast<std::uint16_t>(cfg.workers), pool);
      const std::string& dev = pi.device;
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
    for (auto& p : rt->ports) port::stop_port(p);
    rte_eal_cleanup();
    return rc;
  }

  // SIP over TLS (docs/eku-semantics.md): the control plane owns the stores and
  // publishes one snapshot that every worker reads once per iteration.
  // Always a sink: without [events] its writer thread logs the lines, so a
  // worker never writes to stderr itself (it only pushes to the queue).
  std::unique_ptr<control::EventSink> events;
  {
    control::SinkOptions so = sink_options(cfg);
    if (cfg.events_file.empty())
      so.writer = [](std::string_view line) {
        log(LogLevel::Info, "event: %.*s", static_cast<int>(line.size()), line.data());
      };
    events = std::make_unique<control::EventSink>(so);
  }
  if (!rt->sharing.empty()) {
    control::EventLine ev{"Worker Placement", {{"Detail", rt->sharing}, {"Placement", rt->placement}}, 2};
    events->submit(ev);
  }
  auto grace = std::make_unique<worker::QsbrGrace>(cfg.workers);
  std::unique_ptr<control::Plane> plane;
  std::vector<Config::SipListener> listeners;
  if (!cfg.stores_dir.empty()) {
    control::Plane::Options po = plane_options(cfg);
    po.events = events.get();
    plane = std::make_unique<control::Plane>(po, tls_settings(cfg), *grace);
    std::string err = plane->start();
    if (!err.empty()) {
      log(LogLevel::Error, "TLS (stores %s): %s", cfg.stores_dir.c_str(), err.c_str());
      for (auto& p : rt->ports) port::stop_port(p);
      rte_eal_cleanup();
      return 1;
    }
    for (auto& n : plane->publisher().current_shared()->notes) log(LogLevel::Info, "TLS: %s", n.c_str());
    listeners = cfg.effective_listeners();
  }
  // Workers hand their events to this thread through one single-producer
  // ring each (no shared queue, no wake-up system call on the fast path);
  // the control loop drains them into the sink, which rate-limits and writes.
  std::vector<std::unique_ptr<control::EventRing>> event_rings;
  for (unsigned i = 0; i < cfg.workers; ++i) event_rings.push_back(std::make_unique<control::EventRing>());
  for (auto& r : event_rings) rt->event_rings.push_back(r.get());
  auto drain_events = [&] {
    for (auto& r : event_rings)
      r->drain([&](std::string_view kind, std::string_view source, std::string_view line) {
        if (kind == control::kRecordRemoteCertificate) {  // for the audit, never written
          control::WouldFailSighting w;
          if (plane && control::decode_sighting(source, w)) plane->remote_certs().note(w);
          return;
        }
        if (kind == control::kEventInboundEkuWouldFail) {
          control::WouldFailSighting w;
          // A refused sighting (item 4) only feeds the table: note() says no.
          if (!plane || !control::decode_sighting(source, w) || !plane->would_fail().note(w)) return;
          source = w.src_ip;  // the sink's own rate limit is per peer address
        }
        events->submit(kind, source, line);
      });
  };

  // IPv6 of each port that has it: addresses, their DAD state and the ND
  // cache, shared by the port's workers (which stop before this goes).
  std::vector<std::unique_ptr<net::Ipv6Port>> v6ports(cfg.ports.size());
  std::vector<net::PortNet> pnets;
  for (std::size_t i = 0; i < cfg.ports.size(); ++i) {
    net::PortNet pn;
    pn.port_id = rt->ports[i].port_id;
    pn.mac = rt->ports[i].mac;
    pn.ip = cfg.ports[i].ipv4;
    pn.prefix = cfg.ports[i].prefix;
    pn.gateway = cfg.ports[i].gateway;
    pn.neigh = rt->neigh[i].get();
    if (cfg.ports[i].has_ipv6()) {
      net::Ipv6Options o;
      o.address = cfg.ports[i].ipv6;
      o.prefix = cfg.ports[i].ipv6_prefix;
      o.gateway = cfg.ports[i].ipv6_gateway;
      o.neigh_capacity = cfg.neigh_capacity;
      o.neigh_timeout = cfg.neigh_timeout_s * rt->tsc_hz;
      v6ports[i] = std::make_unique<net::Ipv6Port>(pn.mac, o);
      pn.v6 = v6ports[i].get();
      log(LogLevel::Info, "port %s: IPv6 %s/%u and %s (DAD at start)", rt->ports[i].name.c_str(),
          o.address.to_string().c_str(), unsigned(o.prefix),
          pn.v6->addr(net::Ipv6Port::kLinkLocal).to_string().c_str());
    }
    pnets.push_back(pn);
  }
  const net::NetTimers timers = net_timers(cfg, rt->tsc_hz);
  const worker::IdleParams idle = idle_params(cfg);
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
  // The same for IPv6, asked at each connect (an address becomes usable
  // after DAD): the port with the destination on-link, else one with an
  // IPv6 gateway, else the first with IPv6; its address of the right scope
  // (Ipv6Port::source_for). nullopt: no IPv6 port, or not usable yet.
  auto source6_for = [pnets](const net::Ipv6Addr& dst) -> std::optional<net::Ipv6Addr> {
    const net::Ipv6Port* pick = nullptr;
    for (auto& p : pnets)
      if (p.v6 && !pick && p.v6->on_link(dst)) pick = p.v6;
    for (auto& p : pnets)
      if (p.v6 && !pick && !p.v6->options().gateway.is_unspecified()) pick = p.v6;
    for (auto& p : pnets)
      if (p.v6 && !pick) pick = p.v6;
    const net::Ipv6Addr* s = pick ? pick->source_for(dst) : nullptr;
    if (!s) return std::nullopt;
    return *s;
  };
  // Per-core TCP: one stack per worker; rings hand mis-steered segments to
  // their owner when the port cannot steer by symmetric RSS.
  tcp::Config tcfg = tcp_options(cfg);
  tls::set_hibernate_after(tls_hibernate_after_us(cfg));
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
    control::EventRing* er = event_rings[i].get();
    auto emit_tls = [er](const control::TlsErrorEvent& e) {
      char buf[control::EventSink::kMaxLine];
      const std::size_t n = control::format_tls_error_event(e, buf, sizeof buf);
      if (n) er->push(e.event, e.src_ip, {buf, n});  // never blocks: a full ring is counted
      else er->drop_long();
    };
    auto remote_seen = [er](const control::WouldFailSighting& w) {
      char rec[768];
      const std::size_t m = control::encode_sighting(w, rec, sizeof rec);
      if (m) er->push(control::kRecordRemoteCertificate, {rec, m}, {});
      else er->drop_long();
    };
    auto emit_sip = [er](const control::EventLine& e) {
      er->push(e.kind, e.fields.size() > 1 ? std::string_view(e.fields[1].second) : std::string_view{},
               control::format_event(e));
    };
    w->index = i;
    w->lcore = lcore;
    w->queue = static_cast<std::uint16_t>(i);
    w->tsc_hz = rt->tsc_hz;
    w->announce = i == 0;
    w->idle = idle;
    for (auto& p : rt->ports) {
      w->port_ids.push_back(p.port_of(i));
      w->queue_ids.push_back(p.queue_of(i));
    }
    std::vector<std::uint16_t> ids = w->port_ids, qs = w->queue_ids;
    worker::Worker* self = w.get();
    w->net = std::make_unique<net::NetWorker>(
        pnets, pool,
        [ids, qs, self](std::uint16_t p, rte_mbuf** pkts, std::uint16_t n) {
          // Diagnostics capture: copied before the NIC owns the frames.
          if (self->cap) [[unlikely]] diag::capture_burst(*self->cap, p, diag::Dir::Out, pkts, n, rte_rdtsc());
          return rte_eth_tx_burst(ids[p], qs[p], pkts, n);
        },
        cfg.neigh_pending_max, timers);
    bool tx_offload = true;
    for (auto& p : rt->ports) tx_offload &= p.tx_csum_offload;
    w->tcp = std::make_unique<glue::TcpGlue>(*w->net, pool, tcfg, rt->tsc_hz, i, rings,
                                               rt->ports[0].rss ? rt->ports[0].reta_size : 0, tx_offload);
    glue::TcpGlue* glue = w->tcp.get();
    w->net->set_l4_handler([glue](std::uint16_t port, rte_mbuf* m, const net::Ipv4Hdr& ip, std::uint64_t now) {
      return glue->on_ipv4(port, m, ip, now);
    });
    w->net->set_l6_handler([glue](std::uint16_t port, rte_mbuf* m, const net::Ipv6Hdr& ip, std::uint64_t now) {
      return glue->on_ipv6(port, m, ip, now);
    });
    for (auto [ports, discard] : {std::pair{&cfg.echo_ports, false}, std::pair{&cfg.discard_ports, true}})
      for (std::uint16_t port : *ports) {
        std::unique_ptr<tcp::Listener> svc;
        if (discard) svc = std::make_unique<tcp::DiscardService>();
        else svc = std::make_unique<tcp::EchoService>();
        // [::]: both families (IPv4 and IPv6 peers alike).
        if (int rc = glue->stack().listen(tcp::Addr::any6(), port, *svc); rc != 0) {
          log(LogLevel::Error, "%s service on port %u: %s", discard ? "discard" : "echo", port, rte_strerror(-rc));
          return 1;
        }
        w->services.push_back(std::move(svc));
      }
    for (auto& rl : cfg.relays) {
      // The target's family picks the source (an IPv6 client to an IPv4
      // target leaves from an IPv4 address, and the reverse).
      auto relay = std::make_unique<proxy::TcpRelay>(
          rl.ip, rl.port, [source_for, source6_for](const tcp::Addr& t) -> std::optional<tcp::Addr> {
            if (t.is_v4()) {
              const std::uint32_t s = source_for(t.v4());
              return s ? std::optional<tcp::Addr>(s) : std::nullopt;
            }
            const auto s6 = source6_for(t.v6());
            return s6 ? std::optional<tcp::Addr>(*s6) : std::nullopt;
          });
      // [::]: clients of both families.
      if (int rc2 = glue->stack().listen(tcp::Addr::any6(), rl.listen_port, *relay); rc2 != 0) {
        log(LogLevel::Error, "relay on port %u: %s", rl.listen_port, rte_strerror(-rc2));
        return 1;
      }
      w->relays.push_back(std::move(relay));
    }
    w->pub = plane ? &plane->publisher() : nullptr;
    w->rcu = grace.get();
    worker::Worker* wp = w.get();
    if (!listeners.empty()) {
      proxy::BackendPoolOptions bo = backend_pool_options(cfg);
      bo.source_for = source_for;
      bo.source6_for = source6_for;
      w->backends = std::make_unique<proxy::BackendPool>(glue->stack(), std::move(bo));
    }
    for (std::size_t li = 0; li < listeners.size(); ++li) {
      const auto& l = listeners[li];
      proxy::SipProxyOptions so = sip_proxy_options(cfg, l);
      so.remote_seen = remote_seen;
      // The peer record rides in the ring's source field; the control loop
      // keeps the peer and lets one event per fingerprint per hour through.
      so.would_fail = [er](const control::TlsErrorEvent& e, const control::WouldFailSighting& w) {
        char line[control::EventSink::kMaxLine], rec[768];
        // A refused peer's line is never written: carry none.
        const std::size_t n = w.refused ? 0 : control::format_tls_error_event(e, line, sizeof line);
        const std::size_t m = control::encode_sighting(w, rec, sizeof rec);
        if ((n || w.refused) && m) er->push(e.event, {rec, m}, {line, n});
        else er->drop_long();
      };
      if (cfg.sip_backend_tls) {
        // The snapshot this worker loaded for the current iteration.
        so.backend_tls = [wp]() -> std::shared_ptr<const tls::Context> {
          return wp->snap ? wp->snap->client_ctx : nullptr;
        };
      }
      auto sp = std::make_unique<proxy::SipProxy>(
          *w->backends,
          [wp, li]() -> std::shared_ptr<const tls::Context> {
            return wp->snap && li < wp->snap->listener_ctx.size() ? wp->snap->listener_ctx[li] : nullptr;
          },
          so, emit_tls, emit_sip);
      if (int rc2 = glue->stack().listen(l.v6 ? tcp::Addr(l.ip6) : tcp::Addr(l.ip), l.port, *sp); rc2 != 0) {
        log(LogLevel::Error, "SIP TLS listener on %s: %s", l.endpoint().c_str(), rte_strerror(-rc2));
        return 1;
      }
      w->sip.push_back(std::move(sp));
    }
    for (auto& route : cfg.egress) {
      proxy::EgressOptions eo = egress_options(cfg, route);
      if (route.ip.is_v4()) eo.source_ip = source_for(route.ip.v4());
      else eo.source6_for = source6_for;
      eo.remote_seen = remote_seen;
      auto eg = std::make_unique<proxy::Egress>(
          [wp]() -> std::shared_ptr<const tls::Context> { return wp->snap ? wp->snap->client_ctx : nullptr; },
          eo, emit_tls);
      if (int rc2 = glue->stack().listen(tcp::Addr::any6(), route.listen_port, *eg); rc2 != 0) {
        log(LogLevel::Error, "egress listener on port %u: %s", route.listen_port, rte_strerror(-rc2));
        return 1;
      }
      w->egress.push_back(std::move(eg));
    }
    rt->workers.push_back(std::move(w));
  }
  rt->snapshots = plane ? &plane->publisher() : nullptr;
  worker::register_telemetry(*rt);

  // The control socket (turnpikectl): served by this thread from the loop
  // below, never by a worker. Needs the stores (its changes are Plane
  // transactions).
  std::unique_ptr<control::ControlServer> ctl;
  // xCommand Diagnostics Snapshot: driven from the loop below.
  auto diagnostics = std::make_unique<Diagnostics>(cfg, *rt, *grace, plane.get(), events.get());
  if (plane && (!cfg.control_socket_path().empty() || !cfg.control_readonly_path().empty())) {
    control::ControlOptions co = control_options(cfg);
    control::ControlHooks hooks;
    hooks.status = [&rt = *rt] { return dataplane_status(rt); };
    hooks.config = [&cfg] { return config_items(cfg); };
    hooks.diagnostics = [d = diagnostics.get()](control::DiagnosticsRequest req,
                                                std::function<void(control::DiagnosticsResult)> done) {
      return d->start(std::move(req), std::move(done));
    };
    hooks.reload = [&, p = plane.get()](const std::string& source) {
      return reload_config_file(p, cfg, reload_config, source.c_str());
    };
    ctl = std::make_unique<control::ControlServer>(*plane, std::move(hooks), co);
    if (std::string err = ctl->open(); !err.empty()) {
      log(LogLevel::Error, "control socket: %s", err.c_str());
      for (auto& p : rt->ports) port::stop_port(p);
      rte_eal_cleanup();
      return 1;
    }
    log(LogLevel::Info, "control socket %s (read-only %s), mode %04o%s%s", co.path.empty() ? "off" : co.path.c_str(),
        co.readonly_path.empty() ? "off" : co.readonly_path.c_str(), cfg.control_mode,
        co.group.empty() ? "" : ", group ", co.group.c_str());
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);

  for (auto& w : rt->workers) rte_eal_remote_launch(worker::run, w.get(), w->lcore);
  // Prometheus /metrics (docs/metrics.md): civetweb's one thread renders
  // from the Runtime with relaxed reads only, never a lock a worker takes.
  // A listener that cannot bind is reported, not fatal: the data plane runs.
  control::metrics::Server metrics;
  if (cfg.metrics_listen != "off") {
    std::string why;
    if (const auto ep = net::parse_endpoint(cfg.metrics_listen))  // the config checked it
      why = metrics.start(net::ipv4_to_string(ep->ip), ep->port, [&r = *rt] { return worker::render_metrics(r); });
    else
      why = "metrics.listen: \"" + cfg.metrics_listen + "\" is not ip:port";
    if (why.empty()) {
      log(LogLevel::Info, "metrics: http://%s/metrics", cfg.metrics_listen.c_str());
    } else {
      log(LogLevel::Error, "metrics listener not started: %s", why.c_str());
      events->submit(control::EventLine{"Metrics Listener Error", {{"Detail", why}}, 2});
    }
  }
  std::string svcs;
  for (auto p : cfg.echo_ports) svcs += " echo:" + std::to_string(p);
  for (auto p : cfg.discard_ports) svcs += " discard:" + std::to_string(p);
  for (auto& l : listeners)
    svcs += " sip-tls:" + (l.v6 ? l.endpoint() : (l.ip ? net::ipv4_to_string(l.ip) + ":" : "") + std::to_string(l.port));
  if (!listeners.empty())
    svcs += " (" + std::to_string(cfg.sip_backends.size()) + " backend(s), " + cfg.sip_balance +
            (cfg.sip_backend_tls ? ", TLS to backends" : "") + ")";
  for (auto& e : cfg.egress)
    svcs += " egress:" + std::to_string(e.listen_port) + "->tls:" + endpoint_text(e.ip, e.port) +
            (e.name.empty() ? "" : "(" + e.name + ")");
  for (auto& rl : cfg.relays)
    svcs += " relay:" + std::to_string(rl.listen_port) + "->" + endpoint_text(rl.ip, rl.port);
  log(LogLevel::Info, "ready: %u worker(s) (%s%s), idle policy %s, tcp mss %u%s; telemetry: dpdk-telemetry.py -f %s, /turnpike/stats",
      cfg.workers, rt->placement.c_str(), rt->sharing.empty() ? "" : "; WORKERS SHARE A CPU",
      idle.adaptive ? "adaptive" : "poll", tcfg.mss, svcs.c_str(), cfg.file_prefix.c_str());

  std::uint64_t last_expire = rte_get_tsc_cycles(), last_stats = last_expire;
  while (!worker::g_stop.load(std::memory_order_relaxed)) {
    // The control socket's poll is this loop's 50 ms pause: a command is
    // answered at once, signals interrupt it, ticks keep their pace.
    if (ctl) ctl->poll(50);
    else usleep(50 * 1000);
    diagnostics->poll();
    const std::uint64_t now = rte_get_tsc_cycles();
    if (g_reload.exchange(false, std::memory_order_relaxed)) reload_config_file(plane.get(), cfg, reload_config, "SIGHUP");
    if (g_dump.exchange(false, std::memory_order_relaxed)) {
      log(LogLevel::Info, "counters (SIGUSR1):\n%s", worker::format_stats(*rt).c_str());
    }
    drain_events();
    if (plane) plane->publisher().reclaim();  // retired snapshots past their grace period
    if (now - last_expire > rt->tsc_hz) {
      if (plane) plane->tick(static_cast<std::int64_t>(std::time(nullptr)));
      // The control thread ages neighbours: a CAS-locked write off the fast path.
      for (auto& n : rt->neigh) n->expire(now);
      for (auto& v : v6ports)
        if (v) v->neigh().expire(now);
      last_expire = now;
    }
    if (cfg.stats_interval_s && now - last_stats > cfg.stats_interval_s * rt->tsc_hz) {
      log(LogLevel::Info, "counters:\n%s", worker::format_stats(*rt).c_str());
      last_stats = now;
    }
  }
  log(LogLevel::Info, "stopping");
  metrics.stop();  // joins civetweb: no scrape reads the Runtime after this
  ctl.reset();  // aborts an open transaction, removes the socket files
  rte_eal_mp_wait_lcore();
  diagnostics.reset();  // the workers are stopped: buffers detached, writer joined
  drain_events();
  log(LogLevel::Info, "final counters:\n%s", worker::format_stats(*rt).c_str());
  rt->workers.clear();
  if (events) events->flush();
  for (auto* r : rings) rte_ring_free(r);
  for (auto& p : rt->ports) port::stop_port(p);
  rte_mempool_free(pool);
  rte_eal_cleanup();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"turnpike: kernel-bypass SIP-over-TLS edge proxy"};
  std::string config_path;
  bool check = false, sample = false;
  std::vector<std::string> sets;
  unsigned workers = 0;
  std::string device, ipv4, gateway, log_level;
  app.add_option("-c,--config", config_path, std::string("TOML configuration (default ") + kDefaultConfigPath +
                                                 " if present, else the embedded net_tap demo config)");
  app.add_flag("--check-config", check, "Validate the configuration, print it and exit");
  app.add_flag("--sample-config", sample, "Print the documented sample configuration (every key, its default) and exit");
  app.add_option("-s,--set", sets, "Override a key: section.key=value or ports.N.key=value (repeatable)");
  app.add_option("-w,--workers", workers, "Worker lcores (one RX/TX queue each per port)")->check(CLI::Range(1, 64));
  app.add_option("--device", device, "Device of port 0 (vdev string or PCI address)");
  app.add_option("--ipv4", ipv4, "Address/prefix of port 0");
  app.add_option("--gateway", gateway, "Default gateway of port 0");
  app.add_option("--log-level", log_level, "debug | info | warn | error");
  app.set_version_flag("--version", "turnpike 0.1.0");
  CLI11_PARSE(app, argc, argv);

  if (sample) {
    std::fputs(sample_config().c_str(), stdout);
    return 0;
  }
  if (config_path.empty() && std::filesystem::exists(kDefaultConfigPath)) config_path = kDefaultConfigPath;
  // The same steps at start-up and on every reload (SIGHUP, turnpikectl).
  const ConfigLoader load = [=] {
    Config c = config_path.empty() ? default_config() : load_config_file(config_path);
    for (auto& s : sets) apply_override(c, s);
    if (workers) apply_override(c, "workers.count=" + std::to_string(workers));
    if (!device.empty()) apply_override(c, "ports.0.device=" + device);
    if (!ipv4.empty()) apply_override(c, "ports.0.ipv4=" + ipv4);
    if (!gateway.empty()) apply_override(c, "ports.0.gateway=" + gateway);
    if (!log_level.empty()) apply_override(c, "eal.log_level=" + log_level);
    validate(c);
    return c;
  };
  Config cfg;
  try {
    cfg = load();
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "turnpike: configuration error: %s\n", e.what());
    return 2;
  }
  if (check) {
    // What the config needs and what this host lacks (warnings only: the
    // unit's turnpike-prepare reserves hugepages after this check).
    const sizing::Host host = sizing::probe_host();
    std::printf("%s%s%s: configuration OK\n", describe(cfg).c_str(),
                sizing::report(cfg, sizing::compute(cfg, host.hugepage_size), host).c_str(),
                config_path.empty() ? "embedded default" : config_path.c_str());
    return 0;
  }
  return run_daemon(std::move(cfg), load);
}
