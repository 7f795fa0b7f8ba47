// libFuzzer: arbitrary bytes as a received frame through the whole L2/L3
// stack (Ethernet, ARP, IPv4, ICMP, neighbour table, pending queue). Any
// crash, sanitizer report or leaked mbuf is a finding.
#include <rte_mbuf.h>

#include <cstdlib>
#include <cstring>

#include "eal_env.hpp"
#include "turnpike/net/stack.hpp"

using namespace turnpike::net;

namespace {
struct State {
  NeighborTable neigh{64, 1000};
  rte_mempool* pool = turnpike::testing::test_pool("fuzz_pool", 1023);
  NetWorker nw;
  State()
      : nw({PortNet{0, MacAddr{{2, 0, 0, 0, 0, 1}}, 0xc6120001, 24, 0xc61200fe, &neigh}}, pool,
           [](std::uint16_t, rte_mbuf** p, std::uint16_t n) {
             rte_pktmbuf_free_bulk(p, n);
             return n;
           },
           8, NetTimers{10, 30}) {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static State* s = new State;
  static std::uint64_t now = 0;
  if (size > 2048) return 0;
  const unsigned before = rte_mempool_avail_count(s->pool);
  rte_mbuf* m = rte_pktmbuf_alloc(s->pool);
  if (!m) std::abort();
  if (size) std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(size)), data, size);
  s->nw.input(0, &m, 1, ++now);
  s->nw.tick(now);
  s->nw.flush();
  // Held frames (awaiting ARP) are the only mbufs allowed to stay out.
  if (rte_mempool_avail_count(s->pool) + s->nw.pending() != before) std::abort();
  return 0;
}
