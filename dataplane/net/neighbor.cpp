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

template <class A>
BasicNeighborTable<A>::BasicNeighborTable(std::uint32_t capacity, std::uint64_t timeout)
    : mask_(std::bit_ceil(capacity < kProbe ? kProbe : capacity) - 1), timeout_(timeout) {
  slots_ = std::make_unique<Slot[]>(mask_ + 1);
}

template <class A>
bool BasicNeighborTable<A>::read_slot(std::uint32_t i, A& ip, MacAddr& mac, std::uint64_t& t) const noexcept {
  const Slot& s = slots_[i];
  for (int tries = 0; tries < 64; ++tries) {
    // acquire: pairs with the writer's release in unlock_slot, so the fields
    // read below are at least as new as this sequence value.
    const std::uint32_t s1 = s.seq.load(std::memory_order_acquire);
    if (s1 & 1) continue;  // writer inside: retry
    // relaxed: validated by the sequence re-check below.
    std::uint64_t k[Key::kWords];
    for (unsigned w = 0; w < Key::kWords; ++w) k[w] = s.key[w].load(std::memory_order_relaxed);
    const std::uint64_t m = s.mac.load(std::memory_order_relaxed);
    const std::uint64_t u = s.updated.load(std::memory_order_relaxed);
    // acquire fence: keeps the field loads above before the re-check load.
    std::atomic_thread_fence(std::memory_order_acquire);
    // relaxed: ordered by the fence above.
    if (s.seq.load(std::memory_order_relaxed) == s1) {
      ip = Key::load(k);
      mac = unpack_mac(m);
      t = u;
      return true;
    }
  }
  return false;  // persistent writer contention: treat as a miss
}

template <class A>
bool BasicNeighborTable<A>::lookup(const A& ip, std::uint64_t now, MacAddr& mac) const noexcept {
  if (empty(ip)) return false;
  const std::uint32_t h = home(ip);
  for (unsigned k = 0; k < kProbe; ++k) {
    A a;
    MacAddr m;
    std::uint64_t t;
    if (!read_slot((h + k) & mask_, a, m, t) || !(a == ip)) continue;
    if (age(now, t) > timeout_) return false;
    mac = m;
    return true;
  }
  return false;
}

template <class A>
bool BasicNeighborTable<A>::lock_slot(Slot& s, std::uint32_t& seq) noexcept {
  // relaxed load: only a hint for the CAS below.
  std::uint32_t cur = s.seq.load(std::memory_order_relaxed);
  for (int tries = 0; tries < 1024; ++tries) {
    if (!(cur & 1)) {
      // acquire on success: we see the previous writer's fields; the field
      // stores that follow cannot move above the odd sequence because readers
      // re-check seq after their fence.
      if (s.seq.compare_exchange_weak(cur, cur + 1, std::memory_order_acquire, std::memory_order_relaxed)) {
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

template <class A>
void BasicNeighborTable<A>::unlock_slot(Slot& s, std::uint32_t seq) noexcept {
  // release: publishes the field stores before the even sequence.
  s.seq.store(seq + 1, std::memory_order_release);
}

template <class A>
bool BasicNeighborTable<A>::update(const A& ip, const MacAddr& mac, std::uint64_t now, bool create) noexcept {
  if (empty(ip)) return false;
  const std::uint32_t h = home(ip);
  int existing = -1, free_slot = -1, oldest = -1;
  std::uint64_t oldest_age = 0;
  for (unsigned k = 0; k < kProbe; ++k) {
    const std::uint32_t i = (h + k) & mask_;
    A a;
    MacAddr m;
    std::uint64_t t;
    if (!read_slot(i, a, m, t)) continue;
    if (a == ip) {
      existing = int(i);
      break;
    }
    if (empty(a)) {
      if (free_slot < 0) free_slot = int(i);
    } else if (age(now, t) >= oldest_age) {
      oldest_age = age(now, t);
      oldest = int(i);
    }
  }
  int target = existing;
  bool evict = false;
  if (target < 0) {
    if (!create) return false;
    target = free_slot >= 0 ? free_slot : oldest;
    evict = free_slot < 0;
    if (target < 0) return false;
  }
  Slot& s = slots_[target];
  std::uint32_t seq;
  if (!lock_slot(s, seq)) return false;
  // Re-check under the lock: another writer may have taken the slot.
  std::uint64_t cur[Key::kWords];
  for (unsigned w = 0; w < Key::kWords; ++w) cur[w] = s.key[w].load(std::memory_order_relaxed);
  const A cur_ip = Key::load(cur);
  if (!(cur_ip == ip) && !empty(cur_ip) && !evict) {
    unlock_slot(s, seq);
    return false;
  }
  // relaxed stores: published by unlock_slot's release.
  std::uint64_t k[Key::kWords];
  Key::store(ip, k);
  for (unsigned w = 0; w < Key::kWords; ++w) s.key[w].store(k[w], std::memory_order_relaxed);
  s.mac.store(pack_mac(mac), std::memory_order_relaxed);
  s.updated.store(now, std::memory_order_relaxed);
  unlock_slot(s, seq);
  if (evict) evictions_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  // release: a worker that sees the new generation also sees the entry.
  generation_.fetch_add(1, std::memory_order_release);
  return true;
}

template <class A>
std::uint32_t BasicNeighborTable<A>::expire(std::uint64_t now) noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i <= mask_; ++i) {
    A a;
    MacAddr m;
    std::uint64_t t;
    if (!read_slot(i, a, m, t) || empty(a) || age(now, t) <= timeout_) continue;
    Slot& s = slots_[i];
    std::uint32_t seq;
    if (!lock_slot(s, seq)) continue;
    // Re-check: it may have been refreshed since we read it.
    if (age(now, s.updated.load(std::memory_order_relaxed)) > timeout_) {
      for (unsigned w = 0; w < Key::kWords; ++w) s.key[w].store(0, std::memory_order_relaxed);
      ++n;
    }
    unlock_slot(s, seq);
  }
  return n;
}

template <class A>
std::uint32_t BasicNeighborTable<A>::size() const noexcept {
  std::uint32_t n = 0;
  for (std::uint32_t i = 0; i <= mask_; ++i) {
    A a;
    MacAddr m;
    std::uint64_t t;
    if (read_slot(i, a, m, t) && !empty(a)) ++n;
  }
  return n;
}

template class BasicNeighborTable<Ipv4Addr>;
template class BasicNeighborTable<Ipv6Addr>;

}  // namespace turnpike::net
