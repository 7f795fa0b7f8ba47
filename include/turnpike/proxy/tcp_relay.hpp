// Plain TCP relay on the per-core stack: each accepted connection is joined
// to an active open towards one configured target (two plain
// proxy::Stream legs), bytes are piped both ways with back-pressure (a
// full send buffer stops reading the other side), a half-close passes
// through in order. Operators use it to forward a port; tests use it to exercise
// turnpike's active open against kernel servers. Either leg may be IPv4 or
// IPv6 (a [::] listener takes both; the target is one address of either).
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/tcp/stack.hpp"

namespace turnpike::proxy {

#define TURNPIKE_RELAY_STATS(X)                                  \
  X(accepted, "connections accepted")                            \
  X(connected, "active opens towards the target completed")      \
  X(connect_failed, "active opens refused or timed out")         \
  X(no_source, "clients refused: no local address of the target's family") \
  X(bytes_up, "bytes carried from clients to the target")        \
  X(bytes_down, "bytes carried from the target to clients")      \
  X(closed, "connection pairs finished")

struct RelayStats {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_RELAY_STATS)
};

class TcpRelay final : public tcp::Listener {
 public:
  // The local address an active open to `target` leaves from (source
  // address selection, RFC 6724 for IPv6); nullopt: none of its family
  // (not configured, or still in DAD).
  using SourceFor = std::function<std::optional<tcp::Addr>(const tcp::Addr& target)>;
  // Without source_for, a client that came in over the target's family is
  // relayed from the address it reached; other clients are refused.
  TcpRelay(const tcp::Addr& target_ip, std::uint16_t target_port, SourceFor source_for = {});
  ~TcpRelay() override;
  tcp::ConnHandler* on_accept(tcp::Stack& st, tcp::ConnId id) override;
  void poll();  // frees finished pairs outside their callbacks
  // Any thread (telemetry): relaxed, a moment old at worst.
  std::size_t live() const { return live_.load(std::memory_order_relaxed); }
  const RelayStats& stats() const { return stats_; }

 private:
  struct Pair;
  std::optional<tcp::Addr> source(const tcp::Addr& client_laddr) const;
  tcp::Addr ip_;
  std::uint16_t port_;
  SourceFor source_for_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Pair>> pairs_;
  std::atomic<std::size_t> live_{0};  // pairs_.size() for readers on other threads
  std::vector<std::unique_ptr<Pair>> graveyard_;
  RelayStats stats_;
};

}  // namespace turnpike::proxy
