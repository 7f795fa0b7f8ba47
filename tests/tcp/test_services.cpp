// Echo and discard services end to end over the impairment shim.
#include <gtest/gtest.h>

#include <string>

#include "netsim.hpp"
#include "turnpike/tcp/services.hpp"

using namespace tcptest;

namespace {

constexpr std::uint32_t kC = 0xc6120001, kS = 0xc6120002;

using Client = StreamClient;

TEST(Services, EchoUnderLossWithBackPressure) {
  Config c;
  c.rcvbuf = c.sndbuf = 64 * 1024;  // small buffers: echo must push back
  Impairment imp;
  imp.loss = 0.01;
  imp.reorder = 0.01;
  NetSim net(c, c, imp, 21);
  EchoService echo;
  ASSERT_EQ(net.b->listen(kS, 7, echo), 0);
  const std::string data = blob(2 << 20, 1);
  Client cl(data);
  cl.id = net.a->connect(kC, 0, kS, 7, cl);
  ASSERT_TRUE(net.run([&] { return cl.closed || cl.failed; }, 600'000'000));
  EXPECT_FALSE(cl.failed);
  EXPECT_TRUE(cl.peer_closed);
  EXPECT_EQ(cl.in.size(), data.size());
  EXPECT_TRUE(cl.in == data);
  EXPECT_EQ(echo.counters().accepted, 1u);
  EXPECT_EQ(echo.counters().bytes, data.size());
  net.run([] { return false; }, 70'000'000);
  EXPECT_EQ(echo.counters().finished, 1u);
  EXPECT_EQ(net.a->connections(), 0u);
  EXPECT_EQ(net.b->connections(), 0u);
  EXPECT_EQ(net.b->chunks_in_use(), 0u);
}

TEST(Services, DiscardManyConnections) {
  Config c;
  NetSim net(c, c, Impairment{}, 22);
  DiscardService discard;
  ASSERT_EQ(net.b->listen(kS, 9, discard), 0);
  std::vector<std::unique_ptr<Client>> cls;
  for (int i = 0; i < 50; ++i) {
    cls.push_back(std::make_unique<Client>(blob(10000 + i, i)));
    cls.back()->id = net.a->connect(kC, 0, kS, 9, *cls.back());
  }
  ASSERT_TRUE(net.run(
      [&] {
        for (auto& c : cls)
          if (!c->closed) return false;
        return true;
      },
      60'000'000));
  std::uint64_t total = 0;
  for (int i = 0; i < 50; ++i) total += 10000 + i;
  EXPECT_EQ(discard.counters().bytes, total);
  EXPECT_EQ(discard.counters().accepted, 50u);
  net.run([] { return false; }, 70'000'000);
  EXPECT_EQ(discard.counters().finished, 50u);
  EXPECT_EQ(net.b->connections(), 0u);
}

}  // namespace
