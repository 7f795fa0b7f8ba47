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

namespace {
// Hop-by-Hop header with Router Alert "MLD" (RFC 2711 value 0) and a PadN.
void write_router_alert(std::uint8_t* h, std::uint8_t next) noexcept {
  const std::uint8_t hbh[8] = {next, 0, 5, 2, 0, 0, 1, 0};
  std::memcpy(h, hbh, sizeof hbh);
}
}  // namespace

std::size_t write_mld_report(std::uint8_t* p, const Ipv6Addr& src, const Ipv6Addr* groups, unsigned n,
                             std::uint8_t record) noexcept {
  if (n > kMldMaxGroups) n = kMldMaxGroups;
  const std::size_t icmp_len = 8 + std::size_t(n) * 20;
  const Ipv6Addr dst = ipv6_all_mldv2_routers();
  write_ipv6_hdr(p, static_cast<std::uint16_t>(8 + icmp_len), kIpv6HopByHop, 1, src, dst);
  write_router_alert(p + kIpv6HdrLen, kIpProtoIcmpv6);
  std::uint8_t* m = p + kIpv6HdrLen + 8;
  std::memset(m, 0, icmp_len);
  m[0] = kIcmpv6MldV2Report;
  store_be16(m + 6, static_cast<std::uint16_t>(n));
  for (unsigned i = 0; i < n; ++i) {
    std::uint8_t* r = m + 8 + 20 * i;  // type, aux len 0, no sources, the group
    r[0] = record;
    std::memcpy(r + 4, groups[i].b.data(), 16);
  }
  store_be16(m + 2, ipv6_upper_checksum(src, dst, kIpProtoIcmpv6, m, icmp_len));
  return kIpv6HdrLen + 8 + icmp_len;
}

std::size_t write_mld_v1_report(std::uint8_t* p, const Ipv6Addr& src, const Ipv6Addr& group) noexcept {
  write_ipv6_hdr(p, static_cast<std::uint16_t>(8 + kMldV1Len), kIpv6HopByHop, 1, src, group);
  write_router_alert(p + kIpv6HdrLen, kIpProtoIcmpv6);
  std::uint8_t* m = p + kIpv6HdrLen + 8;
  std::memset(m, 0, kMldV1Len);
  m[0] = kIcmpv6MldV1Report;
  std::memcpy(m + 8, group.b.data(), 16);
  store_be16(m + 2, ipv6_upper_checksum(src, group, kIpProtoIcmpv6, m, kMldV1Len));
  return kIpv6HdrLen + 8 + kMldV1Len;
}

bool parse_mld_query(const Ipv6Hdr& ip, const std::uint8_t* icmp, std::size_t len, MldQuery& out) noexcept {
  if (!ip.src.is_link_local() || ip.hop_limit != 1 || !ip.router_alert) return false;
  if (len != kMldV1Len && len < kMldV2QueryMin) return false;
  std::memcpy(out.group.b.data(), icmp + 8, 16);
  out.v2 = len >= kMldV2QueryMin;
  return out.group.is_unspecified() || out.group.is_multicast();
}

Ipv6Port::Ipv6Port(const MacAddr& mac, const Ipv6Options& o)
    : opt_(o), neigh_(o.neigh_capacity, o.neigh_timeout ? o.neigh_timeout : ~0ull >> 2) {
  if (opt_.dad_transmits > kMaxDadTransmits) opt_.dad_transmits = kMaxDadTransmits;  // the probe count is 8 bits
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

unsigned Ipv6Port::report_groups(Ipv6Addr (&out)[kMldMaxGroups]) const noexcept {
  unsigned n = 0;
  for (unsigned i = 0; i < count_; ++i) {
    bool seen = false;
    for (unsigned k = 0; k < n; ++k) seen |= out[k] == solicited_[i];
    if (!seen) out[n++] = solicited_[i];
  }
  return n;
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
