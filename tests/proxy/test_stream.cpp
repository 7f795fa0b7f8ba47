// proxy::Stream alone: one leg, plain or TLS, and the events its owner
// sees. Queued writes before the connection is up, the preamble first, a
// reconnect carrying the queue, the read limit, half-close after queued
// data, close_notify, the deadline, FIN, RST and orderly close.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <functional>

#include "harness.hpp"
#include "turnpike/proxy/stream.hpp"

using namespace proxytest;
using proxy::Stream;
using proxy::StreamEvent;
using tcptest::Impairment;
using tcptest::NetSim;

namespace {

constexpr std::uint16_t kPort = 6000, kClosedPort = 6001, kTlsPort = 6002;

struct Owner : proxy::StreamOwner {
  std::vector<StreamEvent> events;
  std::function<void(Stream&, StreamEvent)> hook;
  void on_stream(Stream& s, StreamEvent e) override {
    events.push_back(e);
    if (hook) hook(s, e);
  }
  int count(StreamEvent e) const { return static_cast<int>(std::count(events.begin(), events.end(), e)); }
};

// Accepts on stack a into Streams (server side of TLS when ctx is set).
struct StreamListener : tcp::Listener {
  tcp::Stack& st;
  Owner& owner;
  std::shared_ptr<const tls::Context> ctx;
  std::size_t read_limit = 0;
  std::vector<std::unique_ptr<Stream>> legs;
  StreamListener(tcp::Stack& s, Owner& o, std::shared_ptr<const tls::Context> c) : st(s), owner(o), ctx(std::move(c)) {}
  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId id) override {
    legs.push_back(std::make_unique<Stream>(st, owner, 64 * 1024));
    legs.back()->accept(id, ctx);
    if (read_limit) legs.back()->set_read_limit(read_limit);
    return legs.back().get();
  }
};

std::string drain(Stream& s) {
  std::string got;
  for (auto d = s.peek(); !d.empty(); d = s.peek()) {
    got.append(reinterpret_cast<const char*>(d.data()), d.size());
    s.consume(d.size());
  }
  return got;
}

}  // namespace

TEST(Stream, WritesBeforeTheConnectionWaitBehindThePreamble) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 21);
  PeerListener peers(*net.b);
  ASSERT_EQ(net.b->listen(0, kPort, peers), 0);
  Owner o;
  Stream s(*net.a, o, 64 * 1024);
  ASSERT_TRUE(s.connect(kA, kB, kPort));
  s.set_preamble("PRE:");
  s.write(std::string_view("hello"));
  EXPECT_EQ(s.backlog(), 9u);
  EXPECT_EQ(s.write_some("x", 1), 0u);  // not open: nothing is taken now
  ASSERT_TRUE(net.run([&] { return peers.last() && peers.last()->got == "PRE:hello"; }, 1'000'000));
  EXPECT_EQ(o.count(StreamEvent::Open), 1);
  EXPECT_TRUE(s.open());
  EXPECT_EQ(s.backlog(), 0u);
  EXPECT_EQ(s.write_some("!", 1), 1u);
  ASSERT_TRUE(net.run([&] { return peers.last()->got == "PRE:hello!"; }, 1'000'000));
  s.close();
}

// A refused connect is an Error before Open; connecting again from the
// callback (the next backend) carries what was queued.
TEST(Stream, ReconnectFromTheErrorCarriesTheQueue) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 22);
  PeerListener peers(*net.b);
  ASSERT_EQ(net.b->listen(0, kPort, peers), 0);
  Owner o;
  Stream s(*net.a, o, 64 * 1024);
  tcp::Error first = tcp::Error::none;
  o.hook = [&](Stream& leg, StreamEvent e) {
    if (e != StreamEvent::Error) return;
    EXPECT_FALSE(leg.connected());
    first = leg.tcp_error();
    EXPECT_TRUE(leg.connect(kA, kB, kPort));
  };
  ASSERT_TRUE(s.connect(kA, kB, kClosedPort));
  s.write(std::string_view("INVITE"));
  ASSERT_TRUE(net.run([&] { return peers.last() && peers.last()->got == "INVITE"; }, 1'000'000));
  EXPECT_EQ(first, tcp::Error::refused);
  EXPECT_EQ(o.count(StreamEvent::Error), 1);
  EXPECT_EQ(o.count(StreamEvent::Open), 1);
  EXPECT_EQ(s.take_unsent(), "");
  s.close();
}

// The peer's FIN after its bytes: PeerEof, eof(), the bytes still readable;
// our shutdown after queued data; then Closed.
TEST(Stream, HalfCloseBothWaysThenClosed) {
  NetSim net(small_buffers(), small_buffers(), Impairment{}, 23);
  PeerListener peers(*net.b);
  ASSERT_EQ(net.b->listen(0, kPort, peers), 0);
  Owner o;
  Stream s(*net.a, o, 64 * 1024);
  ASSERT_TRUE(s.connect(kA, kB, kPort));
  ASSERT_TRUE(net.run([&] { return peers.last() != nullptr && s.open(); }, 1'000'000));
  Peer& p = *peers.last();
  p.send("last words");
  net.b->shutdown_write(p.id);
  ASSERT_TRUE(net.run([&] { return o.count(StreamEvent::PeerEof) == 1; }, 1'000'000));
  EXPECT_TRUE(s.eof());
  EXPECT_EQ(drain(s), "last words");
  // More than the send buffer holds: the FIN waits for all of it.
  const std::string big = tcptest::blob(300'000, 4);
  s.write(big);
  EXPECT_TRUE(s.full());
  s.shutdown();
  ASSERT_TRUE(net.run([&] { return p.eof; }, 5'000'000));
  EXPECT_TRUE(p.got == big) << p.got.size();
  EXPECT_GE(o.count(StreamEvent::Writable), 1);
  ASSERT_TRUE(net.run([&] { return o.count(StreamEvent::Closed) == 1; }, 1'000'000));
  EXPECT_TRUE(s.gone());
}

TEST(Stream, ResetIsFinal) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 24);
  PeerListener peers(*net.b);
  ASSERT_EQ(net.b->listen(0, kPort, peers), 0);
  Owner o;
  Stream s(*net.a, o, 64 * 1024);
  ASSERT_TRUE(s.connect(kA, kB, kPort));
  ASSERT_TRUE(net.run([&] { return peers.last() != nullptr && s.open(); }, 1'000'000));
  net.b->abort(peers.last()->id);
  ASSERT_TRUE(net.run([&] { return o.count(StreamEvent::Reset) == 1; }, 1'000'000));
  EXPECT_TRUE(s.gone());
  EXPECT_FALSE(s.open());
  EXPECT_TRUE(s.peek().empty());
  s.close();  // harmless on a gone leg
  EXPECT_EQ(net.a->connections(), 0u);
}

// TLS server leg: Open at the end of the handshake, plaintext decrypted up
// to the read limit (plus at most one record), the rest as it is consumed;
// the peer's close_notify is PeerEof; ours ends the leg's reading.
TEST(Stream, TlsLegReadsBoundedAndEndsWithCloseNotify) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 25);
  Owner o;
  StreamListener l(*net.a, o, server_ctx("both"));
  l.read_limit = 1000;
  ASSERT_EQ(net.a->listen(kA, kTlsPort, l), 0);
  auto c = connect_peer(*net.b, kTlsPort, client_ctx("client"));
  const std::string big = tcptest::blob(200'000, 5);
  c->send(big);
  ASSERT_TRUE(net.run([&] { return !l.legs.empty() && l.legs[0]->open() && o.count(StreamEvent::Readable) > 0; },
                      1'000'000));
  Stream& s = *l.legs[0];
  EXPECT_EQ(o.count(StreamEvent::Open), 1);
  EXPECT_TRUE(s.session()->peer().presented);
  std::string got;
  for (int i = 0; i < 10000 && got.size() < big.size(); ++i) {
    const auto d = s.peek();
    EXPECT_LE(d.size(), 1000u + 16384u);
    if (d.empty()) {
      net.run([] { return false; }, 1000);
      continue;
    }
    const std::size_t n = std::min<std::size_t>(d.size(), 700);
    got.append(reinterpret_cast<const char*>(d.data()), n);
    s.consume(n);
  }
  EXPECT_TRUE(got == big) << got.size();
  EXPECT_EQ(s.received(), big.size());
  s.write(std::string_view("pong"));
  ASSERT_TRUE(net.run([&] { return c->got == "pong"; }, 1'000'000));
  c->close_tls();
  ASSERT_TRUE(net.run([&] { return o.count(StreamEvent::PeerEof) == 1; }, 1'000'000));
  EXPECT_EQ(drain(s), "");  // takes the close_notify out of the TCP buffer
  EXPECT_TRUE(s.eof());
  s.close();  // our close_notify, FIN: nothing unread, so no reset
  ASSERT_TRUE(net.run([&] { return c->eof; }, 1'000'000));
  EXPECT_FALSE(c->reset);
}

// TLS legs of one thread share the record the last one decrypted: reading
// two legs in turn, each taking part of what it sees, moves each one's rest
// to its own buffer when the other decrypts, and both read their bytes
// whole and in order.
TEST(Stream, TwoTlsLegsReadInTurnKeepTheirOwnBytes) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 27);
  Owner o;
  StreamListener l(*net.a, o, server_ctx("both"));
  ASSERT_EQ(net.a->listen(kA, kTlsPort, l), 0);
  auto c0 = connect_peer(*net.b, kTlsPort, client_ctx("client"));
  auto c1 = connect_peer(*net.b, kTlsPort, client_ctx("client"));
  const std::string want[2] = {tcptest::blob(60'000, 8), tcptest::blob(45'000, 9)};
  ASSERT_TRUE(net.run([&] { return c0->tls_open && c1->tls_open && l.legs.size() == 2; }, 1'000'000));
  c0->send(want[0]);
  c1->send(want[1]);
  std::string got[2];
  for (int i = 0; i < 20000 && (got[0].size() < want[0].size() || got[1].size() < want[1].size()); ++i) {
    const int k = i % 2;
    const auto d = l.legs[k]->peek();
    if (d.empty()) {
      net.run([] { return false; }, 500);
      continue;
    }
    const std::size_t n = std::min<std::size_t>(d.size(), k ? 1500 : 333);  // leaves a rest each time
    got[k].append(reinterpret_cast<const char*>(d.data()), n);
    l.legs[k]->consume(n);
  }
  EXPECT_TRUE(got[0] == want[0]) << got[0].size();
  EXPECT_TRUE(got[1] == want[1]) << got[1].size();
  EXPECT_EQ(l.legs[0]->received(), want[0].size());
  EXPECT_EQ(l.legs[1]->received(), want[1].size());
}

TEST(Stream, HandshakeDeadline) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 26);
  Owner o;
  StreamListener l(*net.a, o, server_ctx("both"));
  ASSERT_EQ(net.a->listen(kA, kTlsPort, l), 0);
  auto c = connect_peer(*net.b, kTlsPort);  // plain: never says ClientHello
  ASSERT_TRUE(net.run([&] { return !l.legs.empty(); }, 1'000'000));
  Stream& s = *l.legs[0];
  const std::uint64_t deadline = net.now() + 100'000;
  s.set_deadline(deadline);
  EXPECT_FALSE(s.expired(deadline));
  EXPECT_TRUE(s.expired(deadline + 1));
  s.time_out();
  EXPECT_EQ(o.count(StreamEvent::Timeout), 1);
  EXPECT_EQ(s.failure(), "handshake timeout");
  s.refuse();
  EXPECT_TRUE(s.gone());
  EXPECT_FALSE(s.expired(deadline + 1));
}

// A client that is not TLS: TlsFailed on its first bytes, the reason named.
TEST(Stream, NotTlsFailsAtOnce) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 27);
  Owner o;
  StreamListener l(*net.a, o, server_ctx("both"));
  ASSERT_EQ(net.a->listen(kA, kTlsPort, l), 0);
  auto c = connect_peer(*net.b, kTlsPort);
  c->send("OPTIONS sip:x SIP/2.0\r\n\r\n");
  ASSERT_TRUE(net.run([&] { return o.count(StreamEvent::TlsFailed) == 1; }, 1'000'000));
  Stream& s = *l.legs[0];
  EXPECT_TRUE(s.tls_failed());
  EXPECT_TRUE(s.session()->not_tls());
  EXPECT_EQ(s.failure(), "malformed TLS record");
  EXPECT_EQ(o.count(StreamEvent::Open), 0);
  s.refuse();
}

// A hibernated leg whose session cannot wake (wolfSSL's allocator fails)
// when its owner writes or half-closes: TlsFailed comes from inside that
// write() or shutdown(), with the reason named, so the owner closes the
// leg now instead of when the peer next sends a byte, which on an idle
// leg may be never. Regression: before, only a read reported the failure.
TEST(Stream, FailedWakeOnTheWayOutIsReportedAtOnce) {
  NetSim net(tcp::Config{}, tcp::Config{}, Impairment{}, 28);
  Owner o;
  StreamListener l(*net.a, o, server_ctx("both"));
  ASSERT_EQ(net.a->listen(kA, kTlsPort, l), 0);
  auto c0 = connect_peer(*net.b, kTlsPort, client_ctx("client"));
  auto c1 = connect_peer(*net.b, kTlsPort, client_ctx("client"));
  ASSERT_TRUE(net.run([&] { return c0->tls_open && c1->tls_open && l.legs.size() == 2 && l.legs[0]->open() &&
                                   l.legs[1]->open(); },
                      1'000'000));
  std::vector<std::string> failures;
  o.hook = [&](Stream& leg, StreamEvent e) {
    if (e != StreamEvent::TlsFailed) return;
    failures.push_back(leg.failure());
    leg.close();  // what an owner does: FIN, the peer learns now
  };
  for (auto& leg : l.legs) ASSERT_TRUE(leg->session()->hibernate());
  wolfSSL_Malloc_cb mf = nullptr;
  wolfSSL_Free_cb ff = nullptr;
  wolfSSL_Realloc_cb rf = nullptr;
  ASSERT_EQ(wolfSSL_GetAllocators(&mf, &ff, &rf), 0);
  wolfSSL_SetAllocators([](size_t) -> void* { return nullptr; }, ff, [](void*, size_t) -> void* { return nullptr; });
  l.legs[0]->write(std::string_view("SIP/2.0 200 OK\r\n\r\n"));
  const int after_write = o.count(StreamEvent::TlsFailed);
  l.legs[1]->shutdown();
  const int after_shutdown = o.count(StreamEvent::TlsFailed);
  wolfSSL_SetAllocators(mf, ff, rf);
  EXPECT_EQ(after_write, 1);
  EXPECT_EQ(after_shutdown, 2);
  EXPECT_EQ(failures, (std::vector<std::string>{"session wake failed", "session wake failed"}));
  EXPECT_TRUE(l.legs[0]->gone());
  EXPECT_TRUE(l.legs[1]->gone());
  // The peers, which sent nothing, see the connection end.
  ASSERT_TRUE(net.run([&] { return c0->eof && c1->eof; }, 1'000'000));
  EXPECT_EQ(c0->got, "");
  EXPECT_EQ(o.count(StreamEvent::TlsFailed), 2);
}
