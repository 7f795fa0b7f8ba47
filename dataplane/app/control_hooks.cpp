#include "control_hooks.hpp"

#include <rte_cycles.h>

#include <algorithm>
#include <string>

namespace turnpike {

namespace {

using control::Item;

std::string key(std::string_view detail) {
  // One path word: a Detail like "unsupported certificate purpose".
  std::string k(detail);
  for (char& ch : k)
    if (ch == ' ' || ch == ':') ch = '_';
  return k.empty() ? "unknown" : k;
}

void details(std::vector<Item>& out, const std::string& prefix, const std::vector<const proxy::DetailCounters*>& dcs) {
  std::map<std::string, std::uint64_t> by;
  for (auto* dc : dcs) {
    for (std::size_t i = 0; i < dc->size(); ++i) by[key(dc->name(i))] += dc->count(i);
    if (dc->other()) by["other"] += dc->other();
  }
  for (auto& [k, v] : by) out.push_back({prefix + " " + k, v});
}

// A port's IPv6 addresses with their DAD state and its neighbour cache
// (RFC 4861 §5.1), the first kMaxListed entries by address.
void ipv6_status(std::vector<Item>& out, const worker::Runtime& rt, std::size_t p, const std::string& pre) {
  constexpr std::size_t kMaxListed = 32;
  if (rt.workers.empty() || p >= rt.workers[0]->net->port_count()) return;
  const net::Ipv6Port* v6 = rt.workers[0]->net->port(static_cast<std::uint16_t>(p)).v6;
  if (!v6) return;
  auto state = [v6](unsigned a) {
    switch (v6->state(a)) {
      case net::Ipv6Port::State::Tentative: return "tentative";
      case net::Ipv6Port::State::Preferred: return "preferred";
      case net::Ipv6Port::State::Duplicate: return "duplicate";
    }
    return "?";
  };
  const std::string q = pre + "IPv6 ";
  if (v6->count() > net::Ipv6Port::kGlobal) {
    out.push_back({q + "Address",
                   v6->addr(net::Ipv6Port::kGlobal).to_string() + "/" + std::to_string(v6->options().prefix)});
    out.push_back({q + "AddressState", std::string(state(net::Ipv6Port::kGlobal))});
  }
  out.push_back({q + "LinkLocal", v6->addr(net::Ipv6Port::kLinkLocal).to_string()});
  out.push_back({q + "LinkLocalState", std::string(state(net::Ipv6Port::kLinkLocal))});
  const net::Ipv6Addr& gw = v6->options().gateway;
  out.push_back({q + "Gateway", gw.is_unspecified() ? std::string("none") : gw.to_string()});
  std::vector<std::pair<std::string, std::string>> nb;
  v6->neigh().for_each(rte_get_tsc_cycles(), [&](const net::Ipv6Addr& ip, const net::MacAddr& mac, std::uint64_t) {
    nb.emplace_back(ip.to_string(), mac.to_string());
  });
  std::sort(nb.begin(), nb.end());
  out.push_back({q + "Neighbors", std::uint64_t{nb.size()}});
  for (std::size_t i = 0; i < nb.size() && i < kMaxListed; ++i) {
    const std::string k = q + "Neighbor " + std::to_string(i + 1) + " ";
    out.push_back({k + "Address", nb[i].first});
    out.push_back({k + "Mac", nb[i].second});
  }
}

}  // namespace

std::vector<Item> dataplane_status(const worker::Runtime& rt) {
  std::vector<Item> out;
  for (auto& w : rt.workers) {
    const std::string p = "Worker " + std::to_string(w->index) + " ";
    std::uint64_t rx = 0, conns = 0, sip_live = 0;
    for (std::uint16_t i = 0; i < w->net->port_count(); ++i) rx += w->net->stats(i).rx_packets.load();
    if (w->tcp) conns = w->tcp->stack().connections();
    for (auto& sp : w->sip) sip_live += sp->live();
    out.push_back({p + "Lcore", std::uint64_t{w->lcore}});
    out.push_back({p + "BusyCycles", w->cycles.busy.load()});
    out.push_back({p + "IdlePollCycles", w->cycles.idle_poll.load()});
    out.push_back({p + "SleepCycles", w->cycles.sleep.load()});
    out.push_back({p + "BusyIterations", w->cycles.busy_iterations.load()});
    out.push_back({p + "RxPackets", rx});
    out.push_back({p + "TcpConnections", conns});
    out.push_back({p + "SipConnections", sip_live});
    out.push_back({p + "SnapshotGeneration", w->snapshot_generation.load(std::memory_order_relaxed)});
  }
  for (std::size_t p = 0; p < rt.ports.size(); ++p) {
    const std::string pre = "Port " + rt.ports[p].name + " ";
    CounterTotals t = CounterTotals::of<net::PortStats>();
    std::uint64_t drops = 0;
    for (auto& w : rt.workers) {
      const net::PortStats& s = w->net->stats(static_cast<std::uint16_t>(p));
      t.add(s);
      drops += s.total_drops();
    }
    for (auto& r : t.rows()) out.push_back({pre + std::string(r.name), r.value});
    out.push_back({pre + "drops_total", drops});
    out.push_back({pre + "Neighbors", std::uint64_t{rt.neigh[p]->size()}});
    ipv6_status(out, rt, p, pre);
  }
  // SIP edge, summed over workers; failed handshakes by event Detail.
  {
    std::uint64_t live = 0;
    CounterTotals t = CounterTotals::of<proxy::SipProxyStats>();
    std::vector<const proxy::DetailCounters*> dcs;
    for (auto& w : rt.workers)
      for (auto& sp : w->sip) {
        live += sp->live();
        t.add(sp->stats());
        dcs.push_back(&sp->refusals());
      }
    out.push_back({"SIP Connections", live});
    for (auto& r : t.rows()) out.push_back({"SIP " + std::string(r.name), r.value});
    details(out, "SIP HandshakesFailedByDetail", dcs);
    // Per listener (N as in xConfiguration SIP TLS Listener N): handshakes
    // EKU mode Off accepted that mode On would refuse (issue 11).
    std::vector<std::uint64_t> wf;
    for (auto& w : rt.workers)
      for (std::size_t li = 0; li < w->sip.size(); ++li) {
        if (wf.size() <= li) wf.resize(li + 1);
        wf[li] += w->sip[li]->stats().eku_would_fail.load();
      }
    for (std::size_t li = 0; li < wf.size(); ++li)
      out.push_back({"SIP Listener " + std::to_string(li + 1) + " EkuWouldFail", wf[li]});
  }
  // Backends: each worker runs its own health checks; up on every worker
  // is "up", on none "down".
  std::size_t nb = 0;
  for (auto& w : rt.workers)
    if (w->backends) nb = std::max(nb, w->backends->size());
  std::uint64_t up_n = 0, down_n = 0;
  for (std::size_t b = 0; b < nb; ++b) {
    unsigned up = 0, seen = 0;
    std::uint64_t active = 0;
    std::string addr;
    for (auto& w : rt.workers) {
      if (!w->backends || b >= w->backends->size()) continue;
      ++seen;
      const int idx = static_cast<int>(b);
      if (w->backends->up_published(idx)) ++up;
      active += w->backends->active_published(idx);
      const auto& be = w->backends->at(idx);
      addr = be.endpoint();  // "[v6]:port" for an IPv6 backend
    }
    const std::string p = "Backend " + std::to_string(b + 1) + " ";
    out.push_back({p + "Address", addr});
    out.push_back({p + "Status", up == seen ? std::string("up") : up == 0 ? std::string("down")
                                            : "partial (up on " + std::to_string(up) + " of " + std::to_string(seen) + " workers)"});
    out.push_back({p + "ActiveConnections", active});
    if (up == seen) ++up_n;
    else ++down_n;
  }
  out.push_back({"Backends Up", up_n});
  out.push_back({"Backends Down", down_n});
  // Egress routes.
  {
    std::uint64_t live = 0;
    CounterTotals t = CounterTotals::of<proxy::EgressStats>();
    std::vector<const proxy::DetailCounters*> dcs;
    for (auto& w : rt.workers)
      for (auto& e : w->egress) {
        live += e->live();
        t.add(e->stats());
        dcs.push_back(&e->refusals());
      }
    out.push_back({"Egress Connections", live});
    for (auto& r : t.rows()) out.push_back({"Egress " + std::string(r.name), r.value});
    details(out, "Egress HandshakesFailedByDetail", dcs);
  }
  return out;
}

std::vector<Item> config_items(const Config& c) {
  std::vector<Item> out;
  for (std::size_t i = 0; i < c.sip_backends.size(); ++i) {
    const std::string p = "SIP Backend " + std::to_string(i + 1) + " ";
    out.push_back({p + "Address", ip_text(c.sip_backends[i].first)});
    out.push_back({p + "Port", std::uint64_t{c.sip_backends[i].second}});
  }
  out.push_back({"SIP Backends Balance", c.sip_balance});
  out.push_back({"SIP Backends HealthIntervalMs", std::uint64_t{c.sip_health_interval_ms}});
  out.push_back({"SIP Backends HealthTimeoutMs", std::uint64_t{c.sip_health_timeout_ms}});
  out.push_back({"SIP Backends RetryMs", std::uint64_t{c.sip_backend_retry_ms}});
  out.push_back({"SIP Backends TLS", c.sip_backend_tls ? "On" : "Off"});
  out.push_back({"SIP Backends ProxyV2", c.sip_proxy_v2 ? "On" : "Off"});
  for (std::size_t i = 0; i < c.egress.size(); ++i) {
    const auto& e = c.egress[i];
    const std::string p = "Egress Route " + std::to_string(i + 1) + " ";
    out.push_back({p + "ListenPort", std::uint64_t{e.listen_port}});
    out.push_back({p + "Address", ip_text(e.ip)});
    out.push_back({p + "Port", std::uint64_t{e.port}});
    out.push_back({p + "Name", e.name.empty() ? std::string("(the address)") : e.name});
  }
  out.push_back({"Egress HandshakeTimeoutMs", std::uint64_t{c.egress_handshake_timeout_ms}});
  out.push_back({"SIP Limits MaxHeaderBytes", std::uint64_t{c.sip_max_header}});
  out.push_back({"SIP Limits MaxBodyBytes", std::uint64_t{c.sip_max_body}});
  out.push_back({"SIP Limits VerdictCacheEntries", std::uint64_t{c.verdict_cache_entries}});
  out.push_back({"TCP Limits MaxConnectionsPerWorker", std::uint64_t{c.tcp_max_connections}});
  out.push_back({"TCP Limits MaxBufferMBPerWorker", std::uint64_t{c.tcp_max_buffer_mb}});
  out.push_back({"Workers Count", std::uint64_t{c.workers}});
  out.push_back({"Events File", c.events_file.empty() ? std::string("(daemon log)") : c.events_file});
  out.push_back({"Events RatePerSecond", std::uint64_t{c.events_rate_per_second}});
  out.push_back({"Control Socket", c.control_socket_path().empty() ? std::string("off") : c.control_socket_path()});
  out.push_back({"Control ReadonlySocket", c.control_readonly_path().empty() ? std::string("off") : c.control_readonly_path()});
  return out;
}

}  // namespace turnpike
