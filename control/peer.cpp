#include "turnpike/control/peer.hpp"

#include <algorithm>

namespace turnpike::control {

PeerResult check_peer(std::span<const std::span<const uint8_t>> chain, const TrustStore& trust, VerdictCache* cache,
                      uint64_t epoch, EkuMode mode, Role role, int64_t now) {
  PeerResult r;
  if (chain.empty()) {
    r.verdict = {false, "peer did not return a certificate"};
    return r;
  }
  r.entry.fp = sha256(chain[0]);
  if (cache && cache->lookup(r.entry.fp, epoch, r.entry)) {
    r.cache_hit = true;
    r.verdict = CachedFacts::evaluate(r.entry.chain, r.entry.facts, mode, role, now);
    return r;
  }
  auto leaf = extract_facts(chain[0]);
  if (!leaf) {
    // Not cached: a malformed certificate is cheap to refuse again.
    r.verdict = {false, chain_detail(ChainStatus::Other)};
    return r;
  }
  CachedFacts f = CachedFacts::from(*leaf);
  ChainStatus status = ChainStatus::Ok;
  std::vector<Der> inter;
  for (size_t i = 1; i < chain.size(); ++i) {
    inter.emplace_back(chain[i].begin(), chain[i].end());
    auto ca = extract_facts(chain[i]);
    if (!ca) {
      status = ChainStatus::Other;
      continue;
    }
    // RFC 5280 4.2.1.3 keyCertSign; 4.2.1.12 EKU on CAs (summarised per purpose).
    if (ca->is_ca && !verdict_ca(*ca, EkuMode::Off, Role::Inbound).accept &&
        verdict_ca(*ca, EkuMode::Off, Role::Inbound).detail == kDetailInvalidCa)
      status = ChainStatus::InvalidCa;
    if (!verdict_ca(*ca, EkuMode::On, Role::Inbound).accept) f.cas_allow_client = false;
    if (!verdict_ca(*ca, EkuMode::On, Role::Outbound).accept) f.cas_allow_server = false;
  }
  if (status == ChainStatus::Ok) status = trust.verify(chain[0], inter).status;
  r.entry.epoch = epoch;
  r.entry.chain = status;
  r.entry.facts = f;
  if (cache) cache->insert(r.entry);
  r.verdict = CachedFacts::evaluate(status, f, mode, role, now);
  return r;
}

}  // namespace turnpike::control
