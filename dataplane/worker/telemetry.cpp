#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_telemetry.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "turnpike/tls/stats.hpp"
#include "turnpike/worker/telemetry.hpp"

namespace turnpike::worker {

namespace {

// The CPU an lcore runs on (its cpuset's first CPU; rte_lcore_to_cpu_id
// gives the core index, not the CPU, under --lcores).
unsigned lcore_cpu(unsigned lcore) {
  const rte_cpuset_t set = rte_lcore_cpuset(lcore);
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) return c;
  return 0;
}

const Runtime* g_rt = nullptr;  // set once before the telemetry commands can run

struct PortTotals {
  CounterTotals stats = CounterTotals::of<net::PortStats>();
  CounterTotals drops;
  std::uint64_t drops_total = 0;
};

void add_drops(CounterTotals& t, const net::PortStats& s) {
  t.add_with([&](auto&& f) { s.for_each_drop(f); });
}

PortTotals sum_port(const Runtime& rt, std::size_t p) {
  PortTotals t;
  add_drops(t.drops, net::PortStats{});  // every reason, even with no worker
  for (auto& w : rt.workers) {
    const net::PortStats& s = w->net->stats(static_cast<std::uint16_t>(p));
    t.stats.add(s);
    add_drops(t.drops, s);
  }
  for (auto& r : t.drops.rows()) t.drops_total += r.value;
  return t;
}

void fill(rte_tel_data* d, const CounterTotals& t) {
  for (auto& r : t.rows()) rte_tel_data_add_dict_u64(d, std::string(r.name).c_str(), r.value);
}

void fill_port(rte_tel_data* d, const PortTotals& t, bool with_zero_drops) {
  fill(d, t.stats);
  rte_tel_data_add_dict_u64(d, "drops_total", t.drops_total);
  for (auto& r : t.drops.rows()) {
    if (!r.value && !with_zero_drops) continue;
    rte_tel_data_add_dict_u64(d, ("drop_" + std::string(r.name)).c_str(), r.value);
  }
}

// Losses below turnpike (PMD and kernel ring), beside the software counters.
void fill_loss(rte_tel_data* d, const port::PortInfo& p) {
  const port::LossStats l = port::read_loss(p);
  rte_tel_data_add_dict_u64(d, "lost_below_total", l.total());
  rte_tel_data_add_dict_u64(d, "pmd_imissed", l.imissed);
  rte_tel_data_add_dict_u64(d, "pmd_ierrors", l.ierrors);
  rte_tel_data_add_dict_u64(d, "pmd_rx_nombuf", l.rx_nombuf);
  rte_tel_data_add_dict_u64(d, "pmd_oerrors", l.oerrors);
  for (std::size_t q = 0; q < l.q_errors.size(); ++q)
    rte_tel_data_add_dict_u64(d, ("pmd_q" + std::to_string(q) + "_errors").c_str(), l.q_errors[q]);
  if (l.kernel_ring) {
    rte_tel_data_add_dict_u64(d, "kernel_ring_packets", l.ring_packets);
    rte_tel_data_add_dict_u64(d, "kernel_ring_drops", l.ring_drops);
    rte_tel_data_add_dict_u64(d, "kernel_ring_rollovers", l.ring_rollovers);
    for (std::size_t q = 0; q < l.ring_drops_q.size(); ++q)
      rte_tel_data_add_dict_u64(d, ("kernel_ring_q" + std::to_string(q) + "_drops").c_str(), l.ring_drops_q[q]);
  }
}

std::string format_loss(const port::PortInfo& p) {
  const port::LossStats l = port::read_loss(p);
  std::string s = "lost_below_total=" + std::to_string(l.total()) + " pmd_imissed=" + std::to_string(l.imissed) +
                  " pmd_ierrors=" + std::to_string(l.ierrors) + " pmd_rx_nombuf=" + std::to_string(l.rx_nombuf) +
                  " pmd_oerrors=" + std::to_string(l.oerrors);
  if (l.kernel_ring)
    s += " kernel_ring_drops=" + std::to_string(l.ring_drops) + " kernel_ring_rollovers=" +
         std::to_string(l.ring_rollovers) + " (ring " + std::to_string(p.af_frames) + " frames/queue)";
  else if (p.af_frames)
    s += " kernel_ring_drops=unknown";
  return s;
}

// A port's IPv6 state (addresses, DAD, ND cache), shared by its workers:
// nullptr when the port has no IPv6.
const net::Ipv6Port* ipv6_of(const Runtime& rt, std::size_t port) {
  if (rt.workers.empty() || port >= rt.workers[0]->net->port_count()) return nullptr;
  return rt.workers[0]->net->port(static_cast<std::uint16_t>(port)).v6;
}

const char* ipv6_state_name(net::Ipv6Port::State s) {
  switch (s) {
    case net::Ipv6Port::State::Tentative: return "tentative";
    case net::Ipv6Port::State::Preferred: return "preferred";
    case net::Ipv6Port::State::Duplicate: return "duplicate";
  }
  return "?";
}

int find_port(const Runtime& rt, const char* params) {
  if (!params || !*params) return -1;
  for (std::size_t i = 0; i < rt.ports.size(); ++i)
    if (rt.ports[i].name == params) return int(i);
  char* end;
  long v = std::strtol(params, &end, 10);
  if (*end == 0 && v >= 0 && std::size_t(v) < rt.ports.size()) return int(v);
  return -2;
}

int cmd_stats(const char*, const char* params, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  const int p = find_port(rt, params);
  if (p == -2) return -EINVAL;
  rte_tel_data_start_dict(d);
  if (p >= 0) {
    fill_port(d, sum_port(rt, p), true);
    fill_loss(d, rt.ports[p]);
    return 0;
  }
  for (std::size_t i = 0; i < rt.ports.size(); ++i) {
    rte_tel_data* sub = rte_tel_data_alloc();
    rte_tel_data_start_dict(sub);
    fill_port(sub, sum_port(rt, i), false);
    fill_loss(sub, rt.ports[i]);
    rte_tel_data_add_dict_container(d, rt.ports[i].name.c_str(), sub, 0);
  }
  return 0;
}

int cmd_drops(const char*, const char*, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  rte_tel_data_start_dict(d);
  CounterTotals total;
  add_drops(total, net::PortStats{});
  for (auto& w : rt.workers)
    for (std::uint16_t p = 0; p < rt.ports.size() && p < w->net->port_count(); ++p) add_drops(total, w->net->stats(p));
  fill(d, total);
  return 0;
}

std::uint64_t rx_packets(const Worker& w) {
  std::uint64_t rx = 0;
  for (std::uint16_t p = 0; p < w.net->port_count(); ++p) rx += w.net->stats(p).rx_packets.load();
  return rx;
}

int cmd_workers(const char*, const char*, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_u64(d, "tsc_hz", rt.tsc_hz);
  rte_tel_data_add_dict_string(d, "placement", rt.placement.c_str());
  rte_tel_data_add_dict_string(d, "cpu_sharing", rt.sharing.empty() ? "none" : rt.sharing.c_str());
  for (auto& w : rt.workers) {
    rte_tel_data* sub = rte_tel_data_alloc();
    rte_tel_data_start_dict(sub);
    rte_tel_data_add_dict_u64(sub, "lcore", w->lcore);
    rte_tel_data_add_dict_u64(sub, "cpu", lcore_cpu(w->lcore));
    rte_tel_data_add_dict_u64(sub, "queue", w->queue);
    w->cycles.for_each([&](std::string_view n, std::string_view, std::uint64_t v) {
      rte_tel_data_add_dict_u64(sub, std::string(n).c_str(), v);
    });
    const std::uint64_t rx = rx_packets(*w);
    rte_tel_data_add_dict_u64(sub, "rx_packets", rx);
    rte_tel_data_add_dict_u64(sub, "busy_cycles_per_packet", rx ? w->cycles.busy.load() / rx : 0);
    rte_tel_data_add_dict_u64(sub, "pending_arp", w->net->pending());
    if (w->index < rt.event_rings.size()) {
      // Events this worker could not hand to the control thread.
      rte_tel_data_add_dict_u64(sub, "events_dropped_ring_full", rt.event_rings[w->index]->dropped_full());
      rte_tel_data_add_dict_u64(sub, "events_dropped_too_long", rt.event_rings[w->index]->dropped_long());
    }
    rte_tel_data_add_dict_container(d, ("worker" + std::to_string(w->index)).c_str(), sub, 0);
  }
  return 0;
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  rte_tel_data_start_dict(d);
  for (std::size_t i = 0; i < rt.ports.size(); ++i) {
    const auto& p = rt.ports[i];
    const auto& pc = rt.port_options[i];
    rte_tel_data* sub = rte_tel_data_alloc();
    rte_tel_data_start_dict(sub);
    rte_tel_data_add_dict_u64(sub, "port_id", p.port_id);
    rte_tel_data_add_dict_string(sub, "device", p.device.empty() ? pc.device.c_str() : p.device.c_str());
    rte_tel_data_add_dict_string(sub, "driver", p.driver.c_str());
    rte_tel_data_add_dict_string(sub, "mac", p.mac.to_string().c_str());
    rte_tel_data_add_dict_string(sub, "ipv4",
                                 (net::ipv4_to_string(pc.ipv4) + "/" + std::to_string(pc.prefix)).c_str());
    rte_tel_data_add_dict_string(sub, "gateway", pc.gateway ? net::ipv4_to_string(pc.gateway).c_str() : "none");
    rte_tel_data_add_dict_u64(sub, "queues", p.queues);
    // Queue q belongs to worker q (one RX and one TX queue each).
    std::string qmap;
    for (auto& w : rt.workers)
      qmap += (qmap.empty() ? "" : " ") + ("q" + std::to_string(w->queue)) + "->worker" + std::to_string(w->index);
    rte_tel_data_add_dict_string(sub, "queue_owner", qmap.c_str());
    if (p.af_frames) rte_tel_data_add_dict_u64(sub, "af_packet_frames_per_queue", p.af_frames);
    rte_eth_link link{};
    rte_eth_link_get_nowait(p.port_id, &link);  // live: operators watch this
    rte_tel_data_add_dict_string(sub, "link", link.link_status == RTE_ETH_LINK_UP ? "up" : "down");
    rte_tel_data_add_dict_u64(sub, "link_speed_mbps", link.link_speed);
    rte_tel_data_add_dict_string(sub, "rss", p.rss ? "symmetric-toeplitz" : p.rss_note.c_str());
    rte_tel_data_add_dict_u64(sub, "neighbors", rt.neigh[i]->size());
    rte_tel_data_add_dict_u64(sub, "neighbor_evictions", rt.neigh[i]->evictions());
    if (const net::Ipv6Port* v6 = ipv6_of(rt, i)) {
      // Each address with its DAD state (RFC 4862 §5.4), link-local first.
      std::string addrs;
      for (unsigned a = 0; a < v6->count(); ++a) {
        const unsigned plen = a == net::Ipv6Port::kLinkLocal ? 64 : v6->options().prefix;
        addrs += (addrs.empty() ? "" : " ") + v6->addr(a).to_string() + "/" + std::to_string(plen) + " " +
                 ipv6_state_name(v6->state(a));
      }
      rte_tel_data_add_dict_string(sub, "ipv6", addrs.c_str());
      const net::Ipv6Addr& gw = v6->options().gateway;
      rte_tel_data_add_dict_string(sub, "ipv6_gateway", gw.is_unspecified() ? "none" : gw.to_string().c_str());
      rte_tel_data_add_dict_u64(sub, "ipv6_neighbors", v6->neigh().size());
      rte_tel_data_add_dict_u64(sub, "ipv6_neighbor_evictions", v6->neigh().evictions());
    }
    rte_tel_data_add_dict_container(d, p.name.c_str(), sub, 0);
  }
  return 0;
}

int cmd_neighbors(const char*, const char* params, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  int p = find_port(rt, params);
  if (p == -2) return -EINVAL;
  if (p < 0) p = 0;
  // A list of strings: telemetry dict keys may not contain the dots of an address.
  rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
  const std::uint64_t now = rte_get_tsc_cycles();
  rt.neigh[p]->for_each(now, [&](net::Ipv4Addr ip, const net::MacAddr& mac, std::uint64_t age) {
    const std::string v =
        net::ipv4_to_string(ip) + " " + mac.to_string() + " age_ms=" + std::to_string(age * 1000 / rt.tsc_hz);
    rte_tel_data_add_array_string(d, v.c_str());
  });
  // The ND cache (RFC 4861 §5.1) in the same list and form, IPv6 text per
  // RFC 5952: "2001:db8::2 02:00:00:00:00:02 age_ms=12".
  if (const net::Ipv6Port* v6 = ipv6_of(rt, std::size_t(p))) {
    v6->neigh().for_each(now, [&](const net::Ipv6Addr& ip, const net::MacAddr& mac, std::uint64_t age) {
      const std::string v = ip.to_string() + " " + mac.to_string() + " age_ms=" + std::to_string(age * 1000 / rt.tsc_hz);
      rte_tel_data_add_array_string(d, v.c_str());
    });
  }
  return 0;
}

// Parameter: a worker index, for that worker's counters alone (where flows
// were served: tests/integration/flow_placement.sh); none: summed.
int cmd_tcp(const char*, const char* params, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  const bool one = params && *params;
  char* end = nullptr;
  const unsigned long only = one ? std::strtoul(params, &end, 10) : 0;
  if (one && (*end || only >= rt.workers.size())) return -EINVAL;
  rte_tel_data_start_dict(d);
  // Counters are read while workers write them: relaxed cells, each value
  // whole, possibly a moment old; good enough for monitoring.
  CounterTotals total = CounterTotals::of<tcp::Counters>();
  CounterTotals glue = CounterTotals::of<glue::TcpGlueStats>();
  std::uint64_t conns = 0, half_open = 0, time_wait = 0, chunks = 0;
  for (auto& w : rt.workers) {
    if (!w->tcp || (one && w->index != only)) continue;
    total.add(w->tcp->stack().counters());
    glue.add(w->tcp->stats());
    conns += w->tcp->stack().connections();
    half_open += w->tcp->stack().half_open();
    time_wait += w->tcp->stack().time_wait();
    chunks += w->tcp->stack().chunks_in_use();
  }
  rte_tel_data_add_dict_u64(d, "connections", conns);
  rte_tel_data_add_dict_u64(d, "half_open", half_open);
  rte_tel_data_add_dict_u64(d, "time_wait", time_wait);  // compact entries, not control blocks
  rte_tel_data_add_dict_u64(d, "buffer_chunks_in_use", chunks);
  fill(d, glue);  // steering between workers, segments the glue could not send
  fill(d, total);
  return 0;
}

void add_details(const proxy::DetailCounters& dc, std::map<std::string, std::uint64_t>& by) {
  for (std::size_t i = 0; i < dc.size(); ++i) by[std::string(dc.name(i))] += dc.count(i);
  if (dc.other()) by["other"] += dc.other();
}

void add_details_dict(rte_tel_data* d, const char* key, const std::map<std::string, std::uint64_t>& by) {
  rte_tel_data* sub = rte_tel_data_alloc();
  rte_tel_data_start_dict(sub);
  for (auto& [k, v] : by) {
    // Keys as identifiers (newer DPDK releases refuse other characters).
    std::string name = k;
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    rte_tel_data_add_dict_u64(sub, name.c_str(), v);
  }
  rte_tel_data_add_dict_container(d, key, sub, 0);
}

// One kind of proxy summed over workers: live connection pairs and its
// counters into d; returns its refusals by event Detail.
template <class P>
std::map<std::string, std::uint64_t> fill_proxies(rte_tel_data* d, const Runtime& rt,
                                                  std::vector<std::unique_ptr<P>> Worker::*list) {
  using Stats = std::decay_t<decltype(std::declval<const P&>().stats())>;
  std::uint64_t live = 0;
  CounterTotals t = CounterTotals::of<Stats>();
  std::map<std::string, std::uint64_t> by;
  for (auto& w : rt.workers)
    for (auto& p : (*w).*list) {
      live += p->live();
      t.add(p->stats());
      add_details(p->refusals(), by);
    }
  rte_tel_data_add_dict_u64(d, "connections", live);
  fill(d, t);
  return by;
}

int cmd_sip(const char*, const char*, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  rte_tel_data_start_dict(d);
  const auto by = fill_proxies(d, rt, &Worker::sip);
  CounterTotals backends = CounterTotals::of<proxy::BackendStats>();
  for (auto& w : rt.workers)
    if (w->backends) backends.add(w->backends->stats());
  fill(d, backends);
  // The TLS engine's own counters (hibernation, refused renegotiations),
  // summed over its per-thread cells: egress legs count here too.
  tls::stats_totals().for_each([&](std::string_view n, std::string_view, std::uint64_t v) {
    rte_tel_data_add_dict_u64(d, (std::string(tls::kTelemetryPrefix) + std::string(n)).c_str(), v);
  });
  add_details_dict(d, "refused_by_detail", by);
  // Per listener (1-based, the order of xConfiguration SIP TLS Listener N):
  // handshakes EKU mode Off accepted that mode On would refuse.
  std::map<std::string, std::uint64_t> wf;
  for (auto& w : rt.workers)
    for (std::size_t li = 0; li < w->sip.size(); ++li)
      wf["listener_" + std::to_string(li + 1)] += w->sip[li]->stats().eku_would_fail.load();
  add_details_dict(d, "eku_would_fail_by_listener", wf);
  return 0;
}

int cmd_egress(const char*, const char*, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  rte_tel_data_start_dict(d);
  add_details_dict(d, "refused_by_detail", fill_proxies(d, rt, &Worker::egress));
  return 0;
}

int cmd_relay(const char*, const char*, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  rte_tel_data_start_dict(d);
  std::uint64_t live = 0;
  CounterTotals t = CounterTotals::of<proxy::RelayStats>();
  for (auto& w : rt.workers)
    for (auto& r : w->relays) {
      live += r->live();
      t.add(r->stats());
    }
  rte_tel_data_add_dict_u64(d, "connections", live);
  fill(d, t);
  return 0;
}

int cmd_snapshot(const char*, const char*, rte_tel_data* d) {
  const Runtime& rt = *g_rt;
  rte_tel_data_start_dict(d);
  auto cur = rt.snapshots ? rt.snapshots->current_shared() : nullptr;
  if (!cur) {
    rte_tel_data_add_dict_string(d, "snapshot", "none (no stores configured)");
    return 0;
  }
  const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - cur->built);
  rte_tel_data_add_dict_u64(d, "generation", cur->generation);
  rte_tel_data_add_dict_u64(d, "age_ms", static_cast<std::uint64_t>(age.count()));
  rte_tel_data_add_dict_u64(d, "store_generation", cur->store_generation);
  rte_tel_data_add_dict_u64(d, "trust_epoch", cur->trust_epoch);
  rte_tel_data_add_dict_string(d, "eku_mode", std::string(control::to_string(cur->eku_mode)).c_str());
  rte_tel_data_add_dict_u64(d, "retired_waiting", rt.snapshots->retired());
  for (auto& w : rt.workers)
    rte_tel_data_add_dict_u64(d, ("worker" + std::to_string(w->index) + "_generation").c_str(),
                              w->snapshot_generation.load(std::memory_order_relaxed));
  return 0;
}

}  // namespace

void register_telemetry(const Runtime& rt) {
  g_rt = &rt;
  rte_telemetry_register_cmd("/turnpike/stats", cmd_stats,
                             "Counters per port summed over workers. Parameter: port name or index (optional)");
  rte_telemetry_register_cmd("/turnpike/drops", cmd_drops, "Dropped frames by reason, all ports. No parameters");
  rte_telemetry_register_cmd("/turnpike/workers", cmd_workers,
                             "Per-worker TSC cycles: busy (iterations that moved packets), idle polls, sleeps");
  rte_telemetry_register_cmd("/turnpike/ports", cmd_ports, "Port configuration, RSS status, neighbour count");
  rte_telemetry_register_cmd("/turnpike/neighbors", cmd_neighbors, "ARP table and IPv6 neighbour cache. Parameter: port name or index");
  rte_telemetry_register_cmd("/turnpike/tcp", cmd_tcp, "TCP counters summed over workers (parameter: one worker's), live connections");
  rte_telemetry_register_cmd("/turnpike/sip", cmd_sip, "SIP-over-TLS edge: handshakes, refusals, messages, backends");
  rte_telemetry_register_cmd("/turnpike/snapshot", cmd_snapshot,
                             "Published data-plane snapshot: generation, age, trust epoch, what each worker uses");
  rte_telemetry_register_cmd("/turnpike/egress", cmd_egress, "Egress (plain inside -> TLS to remote peers) counters");
  rte_telemetry_register_cmd("/turnpike/relay", cmd_relay, "Plain TCP relays ([services] relays) summed over workers");
}

std::string format_stats(const Runtime& rt) {
  std::ostringstream o;
  for (std::size_t i = 0; i < rt.ports.size(); ++i) {
    PortTotals t = sum_port(rt, i);
    o << "port " << rt.ports[i].name << ":";
    for (auto& r : t.stats.rows()) o << " " << r.name << "=" << r.value;
    o << " drops_total=" << t.drops_total;
    for (auto& r : t.drops.rows())
      if (r.value) o << " drop_" << r.name << "=" << r.value;
    o << "\n";
    o << "port " << rt.ports[i].name << " below turnpike: " << format_loss(rt.ports[i]) << "\n";
  }
  {
    // The TCP's own evidence of loss towards turnpike: shows a lossy port
    // even when its PMD reports nothing.
    CounterTotals tcp = CounterTotals::of<tcp::Counters>();
    for (auto& w : rt.workers)
      if (w->tcp) tcp.add(w->tcp->stack().counters());
    o << "tcp loss evidence:";
    for (const char* k : {"rx_ooo_segments", "rx_holes_filled", "rx_dup_segments", "retransmits", "rto_timeouts"})
      o << " " << k << "=" << tcp[k];
    o << "\n";
  }
  o << "tls:";
  tls::stats_totals().for_each(
      [&](std::string_view n, std::string_view, std::uint64_t v) { o << " " << tls::kTelemetryPrefix << n << "=" << v; });
  o << "\n";
  for (auto& w : rt.workers) {
    const std::uint64_t rx = rx_packets(*w);
    o << "worker " << w->index << " (lcore " << w->lcore << ", cpu " << lcore_cpu(w->lcore) << "):";
    w->cycles.for_each([&](std::string_view n, std::string_view, std::uint64_t v) { o << " " << n << "=" << v; });
    o << " rx_packets=" << rx << " busy_cycles_per_packet=" << (rx ? w->cycles.busy.load() / rx : 0) << "\n";
  }
  return o.str();
}

}  // namespace turnpike::worker
