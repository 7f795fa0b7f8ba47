#include "turnpike/worker/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_pause.h>

#include <ctime>

#include "turnpike/diag/mbuf_capture.hpp"
#include "turnpike/tls/alloc.hpp"
#include "turnpike/worker/rcu.hpp"

namespace turnpike::worker {

std::atomic<bool> g_stop{false};

namespace {
void sleep_us(std::uint64_t us) {
  timespec ts{0, static_cast<long>(us * 1000)};
  nanosleep(&ts, nullptr);
}

// The links as their drivers report them (memif: down until the peer
// connects): each one coming up is announced (NetWorker::link_state).
void poll_links(Worker& w, std::uint64_t now) {
  for (std::uint16_t p = 0; p < w.port_ids.size(); ++p) {
    rte_eth_link link{};
    if (rte_eth_link_get_nowait(w.port_ids[p], &link) != 0) continue;
    w.net->link_state(p, link.link_status == RTE_ETH_LINK_UP, now);
  }
}
}  // namespace

int run(void* arg) {
  Worker& w = *static_cast<Worker*>(arg);
  net::NetWorker& nw = *w.net;
  tls::bind_worker_heap();  // wolfSSL allocations of this worker stay on its heap
  std::uint64_t now = rte_rdtsc();
  // Gratuitous ARP, the gateway's ARP and IPv6 DAD once a link is up.
  if (w.announce) poll_links(w, now);
  nw.flush();
  const std::uint64_t tick_every = w.tsc_hz / 1000;  // timers at 1 ms granularity
  std::uint64_t next_tick = now + tick_every;
  const std::uint64_t link_every = w.tsc_hz / 10;  // a driver call (af_packet: an ioctl) 10 times a second
  std::uint64_t next_link = now + link_every;
  unsigned empty = 0;
  std::uint64_t sleep_for = 1;
  rte_mbuf* pkts[net::NetWorker::kBurst];
  if (w.rcu) w.rcu->online(w.index);
  // Publication (docs/architecture.md): the snapshot pointer is read once per
  // iteration; the quiescent state at the end says this worker holds no
  // pointer loaded before it.
  auto load_snapshot = [&w] {
    if (!w.pub) return;
    w.snap = w.pub->load();
    if (w.snap) w.snapshot_generation.store(w.snap->generation, std::memory_order_relaxed);
  };
  // Capture: one relaxed load per iteration; the acquire fence, only when a
  // buffer is set, pairs with the control thread's release store so the
  // buffer's initialisation is visible before the first write into it.
  auto load_capture = [&w] {
    w.cap = w.capture.load(std::memory_order_relaxed);
    if (w.cap) [[unlikely]] std::atomic_thread_fence(std::memory_order_acquire);
  };
  auto quiescent = [&w] {
    w.cap = nullptr;  // not used past the quiescent state (the grace period the reader waits for)
    if (!w.rcu) return;
    w.snap = nullptr;
    w.rcu->quiescent(w.index);
  };
  // relaxed: a stop request only needs to be noticed eventually.
  while (!g_stop.load(std::memory_order_relaxed)) {
    load_snapshot();
    load_capture();
    const std::uint64_t t0 = rte_rdtsc();
    unsigned got = 0;
    for (std::uint16_t p = 0; p < w.port_ids.size(); ++p) {
      const std::uint16_t n = rte_eth_rx_burst(w.port_ids[p], w.queue_ids[p], pkts, net::NetWorker::kBurst);
      if (n) {
        if (w.cap) [[unlikely]] diag::capture_burst(*w.cap, p, diag::Dir::In, pkts, n, t0);
        nw.input(p, pkts, n, t0);
        got += n;
      }
    }
    if (w.tcp) got += w.tcp->poll(t0);  // steered segments, TCP timers
    if (t0 >= next_tick) {
      nw.tick(t0);
      if (w.backends) w.backends->poll(w.tcp->stack().now());
      for (auto& s : w.sip) s->poll(w.tcp->stack().now());
      for (auto& r : w.relays) r->poll();
      for (auto& e : w.egress) e->poll(w.tcp->stack().now());
      if (w.announce && t0 >= next_link) {
        poll_links(w, t0);
        next_link = t0 + link_every;
      }
      next_tick = t0 + tick_every;
    }
    nw.flush();
    quiescent();
    const std::uint64_t t1 = rte_rdtsc();
    if (got) {
      w.cycles.busy.add(t1 - t0);
      w.cycles.busy_iterations.add();
      empty = 0;
      sleep_for = 1;
      continue;
    }
    w.cycles.idle_poll.add(t1 - t0);
    w.cycles.idle_iterations.add();
    if (w.idle.adaptive && ++empty >= w.idle.empty_polls) {
      // Back off exponentially so an idle worker costs almost nothing, yet
      // the first packet after a pause waits at most max_sleep_us.
      // Offline while asleep: a grace period never waits for a sleeper.
      if (w.rcu) w.rcu->offline(w.index);
      sleep_us(sleep_for);
      if (w.rcu) w.rcu->online(w.index);
      if (sleep_for < w.idle.max_sleep_us) sleep_for = std::min<std::uint64_t>(sleep_for * 2, w.idle.max_sleep_us);
      w.cycles.sleep.add(rte_rdtsc() - t1);
      w.cycles.sleeps.add();
    } else {
      rte_pause();
    }
  }
  nw.flush();
  if (w.rcu) w.rcu->offline(w.index);
  return 0;
}

}  // namespace turnpike::worker
