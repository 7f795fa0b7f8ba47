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
  CacheEntry entry;     // what was found or computed (fp, chain, facts)
};

// chain: the peer's certificates as sent, leaf first (DER). cache may be null.
// epoch: the trust epoch of the snapshot the handshake runs under.
// The cache key is the leaf's fingerprint: a leaf once verified under this
// epoch needs no chain work again, whatever intermediates it is sent with.
PeerResult check_peer(std::span<const std::span<const uint8_t>> chain, const TrustStore& trust, VerdictCache* cache,
                      uint64_t epoch, EkuMode mode, Role role, int64_t now);

}  // namespace turnpike::control
