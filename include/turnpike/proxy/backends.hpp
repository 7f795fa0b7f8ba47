// Backend pool of one worker: balancing (round-robin or least connections),
// passive failure marking and active TCP health checks. Share-nothing like
// the rest of the worker: each worker balances and checks on its own, so
// "least connections" counts the connections of this worker.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/tcp/stack.hpp"

namespace turnpike::proxy {

struct Backend {
  tcp::Addr ip;  // IPv4 or IPv6 (issue 13 item 4)
  std::uint16_t port = 5060;
  // The address as text (dotted quad, RFC 5952 for IPv6: a TLS peer name
  // matched against SAN IP by value) and "a.b.c.d:port" / "[v6]:port".
  std::string host() const;
  std::string endpoint() const;
};

enum class Balance : std::uint8_t { RoundRobin, LeastConnections };

struct BackendPoolOptions {
  std::vector<Backend> backends;
  Balance balance = Balance::RoundRobin;
  // Without health checks a backend that refused or timed out is skipped
  // this long; with them it stays down until `rise` checks in a row pass.
  std::uint64_t retry_us = 5'000'000;
  std::uint64_t check_interval_us = 0;  // 0: no active checks
  std::uint64_t check_timeout_us = 1'000'000;
  bool proxy_v2_local = false;  // checks send the PROXY v2 LOCAL command (sip.proxy_v2 on)
  std::uint32_t rise = 2;  // consecutive passes to come back up
  std::uint32_t fall = 2;  // consecutive failures to go down
  // Local address for an active open towards an IPv4 backend (the port that
  // reaches it).
  std::function<std::uint32_t(std::uint32_t ip)> source_for;
  // The same for an IPv6 backend, asked at each connect: nullopt while no
  // port has a usable address for it (none configured, or DAD not done,
  // RFC 4862 §5.4); that connect then fails and is counted.
  std::function<std::optional<net::Ipv6Addr>(const net::Ipv6Addr& ip)> source6_for;
};

struct BackendStats {
  Counter picks, connect_failures, checks_ok, checks_failed, went_down, came_up;
  Counter checks_unclosed;  // probes reset: the backend did not close within check_timeout
  // f(name, description, value); telemetry's names (/turnpike/sip), older
  // than the field names.
  template <class F>
  void for_each(F&& f) const {
    f("backend_picks", "connections given a backend", picks.load());
    f("backend_connect_failures", "backend connects refused or timed out", connect_failures.load());
    f("health_checks_ok", "health checks passed", checks_ok.load());
    f("health_checks_failed", "health checks failed", checks_failed.load());
    f("backend_went_down", "backends marked down", went_down.load());
    f("backend_came_up", "backends marked up again", came_up.load());
    f("health_checks_unclosed", "probes reset: the backend did not close in time", checks_unclosed.load());
  }
};

class BackendPool {
 public:
  BackendPool(tcp::Stack& st, BackendPoolOptions o);
  ~BackendPool();
  BackendPool(const BackendPool&) = delete;
  BackendPool& operator=(const BackendPool&) = delete;

  // Index of the backend for a new connection, or -1 when none is usable.
  int pick(std::uint64_t now_us);
  void release(int idx);                        // that connection ended
  void connect_failed(int idx, std::uint64_t now_us);  // refused or timed out
  // Starts due health checks and expires late ones; call every few ms.
  void poll(std::uint64_t now_us);

  std::size_t size() const { return opt_.backends.size(); }
  const Backend& at(int idx) const { return opt_.backends[static_cast<std::size_t>(idx)]; }
  bool up(int idx, std::uint64_t now_us) const;
  std::uint32_t active(int idx) const { return state_[static_cast<std::size_t>(idx)].active; }
  std::uint32_t source_for(std::uint32_t ip) const { return opt_.source_for ? opt_.source_for(ip) : 0; }
  // Either family: nullopt when an IPv6 backend has no usable source.
  std::optional<tcp::Addr> source_for(const tcp::Addr& ip) const;
  const BackendStats& stats() const { return stats_; }
  std::string describe(std::uint64_t now_us) const;  // one line per backend
  // Any thread (xStatus, /metrics): up/down and live connections as of the
  // worker's last poll() (a few ms old at most); relaxed single-writer cells.
  bool up_published(int idx) const { return pub_[static_cast<std::size_t>(idx)].up.load(std::memory_order_relaxed); }
  std::uint32_t active_published(int idx) const {
    return pub_[static_cast<std::size_t>(idx)].active.load(std::memory_order_relaxed);
  }

 private:
  struct Probe;
  struct State {
    bool down = false;              // by health checks (or a failure while checks run)
    std::uint64_t down_until = 0;   // passive skip when checks are off
    std::uint32_t active = 0;
    std::uint32_t pass_streak = 0, fail_streak = 0;
    std::uint64_t next_check = 0;
    std::unique_ptr<Probe> probe;   // the check in flight
  };
  void check_result(std::size_t idx, bool ok, std::uint64_t now_us);
  struct Published {
    std::atomic<bool> up{true};
    std::atomic<std::uint32_t> active{0};
  };

  tcp::Stack& st_;
  BackendPoolOptions opt_;
  std::vector<State> state_;
  std::unique_ptr<Published[]> pub_;  // one per backend, for readers on other threads
  std::vector<std::unique_ptr<Probe>> done_;  // probes freed outside their callbacks
  std::vector<std::unique_ptr<Probe>> closing_;  // checked, waiting for the backend's FIN
  std::size_t rr_ = 0;
  BackendStats stats_;
};

}  // namespace turnpike::proxy
