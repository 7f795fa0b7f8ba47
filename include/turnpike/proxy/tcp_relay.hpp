// Plain TCP relay on the per-core stack: each accepted connection is joined
// to an active open towards one configured target (two plain
// proxy::Stream legs), bytes are piped both ways with back-pressure (a
// full send buffer stops reading the other side), a half-close passes
// through in order. Operators use it to forward a port; tests use it to exercise
// turnpike's active open against kernel servers.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/tcp/stack.hpp"

namespace turnpike::proxy {

#define TURNPIKE_RELAY_STATS(X)                                  \
  X(accepted, "connections accepted")                            \
  X(connected, "active opens towards the target completed")      \
  X(connect_failed, "active opens refused or timed out")         \
  X(bytes_up, "bytes carried from clients to the target")        \
  X(bytes_down, "bytes carried from the target to clients")      \
  X(closed, "connection pairs finished")

struct RelayStats {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_RELAY_STATS)
};

class TcpRelay final : public tcp::Listener {
 public:
  TcpRelay(std::uint32_t target_ip, std::uint16_t target_port);
  ~TcpRelay() override;
  tcp::ConnHandler* on_accept(tcp::Stack& st, tcp::ConnId id) override;
  void poll();  // frees finished pairs outside their callbacks
  // Any thread (telemetry): relaxed, a moment old at worst.
  std::size_t live() const { return live_.load(std::memory_order_relaxed); }
  const RelayStats& stats() const { return stats_; }

 private:
  struct Pair;
  std::uint32_t ip_;
  std::uint16_t port_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Pair>> pairs_;
  std::atomic<std::size_t> live_{0};  // pairs_.size() for readers on other threads
  std::vector<std::unique_ptr<Pair>> graveyard_;
  RelayStats stats_;
};

}  // namespace turnpike::proxy
