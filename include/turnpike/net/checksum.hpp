// RFC 1071 Internet checksum, with incremental update per RFC 1624.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace turnpike::net {

// One's-complement sum of a byte range folded into a 32-bit accumulator
// (not yet complemented). Bytes are summed as big-endian 16-bit words.
inline std::uint32_t csum_partial(const void* data, std::size_t len, std::uint32_t sum = 0) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  // Carry-in is a big-endian word value; the loop sums native words.
  std::uint64_t acc = __builtin_bswap16(static_cast<std::uint16_t>(sum));
  while (len >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    // Sum in native order, fix up at the end: one's-complement sums are
    // byte-order independent up to a final swap (RFC 1071 §2(B)).
    acc += (w & 0xffffffffu) + (w >> 32);
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    len -= 2;
  }
  if (len) acc += *p;  // little-endian host: trailing byte is the high half of a BE word
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  // acc holds the sum in host (little-endian) order; convert to BE word value.
  return __builtin_bswap16(static_cast<std::uint16_t>(acc));
}

// Final complement; returns the checksum in host order (store with store_be16).
inline std::uint16_t csum_fold(std::uint32_t sum) noexcept {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

inline std::uint16_t inet_checksum(const void* data, std::size_t len) noexcept {
  return csum_fold(csum_partial(data, len));
}

// TCP/UDP pseudo-header sum (RFC 9293 §3.1); addresses in host order.
inline std::uint32_t pseudo_header_sum(std::uint32_t src, std::uint32_t dst, std::uint8_t proto,
                                       std::uint16_t l4_len) noexcept {
  std::uint64_t s = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + l4_len;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint32_t>(s);
}

}  // namespace turnpike::net
