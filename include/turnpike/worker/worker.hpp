// The per-lcore pipeline: rx burst on each port's queue -> NetWorker -> tx,
// with TSC cycle accounting and an adaptive idle policy.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "turnpike/control/plane.hpp"
#include "turnpike/counter.hpp"
#include "turnpike/diag/capture.hpp"
#include "turnpike/glue/tcp_glue.hpp"
#include "turnpike/net/counters.hpp"
#include "turnpike/net/stack.hpp"
#include "turnpike/proxy/egress.hpp"
#include "turnpike/proxy/sip_proxy.hpp"
#include "turnpike/proxy/tcp_relay.hpp"
#include "turnpike/tcp/services.hpp"

namespace turnpike::worker {

// Cycles split honestly for a busy-polling process: iterations that moved at
// least one packet are "busy"; empty polls and sleeps are idle. Busy cycles
// divided by packets (or handshakes, messages) is the CPU cost per unit.
struct Cycles {
  Counter busy, idle_poll, sleep;
  Counter busy_iterations, idle_iterations, sleeps;
  // f(name, description, value) under telemetry's names (/turnpike/workers).
  template <class F>
  void for_each(F&& f) const {
    f("busy_cycles", "TSC cycles in loop iterations that moved packets", busy.load());
    f("idle_poll_cycles", "TSC cycles in empty polls", idle_poll.load());
    f("sleep_cycles", "TSC cycles asleep when idle", sleep.load());
    f("busy_iterations", "loop iterations that moved packets", busy_iterations.load());
    f("idle_iterations", "loop iterations that found nothing", idle_iterations.load());
    f("sleeps", "sleeps of the adaptive idle policy", sleeps.load());
  }
};

struct IdleParams {
  bool adaptive = true;
  unsigned empty_polls = 64;
  std::uint64_t max_sleep_us = 200;
};

struct Worker {
  unsigned index = 0;
  unsigned lcore = 0;
  std::uint16_t queue = 0;  // this worker's queue index on every port
  std::vector<std::uint16_t> port_ids;   // per port: the DPDK port serving this worker's queue
  std::vector<std::uint16_t> queue_ids;  // per port: its RX and TX queue id there (PortInfo::queue_of)
  // Diagnostics capture (dataplane/app/diagnostics.cpp): the control thread
  // stores a buffer to start and nullptr to stop, then waits one grace
  // period before reading it. `cap` is this iteration's copy (read once at
  // the top, cleared at the quiescent state): RX and TX test only it.
  // Declared before `net`: its TX function reads `cap` until `net` is gone.
  std::atomic<diag::CaptureBuffer*> capture{nullptr};
  diag::CaptureBuffer* cap = nullptr;
  std::unique_ptr<net::NetWorker> net;
  std::unique_ptr<glue::TcpGlue> tcp;  // per-core TCP stack bound to `net`
  std::vector<std::unique_ptr<tcp::Listener>> services;  // echo/discard (RFC 862/863)
  // Declared after `tcp`: destroyed first, while the stack still exists.
  std::unique_ptr<proxy::BackendPool> backends;  // SIP backends of this worker
  std::vector<std::unique_ptr<proxy::SipProxy>> sip;  // one per SIP-over-TLS listener
  std::vector<std::unique_ptr<proxy::TcpRelay>> relays;
  std::vector<std::unique_ptr<proxy::Egress>> egress;  // plain inside -> TLS to a remote peer
  Cycles cycles;
  IdleParams idle;
  std::uint64_t tsc_hz = 0;
  bool announce = false;  // watch the links: gratuitous ARP, gateway ARP, DAD when one comes up
  // Snapshot publication: `snap` is loaded from `pub` at the top of every
  // loop iteration and valid until the quiescent state reported at its end;
  // only this worker's code (its SIP edge, egress) reads it.
  const control::SnapshotPublisher* pub = nullptr;
  class QsbrGrace* rcu = nullptr;
  const control::DataplaneSnapshot* snap = nullptr;
  // For telemetry (relaxed: monitoring only): the generation last used.
  std::atomic<std::uint64_t> snapshot_generation{0};
};

// Set by signal handlers; workers exit their loop when it turns true.
extern std::atomic<bool> g_stop;

// Entry for rte_eal_remote_launch (arg: Worker*).
int run(void* arg);

}  // namespace turnpike::worker
