// A TCP endpoint address of either family in 16 bytes: IPv6 as it is, IPv4
// in its IPv4-mapped form ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). One connection
// table, one TIME_WAIT ring, one cookie and ISN hash serve both families; a
// uint32_t (IPv4, host order) converts implicitly, so IPv4 callers are unchanged.
#pragma once
#include <cstdint>
#include <cstring>

#include "turnpike/net/ipv6.hpp"

namespace turnpike::tcp {

struct Addr {
  alignas(4) std::uint8_t b[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};

  constexpr Addr() noexcept = default;  // 0.0.0.0 (IPv4-mapped)
  constexpr Addr(std::uint32_t v4) noexcept {  // NOLINT: implicit by design (IPv4 callers)
    b[12] = static_cast<std::uint8_t>(v4 >> 24);
    b[13] = static_cast<std::uint8_t>(v4 >> 16);
    b[14] = static_cast<std::uint8_t>(v4 >> 8);
    b[15] = static_cast<std::uint8_t>(v4);
  }
  Addr(const net::Ipv6Addr& a) noexcept { std::memcpy(b, a.b.data(), 16); }  // NOLINT: implicit
  static Addr any6() noexcept { return Addr(net::Ipv6Addr{}); }  // "::"

  bool is_v4() const noexcept {
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return std::memcmp(b, kMapped, 12) == 0;
  }
  // The IPv4 address in host order; 0 for an IPv6 one.
  std::uint32_t v4() const noexcept {
    return is_v4() ? (std::uint32_t{b[12]} << 24) | (std::uint32_t{b[13]} << 16) | (std::uint32_t{b[14]} << 8) | b[15]
                   : 0;
  }
  net::Ipv6Addr v6() const noexcept {
    net::Ipv6Addr a;
    std::memcpy(a.b.data(), b, 16);
    return a;
  }
  // A wildcard: 0.0.0.0 (IPv4 only) or :: (both families, as a socket
  // without IPV6_V6ONLY).
  bool is_any() const noexcept { return v4_any() || v6_any(); }
  bool v4_any() const noexcept { return is_v4() && v4() == 0; }
  bool v6_any() const noexcept {
    static constexpr std::uint8_t kZero[16] = {};
    return std::memcmp(b, kZero, 16) == 0;
  }
  friend bool operator==(const Addr& x, const Addr& y) noexcept { return std::memcmp(x.b, y.b, 16) == 0; }
};

}  // namespace turnpike::tcp
