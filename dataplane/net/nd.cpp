#include "turnpike/net/nd.hpp"

#include <cstring>

#include "turnpike/net/byteorder.hpp"

namespace turnpike::net {

NdParse parse_nd(const Ipv6Hdr& ip, const std::uint8_t* icmp, std::size_t len, NdMsg& out) noexcept {
  // RFC 4861 §7.1.1 / §7.1.2, in the order they are listed.
  if (ip.hop_limit != kNdHopLimit) return NdParse::HopLimit;
  if (icmp[1] != 0) return NdParse::BadCode;
  if (len < kNdMsgLen) return NdParse::Short;
  if (ip.atomic_fragment) return NdParse::Fragmented;
  out.type = icmp[0];
  out.flags = load_be32(icmp + 4);
  std::memcpy(out.target.b.data(), icmp + 8, 16);
  if (out.target.is_multicast()) return NdParse::BadTarget;
  out.has_lla = false;
  const std::uint8_t want = out.type == kIcmpv6NeighborSolicit ? kNdOptSourceLla : kNdOptTargetLla;
  bool has_source_lla = false;
  for (std::size_t i = kNdMsgLen; i < len;) {
    // §4.6: length in units of 8 bytes; 0 is invalid and ends processing.
    if (len - i < 2 || icmp[i + 1] == 0 || std::size_t(icmp[i + 1]) * 8 > len - i) return NdParse::BadOption;
    const std::size_t olen = std::size_t(icmp[i + 1]) * 8;
    if (icmp[i] == kNdOptSourceLla) has_source_lla = true;
    if (icmp[i] == want && olen == kNdLlaOptLen && !out.has_lla) {
      std::memcpy(out.lla.b.data(), icmp + i + 2, 6);
      out.has_lla = true;
    }
    i += olen;
  }
  if (out.type == kIcmpv6NeighborSolicit) {
    // §7.1.1: from :: (DAD) only to a solicited-node group and without a
    // source link-layer address.
    if (ip.src.is_unspecified() &&
        (has_source_lla || !ip.dst.is_multicast() || !(ipv6_solicited_node(ip.dst) == ip.dst)))
      return NdParse::BadSource;
  } else {
    if (ip.src.is_unspecified()) return NdParse::BadSource;
    if (ip.dst.is_multicast() && (out.flags & kNaSolicited)) return NdParse::SolicitedToMulticast;
  }
  return NdParse::Ok;
}

std::size_t write_nd(std::uint8_t* p, std::uint8_t type, std::uint32_t flags, const Ipv6Addr& src,
                     const Ipv6Addr& dst, const Ipv6Addr& target, const MacAddr* lla) noexcept {
  const std::size_t icmp_len = kNdMsgLen + (lla ? kNdLlaOptLen : 0);
  write_ipv6_hdr(p, static_cast<std::uint16_t>(icmp_len), kIpProtoIcmpv6, kNdHopLimit, src, dst);
  std::uint8_t* m = p + kIpv6HdrLen;
  m[0] = type;
  m[1] = 0;
  store_be16(m + 2, 0);
  store_be32(m + 4, type == kIcmpv6NeighborAdvert ? flags : 0);
  std::memcpy(m + 8, target.b.data(), 16);
  if (lla) {
    m[24] = type == kIcmpv6NeighborSolicit ? kNdOptSourceLla : kNdOptTargetLla;
    m[25] = 1;
    std::memcpy(m + 26, lla->b.data(), 6);
  }
  store_be16(m + 2, ipv6_upper_checksum(src, dst, kIpProtoIcmpv6, m, icmp_len));
  return kIpv6HdrLen + icmp_len;
}

Ipv6Port::Ipv6Port(const MacAddr& mac, const Ipv6Options& o)
    : opt_(o), neigh_(o.neigh_capacity, o.neigh_timeout ? o.neigh_timeout : ~0ull >> 2) {
  addr_[kLinkLocal] = ipv6_link_local(mac);
  if (!o.address.is_unspecified()) {
    addr_[kGlobal] = o.address;
    count_ = 2;
  }
  const auto initial = o.dad_transmits ? State::Tentative : State::Preferred;
  for (unsigned i = 0; i < count_; ++i) {
    solicited_[i] = ipv6_solicited_node(addr_[i]);
    state_[i].store(static_cast<std::uint8_t>(initial), std::memory_order_relaxed);
  }
}

int Ipv6Port::find(const Ipv6Addr& a) const noexcept {
  for (unsigned i = 0; i < count_; ++i)
    if (addr_[i] == a) return int(i);
  return -1;
}

bool Ipv6Port::mark_duplicate(unsigned i) noexcept {
  auto expected = static_cast<std::uint8_t>(State::Tentative);
  // acq_rel: the state is the only shared datum; readers acquire it.
  if (!state_[i].compare_exchange_strong(expected, static_cast<std::uint8_t>(State::Duplicate),
                                         std::memory_order_acq_rel))
    return false;
  if (i == kLinkLocal)
    for (unsigned k = 0; k < count_; ++k)
      state_[k].store(static_cast<std::uint8_t>(State::Duplicate), std::memory_order_release);
  return true;
}

void Ipv6Port::mark_preferred(unsigned i) noexcept {
  auto expected = static_cast<std::uint8_t>(State::Tentative);
  state_[i].compare_exchange_strong(expected, static_cast<std::uint8_t>(State::Preferred), std::memory_order_acq_rel);
}

bool Ipv6Port::joined(const Ipv6Addr& group) const noexcept {
  if (group == ipv6_all_nodes()) return true;
  for (unsigned i = 0; i < count_; ++i)
    if (solicited_[i] == group) return true;
  return false;
}

bool Ipv6Port::accepts_mac(const MacAddr& m) const noexcept {
  if (!is_ipv6_multicast_mac(m)) return false;
  if (m == ipv6_multicast_mac(ipv6_all_nodes())) return true;
  for (unsigned i = 0; i < count_; ++i)
    if (m == ipv6_multicast_mac(solicited_[i])) return true;
  return false;
}

bool Ipv6Port::on_link(const Ipv6Addr& a) const noexcept {
  if (a.is_link_local()) return true;
  return count_ > kGlobal && ipv6_prefix_match(a, addr_[kGlobal], opt_.prefix);
}

const Ipv6Addr* Ipv6Port::source_for(const Ipv6Addr& dst) const noexcept {
  // Link-scope multicast: ff02::/16 (RFC 4291 §2.7 scope 2).
  const bool link_scope = dst.is_link_local() || (dst.is_multicast() && (dst.b[1] & 0x0f) == 2);
  const unsigned i = link_scope || count_ == 1 ? kLinkLocal : kGlobal;
  return usable(i) ? &addr_[i] : nullptr;
}

}  // namespace turnpike::net
