// Wire formats for Ethernet II, ARP (RFC 826), IPv4 (RFC 791) and ICMP echo
// (RFC 792). Views parse from and build into byte ranges; nothing here knows
// about mbufs, so parsers are unit-testable and fuzzable on plain buffers.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "turnpike/net/byteorder.hpp"

namespace turnpike::net {

struct MacAddr {
  std::array<std::uint8_t, 6> b{};
  bool operator==(const MacAddr&) const = default;
  bool is_broadcast() const noexcept {
    for (auto x : b)
      if (x != 0xff) return false;
    return true;
  }
  bool is_multicast() const noexcept { return b[0] & 1; }
  bool is_zero() const noexcept {
    for (auto x : b)
      if (x) return false;
    return true;
  }
  std::string to_string() const;
  static MacAddr broadcast() noexcept { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
};

// IPv4 address in host byte order.
using Ipv4Addr = std::uint32_t;
std::string ipv4_to_string(Ipv4Addr a);
std::optional<Ipv4Addr> parse_ipv4(std::string_view s);
// "a.b.c.d:port" or, when default_port is non-zero, also "a.b.c.d" (that
// port). Ports are 1..65535 in decimal. The one address parser of the
// config file, its overrides and the listeners.
struct Endpoint {
  Ipv4Addr ip = 0;
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};
std::optional<Endpoint> parse_endpoint(std::string_view s, std::uint16_t default_port = 0);
std::string endpoint_to_string(Endpoint e);

inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeVlan = 0x8100;
inline constexpr std::size_t kEthHdrLen = 14;
inline constexpr std::size_t kArpLen = 28;  // Ethernet/IPv4 ARP payload
inline constexpr std::size_t kIpv4MinHdr = 20;
inline constexpr std::size_t kIcmpEchoHdr = 8;
inline constexpr std::uint8_t kIpProtoIcmp = 1;
inline constexpr std::uint8_t kIpProtoTcp = 6;
inline constexpr std::uint8_t kIpProtoUdp = 17;
inline constexpr std::uint8_t kDefaultTtl = 64;  // RFC 1700 / Linux default

struct EthHdr {
  MacAddr dst, src;
  std::uint16_t ether_type;
};
bool parse_eth(const std::uint8_t* p, std::size_t len, EthHdr& out) noexcept;
void write_eth(std::uint8_t* p, const MacAddr& dst, const MacAddr& src, std::uint16_t type) noexcept;

enum class ArpOp : std::uint16_t { Request = 1, Reply = 2 };
struct ArpPkt {
  std::uint16_t op;
  MacAddr sha, tha;
  Ipv4Addr spa, tpa;
};
enum class ArpParse { Ok, Short, BadHardware, BadProtocol };
// Only Ethernet (htype 1, hlen 6) over IPv4 (ptype 0x0800, plen 4) is accepted.
ArpParse parse_arp(const std::uint8_t* p, std::size_t len, ArpPkt& out) noexcept;
void write_arp(std::uint8_t* p, ArpOp op, const MacAddr& sha, Ipv4Addr spa, const MacAddr& tha,
               Ipv4Addr tpa) noexcept;

struct Ipv4Hdr {
  std::uint8_t ihl_bytes;
  std::uint8_t tos;
  std::uint16_t total_len;
  std::uint16_t id;
  std::uint16_t frag;  // flags + offset as on the wire
  std::uint8_t ttl;
  std::uint8_t proto;
  Ipv4Addr src, dst;
  bool is_fragment() const noexcept { return (frag & 0x3fff) != 0; }  // MF or offset
};
enum class Ipv4Parse { Ok, Short, BadVersion, BadIhl, BadTotalLen, BadChecksum };
// Validates RFC 791 §3.1 fields and the RFC 1071 header checksum; `len` is the
// number of bytes after the Ethernet header (may exceed total_len: padding).
Ipv4Parse parse_ipv4_hdr(const std::uint8_t* p, std::size_t len, Ipv4Hdr& out,
                         bool verify_checksum = true) noexcept;
// Writes a 20-byte header with checksum.
void write_ipv4_hdr(std::uint8_t* p, std::uint16_t total_len, std::uint16_t id, std::uint8_t ttl,
                    std::uint8_t proto, Ipv4Addr src, Ipv4Addr dst) noexcept;

inline constexpr std::uint8_t kIcmpEchoReply = 0;
inline constexpr std::uint8_t kIcmpEchoRequest = 8;

std::string_view ipv4_parse_name(Ipv4Parse r) noexcept;

}  // namespace turnpike::net
