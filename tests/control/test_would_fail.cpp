// Issue 11 item 3: the would-fail flag of check_peer's verdict (mode Off
// accepts what mode On would refuse for its purpose) and the control
// thread's table of such peers (ring record, once per fingerprint per hour,
// resumed sessions, bound).
#include <gtest/gtest.h>

#include <ctime>

#include "pki_fixture.hpp"
#include "turnpike/control/peer.hpp"
#include "turnpike/control/would_fail.hpp"

using namespace turnpike::control;
using turnpike::testing::pki_file;

namespace {
struct WouldFail : ::testing::Test {
  TrustStore trust;
  VerdictCache cache{1024};
  int64_t now = std::time(nullptr);
  void SetUp() override { ASSERT_EQ(trust.add_ca_bundle(pki_file("ca.pem")), ""); }
  PeerResult check(const std::string& chain_file, EkuMode m, Role r = Role::Inbound) {
    auto chain = *pem_certs_to_der(pki_file(chain_file));
    std::vector<std::span<const uint8_t>> spans(chain.begin(), chain.end());
    return check_peer(spans, trust, &cache, cache.epoch(), m, r, now);
  }
};

WouldFailSighting sighting(uint8_t fp0, int64_t t, std::string_view src = "198.18.0.2") {
  WouldFailSighting s;
  s.fp[0] = fp0;
  s.fp[31] = 0x5a;
  s.subject = "CN=peer.test";
  s.issuer = "CN=Public CA";
  s.src_ip = src;
  s.src_port = 40000;
  s.dst_ip = "198.18.0.1";
  s.dst_port = 5061;
  s.time = t;
  return s;
}
}  // namespace

TEST_F(WouldFail, ServerAuthOnlyLeafInModeOffIsAcceptedAndFlagged) {
  // Miss, then the cached facts: both carry the flag.
  for (int pass = 0; pass < 2; ++pass) {
    PeerResult r = check("server-chain.pem", EkuMode::Off);
    EXPECT_EQ(r.cache_hit, pass == 1);
    EXPECT_TRUE(r.verdict.accept);
    EXPECT_TRUE(r.verdict.would_fail_on);
  }
  // Mode On refuses it (no flag: it is refused, not accepted).
  PeerResult on = check("server-chain.pem", EkuMode::On);
  EXPECT_FALSE(on.verdict.accept);
  EXPECT_EQ(on.verdict.detail, kDetailPurpose);
  EXPECT_FALSE(on.verdict.would_fail_on);
}

TEST_F(WouldFail, CertificatesModeOnAcceptsAreNotFlagged) {
  for (const char* c : {"client-chain.pem", "both-chain.pem", "noeku-chain.pem", "any-chain.pem"}) {
    SCOPED_TRACE(c);
    PeerResult r = check(c, EkuMode::Off);
    EXPECT_TRUE(r.verdict.accept);
    EXPECT_FALSE(r.verdict.would_fail_on);
  }
}

TEST_F(WouldFail, RefusedInBothModesOrOutboundIsNotFlagged) {
  PeerResult cs = check("codesign-chain.pem", EkuMode::Off);  // refused in mode Off too
  EXPECT_FALSE(cs.verdict.accept);
  EXPECT_FALSE(cs.verdict.would_fail_on);
  PeerResult out = check("server-chain.pem", EkuMode::Off, Role::Outbound);  // the mode is inbound only
  EXPECT_TRUE(out.verdict.accept);
  EXPECT_FALSE(out.verdict.would_fail_on);
}

TEST_F(WouldFail, ServerAuthOnlyCaChainInModeOffIsFlagged) {
  // A clientAuth leaf under a serverAuth-only intermediate: mode On refuses
  // it by the CA rule (the new public hierarchies), so it would fail too.
  auto chain = *pem_certs_to_der(pki_file("srvsub-both.pem"));
  auto inter = *pem_certs_to_der(pki_file("inter-srv.pem"));
  chain.insert(chain.end(), inter.begin(), inter.end());
  std::vector<std::span<const uint8_t>> spans(chain.begin(), chain.end());
  PeerResult off = check_peer(spans, trust, &cache, cache.epoch(), EkuMode::Off, Role::Inbound, now);
  ASSERT_TRUE(off.verdict.accept) << off.verdict.detail;
  EXPECT_TRUE(off.verdict.would_fail_on);
}

TEST(WouldFailRecord, EncodeDecodeRoundTripAndScrub) {
  WouldFailSighting s = sighting(0xab, 1767225600);
  std::string subj = std::string("CN=a\x1f") + "b";
  s.subject = subj;
  char buf[640];
  const size_t n = encode_sighting(s, buf, sizeof buf);
  ASSERT_GT(n, 0u);
  WouldFailSighting d;
  ASSERT_TRUE(decode_sighting({buf, n}, d));
  EXPECT_EQ(d.fp, s.fp);
  EXPECT_FALSE(d.fp_partial);
  EXPECT_EQ(d.subject, "CN=a b");  // the separator never survives in a name
  EXPECT_EQ(d.issuer, "CN=Public CA");
  EXPECT_EQ(d.src_ip, "198.18.0.2");
  EXPECT_EQ(d.src_port, 40000);
  EXPECT_EQ(d.dst_ip, "198.18.0.1");
  EXPECT_EQ(d.dst_port, 5061);
  EXPECT_EQ(d.time, 1767225600);
  EXPECT_FALSE(d.refused);
  // Too small a buffer: 0, nothing half-written is ever pushed.
  EXPECT_EQ(encode_sighting(s, buf, 40), 0u);
  // Long names are cut so that the record fits a ring cell.
  std::string longname(2000, 'x');
  s.subject = longname;
  s.issuer = longname;
  EXPECT_GT(encode_sighting(s, buf, sizeof buf), 0u);
  // Garbage is refused.
  EXPECT_FALSE(decode_sighting("", d));
  EXPECT_FALSE(decode_sighting("zz\x1f" "a\x1f" "1\x1f" "b\x1f" "2\x1f" "3\x1f" "0\x1f" "0\x1f" "s\x1f" "i", d));
  EXPECT_FALSE(decode_sighting(std::string(64, 'a') + "\x1f" "a\x1f" "x\x1f" "b\x1f" "2\x1f" "3\x1f" "0\x1f" "0\x1f" "s\x1f" "i", d));
  EXPECT_FALSE(decode_sighting(std::string(64, 'a') + "\x1f" "a\x1f" "1\x1f" "b\x1f" "2\x1f" "3\x1f" "999\x1f" "0\x1f" "s\x1f" "i", d));
  EXPECT_TRUE(decode_sighting(std::string(64, 'a') + "\x1f" "a\x1f" "1\x1f" "b\x1f" "2\x1f" "3\x1f" "0\x1f" "0\x1f" "s\x1f" "i", d));
  // The EKU travels too (remote certificates).
  s.eku_present = true;
  s.eku = kEkuServerAuth;
  const size_t m = encode_sighting(s, buf, sizeof buf);
  ASSERT_TRUE(decode_sighting({buf, m}, d));
  EXPECT_TRUE(d.eku_present);
  EXPECT_EQ(d.eku, kEkuServerAuth);
  // Issue 11 item 4: the refused flag (mode On refused the peer) round-trips.
  s.subject = "CN=peer.test";
  s.issuer = "CN=Public CA";
  s.refused = true;
  const size_t k = encode_sighting(s, buf, sizeof buf);
  ASSERT_TRUE(decode_sighting({buf, k}, d));
  EXPECT_TRUE(d.refused);
  EXPECT_EQ(d.subject, "CN=peer.test");
  EXPECT_EQ(d.issuer, "CN=Public CA");
  EXPECT_TRUE(d.eku_present);
  // An old nine-field record or a flag other than 0/1 is refused.
  EXPECT_FALSE(decode_sighting(std::string(64, 'a') + "\x1f" "a\x1f" "1\x1f" "b\x1f" "2\x1f" "3\x1f" "0\x1f" "s\x1f" "i", d));
  EXPECT_FALSE(decode_sighting(std::string(64, 'a') + "\x1f" "a\x1f" "1\x1f" "b\x1f" "2\x1f" "3\x1f" "0\x1f" "2\x1f" "s\x1f" "i", d));
  EXPECT_TRUE(decode_sighting(std::string(64, 'a') + "\x1f" "a\x1f" "1\x1f" "b\x1f" "2\x1f" "3\x1f" "0\x1f" "1\x1f" "s\x1f" "i", d));
  EXPECT_TRUE(d.refused);
}

TEST(WouldFailTable, OneEventPerFingerprintPerHour) {
  WouldFailTable t(16, 3600);
  const int64_t t0 = 1767225600;
  EXPECT_TRUE(t.note(sighting(1, t0)));
  EXPECT_FALSE(t.note(sighting(1, t0 + 10)));
  EXPECT_FALSE(t.note(sighting(1, t0 + 3599)));
  EXPECT_TRUE(t.note(sighting(2, t0 + 20)));  // another fingerprint: its own hour
  EXPECT_TRUE(t.note(sighting(1, t0 + 3600, "198.18.0.7")));
  auto peers = t.peers();
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0].fp[0], 1);  // most recently seen first
  EXPECT_EQ(peers[0].count, 4u);
  EXPECT_EQ(peers[0].last_src_ip, "198.18.0.7");
  EXPECT_EQ(peers[0].first_seen, t0);
  EXPECT_EQ(peers[0].last_seen, t0 + 3600);
  EXPECT_EQ(peers[0].last_dst, "198.18.0.1:5061");
  EXPECT_EQ(peers[1].count, 1u);
  EXPECT_EQ(t.sightings(), 5u);
  EXPECT_EQ(t.suppressed(), 2u);
}

TEST(WouldFailTable, ResumedSessionJoinsItsPeerByPrefix) {
  WouldFailTable t;
  const int64_t t0 = 1767225600;
  WouldFailSighting full = sighting(7, t0);
  EXPECT_TRUE(t.note(full));
  WouldFailSighting resumed = sighting(7, t0 + 5);
  resumed.fp_partial = true;
  std::fill(resumed.fp.begin() + 16, resumed.fp.end(), 0);
  resumed.subject = resumed.issuer = {};
  EXPECT_FALSE(t.note(resumed));  // same peer, same hour
  auto peers = t.peers();
  ASSERT_EQ(peers.size(), 1u);
  EXPECT_EQ(peers[0].count, 2u);
  EXPECT_EQ(peers[0].subject, "CN=peer.test");  // kept from the full handshake
  EXPECT_FALSE(peers[0].fp_partial);
  // A resumption seen first is shown as a prefix until a full handshake names it.
  WouldFailTable u;
  WouldFailSighting r2 = sighting(9, t0);
  r2.fp_partial = true;
  std::fill(r2.fp.begin() + 16, r2.fp.end(), 0);
  r2.subject = r2.issuer = {};
  EXPECT_TRUE(u.note(r2));
  EXPECT_NE(peer_fingerprint_text(u.peers()[0]).find(":..."), std::string::npos);
  EXPECT_FALSE(u.note(sighting(9, t0 + 1)));
  EXPECT_EQ(u.peers()[0].fp[31], 0x5a);
  EXPECT_EQ(u.peers()[0].subject, "CN=peer.test");
}

TEST(WouldFailTable, BoundedDropsTheLeastRecentlySeen) {
  WouldFailTable t(4);
  const int64_t t0 = 1767225600;
  for (int i = 0; i < 6; ++i) t.note(sighting(static_cast<uint8_t>(i), t0 + i));
  auto peers = t.peers();
  ASSERT_EQ(peers.size(), 4u);
  EXPECT_EQ(t.evicted(), 2u);
  EXPECT_EQ(peers.back().fp[0], 2);  // 0 and 1 went first
  EXPECT_EQ(WouldFailTable(0).capacity(), 1u);  // never zero
}

// Issue 11 item 4: a peer refused in mode On is kept apart from the same
// peer seen accepted in mode Off, never asks for an event, and is counted
// apart from would-fail handshakes.
TEST(WouldFailTable, RefusedPeersAreKeptApartAndNeverLogged) {
  WouldFailTable t(16, 3600);
  const int64_t t0 = 1767225600;
  WouldFailSighting r = sighting(3, t0);
  r.refused = true;
  EXPECT_FALSE(t.note(r));  // no event: the refusal's own line is written
  r.time = t0 + 7200;
  r.src_ip = "198.18.0.9";
  EXPECT_FALSE(t.note(r));
  EXPECT_TRUE(t.note(sighting(3, t0 + 10)));  // same fingerprint, accepted in mode Off: its own peer and event
  auto peers = t.peers();
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_TRUE(peers[0].refused);  // most recently seen first
  EXPECT_EQ(peers[0].count, 2u);
  EXPECT_EQ(peers[0].first_seen, t0);
  EXPECT_EQ(peers[0].last_seen, t0 + 7200);
  EXPECT_EQ(peers[0].last_src_ip, "198.18.0.9");
  EXPECT_EQ(peers[0].subject, "CN=peer.test");
  EXPECT_FALSE(peers[1].refused);
  EXPECT_EQ(peers[1].count, 1u);
  EXPECT_EQ(t.sightings(), 1u);
  EXPECT_EQ(t.refused_sightings(), 2u);
  EXPECT_EQ(t.suppressed(), 0u);  // refused sightings are never "suppressed" events
}

// Issue 13 item 4: an IPv6 peer's sighting keeps its address text through
// the ring record, and its listener is written "[addr]:port".
TEST(WouldFailTable, Ipv6PeerRecordAndListener) {
  WouldFailSighting s = sighting(4, 1767225600, "2001:db8:0:1::2");
  s.dst_ip = "2001:db8::1";
  char buf[640];
  const size_t n = encode_sighting(s, buf, sizeof buf);
  ASSERT_GT(n, 0u);
  WouldFailSighting d;
  ASSERT_TRUE(decode_sighting({buf, n}, d));
  EXPECT_EQ(d.src_ip, "2001:db8:0:1::2");
  EXPECT_EQ(d.dst_ip, "2001:db8::1");
  // The longest address text survives whole (the record keeps 64 characters).
  s.src_ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  ASSERT_TRUE(decode_sighting({buf, encode_sighting(s, buf, sizeof buf)}, d));
  EXPECT_EQ(d.src_ip, s.src_ip);
  WouldFailTable t;
  EXPECT_TRUE(t.note(sighting(4, 1767225600, "2001:db8:0:1::2")));
  WouldFailSighting v6 = sighting(5, 1767225601, "2001:db8::7");
  v6.dst_ip = "2001:db8::1";
  EXPECT_TRUE(t.note(v6));
  auto peers = t.peers();
  ASSERT_EQ(peers.size(), 2u);
  EXPECT_EQ(peers[0].last_src_ip, "2001:db8::7");
  EXPECT_EQ(peers[0].last_dst, "[2001:db8::1]:5061");
  EXPECT_EQ(peers[1].last_dst, "198.18.0.1:5061");  // IPv4 unchanged
}
