// ARP neighbour table shared by all workers of a port.
//
// Under RSS every ARP frame lands on one queue, yet every worker needs next-hop
// MACs. Entries are therefore seqlocked: readers never block and write nothing
// shared; writers (rare: ARP traffic, aging) take a per-slot odd sequence with
// a CAS, so any worker may learn. Slots live in a fixed probe window (no
// tombstones), which keeps deletion trivial and memory bounded.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "turnpike/net/wire.hpp"

namespace turnpike::net {

class NeighborTable {
 public:
  static constexpr unsigned kProbe = 8;

  // capacity rounded up to a power of two >= kProbe; timeout in the same
  // unit as the `now` values callers pass (TSC cycles in the data plane).
  NeighborTable(std::uint32_t capacity, std::uint64_t timeout);

  // Lock-free read: true and the MAC if a live (unexpired) entry exists.
  bool lookup(Ipv4Addr ip, std::uint64_t now, MacAddr& mac) const noexcept;

  // RFC 826 merge: refresh an existing entry; create one only if `create`
  // (the ARP was addressed to us, or we asked). Returns true if stored.
  bool update(Ipv4Addr ip, const MacAddr& mac, std::uint64_t now, bool create) noexcept;

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
      Ipv4Addr ip;
      MacAddr mac;
      std::uint64_t t;
      if (read_slot(i, ip, mac, t) && ip != 0) f(ip, mac, now > t ? now - t : 0);
    }
  }

 private:
  struct alignas(64) Slot {
    // Even: stable; odd: a writer is inside. Only writers CAS it.
    std::atomic<std::uint32_t> seq{0};
    std::atomic<std::uint32_t> ip{0};       // 0 = empty (0.0.0.0 is never a neighbour)
    std::atomic<std::uint64_t> mac{0};      // 48-bit MAC, low bytes
    std::atomic<std::uint64_t> updated{0};  // `now` of the last confirmation
  };

  bool read_slot(std::uint32_t i, Ipv4Addr& ip, MacAddr& mac, std::uint64_t& t) const noexcept;
  bool lock_slot(Slot& s, std::uint32_t& seq) noexcept;
  static void unlock_slot(Slot& s, std::uint32_t seq) noexcept;
  std::uint32_t home(Ipv4Addr ip) const noexcept;

  std::unique_ptr<Slot[]> slots_;
  std::uint32_t mask_;
  std::uint64_t timeout_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace turnpike::net
