#include "turnpike/control/peer.hpp"

#include <algorithm>

namespace turnpike::control {

Fingerprint verdict_key(const Fingerprint& leaf_fp, std::span<const std::span<const uint8_t>> others) {
  // Order and repetition of the other certificates do not change the
  // verdict (TrustStore::verify builds the path from the set), so the key
  // is taken over the sorted set; copies of the leaf drop out too.
  std::vector<Fingerprint> fps;
  fps.reserve(others.size());
  for (const auto& c : others) {
    Fingerprint fp = sha256(c);
    if (fp != leaf_fp) fps.push_back(fp);
  }
  std::sort(fps.begin(), fps.end());
  fps.erase(std::unique(fps.begin(), fps.end()), fps.end());
  if (fps.empty()) return leaf_fp;
  static constexpr char kTag[] = "turnpike verdict key v1";
  std::vector<uint8_t> buf(kTag, kTag + sizeof kTag);
  buf.insert(buf.end(), leaf_fp.begin(), leaf_fp.end());
  for (const auto& fp : fps) buf.insert(buf.end(), fp.begin(), fp.end());
  return sha256(buf);
}

namespace {
// Mode Off accepts what mode On would refuse for its purpose only: the
// operator's list of peers to fix before switching On (issue 11 item 3).
void mark_would_fail(PeerResult& r, EkuMode mode, Role role, int64_t now) {
  if (!r.verdict.accept || mode != EkuMode::Off || role != Role::Inbound) return;
  const Verdict on = CachedFacts::evaluate(r.entry.chain, r.entry.facts, EkuMode::On, role, now);
  r.verdict.would_fail_on = !on.accept && on.detail == kDetailPurpose;
}
}  // namespace

PeerResult check_peer(std::span<const std::span<const uint8_t>> chain, const TrustStore& trust, VerdictCache* cache,
                      uint64_t epoch, EkuMode mode, Role role, int64_t now) {
  PeerResult r;
  if (chain.empty()) {
    r.verdict = {false, kDetailNoPeerCertificate};
    return r;
  }
  r.leaf_fp = sha256(chain[0]);
  r.entry.fp = verdict_key(r.leaf_fp, chain.subspan(1));
  if (cache && cache->lookup(r.entry.fp, epoch, r.entry)) {
    r.cache_hit = true;
    r.verdict = CachedFacts::evaluate(r.entry.chain, r.entry.facts, mode, role, now);
    mark_would_fail(r, mode, role, now);
    return r;
  }
  auto leaf = extract_facts(chain[0]);
  if (!leaf) {
    // Not cached: a malformed certificate is cheap to refuse again.
    r.verdict = {false, chain_detail(ChainStatus::Other)};
    return r;
  }
  CachedFacts f = CachedFacts::from(*leaf);
  std::vector<Der> others;
  others.reserve(chain.size() - 1);
  for (size_t i = 1; i < chain.size(); ++i) others.emplace_back(chain[i].begin(), chain[i].end());
  const ChainResult cr = trust.verify(chain[0], others);
  // RFC 5280 4.2.1.12 on CAs, summarised per purpose over the CAs of the
  // leaf's path only: an extraneous certificate has no say. Their validity
  // bounds the entry's window, so a hit re-checks the whole path's dates.
  for (size_t i : cr.path) {
    auto ca = extract_facts(others[i]);
    if (!ca) continue;
    if (!verdict_ca(*ca, EkuMode::On, Role::Inbound).accept) f.cas_allow_client = false;
    if (!verdict_ca(*ca, EkuMode::On, Role::Outbound).accept) f.cas_allow_server = false;
    const CachedFacts cf = CachedFacts::from(*ca);
    f.not_before = std::max(f.not_before, cf.not_before);
    f.not_after = std::min(f.not_after, cf.not_after);
  }
  r.entry.epoch = epoch;
  r.entry.chain = cr.status;
  r.entry.facts = f;
  if (cache) cache->insert(r.entry);
  r.verdict = CachedFacts::evaluate(cr.status, f, mode, role, now);
  mark_would_fail(r, mode, role, now);
  return r;
}

}  // namespace turnpike::control
