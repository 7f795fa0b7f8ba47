// IPv6 (RFC 8200) wire format: 128-bit addresses and their text forms
// (RFC 4291 §2.2, RFC 5952), the fixed header and a bounded walk over the
// extension header chain (§4), and the upper-layer checksum over the
// pseudo-header (§8.1) that ICMPv6 (RFC 4443) and, later, TCP use. Like
// wire.hpp it works on plain byte ranges (unit tests, fuzzing), no mbufs.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "turnpike/net/byteorder.hpp"
#include "turnpike/net/wire.hpp"

namespace turnpike::net {

struct Ipv6Addr {
  std::array<std::uint8_t, 16> b{};
  bool operator==(const Ipv6Addr&) const = default;

  bool is_unspecified() const noexcept { return hi() == 0 && lo() == 0; }
  bool is_multicast() const noexcept { return b[0] == 0xff; }  // ff00::/8
  bool is_link_local() const noexcept { return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; }  // fe80::/10
  bool is_loopback() const noexcept { return hi() == 0 && lo() == 1; }
  bool is_v4_mapped() const noexcept { return hi() == 0 && (lo() >> 32) == 0xffff; }  // ::ffff:0:0/96
  // The two halves as big-endian 64-bit numbers (hashing, comparisons).
  std::uint64_t hi() const noexcept { return load_be64(b.data()); }
  std::uint64_t lo() const noexcept { return load_be64(b.data() + 8); }
  static Ipv6Addr from_words(std::uint64_t hi, std::uint64_t lo) noexcept {
    Ipv6Addr a;
    store_be64(a.b.data(), hi);
    store_be64(a.b.data() + 8, lo);
    return a;
  }
  // RFC 5952 canonical text: lower case, longest zero run as "::",
  // "::ffff:a.b.c.d" for IPv4-mapped addresses.
  std::string to_string() const;

 private:
  static std::uint64_t load_be64(const std::uint8_t* p) noexcept {
    return (std::uint64_t(load_be32(p)) << 32) | load_be32(p + 4);
  }
  static void store_be64(std::uint8_t* p, std::uint64_t v) noexcept {
    store_be32(p, static_cast<std::uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<std::uint32_t>(v));
  }
};

// RFC 4291 §2.2 text forms: eight groups, one "::", a dotted IPv4 tail. No
// zone index ("%eth0") and no brackets: those belong to the caller's syntax.
std::optional<Ipv6Addr> parse_ipv6(std::string_view s);
// "addr/len" with len 0..128.
struct Ipv6Prefix {
  Ipv6Addr addr;
  std::uint8_t len = 0;
};
std::optional<Ipv6Prefix> parse_ipv6_prefix(std::string_view s);
// "[addr]:port" (RFC 3986 §3.2.2 brackets) or, when default_port is
// non-zero, also "[addr]" and a bare "addr"; ports 1..65535. For IPv6
// listeners and remotes (net::parse_endpoint is the IPv4 form).
struct Endpoint6 {
  Ipv6Addr ip;
  std::uint16_t port = 0;
  bool operator==(const Endpoint6&) const = default;
};
std::optional<Endpoint6> parse_endpoint6(std::string_view s, std::uint16_t default_port = 0);
std::string endpoint6_to_string(const Endpoint6& e);  // "[addr]:port"
// True when the first `len` bits of a and b agree.
bool ipv6_prefix_match(const Ipv6Addr& a, const Ipv6Addr& b, unsigned len) noexcept;

// fe80::/64 with the modified EUI-64 interface identifier of a 48-bit MAC
// (RFC 4291 §2.5.6 and Appendix A: ff:fe in the middle, U/L bit inverted).
Ipv6Addr ipv6_link_local(const MacAddr& mac) noexcept;
// Solicited-node multicast group ff02::1:ffXX:XXXX of an address (RFC 4291 §2.7.1).
Ipv6Addr ipv6_solicited_node(const Ipv6Addr& a) noexcept;
// Ethernet address of an IPv6 multicast group: 33:33 + its last 32 bits (RFC 2464 §7).
MacAddr ipv6_multicast_mac(const Ipv6Addr& group) noexcept;
inline bool is_ipv6_multicast_mac(const MacAddr& m) noexcept { return m.b[0] == 0x33 && m.b[1] == 0x33; }
// ff02::1, all nodes on the link (RFC 4291 §2.7.1).
inline Ipv6Addr ipv6_all_nodes() noexcept { return Ipv6Addr::from_words(0xff02000000000000ull, 1); }

inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::size_t kIpv6HdrLen = 40;
// Extension headers walked per packet at most (RFC 8200 §4.1 recommends an
// order with at most six; RFC 7112 lets a host drop what it cannot bound).
inline constexpr unsigned kIpv6MaxExtHeaders = 8;
inline constexpr std::uint8_t kIpv6HopByHop = 0;
inline constexpr std::uint8_t kIpv6Routing = 43;
inline constexpr std::uint8_t kIpv6Fragment = 44;
inline constexpr std::uint8_t kIpv6NoNext = 59;
inline constexpr std::uint8_t kIpv6DestOpts = 60;
inline constexpr std::uint8_t kIpProtoIcmpv6 = 58;
inline constexpr std::uint8_t kIpv6DefaultHopLimit = 64;

struct Ipv6Hdr {
  std::uint8_t traffic_class = 0;
  std::uint32_t flow_label = 0;
  std::uint16_t payload_len = 0;
  std::uint8_t next_header = 0;  // of the fixed header
  std::uint8_t hop_limit = 0;
  Ipv6Addr src, dst;
  // From the extension header walk:
  std::uint8_t proto = 0;       // the upper-layer protocol (last Next Header)
  std::uint16_t l4_offset = 0;  // its offset from the start of the IPv6 header
  std::uint8_t ext_headers = 0;
  bool atomic_fragment = false;  // a Fragment header with offset 0, M = 0 (RFC 6946)
  bool router_alert = false;     // Hop-by-Hop carried a Router Alert (RFC 2711; MLD needs it)
  std::size_t l4_len() const noexcept { return kIpv6HdrLen + payload_len - l4_offset; }
};

enum class Ipv6Parse {
  Ok,
  Short,             // less than 40 bytes
  BadVersion,        // version is not 6
  BadPayloadLen,     // payload length beyond the frame
  ExtTruncated,      // an extension header or option runs past the payload
  ExtChain,          // more than kIpv6MaxExtHeaders extension headers
  HopByHopMisplaced, // Hop-by-Hop Options not right after the fixed header (§4.1)
  BadOption,         // unrecognised option whose type says discard (§4.2)
  Routing,           // Routing header with Segments Left > 0 (we are not a router, §4.4)
  Fragment,          // a real fragment (no reassembly)
};
// `len` is the number of bytes after the Ethernet header (it may exceed
// 40 + payload length: padding). Options of Hop-by-Hop and Destination
// Options headers are checked: Pad1, PadN and Router Alert are known, any
// other option is skipped or refused as its type's two high bits say.
Ipv6Parse parse_ipv6_hdr(const std::uint8_t* p, std::size_t len, Ipv6Hdr& out) noexcept;
std::string_view ipv6_parse_name(Ipv6Parse r) noexcept;
// Writes the 40-byte fixed header (traffic class and flow label zero).
void write_ipv6_hdr(std::uint8_t* p, std::uint16_t payload_len, std::uint8_t next_header, std::uint8_t hop_limit,
                    const Ipv6Addr& src, const Ipv6Addr& dst) noexcept;

// Upper-layer checksum (RFC 8200 §8.1): pseudo-header (addresses, 32-bit
// upper-layer length, next header) plus the message as it is. Computing
// over a message whose checksum field holds a correct value gives 0.
std::uint16_t ipv6_upper_checksum(const Ipv6Addr& src, const Ipv6Addr& dst, std::uint8_t next_header,
                                  const std::uint8_t* msg, std::size_t len) noexcept;

// ICMPv6 (RFC 4443 §2.1, RFC 4861 §4).
inline constexpr std::size_t kIcmpv6HdrLen = 4;
inline constexpr std::uint8_t kIcmpv6EchoRequest = 128;
inline constexpr std::uint8_t kIcmpv6EchoReply = 129;
inline constexpr std::uint8_t kIcmpv6MldQuery = 130;     // RFC 2710 §3 / RFC 3810 §5.1
inline constexpr std::uint8_t kIcmpv6MldV1Report = 131;  // RFC 2710 §3
inline constexpr std::uint8_t kIcmpv6MldV2Report = 143;  // RFC 3810 §5.2
inline constexpr std::uint8_t kIcmpv6RouterSolicit = 133;
inline constexpr std::uint8_t kIcmpv6RouterAdvert = 134;
inline constexpr std::uint8_t kIcmpv6NeighborSolicit = 135;
inline constexpr std::uint8_t kIcmpv6NeighborAdvert = 136;

}  // namespace turnpike::net
