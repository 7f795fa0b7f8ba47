// A remote server's certificate (egress route, TLS backend) handed to the
// control thread for the audit's remotes (issue 11 item 4): once per remote
// address and certificate, and again after an hour so that "last seen"
// stays true. Per worker and per proxy object (no sharing); the callback
// pushes to the worker's event ring and never blocks.
#pragma once
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "turnpike/control/would_fail.hpp"
#include "turnpike/net/wire.hpp"
#include "turnpike/tcp/stack.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike::proxy {

class RemoteReporter {
 public:
  using Fn = std::function<void(const control::WouldFailSighting&)>;
  static constexpr std::size_t kMaxRemotes = 64;  // beyond: the oldest report is replaced
  static constexpr std::int64_t kRefreshS = 3600;

  // After an outbound handshake opened (full or resumed).
  void opened(const Fn& f, const tls::Session& s, const tcp::ConnInfo& c) {
    const tls::PeerInfo& p = s.peer();
    // A resumed session carries the saved server's names only if the full
    // handshake recorded them; it was reported then.
    if (!f || s.resumed() || !p.presented || p.subject.empty()) return;
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    Slot* slot = nullptr;
    for (auto& x : slots_)
      if (x.ip == c.remote && x.port == c.rport) slot = &x;
    if (slot && slot->fp == p.fp && now - slot->t < kRefreshS) return;
    if (!slot) {
      if (slots_.size() < kMaxRemotes) slot = &slots_.emplace_back();
      else
        for (auto& x : slots_)
          if (!slot || x.t < slot->t) slot = &x;
    }
    *slot = {c.remote, c.rport, p.fp, now};
    // Dotted quad, or RFC 5952 text for an IPv6 remote.
    auto text = [](const tcp::Addr& a) { return a.is_v4() ? net::ipv4_to_string(a.v4()) : a.v6().to_string(); };
    const std::string src = text(c.local), dst = text(c.remote);
    control::WouldFailSighting w;
    w.fp = p.fp;
    w.subject = p.subject;
    w.issuer = p.issuer;
    w.eku_present = p.eku_present;
    w.eku = p.eku;
    w.src_ip = src;
    w.src_port = c.lport;
    w.dst_ip = dst;
    w.dst_port = c.rport;
    w.time = now;
    f(w);
  }

 private:
  struct Slot {
    tcp::Addr ip;  // either family
    std::uint16_t port = 0;
    control::Fingerprint fp{};
    std::int64_t t = 0;
  };
  std::vector<Slot> slots_;
};

}  // namespace turnpike::proxy
