// Active opens reusing a 4-tuple we hold in TIME_WAIT (tcp_tw_reuse's rule):
// two stacks back to back, turnpike (a) opening to and closing first on a
// backend (b), with one or two ephemeral ports so the range runs out.
#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "harness.hpp"
#include "netsim.hpp"

using namespace tcptest;

namespace {

constexpr std::uint32_t kA = 0xc6120001, kB = 0xc6120002;
constexpr std::uint16_t kPort = 5060;

// The backend: keeps what it reads and closes when the client does (the
// passive closer: LAST_ACK, then nothing).
class Backend : public Listener, public ConnHandler {
 public:
  std::string got;
  int accepted = 0;
  ConnHandler* on_accept(Stack&, ConnId) override {
    ++accepted;
    return this;
  }
  void on_readable(Stack& s, ConnId i) override {
    for (auto r = s.peek(i); !r.empty(); r = s.peek(i)) {
      got.append(reinterpret_cast<const char*>(r.data()), r.size());
      s.consume(i, r.size());
    }
  }
  // close() detaches the handler: no callback after it.
  void on_peer_closed(Stack& s, ConnId i) override { s.close(i); }
};

// What one side sent, as seen on the wire (the script sees headers only).
struct Seen {
  Header h;
  std::uint64_t at = 0;
};

struct Rig {
  explicit Rig(Config ca, Config cb = Config{}) : net(ca, cb, Impairment{}, 7) {
    net.b->listen(kB, kPort, backend);
    net.script = [this](int from, const Header& h) -> std::int64_t {
      if (from == 0) {
        if (h.has(flag::syn)) last_syn = Seen{h, net.now()};
        if (h.payload_len) last_data = Seen{h, net.now()};
      }
      return 0;
    };
  }
  // One short connection: `msg` to the backend, our FIN first, both closed;
  // we keep the TIME_WAIT. Returns the local port used.
  std::uint16_t exchange(const std::string& msg) {
    StreamClient c(msg);
    c.id = net.a->connect(kA, 0, kB, kPort, c);
    EXPECT_TRUE(c.id.valid());
    if (!c.id.valid()) return 0;
    ConnInfo ci;
    net.a->info(c.id, ci);
    // The backend's LAST_ACK ends with our ACK: no connection left there.
    EXPECT_TRUE(net.run([&] { return c.closed && net.b->connections() == 0; }, 5'000'000));
    return ci.lport;
  }
  // Simulated time passing (the stacks see it one step late: wait a little
  // more than the second a test means).
  void wait_us(std::uint64_t us) {
    net.run([] { return false; }, us);
  }
  NetSim net;
  Backend backend;
  std::optional<Seen> last_syn, last_data;
};

// A client that only opens.
class Idle : public ConnHandler {
 public:
  bool connected = false;
  void on_connected(Stack&, ConnId) override { connected = true; }
};

Config one_port(std::uint16_t lo, std::uint16_t hi) {
  Config c;
  c.ephemeral_lo = lo;
  c.ephemeral_hi = hi;
  return c;
}

}  // namespace

// The only port is in TIME_WAIT: refused while the peer's last timestamp is
// under 1 s old, taken afterwards with a TSval and an ISN above the old
// incarnation's (1 MiB sent: more than the ISN clock's 250,000 a second
// moves on, so the ISN has to be raised); an old data segment of that incarnation arriving later is
// dropped by the backend's PAWS (RFC 7323 §5.3) and never delivered.
TEST(TimeWaitReuse, ActiveOpenTakesTupleAfterOneSecondWithTimestamps) {
  Rig r(one_port(40000, 40000));
  const std::string first = blob(1 << 20, 3);
  ASSERT_EQ(r.exchange(first), 40000);
  ASSERT_TRUE(r.last_data.has_value());
  const Seen old = *r.last_data;
  ASSERT_TRUE(old.h.opt.has_ts);
  ASSERT_EQ(r.net.a->time_wait(), 1u);
  ASSERT_EQ(r.net.b->connections(), 0u);  // the backend is CLOSED, not in TIME_WAIT

  StreamClient c("new incarnation");
  EXPECT_FALSE(r.net.a->connect(kA, 0, kB, kPort, c).valid());       // < 1 s: not yet
  EXPECT_FALSE(r.net.a->connect(kA, 40000, kB, kPort, c).valid());   // an explicit port neither
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 0u);

  r.wait_us(1'100'000);
  ASSERT_EQ(r.net.a->time_wait(), 1u);  // 2MSL is 60 s: still there
  c.id = r.net.a->connect(kA, 0, kB, kPort, c);
  ASSERT_TRUE(c.id.valid());
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 1u);
  EXPECT_EQ(r.net.a->counters().time_wait_reused, 0u);  // the passive RFC 6191 counter stays apart
  EXPECT_EQ(r.net.a->time_wait(), 0u);
  ConnInfo ci;
  ASSERT_TRUE(r.net.a->info(c.id, ci));
  EXPECT_EQ(ci.lport, 40000);
  ASSERT_TRUE(r.last_syn.has_value());
  const Header syn = r.last_syn->h;
  ASSERT_TRUE(syn.opt.has_ts);
  EXPECT_TRUE(ts_before(old.h.opt.ts_val, syn.opt.ts_val));
  // Above everything the old incarnation sent, past an unscaled window.
  EXPECT_TRUE(syn.seq > old.h.seq + static_cast<std::uint32_t>(old.h.payload_len) + 65536);

  ASSERT_TRUE(r.net.run([&] { return c.closed; }, 5'000'000));
  EXPECT_EQ(r.backend.accepted, 2);
  EXPECT_EQ(r.backend.got, first + "new incarnation");

  // The new incarnation is still open at the backend when an old duplicate
  // of the first one's data turns up: PAWS drops it.
  Idle keep;
  r.wait_us(1'100'000);
  ASSERT_TRUE(r.net.a->connect(kA, 0, kB, kPort, keep).valid());
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 2u);
  ASSERT_TRUE(r.net.run([&] { return keep.connected && r.backend.accepted == 3; }, 3'000'000));
  const std::uint64_t paws_before = r.net.b->counters().rx_paws;
  OptionsOut o;
  o.ts = true;
  o.ts_val = old.h.opt.ts_val;
  o.ts_ecr = old.h.opt.ts_ecr;
  const std::string payload = "OLD DUPLICATE";
  ASSERT_LE(payload.size(), 65535u);
  auto dup = make_segment(kA, kB, SegSpec{.sport = 40000, .dport = kPort, .seq = old.h.seq, .ack = old.h.ack,
                                           .flags = flag::ack | flag::psh, .window = old.h.window,
                                           .data = payload, .opt = o});
  r.net.inject(1, kA, kB, dup);
  EXPECT_EQ(r.net.b->counters().rx_paws, paws_before + 1);
  EXPECT_EQ(r.backend.got.find("OLD DUPLICATE"), std::string::npos);
}

// Without timestamps nothing tells the old incarnation's segments from the
// new one's: the tuple stays in TIME_WAIT for its 2MSL.
TEST(TimeWaitReuse, RefusedWithoutTimestamps) {
  Config cb;
  cb.timestamps = false;  // the backend does not offer them: not negotiated
  Rig r(one_port(40000, 40000), cb);
  ASSERT_EQ(r.exchange("no timestamps"), 40000);
  ASSERT_FALSE(r.last_data->h.opt.has_ts);
  ASSERT_EQ(r.net.a->time_wait(), 1u);
  r.wait_us(5'000'000);
  StreamClient c("x");
  EXPECT_FALSE(r.net.a->connect(kA, 0, kB, kPort, c).valid());
  EXPECT_FALSE(r.net.a->connect(kA, 40000, kB, kPort, c).valid());
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 0u);
  EXPECT_EQ(r.net.a->time_wait(), 1u);
  // Another destination port is another 4-tuple: free.
  EXPECT_TRUE(r.net.a->connect(kA, 0, kB, kPort + 1, c).valid());
}

// Ports go round: a free port comes before a reusable TIME_WAIT one when it
// is next; the TIME_WAIT entry met first is the oldest; one whose peer
// timestamp is under 1 s old is passed over for a reusable one.
TEST(TimeWaitReuse, RotationPrefersFreeThenOldestReusable) {
  Rig r(one_port(40000, 40002));
  ASSERT_EQ(r.exchange("a"), 40000);
  r.wait_us(1'500'000);
  ASSERT_EQ(r.exchange("b"), 40001);  // free, though 40000 could be reused
  ASSERT_EQ(r.exchange("c"), 40002);
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 0u);
  EXPECT_EQ(r.net.a->time_wait(), 3u);
  // 40000 is 1.5 s old, the others younger than 1 s: 40000 goes, then
  // 40001 and 40002 refuse until their second has passed.
  ASSERT_EQ(r.exchange("d"), 40000);
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 1u);
  StreamClient c("e");
  EXPECT_FALSE(r.net.a->connect(kA, 0, kB, kPort, c).valid());
  r.wait_us(1'100'000);
  ASSERT_EQ(r.exchange("e"), 40001);
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 2u);
  EXPECT_EQ(r.backend.got, "abcde");
}

// Our last ACK was lost: the backend is still in LAST_ACK when the tuple is
// reused. Its answer to our SYN acknowledges the old sequence space, which
// SYN_SENT finds unacceptable (the new ISN is above it), so our RST ends
// LAST_ACK and the retransmitted SYN connects.
TEST(TimeWaitReuse, PeerStillInLastAckIsResetAndTheOpenCompletes) {
  Config cb;
  cb.rto_initial_us = cb.rto_min_us = 3'000'000;  // its FIN comes again after our reuse
  Rig r(one_port(40000, 40000), cb);
  StreamClient c("last ack");
  c.id = r.net.a->connect(kA, 0, kB, kPort, c);
  ASSERT_TRUE(c.id.valid());
  // Drop what we send after the backend's FIN: our ACK of it.
  bool fin_seen = false, drop = true;
  r.net.script = [&](int from, const Header& h) -> std::int64_t {
    if (from == 1 && h.has(flag::fin)) fin_seen = true;
    return drop && from == 0 && fin_seen ? NetSim::kDrop : 0;
  };
  ASSERT_TRUE(r.net.run([&] { return c.closed; }, 5'000'000));
  ASSERT_EQ(r.net.a->time_wait(), 1u);
  ASSERT_EQ(r.net.b->connections(), 1u);  // LAST_ACK
  r.wait_us(1'100'000);
  ASSERT_EQ(r.net.b->connections(), 1u);
  drop = false;
  StreamClient n("next");
  n.id = r.net.a->connect(kA, 0, kB, kPort, n);
  ASSERT_TRUE(n.id.valid());
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 1u);
  ASSERT_TRUE(r.net.run([&] { return n.closed; }, 10'000'000));
  EXPECT_FALSE(n.failed);
  EXPECT_GE(r.net.a->counters().tx_rst, 1u);
  EXPECT_EQ(r.net.b->counters().resets_received, 1u);  // LAST_ACK ended by our RST
  EXPECT_EQ(r.backend.got, "last acknext");
}

// The load generator's case at the defaults (2MSL 60 s, ports 32768-60999):
// 1,000 short backend connections a second, we close first.
struct Load {
  std::uint64_t opened = 0, refused = 0, completed = 0, broken = 0;
};
Load drive(Rig& r, std::uint64_t seconds) {
  Load l;
  std::deque<std::unique_ptr<StreamClient>> live;
  std::uint64_t next_open = r.net.now();
  const std::uint64_t end = r.net.now() + seconds * 1'000'000;
  r.net.run(
      [&] {
        while (!live.empty() && (live.front()->closed || live.front()->failed)) {
          (live.front()->failed ? l.broken : l.completed) += 1;
          live.pop_front();
        }
        if (r.net.now() >= next_open && r.net.now() < end) {
          next_open += 1000;
          auto c = std::make_unique<StreamClient>("OPTIONS");
          c->id = r.net.a->connect(kA, 0, kB, kPort, *c);
          if (!c->id.valid()) {
            ++l.refused;
          } else {
            ++l.opened;
            live.push_back(std::move(c));
          }
        }
        return r.net.now() >= end && live.empty();
      },
      (seconds + 5) * 1'000'000);
  return l;
}
constexpr std::uint64_t kPorts = 60999 - 32768 + 1;

// The 28,232 ports used to run out after 28 s and every open failed until
// the first TIME_WAIT ended at 60 s; now the port met next is reused.
TEST(TimeWaitReuse, DefaultsSustainAThousandOpensPerSecondToOneBackend) {
  Rig r{Config{}};
  const Load l = drive(r, 35);
  EXPECT_EQ(l.refused, 0u);
  EXPECT_EQ(l.opened, 35'000u);
  EXPECT_EQ(l.completed, l.opened);
  EXPECT_EQ(r.backend.got.size(), 7 * l.opened);
  EXPECT_EQ(r.backend.accepted, static_cast<int>(l.opened));
  // Every port once, then each in turn again: its entry is 28 s old.
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, l.opened - kPorts);
  EXPECT_EQ(r.net.a->time_wait(), kPorts);
  EXPECT_EQ(r.net.a->counters().time_wait_evicted, 0u);
}

// Without timestamps the old ceiling stays: every port once, then refusals
// (1,000 ports for 3 s: each refusal scans the whole range).
TEST(TimeWaitReuse, WithoutTimestampsThePortsRunOut) {
  Config ca = one_port(40000, 40999);
  ca.timestamps = false;
  Rig r{ca};
  const Load l = drive(r, 3);
  EXPECT_EQ(l.opened, 1000u);
  EXPECT_EQ(l.refused, 2000u);
  EXPECT_EQ(l.completed, l.opened);
  EXPECT_EQ(r.net.a->counters().time_wait_reused_active, 0u);
}
