// SIP over TLS at the edge, per worker. Each client is a pair of legs
// (proxy::Stream): the inbound TLS leg and one backend leg, plain or TLS
// (round-robin over healthy backends, optional PROXY v2 header before
// anything else). The policy between them: SIP framing and limits (RFC
// 3261 §18.3), RFC 5626 keep-alives answered here, 503 when no backend is
// left, back-pressure both ways with bounded buffers, and the spec's event
// line for every refused handshake.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "turnpike/control/events.hpp"
#include "turnpike/control/would_fail.hpp"
#include "turnpike/counter.hpp"
#include "turnpike/proxy/backends.hpp"
#include "turnpike/proxy/detail_counters.hpp"
#include "turnpike/proxy/due_wheel.hpp"
#include "turnpike/proxy/remote_seen.hpp"
#include "turnpike/sip/framer.hpp"
#include "turnpike/tcp/stack.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike::proxy {

class Stream;

struct SipProxyOptions {
  bool proxy_v2 = false;
  sip::Limits limits;
  bool answer_keepalive = true;           // RFC 5626 §3.5.1 pong from the edge
  std::uint64_t handshake_timeout_us = 10'000'000;
  // TLS towards the backend (presenting the client store); empty: plain TCP.
  // The backend must prove backend_tls_name (RFC 5922 §7.1), or its address
  // when the name is empty.
  std::function<std::shared_ptr<const tls::Context>()> backend_tls;
  std::string backend_tls_name;
  std::size_t max_buffer = 256 * 1024;    // per direction, per connection
  // EKU mode Off accepted a client certificate mode On would refuse: the
  // event (kEventInboundEkuWouldFail, Level 2) and the peer record for the
  // control thread. Also for a client mode On refused for purpose, with
  // the sighting flagged refused (no event written for it). Called on the
  // worker; must not block.
  std::function<void(const control::TlsErrorEvent&, const control::WouldFailSighting&)> would_fail;
  // A TLS backend's certificate verified without the verdict cache (its
  // first sighting): for the audit's remotes. Worker; must not block.
  std::function<void(const control::WouldFailSighting&)> remote_seen;
};

#define TURNPIKE_SIP_STATS(X)                                          \
  X(accepted, "TLS connections accepted")                              \
  X(handshakes_ok, "TLS handshakes completed")                         \
  X(handshakes_failed, "TLS handshakes refused or failed")             \
  X(handshake_timeouts, "handshakes not finished within the timeout")  \
  X(not_tls, "refused at once: first bytes cannot be a TLS record")     \
  X(resumed, "resumed TLS sessions")                                   \
  X(verdict_cache_hits, "peer chains judged from the verdict cache")   \
  X(eku_would_fail, "accepted in EKU mode Off, refused in mode On")    \
  X(requests_in, "SIP messages from clients forwarded to backends")    \
  X(responses_out, "bytes chunks from backends sent to clients")       \
  X(keepalive_pongs, "RFC 5626 double-CRLF pings answered")            \
  X(sip_errors, "malformed or oversized SIP messages (connection closed)") \
  X(error_responses, "400/513/503 responses generated here")           \
  X(no_backend, "clients refused: no healthy backend (503)")           \
  X(backend_failures, "backend connections refused or timed out")      \
  X(backend_tls_failures, "TLS handshakes towards backends refused")    \
  X(closed, "connection pairs finished")

struct SipProxyStats {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_SIP_STATS)
};

class SipProxy final : public tcp::Listener {
 public:
  using ContextFn = std::function<std::shared_ptr<const tls::Context>()>;  // current snapshot's context
  using EventFn = std::function<void(const control::TlsErrorEvent&)>;
  using SipEventFn = std::function<void(const control::EventLine&)>;

  // tls_event receives inbound and outbound (backend leg) TLS failures.
  SipProxy(BackendPool& pool, ContextFn ctx, SipProxyOptions o, EventFn tls_event, SipEventFn sip_event);
  ~SipProxy() override;

  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId) override;
  // Handshake timeouts and deferred clean-up; call every few milliseconds.
  void poll(std::uint64_t now_us);

  // Any thread (telemetry): relaxed, a moment old at worst.
  std::size_t live() const { return live_.load(std::memory_order_relaxed); }
  const SipProxyStats& stats() const { return stats_; }
  const DetailCounters& refusals() const { return refusals_; }  // failed handshakes by Detail

 private:
  struct Pair;
  friend struct Pair;
  BackendPool& pool_;
  ContextFn ctx_;
  SipProxyOptions opt_;
  EventFn tls_event_;
  SipEventFn sip_event_;
  std::unordered_map<std::uint32_t, std::unique_ptr<Pair>> pairs_;  // by client control block index
  std::atomic<std::size_t> live_{0};  // pairs_.size() for readers on other threads
  std::vector<std::unique_ptr<Pair>> graveyard_;  // freed in poll(), never inside a callback
  // The 10 ms pass looks only at pairs due (DueWheel): at their legs'
  // handshake deadlines, when they may hibernate or trim, and at least once a
  // second.
  void schedule(Pair& p, std::uint64_t at, std::uint64_t now_us);
  void look(Pair& p, std::uint64_t now_us, std::vector<Stream*>& late);
  DueWheel wheel_;
  SipProxyStats stats_;
  DetailCounters refusals_;
  RemoteReporter remotes_;  // TLS backends' certificates, for the audit
};

}  // namespace turnpike::proxy
