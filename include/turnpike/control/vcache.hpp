// Verdict cache: certificate facts + chain verdict (docs/architecture.md,
// "Verdict cache").
//
// What a verdict depends on, and where each input is covered:
//  - the leaf and the other certificates the peer presented: the key
//    (check_peer's verdict_key): the leaf's SHA-256 alone when nothing else
//    was sent, else SHA-256 over the leaf's fingerprint and the sorted set
//    of the other certificates' fingerprints. The path is built from that
//    set (TrustStore::verify), so order and duplicates, which cannot change
//    the verdict, do not split entries, while a leaf sent with and without
//    its intermediates, or with another intermediate, gets separate entries;
//  - the trust store's anchors and CRLs: the trust epoch in the entry
//    (entries of another epoch are misses);
//  - the time: the entry keeps the validity window of the leaf intersected
//    with that of the CAs on its path, re-checked on every hit;
//  - the EKU mode and the role: not stored; applied per handshake to the
//    leaf's facts and to the CA summary (computed over the path's CAs only),
//    so a mode change needs no invalidation.
// Peer names (RFC 5922) are checked outside the cache, on every handshake.
//
// Fixed capacity, set-associative (kWays slots per set, one 64-byte cache line
// per slot, plus one line of per-set tags so that a miss reads one line and a
// hit two). Each slot is a seqlock: readers never write shared memory and
// retry (then miss) if a writer is inside; writers claim a slot with a CAS on
// its sequence word and give up rather than wait if another writer holds it.
// Every payload word is a relaxed atomic, so concurrent access is data-race
// free in the C++ model (and under TSan); the sequence word and fences give
// readers a consistent snapshot.
//
// Entries carry the trust epoch they were computed under. A trust store or
// CRL change bumps the epoch; entries of older epochs count as misses
// ("stale").
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/policy.hpp"

namespace turnpike::control {

// The subset of CertFacts the per-handshake policy needs (verdict()).
struct CachedFacts {
  bool eku_present = false;
  uint8_t eku = 0;
  bool ku_present = false;
  uint16_t key_usage = 0;
  bool is_ca = false;
  // CA rule summary over the CAs on the leaf's path (see verdict_path).
  bool cas_allow_client = true;
  bool cas_allow_server = true;
  // Unix seconds, clamped to [0, 2^32-1] (year 2106) in the cache. In
  // check_peer's entries: the leaf's window narrowed by its path's CAs.
  int64_t not_before = 0;
  int64_t not_after = 0;

  static CachedFacts from(const CertFacts& f);
  CertFacts to_facts() const;  // for verdict(); names and SANs left empty
  // Policy on a cached entry (chain status, validity, leaf and CA rules).
  static Verdict evaluate(ChainStatus chain, const CachedFacts& f, EkuMode mode, Role role, int64_t now);
  bool operator==(const CachedFacts&) const = default;
};

struct CacheEntry {
  Fingerprint fp{};  // the lookup key (check_peer: verdict_key, not the leaf's own fingerprint)
  uint64_t epoch = 0;
  ChainStatus chain = ChainStatus::Other;
  CachedFacts facts;
};

struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;     // includes stale
  uint64_t stale = 0;      // key found but computed under an older epoch
  uint64_t inserts = 0;
  uint64_t evictions = 0;  // a live entry of another key was replaced
  uint64_t contended = 0;  // insert skipped: another writer held the slot
  uint64_t retries = 0;    // reader saw a writer and re-read
};

class VerdictCache {
 public:
  static constexpr unsigned kWays = 8;
  // capacity: number of entries (rounded up to a power of two of sets).
  explicit VerdictCache(size_t capacity);
  ~VerdictCache();
  VerdictCache(const VerdictCache&) = delete;
  VerdictCache& operator=(const VerdictCache&) = delete;

  // Lock-free; writes nothing shared (counters live in a per-thread shard).
  // True on a hit for `epoch`; out is then a consistent copy of the entry.
  bool lookup(const Fingerprint& fp, uint64_t epoch, CacheEntry& out) const;
  bool lookup(const Fingerprint& fp, CacheEntry& out) const { return lookup(fp, epoch(), out); }

  // Lock-free, best effort: returns false if the chosen slot was being written.
  bool insert(const CacheEntry& e);

  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  // New epoch (previous + 1); every older entry becomes stale.
  uint64_t bump_epoch();
  // Raises the epoch to e if it is lower (e.g. StoreSnapshot::trust_epoch at
  // publication). insert() does this too with the entry's epoch, so a cache
  // driven only by snapshot epochs still prefers stale slots as victims.
  void advance_epoch(uint64_t e);

  size_t capacity() const { return sets_ * kWays; }
  size_t memory_bytes() const;
  CacheStats stats() const;  // sums the shards; approximate while running

 private:
  struct Slot;
  struct Tags;
  struct Shard;
  Shard& shard() const;

  size_t sets_;
  size_t set_mask_;
  struct Set;
  Set* sets_mem_;  // per set: one tag line, then kWays slot lines (same pages)
  std::unique_ptr<Shard[]> shards_;
  std::atomic<uint64_t> epoch_{1};
};

}  // namespace turnpike::control
