// turnpike-loadgen's own parts: the histogram, the expected-refusal table
// and the phone PKI (openssl CLI), checked with turnpike's certificate
// parser.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <vector>

#include "hist.hpp"
#include "pki.hpp"
#include "sipfast.hpp"
#include "turnpike/control/certs.hpp"

namespace turnpike::loadgen {
namespace {

TEST(Histogram, ExactBelow128AndEmpty) {
  Histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.quantile(0.5), 0u);
  for (std::uint64_t v = 0; v < 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), 99u);
  EXPECT_EQ(h.quantile(0.5), 49u);
  EXPECT_EQ(h.quantile(0.99), 98u);
  EXPECT_EQ(h.quantile(1.0), 99u);
}

TEST(Histogram, BucketsCoverEveryValueWithinOneSixtyFourth) {
  // Every value lands in a bucket whose upper edge is >= it and within
  // 1/64 of it; indexes never decrease and stay in range.
  unsigned last = 0;
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> vals;
  for (std::uint64_t v = 0; v < 70000; ++v) vals.push_back(v);
  for (int i = 0; i < 100000; ++i) vals.push_back(rng() >> (rng() % 64));
  vals.push_back(~std::uint64_t(0));
  std::sort(vals.begin(), vals.end());
  for (std::uint64_t v : vals) {
    const unsigned i = Histogram::index(v);
    ASSERT_LT(i, Histogram::kBuckets);
    ASSERT_GE(i, last);
    last = i;
    const std::uint64_t up = Histogram::upper(i);
    ASSERT_GE(up, v);
    ASSERT_LE(double(up - v), double(v) / 64 + 1) << v;
  }
}

TEST(Histogram, QuantilesOfAUniformSpreadAndMerge) {
  Histogram a, b;
  for (std::uint64_t v = 1; v <= 100000; ++v) (v % 2 ? a : b).record(v);
  a.add(b);
  EXPECT_EQ(a.count(), 100000u);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double want = q * 100000;
    EXPECT_NEAR(double(a.quantile(q)), want, want / 64 + 1) << q;
  }
  EXPECT_EQ(a.max(), 100000u);
  EXPECT_NEAR(a.mean(), 50000.5, 0.01);
}

// docs/eku-semantics.md: mode On refuses a serverAuth-only client, mode Off
// accepts it; no EKU and clientAuth are accepted; expired and untrusted
// never; no certificate only where one is not required.
TEST(Profiles, ExpectedRefusals) {
  EXPECT_TRUE(expect_accepted(Profile::Client, true, false));
  EXPECT_TRUE(expect_accepted(Profile::NoEku, true, false));
  EXPECT_FALSE(expect_accepted(Profile::Server, true, false));
  EXPECT_TRUE(expect_accepted(Profile::Server, false, false));
  for (bool on : {true, false}) {
    EXPECT_FALSE(expect_accepted(Profile::Expired, on, false));
    EXPECT_FALSE(expect_accepted(Profile::Untrusted, on, false));
    EXPECT_TRUE(expect_accepted(Profile::NoCert, on, false));
    EXPECT_FALSE(expect_accepted(Profile::NoCert, on, true));
  }
}

TEST(Pki, LeavesPerProfileWithTheirEkuDatesAndIssuer) {
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  char tmpl[] = "/tmp/tp-lg-pki.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::array<unsigned, kProfiles> count{3, 2, 2, 1, 1, 4};
  const PhonePki pki = make_pki(dir, count);
  EXPECT_TRUE(std::filesystem::exists(pki.ca_pem));
  EXPECT_EQ(pki.leaves[unsigned(Profile::NoCert)].size(), 0u);  // no certificate to make
  const std::int64_t now = std::time(nullptr);
  std::set<std::string> serials;
  std::string trusted_issuer;
  for (unsigned p = 0; p < kProfiles; ++p) {
    if (Profile(p) == Profile::NoCert) continue;
    ASSERT_EQ(pki.leaves[p].size(), count[p]) << kProfileNames[p];
    for (const std::string& pem : pki.leaves[p]) {
      auto der = control::pem_certs_to_der(pem);
      ASSERT_TRUE(der) << der.error;
      auto f = control::extract_facts((*der)[0]);
      ASSERT_TRUE(f) << f.error;
      // One leaf per phone; serials unique per issuer (RFC 5280 §4.1.2.2).
      EXPECT_TRUE(serials.insert(f->issuer + "/" + f->serial_hex).second) << "serial reused";
      EXPECT_FALSE(f->is_ca);
      switch (Profile(p)) {
        case Profile::Client:
        case Profile::Expired:
        case Profile::Untrusted:
          EXPECT_TRUE(f->eku_present);
          EXPECT_EQ(f->eku, control::kEkuClientAuth);
          break;
        case Profile::Server:
          EXPECT_TRUE(f->eku_present);
          EXPECT_EQ(f->eku, control::kEkuServerAuth);
          break;
        case Profile::NoEku: EXPECT_FALSE(f->eku_present); break;
        case Profile::NoCert: break;
      }
      if (Profile(p) == Profile::Expired) {
        EXPECT_LT(f->not_after, now);
      } else {
        EXPECT_GT(f->not_after, now + 86400);
      }
      if (Profile(p) == Profile::Client) trusted_issuer = f->issuer;
      if (Profile(p) == Profile::Untrusted) {
        EXPECT_NE(f->issuer, trusted_issuer);
      }
    }
  }
  // A second run in the same directory keeps the root the target trusts.
  const std::string root = pki.ca_pem;
  std::ifstream f1(root);
  const std::string r1((std::istreambuf_iterator<char>(f1)), {});
  (void)make_pki(dir, {1, 0, 0, 0, 0, 0});
  std::ifstream f2(root);
  const std::string r2((std::istreambuf_iterator<char>(f2)), {});
  EXPECT_EQ(r1, r2);
  std::filesystem::remove_all(dir);
}

// The backend's 200 OK: every Via in order, then the first From, To,
// Call-ID and CSeq (compact forms too), folded lines and the body left out.
TEST(SipFast, AnswerCopiesViasInOrderThenTheDialogHeaders) {
  const std::string head =
      "REGISTER sip:r SIP/2.0\r\n"
      "Via: SIP/2.0/TCP 198.18.0.1;branch=z9hG4bK-p\r\n"
      "f: <sip:a@x>;tag=1\r\n"
      "v: SIP/2.0/TLS 198.18.0.2;branch=z9hG4bK-a\r\n"
      " ;folded=1\r\n"
      "To: <sip:a@x>\r\n"
      "From: <sip:second@x>\r\n"
      "i: c1@x\r\n"
      "CSeq: 7 REGISTER\r\n"
      "X-Pad: xxx\r\n"
      "\r\n";
  char out[1024];
  const std::size_t n = answer_200(head, out, sizeof out);
  EXPECT_EQ(std::string(out, n),
            "SIP/2.0 200 OK\r\n"
            "Via: SIP/2.0/TCP 198.18.0.1;branch=z9hG4bK-p\r\n"
            "v: SIP/2.0/TLS 198.18.0.2;branch=z9hG4bK-a\r\n"
            "f: <sip:a@x>;tag=1\r\n"
            "To: <sip:a@x>\r\n"
            "i: c1@x\r\n"
            "CSeq: 7 REGISTER\r\n"
            "Server: turnpike\r\nContent-Length: 0\r\n\r\n");
  // Too small a buffer at any point, or a header missing: no answer.
  for (std::size_t cap = 0; cap < n; cap += 7) EXPECT_EQ(answer_200(head, out, cap), 0u) << cap;
  EXPECT_EQ(answer_200(head, out, n), n);
  std::string no_cid = head;
  no_cid.erase(no_cid.find("i: c1@x\r\n"), 9);
  EXPECT_EQ(answer_200(no_cid, out, sizeof out), 0u);
  std::string no_via = head;
  no_via.erase(no_via.find("Via: "), no_via.find("f: ") - no_via.find("Via: "));
  no_via.erase(no_via.find("v: "), no_via.find("To: ") - no_via.find("v: "));
  EXPECT_EQ(answer_200(no_via, out, sizeof out), 0u);
}

// An answer is matched by its first Via's first value, Call-ID and CSeq
// (RFC 3261 §17.1.3); the body is not searched.
TEST(SipFast, AnswerViewTakesTheFirstOfEachHeader) {
  const std::string m =
      "SIP/2.0 486 Busy Here\r\n"
      "via: SIP/2.0/TLS a;branch=z9hG4bK-1 , SIP/2.0/TLS b;branch=z9hG4bK-2\r\n"
      "Via: SIP/2.0/TLS c;branch=z9hG4bK-3\r\n"
      "I:  id-1@x \r\n"
      "Call-ID: id-2@x\r\n"
      "cseq: 4 OPTIONS\r\n"
      "Content-Length: 14\r\n"
      "\r\n"
      "CSeq: 5 BYE\r\n";
  const AnswerView a = view_answer(m);
  EXPECT_EQ(a.code, 486);
  EXPECT_EQ(a.via, "SIP/2.0/TLS a;branch=z9hG4bK-1 ");
  EXPECT_EQ(a.call_id, "id-1@x");
  EXPECT_EQ(a.cseq, "4 OPTIONS");
  EXPECT_TRUE(via_has_branch(a.via, "z9hG4bK-1"));
  EXPECT_FALSE(via_has_branch(a.via, "z9hG4bK-"));    // a prefix of the branch is not it
  EXPECT_FALSE(via_has_branch(a.via, "z9hG4bK-12"));
  EXPECT_FALSE(via_has_branch(a.via, "z9hG4bK-2"));   // the second Via value
  EXPECT_TRUE(via_has_branch("SIP/2.0/TLS a;branch=b1;received=x", "b1"));
  EXPECT_EQ(view_answer("REGISTER sip:x SIP/2.0\r\n\r\n").code, 0);
  EXPECT_EQ(view_answer("SIP/2.0 2x0 OK\r\n\r\n").code, 0);
  const AnswerView none = view_answer("SIP/2.0 200 OK\r\nTo: <sip:a@x>\r\n\r\n");
  EXPECT_EQ(none.code, 200);
  EXPECT_TRUE(none.call_id.empty() && none.cseq.empty() && none.via.empty());
}

// A template's CSeq digits are patched in every slot; a number of another
// width does not fit (the request is made again).
TEST(SipFast, RequestTemplatePatchesEverySlot) {
  RequestTemplate t;
  EXPECT_FALSE(t.fits(1));
  const std::string r = "Call-ID: lg1-2-10@x\r\nVia: b=z9x10\r\nCSeq: 10 REGISTER\r\n";
  t.set(r, 10, {r.find("10@"), r.find("10\r\nCSeq"), r.find("10 REG"), 0}, 3);
  EXPECT_TRUE(t.fits(99));
  EXPECT_FALSE(t.fits(9));
  EXPECT_FALSE(t.fits(100));
  EXPECT_EQ(t.patch(47), "Call-ID: lg1-2-47@x\r\nVia: b=z9x47\r\nCSeq: 47 REGISTER\r\n");
  EXPECT_EQ(t.patch(10), r);
  t.clear();
  EXPECT_FALSE(t.fits(10));
  EXPECT_EQ(RequestTemplate::ndigits(0), 1u);
  EXPECT_EQ(RequestTemplate::ndigits(4294967295u), 10u);
}

// The one-pass framer takes only whole, plain messages; everything else is
// left to sip::frame (0).
TEST(SipFast, QuickFrameTakesOnlyWholePlainMessages) {
  const std::string req =
      "REGISTER sip:r SIP/2.0\r\nVia: SIP/2.0/TLS a;branch=z9hG4bK-1\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\n"
      "Call-ID: c@x\r\nCSeq: 2 REGISTER\r\nl: 4\r\n\r\nbody";
  const auto none = [](std::string_view, std::string_view, std::string_view) { return true; };
  EXPECT_EQ(quick_frame(req, true, none), req.size());
  EXPECT_EQ(quick_frame(req + "OPTIONS sip:r SIP/2.0\r\n", true, none), req.size());  // the first of two
  for (std::size_t cut = 0; cut < req.size(); ++cut) EXPECT_EQ(quick_frame(req.substr(0, cut), true, none), 0u) << cut;
  EXPECT_EQ(quick_frame(req, false, none), 0u);  // not a response
  // One pass gives the answer answer_200 makes from the head.
  char a[512], b[512];
  Answer200 ab(a, sizeof a);
  ASSERT_EQ(quick_frame(req, true, ab), req.size());
  const std::size_t n = ab.finish();
  ASSERT_GT(n, 0u);
  EXPECT_EQ(std::string(a, n), std::string(b, answer_200(req.substr(0, req.size() - 4), b, sizeof b)));
  auto with = [&](std::string_view from, std::string_view to) {
    std::string r = req;
    r.replace(r.find(from), from.size(), to);
    return r;
  };
  EXPECT_EQ(quick_frame(with("l: 4\r\n", ""), true, none), 0u);                    // no Content-Length (§18.3)
  EXPECT_EQ(quick_frame(with("l: 4\r\n", "l: 4\r\nContent-Length: 4\r\n"), true, none), 0u);  // two
  EXPECT_EQ(quick_frame(with("l: 4", "l: 4x"), true, none), 0u);
  EXPECT_EQ(quick_frame(with("l: 4", "l: 999999"), true, none), 0u);
  EXPECT_EQ(quick_frame(with("To: <sip:a@x>\r\n", "To: <sip:a@x>\r\n  ;folded\r\n"), true, none), 0u);
  EXPECT_EQ(quick_frame(with("To: <sip:a@x>", "To"), true, none), 0u);  // no colon
  EXPECT_EQ(quick_frame("\r\n\r\n" + req, true, none), 0u);                        // a keep-alive first
  EXPECT_EQ(quick_frame(with(" SIP/2.0\r\n", " SIP/3.0\r\n"), true, none), 0u);
  const std::string resp = "SIP/2.0 200 OK\r\nv: SIP/2.0/TLS a;branch=b\r\ni: c@x\r\nCSeq: 2 REGISTER\r\nContent-Length: 0\r\n\r\n";
  AnswerCollector c;
  EXPECT_EQ(quick_frame(resp, false, c), resp.size());
  EXPECT_EQ(c.a.call_id, "c@x");
  EXPECT_EQ(c.a.cseq, "2 REGISTER");
  EXPECT_EQ(c.a.via, "SIP/2.0/TLS a;branch=b");
  EXPECT_EQ(AnswerCollector::code_of(resp), 200);
  EXPECT_EQ(quick_frame(resp, true, none), 0u);  // not a request
}

}  // namespace
}  // namespace turnpike::loadgen
