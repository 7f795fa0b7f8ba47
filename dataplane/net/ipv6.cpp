#include "turnpike/net/ipv6.hpp"

#include <cstdio>
#include <cstring>

#include "turnpike/net/checksum.hpp"

namespace turnpike::net {

std::string Ipv6Addr::to_string() const {
  std::uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = load_be16(b.data() + 2 * i);
  char buf[48];
  if (is_v4_mapped()) {
    std::snprintf(buf, sizeof buf, "::ffff:%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    return buf;
  }
  // RFC 5952 §4.2: the longest run of two or more zero groups (the first of
  // equal runs) becomes "::"; a single zero group stays "0".
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i]) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && !g[j]) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  std::string s;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      s += "::";
      i += best_len - 1;
      continue;
    }
    if (!s.empty() && s.back() != ':') s += ':';
    std::snprintf(buf, sizeof buf, "%x", g[i]);
    s += buf;
  }
  return s;
}

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<Ipv6Addr> parse_ipv6(std::string_view s) {
  std::uint16_t g[8] = {};
  int n = 0, gap = -1;
  std::size_t i = 0;
  if (s.size() < 2) return std::nullopt;
  if (s[0] == ':') {
    if (s[1] != ':') return std::nullopt;
    gap = 0;
    i = 2;
  }
  while (i < s.size()) {
    if (n == 8) return std::nullopt;
    std::size_t j = i;
    unsigned v = 0;
    int digits = 0;
    for (; j < s.size() && hex_value(s[j]) >= 0; ++j) {
      if (++digits > 4) return std::nullopt;
      v = v * 16 + unsigned(hex_value(s[j]));
    }
    if (j < s.size() && s[j] == '.') {  // dotted IPv4 in the last 32 bits
      if (n > 6) return std::nullopt;
      const auto v4 = parse_ipv4(s.substr(i));
      if (!v4) return std::nullopt;
      g[n++] = static_cast<std::uint16_t>(*v4 >> 16);
      g[n++] = static_cast<std::uint16_t>(*v4);
      break;
    }
    if (!digits) return std::nullopt;
    g[n++] = static_cast<std::uint16_t>(v);
    i = j;
    if (i == s.size()) break;
    if (s[i] != ':') return std::nullopt;
    if (++i == s.size()) return std::nullopt;  // a trailing single ':'
    if (s[i] == ':') {
      if (gap >= 0) return std::nullopt;  // one "::" at most
      gap = n;
      ++i;
    }
  }
  // "::" stands for one or more groups.
  if (gap < 0 ? n != 8 : n > 7) return std::nullopt;
  Ipv6Addr a;
  const int tail = gap < 0 ? 0 : n - gap;
  for (int k = 0; k < n - tail; ++k) store_be16(a.b.data() + 2 * k, g[k]);
  for (int k = 0; k < tail; ++k) store_be16(a.b.data() + 2 * (8 - tail + k), g[gap + k]);
  return a;
}

std::optional<Ipv6Prefix> parse_ipv6_prefix(std::string_view s) {
  const std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto a = parse_ipv6(s.substr(0, slash));
  const std::string_view ls = s.substr(slash + 1);
  if (!a || ls.empty() || ls.size() > 3) return std::nullopt;
  unsigned len = 0;
  for (char c : ls) {
    if (c < '0' || c > '9') return std::nullopt;
    len = len * 10 + unsigned(c - '0');
  }
  if (len > 128) return std::nullopt;
  return Ipv6Prefix{*a, static_cast<std::uint8_t>(len)};
}

std::optional<Endpoint6> parse_endpoint6(std::string_view s, std::uint16_t default_port) {
  if (s.empty()) return std::nullopt;
  if (s.front() != '[') {
    if (!default_port) return std::nullopt;
    const auto a = parse_ipv6(s);
    if (!a) return std::nullopt;
    return Endpoint6{*a, default_port};
  }
  const std::size_t close = s.find(']');
  if (close == std::string_view::npos) return std::nullopt;
  const auto a = parse_ipv6(s.substr(1, close - 1));
  if (!a) return std::nullopt;
  const std::string_view rest = s.substr(close + 1);
  if (rest.empty()) {
    if (!default_port) return std::nullopt;
    return Endpoint6{*a, default_port};
  }
  if (rest[0] != ':' || rest.size() < 2 || rest.size() > 6) return std::nullopt;
  unsigned port = 0;
  for (char c : rest.substr(1)) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + unsigned(c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return Endpoint6{*a, static_cast<std::uint16_t>(port)};
}

std::string endpoint6_to_string(const Endpoint6& e) { return "[" + e.ip.to_string() + "]:" + std::to_string(e.port); }

bool ipv6_prefix_match(const Ipv6Addr& a, const Ipv6Addr& b, unsigned len) noexcept {
  if (len > 128) len = 128;
  const unsigned bytes = len / 8, bits = len % 8;
  if (std::memcmp(a.b.data(), b.b.data(), bytes) != 0) return false;
  if (!bits) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff00 >> bits);
  return ((a.b[bytes] ^ b.b[bytes]) & mask) == 0;
}

Ipv6Addr ipv6_link_local(const MacAddr& mac) noexcept {
  Ipv6Addr a;
  a.b[0] = 0xfe;
  a.b[1] = 0x80;
  a.b[8] = mac.b[0] ^ 0x02;  // universal/local bit inverted (RFC 4291 Appendix A)
  a.b[9] = mac.b[1];
  a.b[10] = mac.b[2];
  a.b[11] = 0xff;
  a.b[12] = 0xfe;
  a.b[13] = mac.b[3];
  a.b[14] = mac.b[4];
  a.b[15] = mac.b[5];
  return a;
}

Ipv6Addr ipv6_solicited_node(const Ipv6Addr& a) noexcept {
  Ipv6Addr g = Ipv6Addr::from_words(0xff02000000000000ull, 0x00000001ff000000ull);
  g.b[13] = a.b[13];
  g.b[14] = a.b[14];
  g.b[15] = a.b[15];
  return g;
}

MacAddr ipv6_multicast_mac(const Ipv6Addr& group) noexcept {
  return MacAddr{{0x33, 0x33, group.b[12], group.b[13], group.b[14], group.b[15]}};
}

namespace {
// TLV options of Hop-by-Hop and Destination Options headers (RFC 8200 §4.2).
Ipv6Parse check_options(const std::uint8_t* p, std::size_t len, bool& router_alert) noexcept {
  std::size_t i = 0;
  while (i < len) {
    const std::uint8_t type = p[i];
    if (type == 0) {  // Pad1
      ++i;
      continue;
    }
    if (len - i < 2 || std::size_t(p[i + 1]) > len - i - 2) return Ipv6Parse::ExtTruncated;
    // PadN (1) and Router Alert (5, RFC 2711) are understood; the two high
    // bits of any other type say what to do with it: 00 skip, else discard.
    if (type != 1 && type != 5 && (type >> 6) != 0) return Ipv6Parse::BadOption;
    if (type == 5) router_alert = true;
    i += 2 + std::size_t(p[i + 1]);
  }
  return Ipv6Parse::Ok;
}
}  // namespace

Ipv6Parse parse_ipv6_hdr(const std::uint8_t* p, std::size_t len, Ipv6Hdr& out) noexcept {
  if (len < kIpv6HdrLen) return Ipv6Parse::Short;
  if ((p[0] >> 4) != 6) return Ipv6Parse::BadVersion;
  const std::uint16_t payload = load_be16(p + 4);
  // A payload length of 0 with a Jumbo Payload option (RFC 2675) is refused
  // below with that option; anything longer than the frame is here.
  if (payload > len - kIpv6HdrLen) return Ipv6Parse::BadPayloadLen;
  out.traffic_class = static_cast<std::uint8_t>(load_be16(p) >> 4);
  out.flow_label = load_be32(p) & 0xfffff;
  out.payload_len = payload;
  out.next_header = p[6];
  out.hop_limit = p[7];
  std::memcpy(out.src.b.data(), p + 8, 16);
  std::memcpy(out.dst.b.data(), p + 24, 16);
  out.atomic_fragment = false;
  out.router_alert = false;

  // RFC 8200 §4: walk the chain while the Next Header names an extension
  // header we process; every step either returns or counts one header, so
  // the loop ends after kIpv6MaxExtHeaders + 1 rounds at most.
  const std::size_t end = kIpv6HdrLen + payload;
  std::size_t off = kIpv6HdrLen;
  std::uint8_t nh = p[6];
  unsigned count = 0;
  for (;;) {
    if (nh != kIpv6HopByHop && nh != kIpv6DestOpts && nh != kIpv6Routing && nh != kIpv6Fragment) break;
    if (nh == kIpv6HopByHop && count != 0) return Ipv6Parse::HopByHopMisplaced;  // §4.1
    if (++count > kIpv6MaxExtHeaders) return Ipv6Parse::ExtChain;
    if (end - off < 8) return Ipv6Parse::ExtTruncated;  // every extension header has 8 bytes at least
    const std::uint8_t* h = p + off;
    std::size_t hlen = 8;
    if (nh == kIpv6Fragment) {
      // §4.5: offset (13 bits), 2 reserved, M. Offset 0 and M = 0 is an
      // atomic fragment, processed as a whole packet (RFC 6946).
      const std::uint16_t fo = load_be16(h + 2);
      if ((fo & 0xfff8) != 0 || (fo & 1) != 0) return Ipv6Parse::Fragment;
      out.atomic_fragment = true;
    } else {
      hlen = (std::size_t(h[1]) + 1) * 8;  // Hdr Ext Len: 8-octet units after the first 8
      if (hlen > end - off) return Ipv6Parse::ExtTruncated;
      if (nh == kIpv6Routing) {
        // §4.4: with Segments Left 0 the header is ignored, whatever its type.
        if (h[3] != 0) return Ipv6Parse::Routing;
      } else {
        bool ra = false;
        if (auto r = check_options(h + 2, hlen - 2, ra); r != Ipv6Parse::Ok) return r;
        if (nh == kIpv6HopByHop) out.router_alert = ra;  // §4.1: only Hop-by-Hop's counts
      }
    }
    nh = h[0];
    off += hlen;
  }
  out.proto = nh;
  out.l4_offset = static_cast<std::uint16_t>(off);
  out.ext_headers = static_cast<std::uint8_t>(count);
  return Ipv6Parse::Ok;
}

std::string_view ipv6_parse_name(Ipv6Parse r) noexcept {
  switch (r) {
    case Ipv6Parse::Ok: return "ok";
    case Ipv6Parse::Short: return "short";
    case Ipv6Parse::BadVersion: return "bad_version";
    case Ipv6Parse::BadPayloadLen: return "bad_payload_len";
    case Ipv6Parse::ExtTruncated: return "ext_truncated";
    case Ipv6Parse::ExtChain: return "ext_chain";
    case Ipv6Parse::HopByHopMisplaced: return "hop_by_hop_misplaced";
    case Ipv6Parse::BadOption: return "bad_option";
    case Ipv6Parse::Routing: return "routing";
    case Ipv6Parse::Fragment: return "fragment";
  }
  return "?";
}

void write_ipv6_hdr(std::uint8_t* p, std::uint16_t payload_len, std::uint8_t next_header, std::uint8_t hop_limit,
                    const Ipv6Addr& src, const Ipv6Addr& dst) noexcept {
  store_be32(p, 0x60000000u);
  store_be16(p + 4, payload_len);
  p[6] = next_header;
  p[7] = hop_limit;
  std::memcpy(p + 8, src.b.data(), 16);
  std::memcpy(p + 24, dst.b.data(), 16);
}

std::uint16_t ipv6_upper_checksum(const Ipv6Addr& src, const Ipv6Addr& dst, std::uint8_t next_header,
                                  const std::uint8_t* msg, std::size_t len) noexcept {
  std::uint8_t ph[40];
  std::memcpy(ph, src.b.data(), 16);
  std::memcpy(ph + 16, dst.b.data(), 16);
  store_be32(ph + 32, static_cast<std::uint32_t>(len));
  ph[36] = ph[37] = ph[38] = 0;
  ph[39] = next_header;
  return csum_fold(csum_partial(msg, len, csum_partial(ph, sizeof ph)));
}

}  // namespace turnpike::net
