#include "turnpike/proxy/tcp_relay.hpp"

namespace turnpike::proxy {

struct TcpRelay::Pair final : tcp::ConnHandler {
  TcpRelay& r;
  tcp::Stack& st;
  tcp::ConnId in, out;
  bool out_up = false, in_eof = false, out_eof = false, in_fin_sent = false, out_fin_sent = false;
  bool in_gone = false, out_gone = false, dead = false;

  Pair(TcpRelay& relay, tcp::Stack& s, tcp::ConnId id) : r(relay), st(s), in(id) {}

  // Copies what `from` has into `to` as far as `to` takes it.
  std::size_t pipe(tcp::ConnId from, tcp::ConnId to) {
    std::size_t moved = 0;
    for (;;) {
      const auto d = st.peek(from);
      if (d.empty()) break;
      const long w = st.write(to, d.data(), d.size());
      if (w <= 0) break;  // on_writable of `to` resumes
      st.consume(from, static_cast<std::size_t>(w));
      moved += static_cast<std::size_t>(w);
    }
    return moved;
  }
  void pump() {
    if (dead || !out_up) return;
    r.stats_.bytes_up.add(pipe(in, out));
    r.stats_.bytes_down.add(pipe(out, in));
    // Half-close travels through once everything before it has.
    if (in_eof && !out_fin_sent && st.readable(in) == 0) {
      st.shutdown_write(out);
      out_fin_sent = true;
    }
    if (out_eof && !in_fin_sent && st.readable(out) == 0) {
      st.shutdown_write(in);
      in_fin_sent = true;
    }
  }
  void on_connected(tcp::Stack&, tcp::ConnId) override {
    out_up = true;
    r.stats_.connected.add();
    pump();
  }
  void on_readable(tcp::Stack&, tcp::ConnId) override { pump(); }
  void on_writable(tcp::Stack&, tcp::ConnId) override { pump(); }
  void on_peer_closed(tcp::Stack&, tcp::ConnId id) override {
    (id == in ? in_eof : out_eof) = true;
    pump();
  }
  void on_closed(tcp::Stack&, tcp::ConnId id) override {
    (id == in ? in_gone : out_gone) = true;
    if (in_gone && out_gone) finish();
  }
  void on_reset(tcp::Stack&, tcp::ConnId id) override { gone(id); }
  void on_error(tcp::Stack&, tcp::ConnId id, tcp::Error) override {
    if (id == out && !out_up) r.stats_.connect_failed.add();
    gone(id);
  }
  // One side failed: the other is aborted too (a relay cannot repair a stream).
  void gone(tcp::ConnId id) {
    (id == in ? in_gone : out_gone) = true;
    finish();
  }
  void finish() {
    if (dead) return;
    dead = true;
    if (!in_gone) st.abort(in);
    if (out.valid() && !out_gone) st.abort(out);
    r.stats_.closed.add();
    auto it = r.pairs_.find(in.idx);
    if (it != r.pairs_.end() && it->second.get() == this) {
      r.graveyard_.push_back(std::move(it->second));
      r.pairs_.erase(it);
      r.live_.store(r.pairs_.size(), std::memory_order_relaxed);
    }
  }
};

TcpRelay::TcpRelay(std::uint32_t target_ip, std::uint16_t target_port) : ip_(target_ip), port_(target_port) {}
TcpRelay::~TcpRelay() = default;

void TcpRelay::poll() { graveyard_.clear(); }

tcp::ConnHandler* TcpRelay::on_accept(tcp::Stack& st, tcp::ConnId id) {
  tcp::ConnInfo ci;
  st.info(id, ci);
  auto p = std::make_unique<Pair>(*this, st, id);
  // Local port 0: the stack picks one whose replies reach this worker.
  p->out = st.connect(ci.laddr, 0, ip_, port_, *p);
  if (!p->out.valid()) {
    stats_.connect_failed.add();
    return nullptr;  // refused: RST to the client
  }
  stats_.accepted.add();
  Pair* raw = p.get();
  pairs_[id.idx] = std::move(p);
  live_.store(pairs_.size(), std::memory_order_relaxed);
  return raw;
}

}  // namespace turnpike::proxy
