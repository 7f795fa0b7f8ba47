// libFuzzer: arbitrary bytes as an IPv6 packet through the stack (extension
// header walk, ICMPv6, ND, DAD, neighbour cache, pending queue), or as text
// for the address parser. The first byte steers the rest so the fuzzer does
// not spend its time on Ethernet and checksums:
//   bit 0-1  Ethernet destination: our MAC, all-nodes, our solicited-node
//            group, or broadcast
//   bit 2    fix up the ICMPv6 checksum when the packet parses
//   bit 3    addresses tentative (DAD running) instead of preferred
//   bit 4    destination := our global address, bit 5: hop limit := 255
//   bit 6    also tick past every timer (DAD completes, held frames expire)
//   bit 7    the rest is text: parse_ipv6 / parse_ipv6_prefix / parse_endpoint6 round trips
// Any crash, sanitizer report, leaked mbuf or broken round trip is a finding.
#include <rte_mbuf.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "eal_env.hpp"
#include "turnpike/net/stack.hpp"

using namespace turnpike::net;

namespace {

const MacAddr kMac{{2, 0, 0, 0, 0, 1}};
const Ipv6Addr kGlobal = Ipv6Addr::from_words(0x20010db800000001ull, 1);

void text(std::string_view s) {
  if (auto a = parse_ipv6(s)) {
    const auto again = parse_ipv6(a->to_string());
    if (!again || !(*again == *a)) std::abort();
  }
  if (auto p = parse_ipv6_prefix(s)) {
    if (p->len > 128) std::abort();
  }
  if (auto e = parse_endpoint6(s, 5060)) {
    if (e->port == 0 || parse_endpoint6(endpoint6_to_string(*e)) != e) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static rte_mempool* pool = turnpike::testing::test_pool("fuzz6_pool", 1023);
  if (size < 1 || size > 2048) return 0;
  const std::uint8_t ctl = data[0];
  ++data;
  --size;
  if (ctl & 0x80) {
    text(std::string_view(reinterpret_cast<const char*>(data), size));
    return 0;
  }
  const unsigned before = rte_mempool_avail_count(pool);
  {
    Ipv6Options o;
    o.address = kGlobal;
    o.prefix = 64;
    o.gateway = Ipv6Addr::from_words(0xfe80000000000000ull, 1);
    o.dad_transmits = (ctl & 0x08) ? 1 : 0;
    o.neigh_capacity = 16;
    o.neigh_timeout = 1000;
    Ipv6Port v6(kMac, o);
    NeighborTable neigh{16, 1000};
    PortNet pn{0, kMac, 0xc6120001, 24, 0xc61200fe, &neigh, &v6};
    NetTimers t{10, 30};
    t.nd_retrans = 10;
    NetWorker nw({pn}, pool,
                 [](std::uint16_t, rte_mbuf** p, std::uint16_t n) {
                   rte_pktmbuf_free_bulk(p, n);
                   return n;
                 },
                 8, t);
    nw.start_ipv6(0, 0);

    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) std::abort();
    auto* f = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(m, static_cast<std::uint16_t>(kEthHdrLen + size)));
    static const MacAddr kDst[] = {kMac, ipv6_multicast_mac(ipv6_all_nodes()),
                                   ipv6_multicast_mac(ipv6_solicited_node(kGlobal)), MacAddr::broadcast()};
    write_eth(f, kDst[ctl & 3], MacAddr{{2, 0, 0, 0, 0, 9}}, kEtherTypeIpv6);
    std::uint8_t* ip = f + kEthHdrLen;
    std::memcpy(ip, data, size);
    if ((ctl & 0x10) && size >= kIpv6HdrLen) std::memcpy(ip + 24, kGlobal.b.data(), 16);
    if ((ctl & 0x20) && size >= kIpv6HdrLen) ip[7] = 255;
    Ipv6Hdr h;
    if ((ctl & 0x04) && parse_ipv6_hdr(ip, size, h) == Ipv6Parse::Ok && h.proto == kIpProtoIcmpv6 &&
        h.l4_len() >= kIcmpv6HdrLen) {
      std::uint8_t* icmp = ip + h.l4_offset;
      store_be16(icmp + 2, 0);
      store_be16(icmp + 2, ipv6_upper_checksum(h.src, h.dst, kIpProtoIcmpv6, icmp, h.l4_len()));
    }
    nw.input(0, &m, 1, 1);
    nw.tick(2);
    if (ctl & 0x40) {
      nw.tick(1000);
      nw.tick(2000);
    }
    nw.flush();
    // Held frames are freed by the NetWorker's destructor.
  }
  if (rte_mempool_avail_count(pool) != before) std::abort();
  return 0;
}
