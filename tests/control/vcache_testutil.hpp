// Entries whose every field is derived from (fingerprint, variant), so a
// reader can tell a torn entry (fields from two writes) from a whole one.
#pragma once
#include <cstring>

#include "turnpike/control/vcache.hpp"

namespace turnpike::testing {

inline control::Fingerprint test_fp(uint64_t i) {
  uint8_t b[8];
  std::memcpy(b, &i, 8);
  return control::sha256(b);
}

inline control::CacheEntry make_entry(const control::Fingerprint& fp, uint64_t epoch, unsigned v) {
  control::CacheEntry e;
  e.fp = fp;
  e.epoch = epoch;
  e.chain = static_cast<control::ChainStatus>(v % 7);
  e.facts.eku_present = (fp[0] ^ v) & 1;
  e.facts.eku = static_cast<uint8_t>((fp[1] ^ v) & 0x0f);
  e.facts.ku_present = (fp[0] >> 1 ^ v) & 1;
  e.facts.key_usage = static_cast<uint16_t>(((fp[2] | fp[3] << 8) ^ (v * 0x1111u)) & 0x1ff);
  e.facts.is_ca = (fp[0] >> 2 ^ v) & 1;
  e.facts.cas_allow_client = (fp[0] >> 3 ^ v) & 1;
  e.facts.cas_allow_server = (fp[0] >> 4 ^ v) & 1;
  uint32_t base;
  std::memcpy(&base, fp.data() + 4, 4);
  e.facts.not_before = (base >> 1) + v;
  e.facts.not_after = e.facts.not_before + 1000 + v;
  return e;
}

// True when out is exactly make_entry(fp, out.epoch, variant in out.chain).
inline bool entry_is_whole(const control::CacheEntry& out) {
  unsigned v = static_cast<unsigned>(out.chain);
  for (unsigned cand = v; cand < 64; cand += 7) {  // chain = v % 7
    control::CacheEntry want = make_entry(out.fp, out.epoch, cand);
    if (want.chain == out.chain && want.facts == out.facts) return true;
  }
  return false;
}

}  // namespace turnpike::testing
