#include "turnpike/proxy/egress.hpp"

#include <algorithm>

#include "turnpike/net/wire.hpp"
#include "turnpike/proxy/tcp_transport.hpp"

namespace turnpike::proxy {

struct Egress::Pair final : tcp::ConnHandler {
  Egress& eg;
  tcp::Stack& st;
  tcp::ConnId in, out;
  tls::Session tls;
  std::string to_in;  // plaintext from the remote not yet taken by the inside
  std::uint64_t t_start;
  std::uint64_t got = 0;  // plaintext bytes from the remote
  bool out_up = false, in_eof = false, in_gone = false, out_gone = false, dead = false, out_fin = false;

  // The remote leg's TCP buffers as the TLS transport (no copies of our own).
  TcpTransport rio{st, out, this, [](const void* p) {
                     auto* pair = static_cast<const Pair*>(p);
                     return pair->out_up && !pair->out_gone;
                   }};

  Pair(Egress& e, tcp::Stack& s, tcp::ConnId id, std::shared_ptr<const tls::Context> ctx)
      : eg(e),
        st(s),
        in(id),
        tls(std::move(ctx), e.opt_.name.empty() ? net::ipv4_to_string(e.opt_.remote_ip) : e.opt_.name,
            e.opt_.name.empty()),
        t_start(s.now()) {
    tls.set_transport(&rio);
  }

  void on_connected(tcp::Stack&, tcp::ConnId id) override {
    if (id != out) return;
    out_up = true;
    tls.step();  // ClientHello
    pump();
  }
  void on_readable(tcp::Stack&, tcp::ConnId) override { pump(); }
  void on_writable(tcp::Stack&, tcp::ConnId) override { pump(); }
  void on_peer_closed(tcp::Stack&, tcp::ConnId id) override {
    if (id == in) in_eof = true;
    else tls.feed_eof();
    pump();
  }
  void on_closed(tcp::Stack&, tcp::ConnId id) override { gone(id); }
  void on_reset(tcp::Stack&, tcp::ConnId id) override { gone(id); }
  void on_error(tcp::Stack&, tcp::ConnId id, tcp::Error) override {
    if (id == out && !out_up) eg.stats_.connect_failures.add();
    gone(id);
  }

  void pump() {
    if (dead || !out_up) return;
    // Remote -> TLS: the handshake through the session's buffer, records
    // afterwards straight from the TCP buffer (RemoteIo).
    if (tls.state() == tls::Session::State::Handshaking)
      for (;;) {
        const auto d = st.peek(out);
        if (d.empty()) break;
        tls.feed(d.data(), d.size());
        st.consume(out, d.size());
      }
    if (tls.state() == tls::Session::State::Handshaking) {
      tls.step();
      if (tls.state() == tls::Session::State::Failed) return handshake_failed(tls.failure());
      if (tls.state() == tls::Session::State::Open) {
        eg.stats_.handshakes_ok.add();
        if (eg.opt_.remote_seen) {
          tcp::ConnInfo ci;
          st.info(out, ci);
          eg.remotes_.opened(eg.opt_.remote_seen, tls, ci);
        }
      }
    }
    if (tls.state() == tls::Session::State::Open) {
      // Inside -> remote: the inside's bytes stay in its TCP buffer (and its
      // window closes) until TLS has room for them.
      while (tls.output().size() < eg.opt_.max_buffer) {
        const auto d = st.peek(in);
        if (d.empty()) break;
        const std::size_t n = std::min<std::size_t>(d.size(), 16384);
        const std::size_t w = tls.write(d.data(), n);
        if (!w) break;
        st.consume(in, w);
        eg.stats_.bytes_out.add(w);
      }
      // Remote -> inside.
      std::uint8_t buf[16384];
      while (to_in.size() < eg.opt_.max_buffer) {
        const std::size_t n = tls.read(buf, sizeof buf);
        if (!n) break;
        to_in.append(reinterpret_cast<const char*>(buf), n);
        eg.stats_.bytes_in.add(n);
        got += n;
      }
      // In TLS 1.3 the server judges our certificate after our Finished
      // (RFC 8446 §4.4.2): its refusal is an alert on an open session.
      if (tls.state() == tls::Session::State::Failed && !got) return handshake_failed(tls.failure());
      if (in_eof && !out_fin && st.readable(in) == 0) {
        tls.close();  // close_notify carries the inside's FIN (RFC 8446 §6.1)
        out_fin = true;
      }
    }
    flush();
    const bool remote_done = tls.state() == tls::Session::State::Closed || tls.state() == tls::Session::State::Failed;
    if (remote_done && to_in.empty()) finish();
    else if (out_fin && in_gone) finish();
  }

  void flush() {
    if (!out_gone) {
      const auto o = tls.output();
      if (!o.empty()) {
        const long w = st.write(out, o.data(), o.size());
        if (w > 0) tls.consume_output(static_cast<std::size_t>(w));
      }
    }
    if (!in_gone && !to_in.empty()) {
      const long w = st.write(in, to_in.data(), to_in.size());
      if (w > 0) to_in.erase(0, static_cast<std::size_t>(w));
    }
  }

  void handshake_failed(std::string_view detail) {
    eg.stats_.handshakes_failed.add();
    eg.refusals_.add(detail);
    if (eg.tls_event_) {
      tcp::ConnInfo ci;
      st.info(out, ci);
      const std::string src = net::ipv4_to_string(ci.laddr), dst = net::ipv4_to_string(ci.raddr);
      control::TlsErrorEvent e;
      e.event = control::kEventOutboundTlsError;
      e.src_ip = src;
      e.src_port = ci.lport;
      e.dst_ip = dst;
      e.dst_port = ci.rport;
      e.detail = detail;
      eg.tls_event_(e);
    }
    flush();  // our alert
    finish();
  }

  void gone(tcp::ConnId id) {
    (id == in ? in_gone : out_gone) = true;
    if (id == in && !out_gone) {
      // The inside went away: end the TLS session properly.
      if (tls.state() == tls::Session::State::Open && !out_fin) tls.close();
      flush();
    }
    finish();
  }

  void finish() {
    if (dead) return;
    dead = true;
    if (!in_gone) {
      flush();
      st.close(in);
      in_gone = true;
    }
    if (out.valid() && !out_gone) {
      flush();
      st.close(out);
      out_gone = true;
    }
    eg.stats_.closed.add();
    auto it = eg.pairs_.find(in.idx);
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
  tcp::ConnInfo ci;
  st.info(id, ci);
  auto p = std::make_unique<Pair>(*this, st, id, std::move(ctx));
  // Local port 0: the stack picks one whose replies reach this worker.
  p->out = st.connect(opt_.source_ip ? opt_.source_ip : ci.laddr, 0, opt_.remote_ip, opt_.remote_port, *p);
  if (!p->out.valid()) {
    stats_.connect_failures.add();
    return nullptr;
  }
  stats_.accepted.add();
  Pair* raw = p.get();
  pairs_[id.idx] = std::move(p);
  live_.store(pairs_.size(), std::memory_order_relaxed);
  return raw;
}

void Egress::poll(std::uint64_t now_us) {
  graveyard_.clear();
  if (now_us - last_scan_us_ < 10'000) return;  // timeouts at 10 ms grain
  last_scan_us_ = now_us;
  std::vector<Pair*> late;
  for (auto& [idx, p] : pairs_)
    if (p->tls.state() == tls::Session::State::Handshaking && now_us - p->t_start > opt_.handshake_timeout_us)
      late.push_back(p.get());
  for (Pair* p : late) p->handshake_failed("handshake timeout");
}

}  // namespace turnpike::proxy
