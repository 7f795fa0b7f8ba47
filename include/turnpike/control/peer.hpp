// Peer certificate check for the TLS verify callback: verdict cache first,
// then (on a miss) facts extraction + chain verification with turnpike's own
// trust store, then the per-handshake policy (EKU mode, role) on the facts.
#pragma once
#include <cstdint>
#include <span>

#include "turnpike/control/policy.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"

namespace turnpike::control {

struct PeerResult {
  Verdict verdict;      // detail: the event Detail text on reject
  bool cache_hit = false;
  Fingerprint leaf_fp{};  // SHA-256 of the leaf (events, PROXY v2, tickets)
  CacheEntry entry;     // what was found or computed (verdict key, chain, facts)
};

// The verdict cache key for a presented chain: the leaf's fingerprint when
// nothing else was sent, else SHA-256 over a tag, the leaf's fingerprint and
// the sorted set of the other certificates' fingerprints (copies of the leaf
// and duplicates removed). See vcache.hpp for what the key covers.
Fingerprint verdict_key(const Fingerprint& leaf_fp, std::span<const std::span<const uint8_t>> others);

// chain: the peer's certificates as sent, leaf first (DER), then anything in
// any order (RFC 8446 4.4.2). cache may be null.
// epoch: the trust epoch of the snapshot the handshake runs under.
// The verdict is that of the path from the leaf to an anchor built from the
// presented certificates (TrustStore::verify); the EKU mode and role are
// applied per call to the leaf and to the CAs on that path only.
PeerResult check_peer(std::span<const std::span<const uint8_t>> chain, const TrustStore& trust, VerdictCache* cache,
                      uint64_t epoch, EkuMode mode, Role role, int64_t now);

}  // namespace turnpike::control
