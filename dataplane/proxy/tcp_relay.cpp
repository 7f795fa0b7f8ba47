#include "turnpike/proxy/tcp_relay.hpp"

#include "turnpike/proxy/stream.hpp"

namespace turnpike::proxy {

// Two plain legs; the policy: bytes both ways as far as the other leg takes
// them, a half-close passed on once what preceded it has been, and a failed
// leg aborts the other (a relay cannot repair a stream).
struct TcpRelay::Pair final : StreamOwner {
  TcpRelay& r;
  std::uint32_t key;
  Stream in, out;
  bool dead = false;

  Pair(TcpRelay& relay, tcp::Stack& st, tcp::ConnId id)
      : r(relay), key(id.idx), in(st, *this, st.config().sndbuf), out(st, *this, st.config().sndbuf) {
    in.accept(id);
  }

  void on_stream(Stream& s, StreamEvent e) override {
    switch (e) {
      case StreamEvent::Open:
        r.stats_.connected.add();
        return pump();
      case StreamEvent::Readable:
      case StreamEvent::Writable:
      case StreamEvent::PeerEof:
        return pump();
      case StreamEvent::Closed:
        if (in.gone() && out.gone()) finish();
        return;
      case StreamEvent::Error:
        if (&s == &out && !out.open()) r.stats_.connect_failed.add();
        return finish();
      case StreamEvent::Reset:
      case StreamEvent::TlsFailed:
      case StreamEvent::Timeout:
        return finish();
    }
  }

  // Copies what `from` has into `to` as far as `to` takes it now; the rest
  // stays in from's receive buffer (its window closes) until Writable.
  static std::size_t pipe(Stream& from, Stream& to) {
    std::size_t moved = 0;
    for (auto d = from.peek(); !d.empty(); d = from.peek()) {
      const std::size_t w = to.write_some(d.data(), d.size());
      if (!w) break;
      from.consume(w);
      moved += w;
    }
    return moved;
  }

  void pump() {
    if (dead || !out.open()) return;
    r.stats_.bytes_up.add(pipe(in, out));
    r.stats_.bytes_down.add(pipe(out, in));
    // Half-close travels through once everything before it has.
    if (in.eof() && in.peek().empty()) out.shutdown();
    if (out.eof() && out.peek().empty()) in.shutdown();
  }

  void finish() {
    if (dead) return;
    dead = true;
    in.abort();
    out.abort();
    r.stats_.closed.add();
    auto it = r.pairs_.find(key);
    if (it != r.pairs_.end() && it->second.get() == this) {
      r.graveyard_.push_back(std::move(it->second));
      r.pairs_.erase(it);
      r.live_.store(r.pairs_.size(), std::memory_order_relaxed);
    }
  }
};

TcpRelay::TcpRelay(const tcp::Addr& target_ip, std::uint16_t target_port, SourceFor source_for)
    : ip_(target_ip), port_(target_port), source_for_(std::move(source_for)) {}
TcpRelay::~TcpRelay() = default;

void TcpRelay::poll() { graveyard_.clear(); }

// IPv4 to IPv4 leaves from the address the client reached (the port it came
// in on, as before). Anything else asks the selector: the client's address
// is of the wrong family (an IPv6 client to an IPv4 target and the reverse:
// a TCP connection has one family), and for IPv6 the right source depends on
// the target's scope and on-link prefix (RFC 6724 §5), not on the client's.
std::optional<tcp::Addr> TcpRelay::source(const tcp::Addr& client_laddr) const {
  if (client_laddr.is_v4() && ip_.is_v4()) return client_laddr;
  if (source_for_) return source_for_(ip_);
  if (client_laddr.is_v4() == ip_.is_v4()) return client_laddr;
  return std::nullopt;
}

tcp::ConnHandler* TcpRelay::on_accept(tcp::Stack& st, tcp::ConnId id) {
  auto p = std::make_unique<Pair>(*this, st, id);
  const std::optional<tcp::Addr> src = source(p->in.info().local);
  if (!src || src->is_v4() != ip_.is_v4()) {
    stats_.no_source.add();
    return nullptr;  // refused: RST to the client
  }
  // Local port 0: the stack picks one whose replies reach this worker.
  if (!p->out.connect(*src, ip_, port_)) {
    stats_.connect_failed.add();
    return nullptr;  // refused: RST to the client
  }
  stats_.accepted.add();
  Stream* handler = &p->in;
  pairs_[id.idx] = std::move(p);
  live_.store(pairs_.size(), std::memory_order_relaxed);
  return handler;
}

}  // namespace turnpike::proxy
