#include "turnpike/proxy/sip_proxy.hpp"

#include <algorithm>
#include <chrono>

#include "turnpike/net/wire.hpp"
#include "turnpike/proxy/proxy_v2.hpp"
#include "turnpike/proxy/stream.hpp"

namespace turnpike::proxy {

namespace {
// RFC 5952 text for IPv6 peers, dotted quad for IPv4 (event lines, records).
std::string addr_text(const tcp::Addr& a) { return a.is_v4() ? net::ipv4_to_string(a.v4()) : a.v6().to_string(); }
constexpr std::string_view kEventSipError = "SIP Message Error";
constexpr std::string_view kEventNoBackend = "SIP Backend Unavailable";
}  // namespace

// The client's TLS leg and the backend leg (plain or TLS); the policy: SIP
// framing and limits on what the client sends, RFC 5626 pongs, the PROXY
// v2 header, backend choice and retry, 503 when no backend is left, and
// the events and counters of refused handshakes.
struct SipProxy::Pair final : StreamOwner {
  SipProxy& px;
  tcp::Stack& st;
  std::uint32_t key;     // the client's control block index (pairs_)
  Stream cli, be;
  tcp::ConnInfo ci;      // the client connection's addresses
  std::uint64_t t_io = 0;
  std::uint64_t look_at = 0;  // when poll() looks at this pair next (SipProxy::schedule)
  int backend = -1;      // index in the worker's pool while held
  std::size_t tries = 0;  // backends tried for this client
  // The backend leg's context, taken at accept from the same snapshot as the
  // client leg's: a pair never mixes two generations.
  std::shared_ptr<const tls::Context> be_ctx;
  bool dead = false, no_backend = false;

  Pair(SipProxy& p, tcp::Stack& s, tcp::ConnId id, std::shared_ptr<const tls::Context> ctx)
      : px(p), st(s), key(id.idx), cli(s, *this, p.opt_.max_buffer), be(s, *this, p.opt_.max_buffer) {
    cli.accept(id, std::move(ctx));
    ci = cli.info();
    cli.set_deadline(s.now() + p.opt_.handshake_timeout_us);
    // Bounded: the framer refuses anything longer than header+body limits.
    cli.set_read_limit(p.opt_.limits.max_header + p.opt_.limits.max_body + 1);
  }

  tls::Session& tls() { return *cli.session(); }

  void on_stream(Stream& s, StreamEvent e) override { &s == &cli ? client_event(e) : backend_event(e); }

  void client_event(StreamEvent e) {
    switch (e) {
      case StreamEvent::Open: {
        t_io = st.now();  // idle (trim, TLS hibernation) counts from here
        px.stats_.handshakes_ok.add();
        if (tls().resumed()) px.stats_.resumed.add();
        if (tls().peer().cache_hit) px.stats_.verdict_cache_hits.add();
        if (tls().peer().would_fail) would_fail();
        connect_backend();
        return;
      }
      case StreamEvent::Readable:
        t_io = st.now();
        return from_client();
      case StreamEvent::Writable:
        return from_backend();  // resume what client back-pressure held
      case StreamEvent::PeerEof:
        from_client();
        return finish();
      case StreamEvent::TlsFailed:
        if (!cli.open()) return handshake_failed(cli.failure());
        return finish();  // a broken record after the handshake
      case StreamEvent::Timeout:
        px.stats_.handshake_timeouts.add();
        return handshake_failed(cli.failure());
      case StreamEvent::Reset:
      case StreamEvent::Error:
      case StreamEvent::Closed:
        return finish();
    }
  }

  void backend_event(StreamEvent e) {
    switch (e) {
      case StreamEvent::Open:
        if (be.tls() && px.opt_.remote_seen) px.remotes_.opened(px.opt_.remote_seen, *be.session(), be.info());
        from_backend();  // bytes that came with the handshake's end
        return from_client();  // resume what waited for the backend
      case StreamEvent::Readable:
        t_io = st.now();  // a backend's request to the client is traffic too
        return from_backend();
      case StreamEvent::Writable:
        return from_client();
      case StreamEvent::PeerEof:
        from_backend();
        return finish();
      case StreamEvent::TlsFailed:
        // TLS 1.3: the backend's refusal of our certificate arrives as an
        // alert after our Finished (RFC 8446 §4.4.2).
        if (!be.received()) return backend_tls_failed(be.failure());
        return finish();
      case StreamEvent::Timeout:
        return backend_tls_failed(be.failure());
      case StreamEvent::Error:
        if (!be.connected()) {
          // Connect refused or timed out: mark it and try the next backend.
          px.stats_.backend_failures.add();
          px.pool_.connect_failed(backend, st.now());
          return connect_backend();
        }
        return finish();
      case StreamEvent::Reset:
      case StreamEvent::Closed:
        return finish();
    }
  }

  // --- client -> backend --------------------------------------------------
  // Messages are framed in the client leg's plaintext and taken by offset;
  // reading stops while the backend leg is full.
  void from_client() {
    while (!dead && cli.open()) {
      if (!no_backend && be.full()) break;  // back-pressure from the backend leg
      const auto d = cli.peek();
      if (d.empty()) break;
      const std::string_view v(reinterpret_cast<const char*>(d.data()), d.size());
      const sip::Frame f = sip::frame(v, px.opt_.limits);
      if (f.status == sip::Status::NeedMore) break;
      switch (f.status) {
        case sip::Status::NeedMore:
        case sip::Status::Ignore: break;
        case sip::Status::KeepAlivePing:
          if (px.opt_.answer_keepalive) {
            cli.write("\r\n");  // RFC 5626 §3.5.1 pong
            px.stats_.keepalive_pongs.add();
          } else {
            forward(v.substr(0, f.length));
          }
          break;
        case sip::Status::Message:
          px.stats_.requests_in.add();
          if (no_backend) respond(v.substr(0, f.header_len), f.is_request, 503, "Service Unavailable");
          else forward(v.substr(0, f.length));
          break;
        case sip::Status::Error: return sip_error(f, v);
      }
      cli.consume(f.length);
    }
    // close_notify or a broken record after the handshake.
    if (!dead && cli.open() && cli.eof()) finish();
  }

  void forward(std::string_view bytes) { be.write(bytes); }

  // --- backend -> client --------------------------------------------------
  void from_backend() {
    if (dead || !cli.open() || !be.open()) return;
    while (!cli.full()) {
      const auto d = be.peek();
      if (d.empty()) break;
      const std::size_t w = cli.write_some(d.data(), d.size());
      if (!w) break;
      be.consume(w);
      px.stats_.responses_out.add();
    }
    if (be.tls() && be.eof()) {
      if (be.tls_failed() && !be.received()) return backend_tls_failed(be.failure());
      finish();  // the backend's close_notify, or its session broke
    }
  }

  // The backend refused our certificate or we refused its: an outbound
  // negotiation error (docs/eku-semantics.md), then the client is told 503.
  void backend_tls_failed(const std::string& detail) {
    if (dead) return;
    px.stats_.backend_tls_failures.add();
    emit_tls_failure(control::kEventOutboundTlsError, be.info(), detail);
    be.close();  // our alert, if any
    refuse_no_backend();
  }

  std::string proxy_header() {
    proxy_v2::Header h;
    h.src_ip = ci.raddr;
    h.src_port = ci.rport;
    h.dst_ip = ci.laddr;
    if (!ci.remote.is_v4()) {  // an IPv6 client: AF_INET6 addresses
      h.ipv6 = true;
      h.src6 = ci.remote.v6();
      h.dst6 = ci.local.v6();
    }
    h.dst_port = ci.lport;
    h.ssl = true;
    h.client_cert = tls().peer().presented;
    h.verify = 0;  // only verified clients get this far
    h.tls_version = tls().version();
    h.cipher = tls().cipher();
    h.client_cn = tls().peer().cn;
    if (tls().peer().presented) h.cert_sha256 = tls().peer().fp;
    std::vector<std::uint8_t> out;
    proxy_v2::encode(h, out);
    return {reinterpret_cast<const char*>(out.data()), out.size()};
  }

  // --- outcomes -------------------------------------------------------------
  // Round-robin (or least connections) over healthy backends; a refused
  // connect tries the next one, carrying what the client already sent.
  void connect_backend() {
    for (;;) {
      if (backend >= 0) px.pool_.release(backend);
      backend = -1;
      if (tries++ >= px.pool_.size()) return refuse_no_backend();
      backend = px.pool_.pick(st.now());
      if (backend < 0) return refuse_no_backend();
      const Backend& b = px.pool_.at(backend);
      // Local port 0: the stack picks one whose replies reach this worker.
      // IPv4 client and backend: from the address the client reached; any
      // other pair (an IPv6 backend, or a client of the other family) from
      // the port address that reaches the backend, for IPv6 of the right
      // scope and past DAD (none yet: this backend fails, the next is tried).
      const std::optional<tcp::Addr> src =
          ci.local.is_v4() && b.ip.is_v4() ? std::optional<tcp::Addr>(ci.local) : px.pool_.source_for(b.ip);
      if (src && be.connect(*src, b.ip, b.port)) break;
      px.stats_.backend_failures.add();
    }
    // The PROXY header precedes the TLS handshake on a TLS backend leg too.
    if (px.opt_.proxy_v2) be.set_preamble(proxy_header());
    if (px.opt_.backend_tls) {
      const Backend& b = px.pool_.at(backend);
      const bool by_ip = px.opt_.backend_tls_name.empty();
      if (!be_ctx) {  // no client context in this snapshot: never fall back to plain
        be.abort();
        return refuse_no_backend();
      }
      be.start_tls(be_ctx, by_ip ? b.host() : px.opt_.backend_tls_name, by_ip);
      be.set_deadline(st.now() + px.opt_.handshake_timeout_us);
      if (be.deadline() < look_at) px.schedule(*this, be.deadline(), st.now());
    }
  }

  // RFC 3261 §21.5.4: 503 to every request we hold, then the client goes.
  void refuse_no_backend() {
    if (no_backend) return;
    no_backend = true;
    px.stats_.no_backend.add();
    const std::string held = be.take_unsent();
    std::string_view v(held);
    while (!v.empty()) {
      const sip::Frame f = sip::frame(v, px.opt_.limits);
      if (f.status != sip::Status::Message && f.status != sip::Status::Ignore && f.status != sip::Status::KeepAlivePing)
        break;
      if (f.status == sip::Status::Message) respond(v.substr(0, f.header_len), f.is_request, 503, "Service Unavailable");
      v.remove_prefix(f.length);
    }
    emit_sip(kEventNoBackend, "no backend available");
  }

  void respond(std::string_view head, bool is_request, int code, std::string_view reason) {
    if (!is_request) return;  // responses are never answered (RFC 3261 §8.1.3)
    const std::string r = sip::build_response(head, code, reason);
    if (r.empty()) return;
    cli.write(r);
    px.stats_.error_responses.add();
  }

  void sip_error(const sip::Frame& f, std::string_view v) {
    px.stats_.sip_errors.add();
    if (f.response_code && f.header_len)
      respond(v.substr(0, f.header_len), f.is_request, f.response_code,
              f.response_code == 513 ? "Message Too Large" : "Bad Request");
    emit_sip(kEventSipError, sip::error_name(f.error));
    // close_notify after the response; the client may still be sending the
    // rest of a message too large, so a lingering close: discarded, not reset.
    finish(true);
  }

  void handshake_failed(const std::string& detail) {
    if (dead) return;
    px.stats_.handshakes_failed.add();
    // Plain SIP, HTTP or noise on the TLS port (RFC 8446 §5.1): dropped as
    // soon as its first bytes arrive; counted apart so a misconfigured
    // phone shows.
    if (tls().not_tls()) px.stats_.not_tls.add();
    emit_tls_failure(control::kEventInboundTlsError, ci, detail);
    // Issue 11 item 4: refused in mode On, accepted in mode Off: a peer for the audit.
    if (tls().peer().refused_on) sighting(true);
    finish();  // the alert, then a refusal's close
  }

  // Issue 11 item 3: counted here, per listener; the control thread keeps
  // the peer and writes the event once per fingerprint per hour.
  void would_fail() {
    px.stats_.eku_would_fail.add();
    sighting(false);
  }

  // The peer record for the control thread; refused: mode On refused it,
  // and the control thread writes no would-fail event for it.
  void sighting(bool refused) {
    if (!px.opt_.would_fail) return;
    const std::string src = addr_text(ci.remote), dst = addr_text(ci.local);
    control::TlsErrorEvent e;
    e.event = control::kEventInboundEkuWouldFail;
    e.src_ip = src;
    e.src_port = ci.rport;
    e.dst_ip = dst;
    e.dst_port = ci.lport;
    e.detail = control::kDetailPurpose;
    e.level = 2;
    const tls::PeerInfo& p = tls().peer();
    control::WouldFailSighting w;
    w.fp = p.fp;
    w.fp_partial = !refused && tls().resumed();  // a ticket binds only 16 bytes of it
    w.refused = refused;
    w.eku_present = p.eku_present;
    w.eku = p.eku;
    w.subject = p.subject;
    w.issuer = p.issuer;
    w.src_ip = src;
    w.src_port = ci.rport;
    w.dst_ip = dst;
    w.dst_port = ci.lport;
    w.time = std::chrono::duration_cast<std::chrono::seconds>(e.time.time_since_epoch()).count();
    px.opt_.would_fail(e, w);
  }

  // Src is the side that opened the connection: the client inbound, this
  // edge on the backend leg.
  void emit_tls_failure(std::string_view kind, const tcp::ConnInfo& c, std::string_view detail) {
    px.refusals_.add(detail);
    if (!px.tls_event_) return;
    const bool inbound = kind == control::kEventInboundTlsError;
    const std::string src = addr_text(inbound ? c.remote : c.local), dst = addr_text(inbound ? c.local : c.remote);
    control::TlsErrorEvent e;
    e.event = kind;
    e.src_ip = src;
    e.src_port = inbound ? c.rport : c.lport;
    e.dst_ip = dst;
    e.dst_port = inbound ? c.lport : c.rport;
    e.detail = detail;
    px.tls_event_(e);
  }

  void emit_sip(std::string_view kind, std::string_view detail) {
    if (!px.sip_event_) return;
    control::EventLine e;
    e.kind = kind;
    e.fields = {{"Service", "SIP"},
                {"Src-ip", addr_text(ci.remote)},
                {"Src-port", std::to_string(ci.rport)},
                {"Dst-ip", addr_text(ci.local)},
                {"Dst-port", std::to_string(ci.lport)},
                {"Detail", std::string(detail)},
                {"Protocol", "TLS"}};
    px.sip_event_(e);
  }

  // Ends both legs once; the object is freed later by poll(), never inside
  // one of its own callbacks.
  void finish(bool linger = false) {
    if (dead) return;
    dead = true;
    // close_notify before the FIN (RFC 8446 §6.1), unless the handshake
    // never completed: then a refusal's close.
    const auto state = tls().state();
    if (state == tls::Session::State::Open || state == tls::Session::State::Closed) cli.close(linger);
    else cli.refuse();
    be.close();
    if (backend >= 0) px.pool_.release(backend);
    backend = -1;
    px.stats_.closed.add();
    auto it = px.pairs_.find(key);
    if (it != px.pairs_.end() && it->second.get() == this) {
      px.graveyard_.push_back(std::move(it->second));
      px.pairs_.erase(it);
      px.live_.store(px.pairs_.size(), std::memory_order_relaxed);
    }
  }
};

SipProxy::SipProxy(BackendPool& pool, ContextFn ctx, SipProxyOptions o, EventFn tls_event, SipEventFn sip_event)
    : pool_(pool), ctx_(std::move(ctx)), opt_(std::move(o)), tls_event_(std::move(tls_event)), sip_event_(std::move(sip_event)) {}

SipProxy::~SipProxy() = default;

tcp::ConnHandler* SipProxy::on_accept(tcp::Stack& st, tcp::ConnId id) {
  auto ctx = ctx_();
  if (!ctx) return nullptr;  // no server certificate yet: refuse (RST)
  stats_.accepted.add();
  auto p = std::make_unique<Pair>(*this, st, id, std::move(ctx));
  if (opt_.backend_tls) p->be_ctx = opt_.backend_tls();
  Stream* handler = &p->cli;
  schedule(*p, p->cli.deadline(), st.now());
  pairs_[id.idx] = std::move(p);
  live_.store(pairs_.size(), std::memory_order_relaxed);
  return handler;
}

void SipProxy::schedule(Pair& p, std::uint64_t at, std::uint64_t now_us) {
  p.look_at = wheel_.schedule(p.key, at, now_us);
}

// What the pass over all pairs did for one pair: handshake timeouts, TLS
// hibernation after tls::hibernate_after() without traffic, and buffers
// given back after a second idle (an idle connection holds only TLS and TCP
// state, a busy one keeps its buffers: no allocation per message).
void SipProxy::look(Pair& p, std::uint64_t now_us, std::vector<Stream*>& late) {
  if (p.cli.expired(now_us)) late.push_back(&p.cli);
  else if (p.be.expired(now_us)) late.push_back(&p.be);
  const std::uint64_t idle = now_us - p.t_io;
  p.cli.idle(idle);
  p.be.idle(idle);
  if (idle > 1'000'000) {
    p.cli.trim();
    p.be.trim();
  }
  std::uint64_t next = now_us + DueWheel::kHorizonUs;
  for (std::uint64_t d : {p.cli.deadline(), p.be.deadline()})
    if (d) next = std::min(next, d + 1);  // expired() wants now past the deadline
  const std::uint64_t after = tls::hibernate_after();
  if (after && p.t_io + after > now_us) next = std::min(next, p.t_io + after);
  if (p.t_io + 1'000'001 > now_us) next = std::min(next, p.t_io + 1'000'001);
  schedule(p, next, now_us);
}

void SipProxy::poll(std::uint64_t now_us) {
  graveyard_.clear();
  std::vector<Stream*> late;
  wheel_.advance(  // timeouts need no finer grain than 10 ms
      now_us,
      [&](std::uint32_t key, std::uint64_t at) {
        const auto it = pairs_.find(key);
        return it != pairs_.end() && it->second->look_at == at;  // not gone, not looked at later
      },
      [&](std::uint32_t key) { look(*pairs_.find(key)->second, now_us, late); });
  // Pairs that finish here stay alive in graveyard_ until the next poll.
  for (Stream* s : late) s->time_out();
}

}  // namespace turnpike::proxy
