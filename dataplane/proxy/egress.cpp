#include "turnpike/proxy/egress.hpp"

#include <algorithm>

#include "turnpike/net/wire.hpp"
#include "turnpike/proxy/stream.hpp"

namespace turnpike::proxy {

namespace {
// Dotted quad, or RFC 5952 text for IPv6 (event lines, the TLS peer name).
std::string addr_text(const tcp::Addr& a) { return a.is_v4() ? net::ipv4_to_string(a.v4()) : a.v6().to_string(); }
}  // namespace

// A plain inside leg and a TLS leg to the remote; the policy: bytes both
// ways unchanged, the inside's FIN carried as close_notify, the remote's
// refusal (at the handshake or, TLS 1.3, right after it) reported as an
// outbound TLS error.
struct Egress::Pair final : StreamOwner {
  Egress& eg;
  tcp::Stack& st;
  std::uint32_t key;
  Stream in, out;
  bool dead = false;
  std::uint64_t t_io;  // last traffic either way: the remote's TLS leg hibernates after tls::hibernate_after()
  std::uint64_t look_at = 0;  // when poll() looks at this pair next (Egress::schedule)

  Pair(Egress& e, tcp::Stack& s, tcp::ConnId id)
      : eg(e), st(s), key(id.idx), in(s, *this, e.opt_.max_buffer), out(s, *this, e.opt_.max_buffer), t_io(s.now()) {
    in.accept(id);
  }

  void on_stream(Stream& s, StreamEvent e) override {
    const bool remote = &s == &out;
    if (e == StreamEvent::Open || e == StreamEvent::Readable) t_io = st.now();
    switch (e) {
      case StreamEvent::Open:
        eg.stats_.handshakes_ok.add();
        if (eg.opt_.remote_seen) eg.remotes_.opened(eg.opt_.remote_seen, *out.session(), out.info());
        return pump();
      case StreamEvent::Readable:
      case StreamEvent::Writable:
      case StreamEvent::PeerEof:
        return pump();
      case StreamEvent::TlsFailed:
        // In TLS 1.3 the server judges our certificate after our Finished
        // (RFC 8446 §4.4.2): its refusal is an alert on an open session.
        if (remote && !out.received()) return handshake_failed(out.failure());
        return pump();
      case StreamEvent::Timeout:
        return handshake_failed(out.failure());
      case StreamEvent::Error:
        if (remote && !out.connected()) eg.stats_.connect_failures.add();
        return gone(s);
      case StreamEvent::Reset:
      case StreamEvent::Closed:
        return gone(s);
    }
  }

  void pump() {
    if (dead || !out.open()) return;
    // Inside -> remote: the inside's bytes stay in its TCP buffer (and its
    // window closes) until TLS has room for them.
    for (auto d = in.peek(); !d.empty(); d = in.peek()) {
      const std::size_t w = out.write_some(d.data(), d.size());
      if (!w) break;
      in.consume(w);
      eg.stats_.bytes_out.add(w);
    }
    // Remote -> inside: plaintext waits in the remote leg until the inside
    // takes it.
    for (auto d = out.peek(); !d.empty(); d = out.peek()) {
      const std::size_t w = in.write_some(d.data(), d.size());
      if (!w) break;
      out.consume(w);
      eg.stats_.bytes_in.add(w);
    }
    if (out.tls_failed() && !out.received()) return handshake_failed(out.failure());
    // close_notify carries the inside's FIN (RFC 8446 §6.1); the engine
    // reads nothing after it, so the pair ends with it.
    if (in.eof() && in.peek().empty()) out.shutdown();
    if (out.eof() && out.peek().empty()) finish();
  }

  void handshake_failed(const std::string& detail) {
    if (dead) return;
    eg.stats_.handshakes_failed.add();
    eg.refusals_.add(detail);
    if (eg.tls_event_) {
      const tcp::ConnInfo& ci = out.info();
      const std::string src = addr_text(ci.local), dst = addr_text(ci.remote);
      control::TlsErrorEvent e;
      e.event = control::kEventOutboundTlsError;
      e.src_ip = src;
      e.src_port = ci.lport;
      e.dst_ip = dst;
      e.dst_port = ci.rport;
      e.detail = detail;
      eg.tls_event_(e);
    }
    finish();  // our alert, if any, goes first
  }

  // One leg went away: the other ends properly (close_notify if up).
  void gone(Stream&) { finish(); }

  void finish() {
    if (dead) return;
    dead = true;
    in.close();
    out.close();
    eg.stats_.closed.add();
    auto it = eg.pairs_.find(key);
    if (it != eg.pairs_.end() && it->second.get() == this) {
      eg.graveyard_.push_back(std::move(it->second));
      eg.pairs_.erase(it);
      eg.live_.store(eg.pairs_.size(), std::memory_order_relaxed);
    }
  }
};

Egress::Egress(ContextFn ctx, EgressOptions o, EventFn tls_event)
    : ctx_(std::move(ctx)), opt_(std::move(o)), tls_event_(std::move(tls_event)) {}
Egress::~Egress() = default;

tcp::ConnHandler* Egress::on_accept(tcp::Stack& st, tcp::ConnId id) {
  auto ctx = ctx_();
  if (!ctx) return nullptr;  // no client context: refuse (RST)
  auto p = std::make_unique<Pair>(*this, st, id);
  // Local port 0: the stack picks one whose replies reach this worker. An
  // IPv4 remote: the configured source, else the address the inside reached
  // if it is IPv4; an IPv6 remote: the port address for it (right scope,
  // past DAD).
  std::optional<tcp::Addr> src;
  if (!opt_.remote_ip.is_v4()) {
    if (opt_.source6_for)
      if (const auto s = opt_.source6_for(opt_.remote_ip.v6())) src = tcp::Addr(*s);
  } else if (opt_.source_ip || p->in.info().local.is_v4()) {
    src = tcp::Addr(opt_.source_ip ? opt_.source_ip : p->in.info().laddr);
  }
  if (!src || !p->out.connect(*src, opt_.remote_ip, opt_.remote_port)) {
    stats_.connect_failures.add();
    return nullptr;
  }
  // The remote must prove the configured name, or its address (RFC 5922 §7.1,
  // an IPv6 address in RFC 5952 text, matched against SAN IP by value).
  const bool by_ip = opt_.name.empty();
  p->out.start_tls(std::move(ctx), by_ip ? addr_text(opt_.remote_ip) : opt_.name, by_ip);
  p->out.set_deadline(st.now() + opt_.handshake_timeout_us);  // connect and handshake
  stats_.accepted.add();
  schedule(*p, p->out.deadline(), st.now());
  Stream* handler = &p->in;
  pairs_[id.idx] = std::move(p);
  live_.store(pairs_.size(), std::memory_order_relaxed);
  return handler;
}

void Egress::schedule(Pair& p, std::uint64_t at, std::uint64_t now_us) {
  p.look_at = wheel_.schedule(p.key, at, now_us);
}

// What the pass over all pairs did for one pair: the remote leg's handshake
// timeout, and its TLS hibernation after tls::hibernate_after() idle.
void Egress::look(Pair& p, std::uint64_t now_us, std::vector<Pair*>& late) {
  if (p.out.expired(now_us)) late.push_back(&p);
  p.out.idle(now_us - p.t_io);  // an idle remote leg keeps only its exported TLS state
  std::uint64_t next = now_us + DueWheel::kHorizonUs;
  if (const std::uint64_t d = p.out.deadline()) next = std::min(next, d + 1);  // expired() wants now past it
  const std::uint64_t after = tls::hibernate_after();
  if (after && p.t_io + after > now_us) next = std::min(next, p.t_io + after);
  schedule(p, next, now_us);
}

void Egress::poll(std::uint64_t now_us) {
  graveyard_.clear();
  std::vector<Pair*> late;
  wheel_.advance(  // timeouts at 10 ms grain
      now_us,
      [&](std::uint32_t key, std::uint64_t at) {
        const auto it = pairs_.find(key);
        return it != pairs_.end() && it->second->look_at == at;  // not gone, not looked at later
      },
      [&](std::uint32_t key) { look(*pairs_.find(key)->second, now_us, late); });
  for (Pair* p : late) p->out.time_out();
}

}  // namespace turnpike::proxy
