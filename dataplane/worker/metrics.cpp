// Prometheus families for everything DPDK telemetry shows (telemetry.cpp),
// named by Prometheus conventions (turnpike_ prefix, _total counters, base
// units) and HAProxy's exporter vocabulary for TLS. Counters stay per
// worker (label worker="N"): sum() gives telemetry's totals.
#include <rte_ethdev.h>
#include <rte_lcore.h>

#include <chrono>
#include <ctime>

#include "turnpike/control/expiry.hpp"
#include "turnpike/control/metrics.hpp"
#include "turnpike/tls/stats.hpp"
#include "turnpike/worker/metrics.hpp"

namespace turnpike::worker {

namespace {

using control::metrics::Labels;
using control::metrics::Type;
using control::metrics::Writer;

std::string wlabel(const Worker& w) { return std::to_string(w.index); }

unsigned lcore_cpu(unsigned lcore) {
  const rte_cpuset_t set = rte_lcore_cpuset(lcore);
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) return c;
  return 0;
}

// TLS counters of the SIP edge in HAProxy's words (haproxy_frontend_ssl_*,
// haproxy_process_current_ssl_connections); the rest keep telemetry's key.
struct Rename {
  const char* field;
  const char* name;
};
constexpr Rename kSipNames[] = {
    {"accepted", "turnpike_tls_connections_total"},
    {"handshakes_ok", "turnpike_tls_handshakes_total"},
    {"handshakes_failed", "turnpike_tls_failed_handshakes_total"},
    {"handshake_timeouts", "turnpike_tls_handshake_timeouts_total"},
    {"not_tls", "turnpike_tls_not_tls_refusals_total"},
    {"resumed", "turnpike_tls_reused_sessions_total"},
    // Issue 11 item 3: handshakes EKU mode Off accepted that mode On would refuse.
    {"eku_would_fail", "turnpike_tls_eku_would_fail_total"},
    {"sip_errors", "turnpike_sip_errors_total"},  // not turnpike_sip_sip_...
};

std::string sip_family(std::string_view field) {
  for (auto& r : kSipNames)
    if (r.field == field) return r.name;
  return "turnpike_sip_" + std::string(field) + "_total";
}

// Telemetry's backend keys (/turnpike/sip backend_picks, health_checks_ok)
// under turnpike_backend_.
std::string backend_family(std::string_view key) {
  if (key.starts_with("backend_")) key.remove_prefix(8);
  return "turnpike_backend_" + std::string(key) + "_total";
}

std::string help_with_key(std::string_view desc, std::string_view cmd, std::string_view key) {
  return std::string(desc) + " (telemetry " + std::string(cmd) + " " + std::string(key) + ")";
}

void ports(Writer& m, const Runtime& rt) {
  for (std::size_t i = 0; i < rt.ports.size(); ++i) {
    const auto& p = rt.ports[i];
    const auto& pc = rt.port_options[i];
    const std::string& port = p.name;
    for (auto& w : rt.workers) {
      if (i >= w->net->port_count()) continue;
      const net::PortStats& s = w->net->stats(static_cast<std::uint16_t>(i));
      const Labels l{{"port", port}, {"worker", wlabel(*w)}};
      s.for_each([&](std::string_view n, std::string_view d, std::uint64_t v) {
        m.counter("turnpike_port_" + std::string(n) + "_total", help_with_key(d, "/turnpike/stats", n), l, v);
      });
      s.for_each_drop([&](std::string_view why, std::string_view, std::uint64_t v) {
        m.counter("turnpike_port_dropped_frames_total",
                  "Frames dropped in software, by reason (telemetry /turnpike/stats drop_<reason>, /turnpike/drops)",
                  {{"port", port}, {"worker", wlabel(*w)}, {"reason", std::string(why)}}, v);
      });
    }
    // Below turnpike: the PMD and the af_packet kernel ring.
    const port::LossStats ls = port::read_loss(p);
    const Labels l{{"port", port}};
    m.counter("turnpike_port_lost_below_frames_total",
              "Frames lost below turnpike: PMD imissed+ierrors+rx_nombuf+oerrors and kernel ring drops "
              "(telemetry /turnpike/stats lost_below_total)",
              l, ls.total());
    m.counter("turnpike_port_pmd_imissed_total", "RX frames the NIC/queue had no descriptor for (PMD imissed)", l,
              ls.imissed);
    m.counter("turnpike_port_pmd_ierrors_total", "Bad RX frames dropped by the NIC (PMD ierrors)", l, ls.ierrors);
    m.counter("turnpike_port_pmd_rx_nombuf_total", "RX ring refills without an mbuf (PMD rx_nombuf)", l,
              ls.rx_nombuf);
    m.counter("turnpike_port_pmd_oerrors_total", "TX frames the PMD took but could not send (PMD oerrors)", l,
              ls.oerrors);
    for (std::size_t q = 0; q < ls.q_errors.size(); ++q)
      m.counter("turnpike_port_pmd_queue_errors_total", "RX errors per queue (PMD q_errors, telemetry pmd_qN_errors)",
                {{"port", port}, {"queue", std::to_string(q)}}, ls.q_errors[q]);
    if (ls.kernel_ring) {
      m.counter("turnpike_port_kernel_ring_packets_total",
                "Frames the kernel offered to the af_packet rings (PACKET_STATISTICS)", l, ls.ring_packets);
      m.counter("turnpike_port_kernel_ring_rollovers_total",
                "Frames moved to another queue's ring by fanout rollover", l, ls.ring_rollovers);
      for (std::size_t q = 0; q < ls.ring_drops_q.size(); ++q)
        m.counter("turnpike_port_kernel_ring_drops_total", "Frames the kernel dropped: af_packet ring full",
                  {{"port", port}, {"queue", std::to_string(q)}}, ls.ring_drops_q[q]);
    }
    // /turnpike/ports: configuration as an info metric, live values as gauges.
    rte_eth_link link{};
    rte_eth_link_get_nowait(p.port_id, &link);
    m.gauge("turnpike_port_info", "Port configuration (value 1; telemetry /turnpike/ports)",
            {{"port", port},
             {"port_id", std::to_string(p.port_id)},
             {"device", p.device.empty() ? pc.device : p.device},
             {"driver", p.driver},
             {"mac", p.mac.to_string()},
             {"ipv4", net::ipv4_to_string(pc.ipv4) + "/" + std::to_string(pc.prefix)},
             {"gateway", pc.gateway ? net::ipv4_to_string(pc.gateway) : "none"},
             {"rss", p.rss ? "symmetric-toeplitz" : p.rss_note}},
            1);
    m.gauge("turnpike_port_queues", "RX/TX queue pairs (one per worker)", l, p.queues);
    m.gauge("turnpike_port_link_up", "Link status, 1 up (read live)", l, link.link_status == RTE_ETH_LINK_UP ? 1 : 0);
    m.gauge("turnpike_port_link_speed_bytes_per_second", "Link speed (telemetry link_speed_mbps x 125000)", l,
            double(link.link_speed) * 125000.0);
    if (p.af_frames)
      m.gauge("turnpike_port_af_packet_frames_per_queue", "af_packet kernel ring size per queue", l, p.af_frames);
    m.gauge("turnpike_port_neighbors", "ARP table entries", l, rt.neigh[i]->size());
    m.counter("turnpike_port_neighbor_evictions_total", "ARP entries evicted from a full table", l,
              rt.neigh[i]->evictions());
    // IPv6 (ports with it): addresses as an info metric, the ND cache as
    // gauges like the ARP table's (telemetry /turnpike/ports ipv6*).
    const net::Ipv6Port* v6 =
        rt.workers.empty() || i >= rt.workers[0]->net->port_count() ? nullptr
                                                                    : rt.workers[0]->net->port(std::uint16_t(i)).v6;
    if (v6) {
      const net::Ipv6Addr& gw = v6->options().gateway;
      const bool global = v6->count() > net::Ipv6Port::kGlobal;
      m.gauge("turnpike_port_ipv6_info", "IPv6 addresses of the port (value 1; telemetry /turnpike/ports ipv6)",
              {{"port", port},
               {"address", global ? v6->addr(net::Ipv6Port::kGlobal).to_string() + "/" +
                                        std::to_string(v6->options().prefix)
                                  : "none"},
               {"link_local", v6->addr(net::Ipv6Port::kLinkLocal).to_string()},
               {"gateway", gw.is_unspecified() ? "none" : gw.to_string()}},
              1);
      m.gauge("turnpike_port_ipv6_address_usable",
              "1 once the port's IPv6 address passed DAD (link-local when it has no global one)", l,
              v6->usable(global ? net::Ipv6Port::kGlobal : net::Ipv6Port::kLinkLocal) ? 1 : 0);
      m.gauge("turnpike_port_ipv6_neighbors", "IPv6 neighbour cache entries (Neighbor Discovery)", l,
              v6->neigh().size());
      m.counter("turnpike_port_ipv6_neighbor_evictions_total", "IPv6 neighbour entries evicted from a full cache", l,
                v6->neigh().evictions());
    }
  }
}

void workers(Writer& m, const Runtime& rt) {
  const double hz = rt.tsc_hz ? double(rt.tsc_hz) : 1.0;
  m.gauge("turnpike_tsc_hertz", "TSC frequency the cycle counters are divided by (telemetry tsc_hz)", {},
          double(rt.tsc_hz));
  m.gauge("turnpike_workers_share_cpu", "1 when workers share a CPU (telemetry cpu_sharing)", {},
          rt.sharing.empty() ? 0.0 : 1.0);
  for (auto& w : rt.workers) {
    const Labels l{{"worker", wlabel(*w)}};
    m.gauge("turnpike_worker_info", "Worker placement (value 1; telemetry /turnpike/workers)",
            {{"worker", wlabel(*w)},
             {"lcore", std::to_string(w->lcore)},
             {"cpu", std::to_string(lcore_cpu(w->lcore))},
             {"queue", std::to_string(w->queue)}},
            1);
    m.counter("turnpike_worker_busy_seconds_total",
              "Time in loop iterations that moved packets (telemetry busy_cycles / tsc_hz)", l,
              double(w->cycles.busy.load()) / hz);
    m.counter("turnpike_worker_idle_poll_seconds_total", "Time in empty polls (telemetry idle_poll_cycles / tsc_hz)",
              l, double(w->cycles.idle_poll.load()) / hz);
    m.counter("turnpike_worker_sleep_seconds_total", "Time asleep when idle (telemetry sleep_cycles / tsc_hz)", l,
              double(w->cycles.sleep.load()) / hz);
    m.counter("turnpike_worker_busy_iterations_total", "Loop iterations that moved packets", l,
              w->cycles.busy_iterations.load());
    m.counter("turnpike_worker_idle_iterations_total", "Loop iterations that found nothing", l,
              w->cycles.idle_iterations.load());
    m.counter("turnpike_worker_sleeps_total", "Sleeps of the adaptive idle policy", l, w->cycles.sleeps.load());
    m.gauge("turnpike_worker_pending_arp", "Frames waiting for ARP resolution", l, double(w->net->pending()));
    m.gauge("turnpike_worker_snapshot_generation", "Data-plane snapshot generation this worker uses", l,
            double(w->snapshot_generation.load(std::memory_order_relaxed)));
    if (w->index < rt.event_rings.size()) {
      const control::EventRing& r = *rt.event_rings[w->index];
      m.counter("turnpike_worker_events_dropped_total",
                "Events this worker could not hand to the control thread (telemetry events_dropped_*)",
                {{"worker", wlabel(*w)}, {"reason", "ring_full"}}, r.dropped_full());
      m.counter("turnpike_worker_events_dropped_total", "", {{"worker", wlabel(*w)}, {"reason", "too_long"}},
                r.dropped_long());
    }
  }
}

void tcp_stack(Writer& m, const Runtime& rt) {
  for (auto& w : rt.workers) {
    if (!w->tcp) continue;
    const Labels l{{"worker", wlabel(*w)}};
    const auto& st = w->tcp->stack();
    m.gauge("turnpike_tcp_connections", "TCP connections (control blocks) open", l, double(st.connections()));
    m.gauge("turnpike_tcp_half_open", "Half-open passive connections (SYN received)", l, double(st.half_open()));
    m.gauge("turnpike_tcp_time_wait", "Compact TIME_WAIT entries", l, double(st.time_wait()));
    m.gauge("turnpike_tcp_buffer_chunks_in_use", "Send/receive buffer chunks in use", l, double(st.chunks_in_use()));
    // The glue's steering and send counters, then the stack's (telemetry
    // /turnpike/tcp shows both in one dictionary).
    const auto tcp_counter = [&](std::string_view n, std::string_view d, std::uint64_t v) {
      m.counter("turnpike_tcp_" + std::string(n) + "_total", help_with_key(d, "/turnpike/tcp", n), l, v);
    };
    w->tcp->stats().for_each(tcp_counter);
    st.counters().for_each(tcp_counter);
  }
}

void details(Writer& m, const char* family, const char* help, const proxy::DetailCounters& dc, Labels base) {
  for (std::size_t i = 0; i < dc.size(); ++i) {
    Labels l = base;
    l.emplace_back("detail", std::string(dc.name(i)));
    m.counter(family, help, l, dc.count(i));
  }
  if (dc.other()) {
    base.emplace_back("detail", "other");
    m.counter(family, help, base, dc.other());
  }
}

void sip(Writer& m, const Runtime& rt) {
  const auto& listeners = rt.sip_listeners;
  // Families declared even with no listener: dashboards see them at zero.
  m.family("turnpike_tls_current_connections", Type::Gauge,
           "Live client connections of the SIP-over-TLS edge (telemetry /turnpike/sip connections)");
  proxy::SipProxyStats{}.for_each([&](std::string_view n, std::string_view d, std::uint64_t) {
    m.family(sip_family(n), Type::Counter, help_with_key(d, "/turnpike/sip", n));
  });
  const char* kFail = "turnpike_tls_failed_handshakes_by_detail_total";
  const char* kFailHelp =
      "Inbound TLS handshakes refused or failed, by the event's Detail (telemetry /turnpike/sip refused_by_detail)";
  m.family(kFail, Type::Counter, kFailHelp);
  for (auto& w : rt.workers)
    for (std::size_t li = 0; li < w->sip.size(); ++li) {
      const auto& sp = *w->sip[li];
      const std::string ln = li < listeners.size() ? listeners[li] : std::to_string(li);
      const Labels l{{"listener", ln}, {"worker", wlabel(*w)}};
      m.sample("turnpike_tls_current_connections", l, double(sp.live()));
      sp.stats().for_each([&](std::string_view n, std::string_view, std::uint64_t v) { m.sample(sip_family(n), l, v); });
      details(m, kFail, kFailHelp, sp.refusals(), l);
    }
  // The TLS engine's own counters (tls::Stats: hibernation, refused
  // renegotiations), per thread inside the engine: one process-wide sum.
  tls::stats_totals().for_each([&](std::string_view n, std::string_view d, std::uint64_t v) {
    m.counter("turnpike_tls_" + std::string(n) + "_total",
              help_with_key(d, "/turnpike/sip", std::string(tls::kTelemetryPrefix) + std::string(n)), {}, v);
  });
  // Backends (per worker: each worker has its own pool and health checks).
  proxy::BackendStats{}.for_each([&](std::string_view n, std::string_view d, std::uint64_t) {
    m.family(backend_family(n), Type::Counter, help_with_key(d, "/turnpike/sip", n));
  });
  for (auto& w : rt.workers) {
    if (!w->backends) continue;
    w->backends->stats().for_each([&](std::string_view n, std::string_view, std::uint64_t v) {
      m.sample(backend_family(n), {{"worker", wlabel(*w)}}, v);
    });
  }
  m.family("turnpike_backend_info", Type::Gauge, "Configured SIP backends (value 1)");
  for (auto& b : rt.backends) m.sample("turnpike_backend_info", {{"backend", b}}, 1.0);
  // Each worker balances and checks on its own (share-nothing): per worker.
  m.family("turnpike_backend_up", Type::Gauge,
           "1 if this worker considers the backend usable (health checks, passive failures), else 0");
  m.family("turnpike_backend_current_connections", Type::Gauge, "Connections this worker has open to the backend");
  for (auto& w : rt.workers) {
    if (!w->backends) continue;
    for (std::size_t i = 0; i < w->backends->size(); ++i) {
      const int idx = static_cast<int>(i);
      const auto& be = w->backends->at(idx);
      const Labels l{{"backend", be.endpoint()}, {"worker", wlabel(*w)}};
      m.sample("turnpike_backend_up", l, w->backends->up_published(idx) ? 1.0 : 0.0);
      m.sample("turnpike_backend_current_connections", l, std::uint64_t{w->backends->active_published(idx)});
    }
  }
}

void egress(Writer& m, const Runtime& rt) {
  m.family("turnpike_egress_current_connections", Type::Gauge,
           "Live egress connection pairs (telemetry /turnpike/egress connections)");
  const auto egress_family = [](std::string_view n) { return "turnpike_egress_" + std::string(n) + "_total"; };
  proxy::EgressStats{}.for_each([&](std::string_view n, std::string_view d, std::uint64_t) {
    m.family(egress_family(n), Type::Counter, help_with_key(d, "/turnpike/egress", n));
  });
  const char* kFail = "turnpike_egress_failed_handshakes_by_detail_total";
  const char* kFailHelp = "Outbound TLS handshakes refused or failed, by Detail (telemetry refused_by_detail)";
  m.family(kFail, Type::Counter, kFailHelp);
  for (auto& w : rt.workers)
    for (std::size_t i = 0; i < w->egress.size(); ++i) {
      const auto& e = *w->egress[i];
      const std::string route = i < rt.egress_routes.size() ? rt.egress_routes[i] : std::to_string(i);
      const Labels l{{"route", route}, {"worker", wlabel(*w)}};
      m.sample("turnpike_egress_current_connections", l, double(e.live()));
      e.stats().for_each([&](std::string_view n, std::string_view, std::uint64_t v) { m.sample(egress_family(n), l, v); });
      details(m, kFail, kFailHelp, e.refusals(), l);
    }
}

// Plain TCP relays ([services] relays), per relay (its index in the
// configuration) and worker.
void relays(Writer& m, const Runtime& rt) {
  const auto relay_family = [](std::string_view n) { return "turnpike_relay_" + std::string(n) + "_total"; };
  m.family("turnpike_relay_current_connections", Type::Gauge,
           "Live relayed connection pairs (telemetry /turnpike/relay connections)");
  proxy::RelayStats{}.for_each([&](std::string_view n, std::string_view d, std::uint64_t) {
    m.family(relay_family(n), Type::Counter, help_with_key(d, "/turnpike/relay", n));
  });
  for (auto& w : rt.workers)
    for (std::size_t i = 0; i < w->relays.size(); ++i) {
      const auto& r = *w->relays[i];
      const Labels l{{"relay", std::to_string(i)}, {"worker", wlabel(*w)}};
      m.sample("turnpike_relay_current_connections", l, double(r.live()));
      r.stats().for_each([&](std::string_view n, std::string_view, std::uint64_t v) { m.sample(relay_family(n), l, v); });
    }
}

void snapshot_and_certs(Writer& m, const Runtime& rt) {
  auto cur = rt.snapshots ? rt.snapshots->current_shared() : nullptr;
  if (!cur) return;  // no stores configured
  const auto age = std::chrono::duration<double>(std::chrono::steady_clock::now() - cur->built).count();
  m.gauge("turnpike_snapshot_generation", "Published data-plane snapshot generation (telemetry /turnpike/snapshot)",
          {}, double(cur->generation));
  m.gauge("turnpike_snapshot_age_seconds", "Age of the published snapshot", {}, age);
  m.gauge("turnpike_snapshot_store_generation", "Store generation the snapshot was built from", {},
          double(cur->store_generation));
  m.gauge("turnpike_snapshot_trust_epoch", "Trust epoch (bumped by every CA bundle or CRL change)", {},
          double(cur->trust_epoch));
  m.gauge("turnpike_snapshot_retired_waiting", "Retired snapshots waiting for their grace period", {},
          double(rt.snapshots->retired()));
  m.gauge("turnpike_eku_checking_mode", "SIP TLS Certificate ExtendedKeyUsage Checking Mode (value 1 for the mode)",
          {{"mode", std::string(control::to_string(cur->eku_mode))}}, 1);
  if (!cur->stores) return;
  m.family("turnpike_certificate_not_after_seconds", Type::Gauge,
           "Expiry (notAfter, Unix seconds) of each store and trust certificate; days left = (value - time()) / 86400");
  for (auto& c : control::store_certificates(*cur->stores))
    m.sample("turnpike_certificate_not_after_seconds", {{"store", c.store}, {"serial", c.serial}}, double(c.not_after));
}

}  // namespace

std::string render_metrics(const Runtime& rt) {
  Writer m;
  m.gauge("turnpike_up", "1 while the daemon serves (the scrape itself worked)", {}, 1);
  ports(m, rt);
  workers(m, rt);
  tcp_stack(m, rt);
  sip(m, rt);
  egress(m, rt);
  relays(m, rt);
  snapshot_and_certs(m, rt);
  m.gauge("turnpike_metrics_rejected_samples", "Samples the collector dropped as invalid (a bug if not 0)", {},
          double(m.rejected()));
  return m.render();
}

}  // namespace turnpike::worker
