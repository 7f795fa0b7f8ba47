#include "turnpike/control/vcache.hpp"

#include <sys/mman.h>

#include <bit>
#include <cstring>
#include <new>

namespace turnpike::control {

// One slot = one cache line: sequence, 4 key words, epoch, meta, validity.
struct alignas(64) VerdictCache::Slot {
  // Even: stable; odd: a writer is inside. Starts at 0 (empty, epoch 0).
  std::atomic<uint64_t> seq;
  std::atomic<uint64_t> key[4];
  std::atomic<uint64_t> epoch;  // 0 = empty (the cache's epochs start at 1)
  // eku | key_usage << 8 | chain << 24 | flags << 32 | check << 48
  std::atomic<uint64_t> meta;
  std::atomic<uint64_t> validity;  // not_before << 32 | not_after
};

// First key word of each way: an advisory filter read before the slot. It may
// lag behind the slot (written after it); the slot's seqlock is what counts.
struct alignas(64) VerdictCache::Tags {
  std::atomic<uint64_t> tag[kWays];
};

struct VerdictCache::Set {
  Tags tags;
  Slot slot[kWays];
};

// Counters: one cache line per shard; a thread only ever writes its own shard,
// so the hit path stores to a line no other thread writes.
struct alignas(64) VerdictCache::Shard {
  std::atomic<uint64_t> hits, misses, stale, inserts, evictions, contended, retries;
};
namespace {
constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t table_align(size_t bytes) { return bytes >= kHugePage ? kHugePage : 64; }
constexpr size_t kShards = 64;
constexpr int kReadRetries = 4;
std::atomic<unsigned> g_next_shard{0};

// Bumps a counter owned by this thread's shard: a plain load+store (no
// read-modify-write), exact as long as no more than kShards threads share a
// cache; beyond that, counts may be lost but never torn.
inline void bump(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// Inverted CA flags so that a zeroed slot means "no restriction seen".
constexpr uint8_t kFlagEku = 1, kFlagKu = 2, kFlagCa = 4, kFlagCaNoClient = 8, kFlagCaNoServer = 16;

uint64_t load_word(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

uint64_t clamp32(int64_t t) {
  if (t < 0) return 0;
  if (t > 0xffffffffLL) return 0xffffffffULL;
  return static_cast<uint64_t>(t);
}

// 16-bit self-check over the whole entry: a reader that passes the sequence
// test but fails this one has seen a torn entry (must never happen).
uint64_t check16(const uint64_t k[4], uint64_t epoch, uint64_t meta48, uint64_t validity) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (uint64_t w : {k[0], k[1], k[2], k[3], epoch, meta48, validity}) {
    h ^= w;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return (h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) & 0xffff;
}
}  // namespace

CachedFacts CachedFacts::from(const CertFacts& f) {
  CachedFacts c;
  c.eku_present = f.eku_present;
  c.eku = f.eku;
  c.ku_present = f.ku_present;
  c.key_usage = f.key_usage;
  c.is_ca = f.is_ca;
  c.not_before = static_cast<int64_t>(clamp32(f.not_before));
  c.not_after = static_cast<int64_t>(clamp32(f.not_after));
  return c;
}

CertFacts CachedFacts::to_facts() const {
  CertFacts f;
  f.eku_present = eku_present;
  f.eku = eku;
  f.ku_present = ku_present;
  f.key_usage = key_usage;
  f.is_ca = is_ca;
  f.not_before = not_before;
  f.not_after = not_after;
  return f;
}

Verdict CachedFacts::evaluate(ChainStatus chain, const CachedFacts& f, EkuMode mode, Role role, int64_t now) {
  if (chain != ChainStatus::Ok) return {false, chain_detail(chain)};
  CertFacts leaf = f.to_facts();
  if (Verdict v = check_validity(leaf, now); !v.accept) return v;
  return verdict_path(leaf, f.cas_allow_client, f.cas_allow_server, mode, role);
}

VerdictCache::VerdictCache(size_t capacity) {
  static_assert(sizeof(Slot) == 64, "a slot must be exactly one cache line");
  size_t sets = (capacity + kWays - 1) / kWays;
  sets_ = std::bit_ceil(sets < 1 ? size_t{1} : sets);
  set_mask_ = sets_ - 1;
  static_assert(sizeof(Set) == (kWays + 1) * 64, "tags and slots are whole cache lines");
  // Large tables are 2 MiB aligned and asked for transparent huge pages: a
  // random lookup then costs a DRAM miss, not a DRAM miss plus a page walk.
  const size_t bytes = sets_ * sizeof(Set);
  sets_mem_ = static_cast<Set*>(::operator new[](bytes, std::align_val_t{table_align(bytes)}));
  if (bytes >= kHugePage) ::madvise(sets_mem_, bytes & ~(kHugePage - 1), MADV_HUGEPAGE);
  for (size_t i = 0; i < sets_; ++i) {
    Set* set = new (&sets_mem_[i]) Set;
    for (auto& w : set->tags.tag) w.store(0, std::memory_order_relaxed);
    for (Slot& sl : set->slot) {
      sl.seq.store(0, std::memory_order_relaxed);
      for (auto& k : sl.key) k.store(0, std::memory_order_relaxed);
      sl.epoch.store(0, std::memory_order_relaxed);
      sl.meta.store(0, std::memory_order_relaxed);
      sl.validity.store(0, std::memory_order_relaxed);
    }
  }
  shards_ = std::make_unique<Shard[]>(kShards);
  for (size_t i = 0; i < kShards; ++i) {
    Shard& sh = shards_[i];
    for (auto* c : {&sh.hits, &sh.misses, &sh.stale, &sh.inserts, &sh.evictions, &sh.contended, &sh.retries})
      c->store(0, std::memory_order_relaxed);
  }
  // Publication of the table to other threads is the owner's business (it
  // hands the cache over through its own synchronisation).
}

VerdictCache::~VerdictCache() {
  for (size_t i = 0; i < sets_; ++i) sets_mem_[i].~Set();
  ::operator delete[](sets_mem_, std::align_val_t{table_align(sets_ * sizeof(Set))});
}

size_t VerdictCache::memory_bytes() const {
  return sets_ * sizeof(Set) + kShards * sizeof(Shard);
}

VerdictCache::Shard& VerdictCache::shard() const {
  // One shard per thread for the process lifetime (ids are global).
  thread_local unsigned id = g_next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;  // relaxed: just a ticket
  return shards_[id];
}

uint64_t VerdictCache::bump_epoch() {
  // acq_rel: the caller's trust-store change happens before the new epoch is
  // visible to a reader that loads it with acquire.
  return epoch_.fetch_add(1, std::memory_order_acq_rel) + 1;
}

void VerdictCache::advance_epoch(uint64_t e) {
  uint64_t cur = epoch_.load(std::memory_order_relaxed);
  // acq_rel on success: same contract as bump_epoch().
  while (cur < e && !epoch_.compare_exchange_weak(cur, e, std::memory_order_acq_rel, std::memory_order_relaxed)) {
  }
}

bool VerdictCache::lookup(const Fingerprint& fp, uint64_t want_epoch, CacheEntry& out) const {
  Shard& sh = shard();
  uint64_t k[4];
  for (int i = 0; i < 4; ++i) k[i] = load_word(fp.data() + 8 * i);
  const size_t idx = k[0] & set_mask_;
  Slot* set = sets_mem_[idx].slot;
  const Tags& tags = sets_mem_[idx].tags;
  // Start the slot lines while the tag line is fetched: on a DRAM-resident
  // table a hit then costs about one memory latency instead of two serial
  // ones (same 576-byte block, so one page).
  for (unsigned w = 0; w < kWays; ++w) __builtin_prefetch(&set[w]);
  bool stale = false;
  for (unsigned w = 0; w < kWays; ++w) {
    // relaxed: advisory filter; a stale tag only costs a miss or a slot read.
    if (tags.tag[w].load(std::memory_order_relaxed) != k[0]) continue;
    Slot& s = set[w];
    for (int attempt = 0; attempt < kReadRetries; ++attempt) {
      // acquire: pairs with the writer's final release store of seq, so the
      // payload loads below see at least that writer's values.
      uint64_t s1 = s.seq.load(std::memory_order_acquire);
      if (s1 & 1) {  // writer inside
        bump(sh.retries);
        continue;
      }
      // relaxed payload loads: validated by the sequence re-check below.
      if (s.key[0].load(std::memory_order_relaxed) != k[0]) break;  // other key (or torn: harmless miss)
      uint64_t k1 = s.key[1].load(std::memory_order_relaxed);
      uint64_t k2 = s.key[2].load(std::memory_order_relaxed);
      uint64_t k3 = s.key[3].load(std::memory_order_relaxed);
      uint64_t ep = s.epoch.load(std::memory_order_relaxed);
      uint64_t meta = s.meta.load(std::memory_order_relaxed);
      uint64_t val = s.validity.load(std::memory_order_relaxed);
      // acquire fence: the payload loads above are ordered before the seq
      // re-load; if any of them saw a newer writer's store, that writer's
      // release fence makes its odd seq (or later) visible here.
      std::atomic_thread_fence(std::memory_order_acquire);
      // relaxed: ordered by the fence above.
      if (s.seq.load(std::memory_order_relaxed) != s1) {
        bump(sh.retries);
        continue;
      }
      if (k1 != k[1] || k2 != k[2] || k3 != k[3]) break;
      const uint64_t keys[4] = {k[0], k1, k2, k3};
      if ((meta >> 48) != check16(keys, ep, meta & 0xffffffffffffull, val)) {
        bump(sh.retries);  // cannot happen with a correct seqlock; treated as a miss
        break;
      }
      if (ep != want_epoch) {  // computed under another trust epoch
        stale = true;
        break;  // a racing insert may have put a fresh copy in a later way
      }
      out.fp = fp;
      out.epoch = ep;
      out.facts.eku = static_cast<uint8_t>(meta & 0xff);
      out.facts.key_usage = static_cast<uint16_t>((meta >> 8) & 0xffff);
      out.chain = static_cast<ChainStatus>((meta >> 24) & 0xff);
      uint8_t flags = static_cast<uint8_t>((meta >> 32) & 0xff);
      out.facts.eku_present = flags & kFlagEku;
      out.facts.ku_present = flags & kFlagKu;
      out.facts.is_ca = flags & kFlagCa;
      out.facts.cas_allow_client = !(flags & kFlagCaNoClient);
      out.facts.cas_allow_server = !(flags & kFlagCaNoServer);
      out.facts.not_before = static_cast<int64_t>(val >> 32);
      out.facts.not_after = static_cast<int64_t>(val & 0xffffffffu);
      bump(sh.hits);
      return true;
    }
  }
  if (stale) bump(sh.stale);
  bump(sh.misses);
  return false;
}

bool VerdictCache::insert(const CacheEntry& e) {
  Shard& sh = shard();
  uint64_t k[4];
  for (int i = 0; i < 4; ++i) k[i] = load_word(e.fp.data() + 8 * i);
  const size_t idx = k[0] & set_mask_;
  Slot* set = sets_mem_[idx].slot;
  Tags& tags = sets_mem_[idx].tags;
  if (e.epoch > epoch_.load(std::memory_order_relaxed)) advance_epoch(e.epoch);
  const uint64_t cur_epoch = epoch_.load(std::memory_order_acquire);

  // Victim choice on relaxed (possibly torn) reads: a wrong guess only costs
  // a cache miss later, never a wrong entry.
  Slot* victim = nullptr;
  bool evicts_live = false;
  for (unsigned w = 0; w < kWays && !victim; ++w) {  // same key: overwrite
    Slot& s = set[w];
    if (tags.tag[w].load(std::memory_order_relaxed) == k[0] && s.key[0].load(std::memory_order_relaxed) == k[0] &&
        s.key[1].load(std::memory_order_relaxed) == k[1] &&
        s.key[2].load(std::memory_order_relaxed) == k[2] && s.key[3].load(std::memory_order_relaxed) == k[3])
      victim = &s;
  }
  for (unsigned w = 0; w < kWays && !victim; ++w) {  // empty or stale
    uint64_t ep = set[w].epoch.load(std::memory_order_relaxed);
    if (ep == 0 || ep < cur_epoch) victim = &set[w];
  }
  if (!victim) {
    // All ways live: pseudo-random way (per-thread xorshift, nothing shared).
    thread_local uint64_t rng = 0x2545f4914f6cdd1dull ^ reinterpret_cast<uintptr_t>(&rng);
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    victim = &set[rng % kWays];
    evicts_live = true;
  }

  Slot& s = *victim;
  // relaxed: just a first guess for the CAS.
  uint64_t seq = s.seq.load(std::memory_order_relaxed);
  // acquire on success: orders us after the previous writer's release of
  // this slot. Failure or odd seq: another writer is inside; skip (inserts
  // are best effort and must not wait).
  if ((seq & 1) || !s.seq.compare_exchange_strong(seq, seq + 1, std::memory_order_acquire,
                                                  std::memory_order_relaxed)) {
    bump(sh.contended);
    return false;
  }
  // release fence: a reader that observes any payload store below also
  // observes seq + 1 (odd) or later on its re-check, and retries.
  std::atomic_thread_fence(std::memory_order_release);
  uint8_t flags = (e.facts.eku_present ? kFlagEku : 0) | (e.facts.ku_present ? kFlagKu : 0) |
                  (e.facts.is_ca ? kFlagCa : 0) | (e.facts.cas_allow_client ? 0 : kFlagCaNoClient) |
                  (e.facts.cas_allow_server ? 0 : kFlagCaNoServer);
  uint64_t meta48 = uint64_t{e.facts.eku} | uint64_t{e.facts.key_usage} << 8 |
                    uint64_t{static_cast<uint8_t>(e.chain)} << 24 | uint64_t{flags} << 32;
  uint64_t validity = clamp32(e.facts.not_before) << 32 | clamp32(e.facts.not_after);
  uint64_t meta = meta48 | check16(k, e.epoch, meta48, validity) << 48;
  // relaxed payload stores: published by the release store of seq below.
  for (int i = 0; i < 4; ++i) s.key[i].store(k[i], std::memory_order_relaxed);
  s.epoch.store(e.epoch, std::memory_order_relaxed);
  s.meta.store(meta, std::memory_order_relaxed);
  s.validity.store(validity, std::memory_order_relaxed);
  // release: the payload is complete before the slot is even (stable) again.
  s.seq.store(seq + 2, std::memory_order_release);
  // relaxed: the tag only steers readers to the slot, which they validate.
  tags.tag[victim - set].store(k[0], std::memory_order_relaxed);
  bump(sh.inserts);
  if (evicts_live) bump(sh.evictions);
  return true;
}

CacheStats VerdictCache::stats() const {
  CacheStats t;
  for (size_t i = 0; i < kShards; ++i) {
    const Shard& sh = shards_[i];
    // relaxed: statistics only.
    t.hits += sh.hits.load(std::memory_order_relaxed);
    t.misses += sh.misses.load(std::memory_order_relaxed);
    t.stale += sh.stale.load(std::memory_order_relaxed);
    t.inserts += sh.inserts.load(std::memory_order_relaxed);
    t.evictions += sh.evictions.load(std::memory_order_relaxed);
    t.contended += sh.contended.load(std::memory_order_relaxed);
    t.retries += sh.retries.load(std::memory_order_relaxed);
  }
  return t;
}

}  // namespace turnpike::control
