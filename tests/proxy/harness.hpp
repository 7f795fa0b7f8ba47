// The proxies in process over tests/tcp/netsim.hpp, without EAL: stack a
// is turnpike's worker (the proxy under test), stack b holds everything
// around it: clients, backends, remote peers, each a Peer (plain, or TLS
// through tls::Session fed by hand). Time is simulated; runs repeat.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../tcp/netsim.hpp"
#include "tls_util.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/tcp/stack.hpp"
#include "turnpike/tls/engine.hpp"

namespace proxytest {

using namespace turnpike;

constexpr std::uint32_t kA = 0xC6126401;  // 198.18.100.1: turnpike
constexpr std::uint32_t kB = 0xC6126402;  // 198.18.100.2: clients and backends
constexpr std::uint32_t kC = 0xC6126403;  // 198.18.100.3: a host that never answers (blackholed)

// One connection on stack b: records what arrives, sends on demand, and can
// stop reading (its window closes: back-pressure towards turnpike).
struct Peer : tcp::ConnHandler {
  tcp::Stack& st;
  tcp::ConnId id;
  std::unique_ptr<tls::Session> tls;
  std::string got, pending;
  bool connected = false, eof = false, reset = false, closed = false, error = false, paused = false;
  bool tls_open = false, tls_failed = false, tls_closed = false;
  // Bytes before the TLS records (a backend reading the PROXY v2 header).
  std::size_t raw_prefix = 0;
  std::string raw;

  explicit Peer(tcp::Stack& s) : st(s) {}
  bool gone() const { return reset || closed || error; }

  void on_connected(tcp::Stack&, tcp::ConnId) override {
    connected = true;
    if (tls) tls->step();
    flush();
  }
  void on_readable(tcp::Stack&, tcp::ConnId) override { pump(); }
  void on_writable(tcp::Stack&, tcp::ConnId) override { flush(); }
  void on_peer_closed(tcp::Stack&, tcp::ConnId) override {
    eof = true;
    if (tls) tls->feed_eof();
    pump();
  }
  void on_reset(tcp::Stack&, tcp::ConnId) override { reset = true; }
  void on_error(tcp::Stack&, tcp::ConnId, tcp::Error) override { error = true; }
  void on_closed(tcp::Stack&, tcp::ConnId) override { closed = true; }

  void pump() {
    if (paused || gone()) return;
    for (auto d = st.peek(id); !d.empty(); d = st.peek(id)) {
      std::size_t n = d.size();
      if (raw.size() < raw_prefix) {
        n = std::min(n, raw_prefix - raw.size());
        raw.append(reinterpret_cast<const char*>(d.data()), n);
      } else if (tls) {
        tls->feed(d.data(), n);
      } else {
        got.append(reinterpret_cast<const char*>(d.data()), n);
      }
      st.consume(id, n);
    }
    if (tls) {
      if (tls->state() == tls::Session::State::Handshaking) tls->step();
      if (tls->state() == tls::Session::State::Open) tls_open = true;
      std::uint8_t buf[16384];
      while (std::size_t n = tls->read(buf, sizeof buf)) got.append(reinterpret_cast<const char*>(buf), n);
      if (tls->state() == tls::Session::State::Failed) tls_failed = true;
      if (tls->state() == tls::Session::State::Closed) tls_closed = true;
    }
    flush();
  }
  void send(std::string_view s) {
    if (tls && tls->state() == tls::Session::State::Open) {
      tls->write(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    } else {
      pending.append(s);
    }
    flush();
  }
  void flush() {
    if (gone() || !connected) return;
    if (tls) {
      if (tls->state() == tls::Session::State::Open && !pending.empty()) {
        tls->write(reinterpret_cast<const std::uint8_t*>(pending.data()), pending.size());
        pending.clear();
      }
      auto o = tls->output();
      if (!o.empty()) {
        const long w = st.write(id, o.data(), o.size());
        if (w > 0) tls->consume_output(static_cast<std::size_t>(w));
      }
      return;
    }
    while (!pending.empty()) {
      const long w = st.write(id, pending.data(), pending.size());
      if (w <= 0) break;
      pending.erase(0, static_cast<std::size_t>(w));
    }
  }
  void resume() {
    paused = false;
    pump();
  }
  void close_tls() {  // close_notify then FIN
    if (tls) tls->close();
    flush();
    st.shutdown_write(id);
  }
  std::size_t unsent() const { return pending.size() + (tls ? tls->output().size() : 0); }
};

// Accepts on stack b; each connection a Peer, TLS server when ctx is set.
struct PeerListener : tcp::Listener {
  tcp::Stack& st;
  std::shared_ptr<const tls::Context> ctx;
  std::size_t raw_prefix = 0;
  std::vector<std::unique_ptr<Peer>> peers;
  explicit PeerListener(tcp::Stack& s, std::shared_ptr<const tls::Context> c = {}) : st(s), ctx(std::move(c)) {}
  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId id) override {
    auto p = std::make_unique<Peer>(st);
    p->id = id;
    p->connected = true;
    p->raw_prefix = raw_prefix;
    if (ctx) p->tls = std::make_unique<tls::Session>(ctx);
    peers.push_back(std::move(p));
    return peers.back().get();
  }
  Peer* last() { return peers.empty() ? nullptr : peers.back().get(); }
};

// The test PKI's contexts (tests/control/pki): "both" serves, "client"
// presents clientAuth.
inline tls::Verifier verifier(control::EkuMode mode = control::EkuMode::On) {
  static auto trust = turnpike::testing::test_trust();
  return tls::Verifier{trust, nullptr, mode, 1};
}
inline std::shared_ptr<const tls::Context> server_ctx(const std::string& leaf = "both",
                                                      tls::ClientCertMode m = tls::ClientCertMode::Require,
                                                      control::EkuMode mode = control::EkuMode::On) {
  auto o = turnpike::testing::leaf_options(leaf);
  o.client_cert = m;
  auto r = tls::Context::make_server(o, verifier(mode));
  if (!r) throw std::runtime_error("server context: " + r.error);
  return *r;
}
inline std::shared_ptr<const tls::Context> client_ctx(const std::string& leaf = "client") {
  tls::Options o;
  if (!leaf.empty()) o = turnpike::testing::leaf_options(leaf);
  auto r = tls::Context::make_client(o, verifier());
  if (!r) throw std::runtime_error("client context: " + r.error);
  return *r;
}

// A client on stack b towards turnpike; TLS when ctx is set.
inline std::unique_ptr<Peer> connect_peer(tcp::Stack& b, std::uint16_t port, std::shared_ptr<const tls::Context> ctx = {},
                                          std::string name = "both.test") {
  auto p = std::make_unique<Peer>(b);
  if (ctx) p->tls = std::make_unique<tls::Session>(std::move(ctx), std::move(name), false);
  p->id = b.connect(kB, 0, kA, port, *p);
  return p;
}

// A TLS error event kept past its callback (the event's fields are views).
struct Event {
  std::string event, src_ip, dst_ip, detail;
  std::uint16_t src_port = 0, dst_port = 0;
  static Event of(const control::TlsErrorEvent& e) {
    return {std::string(e.event), std::string(e.src_ip), std::string(e.dst_ip), std::string(e.detail), e.src_port,
            e.dst_port};
  }
};

inline tcp::Config small_buffers() {
  tcp::Config c;
  c.rcvbuf = 64 * 1024;
  c.sndbuf = 64 * 1024;
  return c;
}

}  // namespace proxytest
