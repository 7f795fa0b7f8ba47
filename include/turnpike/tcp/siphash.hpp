// SipHash (Aumasson & Bernstein): a keyed PRF, used for RFC 6528 ISNs
// (SipHash-2-4) and for the connection table hash (SipHash-1-3) so that peers
// cannot aim 4-tuples at one bucket.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace turnpike::tcp {

struct SipKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

namespace detail {
constexpr std::uint64_t rotl(std::uint64_t x, int b) noexcept { return (x << b) | (x >> (64 - b)); }
struct SipState {
  std::uint64_t v0, v1, v2, v3;
  void round() noexcept {
    v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);
    v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;
    v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;
    v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);
  }
};
}  // namespace detail

// Generic SipHash-c-d over a little-endian message, 64-bit output.
template <int C, int D>
std::uint64_t siphash(const SipKey& key, const void* data, std::size_t len) noexcept {
  detail::SipState s{key.k0 ^ 0x736f6d6570736575ull, key.k1 ^ 0x646f72616e646f6dull,
                     key.k0 ^ 0x6c7967656e657261ull, key.k1 ^ 0x7465646279746573ull};
  const auto* p = static_cast<const std::uint8_t*>(data);
  const std::size_t full = len & ~std::size_t{7};
  for (std::size_t i = 0; i < full; i += 8) {
    std::uint64_t m;
    std::memcpy(&m, p + i, 8);  // x86-64: little-endian as the spec requires
    s.v3 ^= m;
    for (int r = 0; r < C; ++r) s.round();
    s.v0 ^= m;
  }
  std::uint64_t b = static_cast<std::uint64_t>(len) << 56;
  for (std::size_t i = 0; i < (len & 7); ++i) b |= static_cast<std::uint64_t>(p[full + i]) << (8 * i);
  s.v3 ^= b;
  for (int r = 0; r < C; ++r) s.round();
  s.v0 ^= b;
  s.v2 ^= 0xff;
  for (int r = 0; r < D; ++r) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

inline std::uint64_t siphash24(const SipKey& k, const void* d, std::size_t n) noexcept {
  return siphash<2, 4>(k, d, n);
}
inline std::uint64_t siphash13(const SipKey& k, const void* d, std::size_t n) noexcept {
  return siphash<1, 3>(k, d, n);
}

}  // namespace turnpike::tcp
