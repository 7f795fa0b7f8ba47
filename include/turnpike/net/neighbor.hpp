// Neighbour tables shared by all workers of a port: ARP (IPv4) and Neighbor
// Discovery (IPv6, RFC 4861 §5.1's neighbour cache) keep the same structure,
// keyed by their address type.
//
// Under RSS every ARP or ND frame lands on one queue, yet every worker needs
// next-hop MACs. Entries are therefore seqlocked: readers never block and
// write nothing shared; writers (rare: ARP/ND traffic, aging) take a per-slot
// odd sequence with a CAS, so any worker may learn. Slots live in a fixed
// probe window (no tombstones), which keeps deletion trivial and memory bounded.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "turnpike/net/ipv6.hpp"
#include "turnpike/net/wire.hpp"

namespace turnpike::net {

// How an address type is stored in a slot: 64-bit words (all zero = empty:
// neither 0.0.0.0 nor :: is ever a neighbour) and its hash.
template <class A>
struct NeighborKey;
template <>
struct NeighborKey<Ipv4Addr> {
  static constexpr unsigned kWords = 1;
  static void store(const Ipv4Addr& a, std::uint64_t* w) noexcept { w[0] = a; }
  static Ipv4Addr load(const std::uint64_t* w) noexcept { return static_cast<Ipv4Addr>(w[0]); }
  // Fibonacci hashing: hosts of one subnet differ in low bits.
  static std::uint64_t hash(const Ipv4Addr& a) noexcept { return a * 0x9e3779b97f4a7c15ull; }
};
template <>
struct NeighborKey<Ipv6Addr> {
  static constexpr unsigned kWords = 2;
  static void store(const Ipv6Addr& a, std::uint64_t* w) noexcept {
    w[0] = a.hi();
    w[1] = a.lo();
  }
  static Ipv6Addr load(const std::uint64_t* w) noexcept { return Ipv6Addr::from_words(w[0], w[1]); }
  // Neighbours share the /64 and differ in the interface identifier.
  static std::uint64_t hash(const Ipv6Addr& a) noexcept {
    return (a.lo() ^ (a.hi() * 0xff51afd7ed558ccdull)) * 0x9e3779b97f4a7c15ull;
  }
};

template <class A>
class BasicNeighborTable {
 public:
  using Addr = A;
  static constexpr unsigned kProbe = 8;

  // capacity rounded up to a power of two >= kProbe; timeout in the same
  // unit as the `now` values callers pass (TSC cycles in the data plane).
  BasicNeighborTable(std::uint32_t capacity, std::uint64_t timeout);

  // Lock-free read: true and the MAC if a live (unexpired) entry exists.
  bool lookup(const A& ip, std::uint64_t now, MacAddr& mac) const noexcept;

  // RFC 826 merge (ARP) / RFC 4861 §7.2.3, §7.2.5 (ND): refresh an existing
  // entry; create one only if `create` (addressed to us, or we asked).
  // Returns true if stored.
  bool update(const A& ip, const MacAddr& mac, std::uint64_t now, bool create) noexcept;

  // Removes entries older than the timeout; returns how many.
  std::uint32_t expire(std::uint64_t now) noexcept;

  std::uint32_t capacity() const noexcept { return mask_ + 1; }
  std::uint32_t size() const noexcept;
  std::uint64_t evictions() const noexcept { return evictions_.load(std::memory_order_relaxed); }
  // Bumped after every successful update: lets workers re-check their pending
  // queue only when something changed.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  template <class F>
  void for_each(std::uint64_t now, F&& f) const {
    for (std::uint32_t i = 0; i <= mask_; ++i) {
      A ip;
      MacAddr mac;
      std::uint64_t t;
      if (read_slot(i, ip, mac, t) && !empty(ip)) f(ip, mac, now > t ? now - t : 0);
    }
  }

 private:
  using Key = NeighborKey<A>;
  struct alignas(64) Slot {
    // Even: stable; odd: a writer is inside. Only writers CAS it.
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::uint64_t> key[Key::kWords] = {};  // all zero = empty
    std::atomic<std::uint64_t> mac{0};                  // 48-bit MAC, low bytes
    std::atomic<std::uint64_t> updated{0};              // `now` of the last confirmation
  };

  static bool empty(const A& a) noexcept {
    std::uint64_t w[Key::kWords];
    Key::store(a, w);
    for (auto x : w)
      if (x) return false;
    return true;
  }
  bool read_slot(std::uint32_t i, A& ip, MacAddr& mac, std::uint64_t& t) const noexcept;
  bool lock_slot(Slot& s, std::uint32_t& seq) noexcept;
  static void unlock_slot(Slot& s, std::uint32_t seq) noexcept;
  std::uint32_t home(const A& ip) const noexcept {
    return static_cast<std::uint32_t>(Key::hash(ip) >> 32) & mask_;
  }

  std::unique_ptr<Slot[]> slots_;
  std::uint32_t mask_;
  std::uint64_t timeout_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

using NeighborTable = BasicNeighborTable<Ipv4Addr>;   // ARP
using Neighbor6Table = BasicNeighborTable<Ipv6Addr>;  // Neighbor Discovery

extern template class BasicNeighborTable<Ipv4Addr>;
extern template class BasicNeighborTable<Ipv6Addr>;

}  // namespace turnpike::net
