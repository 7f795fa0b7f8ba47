#include "turnpike/proxy/sip_proxy.hpp"

#include <algorithm>
#include <chrono>

#include "turnpike/net/wire.hpp"
#include "turnpike/proxy/proxy_v2.hpp"
#include "turnpike/proxy/tcp_transport.hpp"

namespace turnpike::proxy {

namespace {
constexpr std::string_view kEventSipError = "SIP Message Error";
constexpr std::string_view kEventNoBackend = "SIP Backend Unavailable";
}  // namespace

struct SipProxy::Pair final : tcp::ConnHandler {
  SipProxy& px;
  tcp::Stack& st;
  tcp::ConnId cli, be;
  tls::Session tls;
  tcp::ConnInfo ci;
  std::string in_plain, to_backend;
  std::uint64_t t_accept, t_backend = 0, t_io = 0;
  int backend = -1;                  // index in the worker's pool while held
  std::size_t tries = 0;             // backends tried for this client
  std::unique_ptr<tls::Session> be_tls;  // TLS towards the backend, if configured
  // The backend leg's context, taken at accept from the same snapshot as the
  // client leg's: a pair never mixes two generations.
  std::shared_ptr<const tls::Context> be_ctx;
  std::string be_hdr;                // PROXY v2 header, sent before anything else
  bool be_got = false;               // plaintext came back from the backend
  bool be_up = false, cli_gone = false, be_gone = false, dead = false, no_backend = false;

  // The client leg's TCP buffers as the TLS transport (no copies of our own).
  TcpTransport cio{st, cli, this, [](const void* p) { return !static_cast<const Pair*>(p)->cli_gone; }};

  Pair(SipProxy& p, tcp::Stack& s, tcp::ConnId id, std::shared_ptr<const tls::Context> ctx)
      : px(p), st(s), cli(id), tls(std::move(ctx)), t_accept(s.now()) {
    st.info(id, ci);
    tls.set_transport(&cio);
  }

  // --- tcp::ConnHandler ---------------------------------------------------
  void on_readable(tcp::Stack&, tcp::ConnId id) override { id == cli ? from_client() : from_backend(); }
  void on_writable(tcp::Stack&, tcp::ConnId id) override {
    if (id == cli) {
      flush_client();
      from_backend();  // resume what client back-pressure held
    } else {
      drain_backend();
      from_client();
    }
  }
  void on_connected(tcp::Stack&, tcp::ConnId id) override {
    if (id != be) return;
    be_up = true;
    // The PROXY header precedes the TLS handshake on a TLS backend leg too.
    if (px.opt_.proxy_v2) send_proxy_header();
    if (be_tls) be_tls->step();  // ClientHello
    drain_backend();
  }
  void on_peer_closed(tcp::Stack&, tcp::ConnId id) override {
    if (id == cli) {
      tls.feed_eof();
      from_client();
    } else {
      from_backend();
      flush_client();
    }
    finish();
  }
  void on_reset(tcp::Stack&, tcp::ConnId id) override { leg_gone(id); }
  void on_closed(tcp::Stack&, tcp::ConnId id) override { leg_gone(id); }
  void on_error(tcp::Stack&, tcp::ConnId id, tcp::Error) override {
    if (id == be && !be_up) {
      // Connect refused or timed out: mark it and try the next backend.
      px.stats_.backend_failures.add();
      px.pool_.connect_failed(backend, st.now());
      be = {};
      return connect_backend();
    }
    leg_gone(id);
  }

  void leg_gone(tcp::ConnId id) {
    (id == cli ? cli_gone : be_gone) = true;
    finish();
  }

  // --- client -> backend --------------------------------------------------
  void from_client() {
    if (dead) return;
    t_io = st.now();
    // The handshake is fed through the session's own buffer (the server
    // looks at the whole ClientHello first); afterwards records come
    // straight from the TCP buffer (ClientIo).
    if (tls.state() == tls::Session::State::Handshaking)
      for (;;) {
        const auto d = st.peek(cli);
        if (d.empty()) break;
        tls.feed(d.data(), d.size());
        st.consume(cli, d.size());
      }
    advance();
  }

  void advance() {
    if (dead) return;
    if (tls.state() == tls::Session::State::Handshaking) {
      tls.step();
      if (tls.state() == tls::Session::State::Failed) return handshake_failed(tls.failure());
      if (tls.state() == tls::Session::State::Open) {
        px.stats_.handshakes_ok.add();
        if (tls.resumed()) px.stats_.resumed.add();
        if (tls.peer().cache_hit) px.stats_.verdict_cache_hits.add();
        if (tls.peer().would_fail) would_fail();
        connect_backend();
      }
    }
    if (tls.state() == tls::Session::State::Open) {
      std::uint8_t buf[16384];
      // Bounded: the framer refuses anything longer than header+body limits.
      while (in_plain.size() <= px.opt_.limits.max_header + px.opt_.limits.max_body &&
             to_backend.size() < px.opt_.max_buffer) {  // back-pressure from the backend leg
        const std::size_t n = tls.read(buf, sizeof buf);
        if (!n) break;
        in_plain.append(reinterpret_cast<const char*>(buf), n);
      }
      frame_messages();
    }
    flush_client();
    if (!dead && (tls.state() == tls::Session::State::Closed || tls.state() == tls::Session::State::Failed))
      finish();  // close_notify or a broken record after the handshake
  }

  void frame_messages() {
    while (!dead && !in_plain.empty()) {
      const sip::Frame f = sip::frame(in_plain, px.opt_.limits);
      switch (f.status) {
        case sip::Status::NeedMore: return;
        case sip::Status::Ignore: in_plain.erase(0, f.length); break;
        case sip::Status::KeepAlivePing:
          if (px.opt_.answer_keepalive) {
            static const std::uint8_t crlf[2] = {'\r', '\n'};  // RFC 5626 §3.5.1 pong
            tls.write(crlf, 2);
            px.stats_.keepalive_pongs.add();
          } else {
            forward(std::string_view(in_plain).substr(0, f.length));
          }
          in_plain.erase(0, f.length);
          break;
        case sip::Status::Message:
          px.stats_.requests_in.add();
          if (no_backend) {
            respond(std::string_view(in_plain).substr(0, f.header_len), f.is_request, 503, "Service Unavailable");
          } else {
            forward(std::string_view(in_plain).substr(0, f.length));
          }
          in_plain.erase(0, f.length);
          break;
        case sip::Status::Error: return sip_error(f);
      }
    }
  }

  void forward(std::string_view bytes) {
    if (to_backend.empty() && be_up && !be_gone && !be_tls && be_hdr.empty()) {
      // Straight into the backend's send buffer; only a remainder waits.
      const long w = st.write(be, bytes.data(), bytes.size());
      if (w > 0) bytes.remove_prefix(static_cast<std::size_t>(w));
      if (bytes.empty()) return;
    }
    to_backend.append(bytes);
    drain_backend();
  }

  void drain_backend() {
    if (!be_up || be_gone || dead) return;
    if (!be_hdr.empty()) {
      const long w = st.write(be, be_hdr.data(), be_hdr.size());
      if (w > 0) be_hdr.erase(0, static_cast<std::size_t>(w));
      if (!be_hdr.empty()) return;
    }
    if (be_tls) {
      if (be_tls->state() == tls::Session::State::Open)
        while (!to_backend.empty() && be_tls->output().size() < px.opt_.max_buffer) {
          const std::size_t w = be_tls->write(reinterpret_cast<const std::uint8_t*>(to_backend.data()),
                                              std::min<std::size_t>(to_backend.size(), 16384));
          if (!w) break;
          to_backend.erase(0, w);
        }
      flush_backend_tls();
      return;
    }
    while (!to_backend.empty()) {
      const long w = st.write(be, to_backend.data(), to_backend.size());
      if (w <= 0) break;  // on_writable resumes; the client is held meanwhile
      to_backend.erase(0, static_cast<std::size_t>(w));
    }
  }

  void flush_backend_tls() {
    if (!be_up || be_gone) return;
    const auto out = be_tls->output();
    if (out.empty()) return;
    const long w = st.write(be, out.data(), out.size());
    if (w > 0) be_tls->consume_output(static_cast<std::size_t>(w));
  }

  void send_proxy_header() {
    proxy_v2::Header h;
    h.src_ip = ci.raddr;
    h.src_port = ci.rport;
    h.dst_ip = ci.laddr;
    h.dst_port = ci.lport;
    h.ssl = true;
    h.client_cert = tls.peer().presented;
    h.verify = 0;  // only verified clients get this far
    h.tls_version = tls.version();
    h.cipher = tls.cipher();
    h.client_cn = tls.peer().cn;
    if (tls.peer().presented) h.cert_sha256 = tls.peer().fp;
    std::vector<std::uint8_t> out;
    proxy_v2::encode(h, out);
    be_hdr.assign(reinterpret_cast<const char*>(out.data()), out.size());
  }

  // --- backend -> client --------------------------------------------------
  void from_backend() {
    if (dead || be_gone || tls.state() != tls::Session::State::Open) return;
    if (be_tls) return from_tls_backend();
    while (tls.output().size() < px.opt_.max_buffer) {
      const auto d = st.peek(be);
      if (d.empty()) break;
      const std::size_t w = tls.write(d.data(), d.size());
      st.consume(be, w);
      px.stats_.responses_out.add();
      if (w < d.size()) break;
    }
    flush_client();
  }

  void from_tls_backend() {
    while (tls.output().size() < px.opt_.max_buffer) {
      const auto d = st.peek(be);
      if (!d.empty()) {
        be_tls->feed(d.data(), d.size());
        st.consume(be, d.size());
      }
      if (be_tls->state() == tls::Session::State::Handshaking) {
        be_tls->step();
        if (be_tls->state() == tls::Session::State::Failed) return backend_tls_failed(be_tls->failure());
        if (be_tls->state() == tls::Session::State::Open) {
          if (px.opt_.remote_seen) {
            tcp::ConnInfo bi;
            st.info(be, bi);
            px.remotes_.opened(px.opt_.remote_seen, *be_tls, bi);
          }
          drain_backend();
        }
      }
      std::uint8_t buf[16384];
      const std::size_t n = be_tls->read(buf, sizeof buf);
      if (n) {
        tls.write(buf, n);
        px.stats_.responses_out.add();
        be_got = true;
      }
      // TLS 1.3: the backend's refusal of our certificate arrives as an
      // alert after our Finished (RFC 8446 §4.4.2).
      if (be_tls->state() == tls::Session::State::Failed && !be_got) return backend_tls_failed(be_tls->failure());
      if (!n && d.empty()) break;
    }
    flush_backend_tls();
    flush_client();
    if (be_tls->state() == tls::Session::State::Closed || be_tls->state() == tls::Session::State::Failed) finish();
  }

  // The backend refused our certificate or we refused its: an outbound
  // negotiation error (eku-semantics.md), then the client is told 503.
  void backend_tls_failed(std::string_view detail) {
    px.stats_.backend_tls_failures.add();
    tcp::ConnInfo bi;
    st.info(be, bi);
    emit_tls_failure(control::kEventOutboundTlsError, bi, detail);
    flush_backend_tls();  // our alert, if any
    st.close(be);
    be_gone = true;
    refuse_no_backend();
  }

  void flush_client() {
    if (cli_gone) return;
    const auto out = tls.output();
    if (out.empty()) return;
    const long w = st.write(cli, out.data(), out.size());
    if (w > 0) tls.consume_output(static_cast<std::size_t>(w));
  }

  // --- outcomes -------------------------------------------------------------
  void connect_backend() {
    for (;;) {
      if (backend >= 0) px.pool_.release(backend);
      backend = -1;
      if (tries++ >= px.pool_.size()) return refuse_no_backend();
      backend = px.pool_.pick(st.now());
      if (backend < 0) return refuse_no_backend();
      const Backend& b = px.pool_.at(backend);
      // Local port 0: the stack picks one whose replies reach this worker.
      be = st.connect(ci.laddr, 0, b.ip, b.port, *this);
      if (be.valid()) break;
      px.stats_.backend_failures.add();
    }
    be_up = false;
    be_hdr.clear();
    be_tls.reset();
    if (px.opt_.backend_tls) {
      auto ctx = be_ctx;
      const Backend& b = px.pool_.at(backend);
      const bool by_ip = px.opt_.backend_tls_name.empty();
      if (!ctx) {  // no client context in this snapshot: never fall back to plain
        st.abort(be);
        be_gone = true;
        return refuse_no_backend();
      }
      be_tls = std::make_unique<tls::Session>(std::move(ctx),
                                              by_ip ? net::ipv4_to_string(b.ip) : px.opt_.backend_tls_name, by_ip);
      t_backend = st.now();
    }
  }

  // RFC 3261 §21.5.4: 503 to every request we hold, then the client goes.
  void refuse_no_backend() {
    if (no_backend) return;
    no_backend = true;
    px.stats_.no_backend.add();
    std::string held;
    held.swap(to_backend);
    std::string_view v(held);
    while (!v.empty()) {
      const sip::Frame f = sip::frame(v, px.opt_.limits);
      if (f.status != sip::Status::Message && f.status != sip::Status::Ignore && f.status != sip::Status::KeepAlivePing)
        break;
      if (f.status == sip::Status::Message) respond(v.substr(0, f.header_len), f.is_request, 503, "Service Unavailable");
      v.remove_prefix(f.length);
    }
    emit_sip(kEventNoBackend, "no backend available");
    flush_client();
  }

  void respond(std::string_view head, bool is_request, int code, std::string_view reason) {
    if (!is_request) return;  // responses are never answered (RFC 3261 §8.1.3)
    const std::string r = sip::build_response(head, code, reason);
    if (r.empty()) return;
    tls.write(reinterpret_cast<const std::uint8_t*>(r.data()), r.size());
    px.stats_.error_responses.add();
  }

  void sip_error(const sip::Frame& f) {
    px.stats_.sip_errors.add();
    if (f.response_code && f.header_len)
      respond(std::string_view(in_plain).substr(0, f.header_len), f.is_request, f.response_code,
              f.response_code == 513 ? "Message Too Large" : "Bad Request");
    emit_sip(kEventSipError, sip::error_name(f.error));
    tls.close();
    flush_client();
    finish();
  }

  void handshake_failed(std::string_view detail) {
    px.stats_.handshakes_failed.add();
    // Plain SIP, HTTP or noise on the TLS port (RFC 8446 §5.1): dropped as
    // soon as its first bytes arrive; counted apart so a misconfigured
    // phone shows.
    if (tls.not_tls()) px.stats_.not_tls.add();
    emit_tls_failure(control::kEventInboundTlsError, ci, detail);
    // Issue 11 item 4: refused in mode On, accepted in mode Off: a peer for the audit.
    if (tls.peer().refused_on) sighting(true);
    flush_client();  // the alert
    finish();
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
    const std::string src = net::ipv4_to_string(ci.raddr), dst = net::ipv4_to_string(ci.laddr);
    control::TlsErrorEvent e;
    e.event = control::kEventInboundEkuWouldFail;
    e.src_ip = src;
    e.src_port = ci.rport;
    e.dst_ip = dst;
    e.dst_port = ci.lport;
    e.detail = control::kDetailPurpose;
    e.level = 2;
    const tls::PeerInfo& p = tls.peer();
    control::WouldFailSighting w;
    w.fp = p.fp;
    w.fp_partial = !refused && tls.resumed();  // a ticket binds only 16 bytes of it
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
    const std::string src = net::ipv4_to_string(inbound ? c.raddr : c.laddr),
                      dst = net::ipv4_to_string(inbound ? c.laddr : c.raddr);
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
                {"Src-ip", net::ipv4_to_string(ci.raddr)},
                {"Src-port", std::to_string(ci.rport)},
                {"Dst-ip", net::ipv4_to_string(ci.laddr)},
                {"Dst-port", std::to_string(ci.lport)},
                {"Detail", std::string(detail)},
                {"Protocol", "TLS"}};
    px.sip_event_(e);
  }

  // Ends both legs once; the object is freed later by poll(), never inside
  // one of its own callbacks.
  void finish() {
    if (dead) return;
    dead = true;
    if (!cli_gone) {
      // close_notify before the FIN (RFC 8446 §6.1), unless TLS failed.
      if (tls.state() == tls::Session::State::Open || tls.state() == tls::Session::State::Closed) {
        tls.close();
      } else {
        // The handshake never completed, so no SIP byte crossed: no TIME_WAIT
        // on our side. Safe: TIME_WAIT guards a later incarnation of this
        // 4-tuple against old data segments (RFC 9293 §3.6.1) and resends
        // the last ACK; the peer that sent garbage or failed its handshake
        // has no data of ours to confuse with a new connection's, and at worst
        // its retransmitted FIN draws a RST after a refusal it already has.
        // A refused scanner or misconfigured phone no longer costs 2MSL of state.
        st.skip_time_wait(cli);
        // And what the client sends after our alert (a TLS 1.3 client writes
        // its request right after its Finished, before it sees the refusal)
        // is discarded, not reset: a RST would make its kernel drop the alert.
        st.linger(cli);
      }
      flush_client();
      st.close(cli);  // FIN after what is queued
      cli_gone = true;
    }
    if (be.valid() && !be_gone) {
      if (be_tls && be_tls->state() == tls::Session::State::Open) {
        be_tls->close();  // close_notify (RFC 8446 §6.1)
        flush_backend_tls();
      }
      st.close(be);
      be_gone = true;
    }
    if (backend >= 0) px.pool_.release(backend);
    backend = -1;
    px.stats_.closed.add();
    auto it = px.pairs_.find(cli.idx);
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
  Pair* raw = p.get();
  pairs_[id.idx] = std::move(p);
  live_.store(pairs_.size(), std::memory_order_relaxed);
  return raw;
}

void SipProxy::poll(std::uint64_t now_us) {
  graveyard_.clear();
  // Timeouts need no finer grain than 10 ms: one pass over the pairs then,
  // not every tick.
  if (now_us - last_scan_us_ < 10'000) return;
  last_scan_us_ = now_us;
  // Once a second, connections idle for a second with nothing buffered give
  // their message buffers back: an idle connection holds only TLS and TCP
  // state, a busy one keeps its buffers (no allocation per message).
  const bool trim = now_us - last_trim_us_ > 1'000'000;
  if (trim) last_trim_us_ = now_us;
  std::vector<Pair*> late, late_backend;
  for (auto& [idx, p] : pairs_) {
    if (p->tls.state() == tls::Session::State::Handshaking && now_us - p->t_accept > opt_.handshake_timeout_us)
      late.push_back(p.get());
    else if (p->be_tls && !p->be_gone && p->be_tls->state() == tls::Session::State::Handshaking &&
             now_us - p->t_backend > opt_.handshake_timeout_us)
      late_backend.push_back(p.get());
    if (trim && now_us - p->t_io > 1'000'000) {  // idle for a second
      if (p->in_plain.empty() && p->in_plain.capacity()) std::string().swap(p->in_plain);
      if (p->to_backend.empty() && p->to_backend.capacity()) std::string().swap(p->to_backend);
    }
  }
  // Pairs that finish here stay alive in graveyard_ until the next poll.
  for (Pair* p : late) {
    stats_.handshake_timeouts.add();
    p->handshake_failed("handshake timeout");
  }
  for (Pair* p : late_backend) p->backend_tls_failed("handshake timeout");
}

}  // namespace turnpike::proxy
