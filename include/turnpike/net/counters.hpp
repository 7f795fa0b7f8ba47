// Per-worker, per-port packet counters and the named drop reasons. One
// writer (the worker), readers on other threads: turnpike::Counter cells.
#pragma once
#include <array>
#include <cstdint>
#include <string_view>

#include "turnpike/counter.hpp"

namespace turnpike::net {

// X(name, description): every drop has a named reason (docs/style.md 15).
#define TURNPIKE_DROP_REASONS(X)                                                  \
  X(eth_runt, "frame shorter than an Ethernet header")                           \
  X(not_for_us, "destination MAC is neither ours nor broadcast")                 \
  X(multicast, "multicast destination MAC (no multicast services)")              \
  X(ethertype, "unsupported EtherType (VLAN, IPv6 on a port without it, ...)")    \
  X(arp_short, "ARP payload shorter than 28 bytes")                              \
  X(arp_format, "ARP hardware/protocol type or length not Ethernet/IPv4")        \
  X(arp_op, "ARP operation neither request nor reply")                           \
  X(arp_bad_sender, "ARP sender address broadcast, multicast or zero")           \
  X(arp_not_for_us, "ARP for another host (nothing learned)")                    \
  X(ipv4_short, "truncated IPv4 header")                                          \
  X(ipv4_version, "IP version is not 4")                                          \
  X(ipv4_ihl, "IPv4 IHL below 5")                                                 \
  X(ipv4_total_len, "IPv4 total length inconsistent with the frame")             \
  X(ipv4_checksum, "IPv4 header checksum mismatch")                               \
  X(ipv4_fragment, "IPv4 fragment (reassembly not supported)")                   \
  X(ipv4_not_for_us, "IPv4 destination is not our address")                      \
  X(ipv4_bad_src, "IPv4 source is broadcast, multicast or ours (RFC 1122 3.2.1.3)") \
  X(ipv4_proto, "IPv4 protocol without a service")                               \
  X(icmp_short, "ICMP message shorter than its header")                          \
  X(icmp_checksum, "ICMP checksum mismatch")                                      \
  X(icmp_type, "ICMP type other than echo request")                               \
  X(ipv6_short, "truncated IPv6 header")                                          \
  X(ipv6_version, "IP version is not 6 in an IPv6 frame")                         \
  X(ipv6_payload_len, "IPv6 payload length beyond the frame")                     \
  X(ipv6_ext_truncated, "IPv6 extension header or option truncated")              \
  X(ipv6_ext_chain, "IPv6 extension headers too many or Hop-by-Hop not first")    \
  X(ipv6_option, "IPv6 option unknown, its type says discard (RFC 8200 4.2)")     \
  X(ipv6_routing, "IPv6 Routing header with segments left (not a router)")        \
  X(ipv6_fragment, "IPv6 fragment (reassembly not supported)")                    \
  X(ipv6_not_for_us, "IPv6 destination neither our usable address nor our group") \
  X(ipv6_bad_src, "IPv6 source multicast, unspecified, ours, or our frame looped") \
  X(ipv6_no_source, "no usable IPv6 source address (tentative or duplicate)")     \
  X(ipv6_proto, "IPv6 next header without a service")                             \
  X(icmp6_short, "ICMPv6 message shorter than its header")                        \
  X(icmp6_checksum, "ICMPv6 checksum mismatch")                                   \
  X(icmp6_type, "ICMPv6 type other than echo request, NS and NA")                 \
  X(nd_hop_limit, "ND message with a hop limit other than 255 (RFC 4861 7.1)")    \
  X(nd_invalid, "ND message failing RFC 4861 7.1 (code, length, target, source)") \
  X(nd_bad_option, "ND option of length zero or past the message")                \
  X(nd_not_for_us, "NS for a target that is not our address")                     \
  X(nd_tentative, "ND for our address while tentative or duplicate")              \
  X(nd_conflict, "NA from another node for one of our addresses")                 \
  X(mld_invalid, "MLD query not link-local, hop limit 1 and Router Alert (RFC 3810)") \
  X(neigh_queue_full, "next hop unresolved and the pending queue is full")       \
  X(neigh_unresolved, "next hop did not answer ARP or ND in time")               \
  X(no_route, "destination off-link and no gateway configured")                  \
  X(mbuf_alloc, "no mbuf available to build a frame")                             \
  X(tx_full, "TX queue refused the frame")

enum class Drop : std::uint8_t {
#define TURNPIKE_X(n, d) n,
  TURNPIKE_DROP_REASONS(TURNPIKE_X)
#undef TURNPIKE_X
  count_
};
inline constexpr std::size_t kDropCount = static_cast<std::size_t>(Drop::count_);

std::string_view drop_name(Drop d) noexcept;
std::string_view drop_description(Drop d) noexcept;

#define TURNPIKE_PORT_STATS(X)                                       \
  X(rx_packets, "frames received")                                   \
  X(rx_bytes, "bytes received")                                      \
  X(tx_packets, "frames sent")                                       \
  X(tx_bytes, "bytes sent")                                          \
  X(arp_requests_answered, "ARP requests for our address answered")  \
  X(arp_learned, "neighbour entries created or refreshed")           \
  X(arp_requests_sent, "ARP requests sent to resolve next hops")     \
  X(arp_gratuitous_sent, "gratuitous ARP announcements sent")        \
  X(link_ups, "times the link came up (announcements sent again)")   \
  X(icmp_echo_replies, "ICMP echo replies sent")                     \
  X(icmp6_echo_replies, "ICMPv6 echo replies sent")                  \
  X(nd_advertisements_sent, "ND neighbor advertisements sent")       \
  X(nd_solicitations_sent, "ND neighbor solicitations sent (DAD too)") \
  X(nd_learned, "IPv6 neighbour entries created or refreshed")       \
  X(nd_duplicates, "our IPv6 addresses found duplicate by DAD")      \
  X(mld_reports_sent, "MLD reports of our solicited-node groups sent") \
  X(neigh_queued, "frames held while their next hop was resolved")

struct PortStats {
  TURNPIKE_COUNTER_FIELDS(TURNPIKE_PORT_STATS)
  std::array<turnpike::Counter, kDropCount> drops;
  void drop(Drop d, std::uint64_t n = 1) noexcept { drops[static_cast<std::size_t>(d)].add(n); }
  // f(reason, description, value) for every drop reason, zero or not.
  template <class F>
  void for_each_drop(F&& f) const {
    for (std::size_t i = 0; i < kDropCount; ++i)
      f(drop_name(static_cast<Drop>(i)), drop_description(static_cast<Drop>(i)), drops[i].load());
  }
  std::uint64_t total_drops() const noexcept {
    std::uint64_t s = 0;
    for (auto& c : drops) s += c.load();
    return s;
  }
};

}  // namespace turnpike::net
