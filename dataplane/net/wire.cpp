#include "turnpike/net/wire.hpp"

#include <cstdio>
#include <cstring>

#include "turnpike/net/checksum.hpp"

namespace turnpike::net {

std::string MacAddr::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

std::string ipv4_to_string(Ipv4Addr a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
  return buf;
}

std::optional<Ipv4Addr> parse_ipv4(std::string_view s) {
  Ipv4Addr out = 0;
  int parts = 0;
  std::size_t i = 0;
  while (parts < 4) {
    if (i >= s.size() || s[i] < '0' || s[i] > '9') return std::nullopt;
    unsigned v = 0;
    std::size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + unsigned(s[i] - '0');
      if (++digits > 3 || v > 255) return std::nullopt;
      ++i;
    }
    out = (out << 8) | v;
    if (++parts < 4) {
      if (i >= s.size() || s[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != s.size()) return std::nullopt;
  return out;
}

std::optional<Endpoint> parse_endpoint(std::string_view s, std::uint16_t default_port) {
  const std::size_t colon = s.rfind(':');
  const auto ip = parse_ipv4(s.substr(0, colon));
  if (!ip) return std::nullopt;
  if (colon == std::string_view::npos) {
    if (!default_port) return std::nullopt;
    return Endpoint{*ip, default_port};
  }
  const std::string_view ps = s.substr(colon + 1);
  if (ps.empty() || ps.size() > 5) return std::nullopt;
  unsigned port = 0;
  for (char ch : ps) {
    if (ch < '0' || ch > '9') return std::nullopt;
    port = port * 10 + unsigned(ch - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return Endpoint{*ip, static_cast<std::uint16_t>(port)};
}

std::string endpoint_to_string(Endpoint e) { return ipv4_to_string(e.ip) + ":" + std::to_string(e.port); }

static MacAddr load_mac(const std::uint8_t* p) noexcept {
  MacAddr m;
  std::memcpy(m.b.data(), p, 6);
  return m;
}

bool parse_eth(const std::uint8_t* p, std::size_t len, EthHdr& out) noexcept {
  if (len < kEthHdrLen) return false;
  out.dst = load_mac(p);
  out.src = load_mac(p + 6);
  out.ether_type = load_be16(p + 12);
  return true;
}

void write_eth(std::uint8_t* p, const MacAddr& dst, const MacAddr& src, std::uint16_t type) noexcept {
  std::memcpy(p, dst.b.data(), 6);
  std::memcpy(p + 6, src.b.data(), 6);
  store_be16(p + 12, type);
}

ArpParse parse_arp(const std::uint8_t* p, std::size_t len, ArpPkt& out) noexcept {
  if (len < kArpLen) return ArpParse::Short;
  // RFC 826: hrd=1 (Ethernet), hln=6; pro=0x0800, pln=4.
  if (load_be16(p) != 1 || p[4] != 6) return ArpParse::BadHardware;
  if (load_be16(p + 2) != kEtherTypeIpv4 || p[5] != 4) return ArpParse::BadProtocol;
  out.op = load_be16(p + 6);
  out.sha = load_mac(p + 8);
  out.spa = load_be32(p + 14);
  out.tha = load_mac(p + 18);
  out.tpa = load_be32(p + 24);
  return ArpParse::Ok;
}

void write_arp(std::uint8_t* p, ArpOp op, const MacAddr& sha, Ipv4Addr spa, const MacAddr& tha,
               Ipv4Addr tpa) noexcept {
  store_be16(p, 1);
  store_be16(p + 2, kEtherTypeIpv4);
  p[4] = 6;
  p[5] = 4;
  store_be16(p + 6, static_cast<std::uint16_t>(op));
  std::memcpy(p + 8, sha.b.data(), 6);
  store_be32(p + 14, spa);
  std::memcpy(p + 18, tha.b.data(), 6);
  store_be32(p + 24, tpa);
}

Ipv4Parse parse_ipv4_hdr(const std::uint8_t* p, std::size_t len, Ipv4Hdr& out,
                         bool verify_checksum) noexcept {
  if (len < kIpv4MinHdr) return Ipv4Parse::Short;
  if ((p[0] >> 4) != 4) return Ipv4Parse::BadVersion;
  const std::size_t ihl = std::size_t(p[0] & 0x0f) * 4;
  if (ihl < kIpv4MinHdr) return Ipv4Parse::BadIhl;  // RFC 791: minimum IHL is 5
  if (ihl > len) return Ipv4Parse::Short;
  const std::uint16_t total = load_be16(p + 2);
  if (total < ihl || total > len) return Ipv4Parse::BadTotalLen;
  if (verify_checksum && inet_checksum(p, ihl) != 0) return Ipv4Parse::BadChecksum;
  out.ihl_bytes = static_cast<std::uint8_t>(ihl);
  out.tos = p[1];
  out.total_len = total;
  out.id = load_be16(p + 4);
  out.frag = load_be16(p + 6);
  out.ttl = p[8];
  out.proto = p[9];
  out.src = load_be32(p + 12);
  out.dst = load_be32(p + 16);
  return Ipv4Parse::Ok;
}

void write_ipv4_hdr(std::uint8_t* p, std::uint16_t total_len, std::uint16_t id, std::uint8_t ttl,
                    std::uint8_t proto, Ipv4Addr src, Ipv4Addr dst) noexcept {
  p[0] = 0x45;
  p[1] = 0;
  store_be16(p + 2, total_len);
  store_be16(p + 4, id);
  store_be16(p + 6, 0x4000);  // DF: we never fragment (RFC 791 §3.1 flags)
  p[8] = ttl;
  p[9] = proto;
  store_be16(p + 10, 0);
  store_be32(p + 12, src);
  store_be32(p + 16, dst);
  store_be16(p + 10, inet_checksum(p, kIpv4MinHdr));
}

std::string_view ipv4_parse_name(Ipv4Parse r) noexcept {
  switch (r) {
    case Ipv4Parse::Ok: return "ok";
    case Ipv4Parse::Short: return "short";
    case Ipv4Parse::BadVersion: return "bad_version";
    case Ipv4Parse::BadIhl: return "bad_ihl";
    case Ipv4Parse::BadTotalLen: return "bad_total_len";
    case Ipv4Parse::BadChecksum: return "bad_checksum";
  }
  return "?";
}

}  // namespace turnpike::net
