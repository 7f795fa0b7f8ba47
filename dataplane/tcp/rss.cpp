#include "turnpike/tcp/rss.hpp"

#include <cstring>

#include "turnpike/net/byteorder.hpp"

namespace turnpike::tcp {

Toeplitz::Toeplitz(std::span<const std::uint8_t> key) : key_(key.begin(), key.end()) {
  if (key_.size() < 8) key_.resize(8, 0);
}

// For every set bit i of the input, XOR in the 32 key bits starting at bit i.
std::uint32_t Toeplitz::hash(const std::uint8_t* in, std::size_t len) const noexcept {
  if (len + 4 > key_.size()) len = key_.size() - 4;
  std::uint32_t result = 0;
  std::uint32_t window = net::load_be32(key_.data());
  for (std::size_t i = 0; i < len; ++i) {
    const std::uint8_t next = key_[i + 4];
    for (int b = 7; b >= 0; --b) {
      if (in[i] & (1u << b)) result ^= window;
      window = (window << 1) | ((next >> b) & 1u);
    }
  }
  return result;
}

std::uint32_t Toeplitz::hash_v4_tcp(std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                                    std::uint16_t dport) const noexcept {
  std::uint8_t in[12];
  net::store_be32(in, src);
  net::store_be32(in + 4, dst);
  net::store_be16(in + 8, sport);
  net::store_be16(in + 10, dport);
  return hash(in, sizeof in);
}

std::uint32_t Toeplitz::hash_v6_tcp(const net::Ipv6Addr& src, const net::Ipv6Addr& dst, std::uint16_t sport,
                                    std::uint16_t dport) const noexcept {
  std::uint8_t in[36];
  std::memcpy(in, src.b.data(), 16);
  std::memcpy(in + 16, dst.b.data(), 16);
  net::store_be16(in + 32, sport);
  net::store_be16(in + 34, dport);
  return hash(in, sizeof in);
}

}  // namespace turnpike::tcp
