#include "turnpike/net/neighbor.hpp"

#include <bit>
#include <cstring>

namespace turnpike::net {

namespace {
std::uint64_t pack_mac(const MacAddr& m) noexcept {
  std::uint64_t v = 0;
  std::memcpy(&v, m.b.data(), 6);
  return v;
}
MacAddr unpack_mac(std::uint64_t v) noexcept {
  MacAddr m;
  std::memcpy(m.b.data(), &v, 6);
  return m;
}
// Age that tolerates a `now` slightly behind the stamp (another core's clock).
std::uint64_t age(std::uint64_t now, std::uint64_t t) noexcept { return now > t ? now - t : 0; }
}  // namespace

NeighborTable::NeighborTable(std::uint32_t capacity, std::uint64_t timeout)
    : mask_(std::bit_ceil(capacity < kProbe ? kProbe : capacity) - 1), timeout_(timeout) {
  slots_ = std::make_unique<Slot[]>(mask_ + 1);
}

std::uint32_t NeighborTable::home(Ipv4Addr ip) const noexcept {
  // Fibonacci hashing: hosts of one subnet differ in low bits.
  return static_cast<std::uint32_t>((ip * 0x9e3779b97f4a7c15ull) >> 32) & mask_;
}

bool NeighborTable::read_slot(std::uint32_t i, Ipv4Addr& ip, MacAddr& mac,
                              std::uint64_t& t) const noexcept {
  const Slot& s = slots_[i];
  for (int tries = 0; tries < 64; ++tries) {
    // acquire: pairs with the writer's release in unlock_slot, so the fields
    // read below are at least as new as this sequence value.
    const std::uint32_t s1 = s.seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;  // writer inside: retry
    // relaxed: validated by the sequence re-check below.
    const std::uint32_t a = s.ip.load(std::memory_order_relaxed);
    const std::uint64_t m = s.mac.load(std::memory_order_relaxed);
    const std::uint64_t u = s.updated.load(std::memory_order_relaxed);
    // acquire fence: keeps the field loads above before the re-check load.
    std::atomic_thread_fence(std::memory_order_acquire);
    // relaxed: ordered by the fence above.
    if (s.seq.load(std::memory_order_relaxed) == s1) {
      ip = a;
      mac = unpack_mac(m);
      t = u;
      return true;
    }
  }
  return false;  // persistent writer contention: treat as a miss
}

bool NeighborTable::lookup(Ipv4Addr ip, std::uint64_t now, MacAddr& mac) const noexcept {
  if (ip == 0) return false;
  const std::uint32_t h = home(ip);
  for (unsigned k = 0; k < kProbe; ++k) {
    Ipv4Addr a;
    MacAddr m;
    std::uint64_t t;
    if (!read_slot((h + k) & mask_, a, m, t) || a != ip) continue;
    if (age(now, t) > timeout_) return false;
    mac = m;
    return true;
  }
  return false;
}

bool NeighborTable::lock_slot(Slot& s, std::uint32_t& seq) noexcept {
  // relaxed load: only a hint for the CAS below.
  std::uint32_t cur = s.seq.load(std::memory_order_relaxed);
  for (int tries = 0; tries < 1024; ++tries) {
    if (!(cur & 1)) {
      // acquire on success: we see the previous writer's fields; the field
      // stores that follow cannot move above the odd sequence because readers
      // re-check seq after their fence.
      if (s.seq.compare_exchange_weak(cur, cur + 1, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        // release fence: orders the odd seq before the field stores that
        // follow (the writer half of the seqlock protocol).
        std::atomic_thread_fence(std::memory_order_release);
        seq = cur + 1;
        return true;
      }
    } else {
      cur = s.seq.load(std::memory_order_relaxed);
    }
  }
  return false;
}

void NeighborTable::unlock_slot(Slot& s, std::uint32_t seq) noexcept {
  // release: publishes the field stores before the even sequence.
  s.seq.store(seq + 1, std::memory_order_release);
}

bool NeighborTable::update(Ipv4Addr ip, const MacAddr& mac, std::uint64_t now, bool create) noexcept {
  if (ip == 0) return false;
  const std::uint32_t h = home(ip);
  int existing = -1, empty = -1, oldest = -1;
  std::uint64_t oldest_age = 0;
  for (unsigned k = 0; k < kProbe; ++k) {
    const std::uint32_t i = (h + k) & mask_;
    Ipv4Addr a;
    MacAddr m;
    std::uint64_t t;
    if (!read_slot(i, a, m, t)) continue;
    if (a == ip) {
      existing = int(i);
      break;
    }
    if (a == 0) {
      if (empty < 0) empty = int(i);
    } else if (age(now, t) >= oldest_age) {
      oldest_age = age(now, t);
      oldest = int(i);
    }
  }
  int target = existing;
  bool evict = false;
  if (target < 0) {
    if (!create) return false;
    target = empty >= 0 ? empty : oldest;
    evict = empty < 0;
    if (target < 0) return false;
  }
  Slot& s = slots_[target];
  std::uint32_t seq;
  if (!lock_slot(s, seq)) return false;
  // Re-check under the lock: another writer may have taken the slot.
  const Ipv4Addr cur = s.ip.load(std::memory_order_relaxed);
  if (cur != ip && cur != 0 && !evict) {
    unlock_slot(s, seq);
    return false;
  }
  // relaxed stores: published by unlock_slot's release.
  s.ip.store(ip, std::memory_order_relaxed);
  s.mac.store(pack_mac(mac), std::memory_order_relaxed);
  s.updated.store(now, std::memory_order_relaxed);
  unlock_slot(s, seq);
  if (evict) evictions_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  // release: a worker that sees the new generation also sees the entry.
  generation_.fetch_add(1, std::memory_order_release);
  return true;
}

std::uint32_t NeighborTable::expire(std::uint64_t now) noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i <= mask_; ++i) {
    Ipv4Addr a;
    MacAddr m;
    std::uint64_t t;
    if (!read_slot(i, a, m, t) || a == 0 || age(now, t) <= timeout_) continue;
    Slot& s = slots_[i];
    std::uint32_t seq;
    if (!lock_slot(s, seq)) continue;
    // Re-check: it may have been refreshed since we read it.
    if (age(now, s.updated.load(std::memory_order_relaxed)) > timeout_) {
      s.ip.store(0, std::memory_order_relaxed);
      ++n;
    }
    unlock_slot(s, seq);
  }
  return n;
}

std::uint32_t NeighborTable::size() const noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i <= mask_; ++i) {
    Ipv4Addr a;
    MacAddr m;
    std::uint64_t t;
    if (read_slot(i, a, m, t) && a != 0) ++n;
  }
  return n;
}

}  // namespace turnpike::net
