// Egress: turnpike as the TLS client for the inside. A plain TCP listener
// takes connections from backends; each is carried over TLS to one
// configured remote peer, presenting the client store's certificate
// (docs/eku-semantics.md: "when turnpike is the TLS client it presents the
// client store") and requiring the remote to allow serverAuth and to prove
// the configured name (RFC 5922 §7.1). Two legs (proxy::Stream), plain
// inside and TLS outside; bytes are relayed unchanged both ways with
// bounded buffers, nothing is parsed.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "turnpike/control/events.hpp"
#include "turnpike/control/would_fail.hpp"
#include "turnpike/counter.hpp"
#include "turnpike/proxy/detail_counters.hpp"
#include "turnpike/proxy/due_wheel.hpp"
#include "turnpike/proxy/remote_seen.hpp"
#include "turnpike/tcp/stack.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike::proxy {

struct EgressOptions {
  tcp::Addr remote_ip;                // IPv4 or IPv6 (issue 13 item 4)
  std::uint16_t remote_port = 5061;
  std::uint32_t source_ip = 0;        // local address for the outbound leg (IPv4 remote)
  // An IPv6 remote's local address, asked at each connect: nullopt while no
  // port has a usable one (none configured, or DAD not done, RFC 4862 §5.4);
  // the inside connection is then refused and the connect failure counted.
  std::function<std::optional<net::Ipv6Addr>(const net::Ipv6Addr&)> source6_for;
  std::string name;                   // name the remote must prove; empty: its address
  std::uint64_t handshake_timeout_us = 10'000'000;
  std::size_t max_buffer = 256 * 1024;  // per direction, per connection
  // The remote's certificate verified without the verdict cache (its first
  // sighting): for the audit's remotes. Worker; must not block.
  std::function<void(const control::WouldFailSighting&)> remote_seen;
};

#define TURNPIKE_EGRESS_STATS(X)                                         \
  X(accepted, "inside connections accepted")                             \
  X(connect_failures, "outbound TCP connects refused or timed out")      \
  X(handshakes_ok, "outbound TLS handshakes completed")                  \
  X(handshakes_failed, "outbound TLS handshakes refused or failed")      \
  X(bytes_out, "plaintext bytes carried to remote peers")                \
  X(bytes_in, "plaintext bytes carried back from remote peers")          \
  X(closed, "connection pairs finished")

struct EgressStats {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_EGRESS_STATS)
};

class Egress final : public tcp::Listener {
 public:
  using ContextFn = std::function<std::shared_ptr<const tls::Context>()>;  // client store's context
  using EventFn = std::function<void(const control::TlsErrorEvent&)>;
  Egress(ContextFn ctx, EgressOptions o, EventFn tls_event);
  ~Egress() override;

  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId) override;
  void poll(std::uint64_t now_us);  // handshake timeouts, deferred frees
  // Any thread (telemetry): relaxed, a moment old at worst.
  std::size_t live() const { return live_.load(std::memory_order_relaxed); }
  const EgressStats& stats() const { return stats_; }
  const DetailCounters& refusals() const { return refusals_; }
  const EgressOptions& options() const { return opt_; }

 private:
  struct Pair;
  friend struct Pair;
  ContextFn ctx_;
  EgressOptions opt_;
  RemoteReporter remotes_;  // the remote's certificate, for the audit
  EventFn tls_event_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Pair>> pairs_;  // by inside control block index
  std::atomic<std::size_t> live_{0};  // pairs_.size() for readers on other threads
  std::vector<std::unique_ptr<Pair>> graveyard_;
  EgressStats stats_;
  DetailCounters refusals_;
  // The 10 ms pass looks only at pairs due (DueWheel): at the remote leg's
  // handshake deadline, when that leg may hibernate, and at least once a second.
  void schedule(Pair& p, std::uint64_t at, std::uint64_t now_us);
  void look(Pair& p, std::uint64_t now_us, std::vector<Pair*>& late);
  DueWheel wheel_;
};

}  // namespace turnpike::proxy
