// Explicit big-endian loads and stores for wire formats: parse and build
// through these instead of casting packed structs (unaligned-safe, UB-free).
#pragma once
#include <cstdint>
#include <cstring>

namespace turnpike::net {

inline std::uint16_t load_be16(const void* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
inline std::uint32_t load_be32(const void* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline void store_be16(void* p, std::uint16_t v) noexcept {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
inline void store_be32(void* p, std::uint32_t v) noexcept {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}

}  // namespace turnpike::net
