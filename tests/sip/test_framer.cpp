#include <gtest/gtest.h>

#include <string>

#include "turnpike/sip/framer.hpp"

using namespace turnpike::sip;

namespace {
const std::string kRegister =
    "REGISTER sip:example.test SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 198.18.0.2:5061;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@example.test>\r\n"
    "From: Bob <sip:bob@example.test>;tag=456248\r\n"
    "Call-ID: 843817637684230@998sdasdh09\r\n"
    "CSeq: 1826 REGISTER\r\n"
    "Contact: <sip:bob@198.18.0.2>\r\n"
    "Content-Length: 0\r\n\r\n";
std::string with_body(const std::string& len_header, const std::string& body) {
  return "MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS x;branch=z9hG4bK1\r\n" + len_header + "\r\n\r\n" + body;
}
}  // namespace

TEST(Framer, CompleteRequest) {
  Frame f = frame(kRegister);
  EXPECT_EQ(f.status, Status::Message);
  EXPECT_EQ(f.length, kRegister.size());
  EXPECT_TRUE(f.is_request);
  EXPECT_EQ(f.body_len, 0u);
}

TEST(Framer, EveryPrefixNeedsMore) {
  // A message arriving one byte at a time is never framed early or refused.
  for (std::size_t i = 1; i < kRegister.size(); ++i)
    ASSERT_EQ(frame(std::string_view(kRegister).substr(0, i)).status, Status::NeedMore) << i;
}

TEST(Framer, TwoMessagesBackToBack) {
  const std::string two = kRegister + kRegister;
  Frame f = frame(two);
  ASSERT_EQ(f.status, Status::Message);
  EXPECT_EQ(f.length, kRegister.size());
  EXPECT_EQ(frame(std::string_view(two).substr(f.length)).length, kRegister.size());
}

TEST(Framer, BodyByContentLengthAndCompactForm) {
  auto m = with_body("Content-Length: 5", "hello") + "NEXT";
  Frame f = frame(m);
  ASSERT_EQ(f.status, Status::Message);
  EXPECT_EQ(f.body_len, 5u);
  EXPECT_EQ(f.length, m.size() - 4);
  auto c = with_body("l: 3", "abc");
  EXPECT_EQ(frame(c).status, Status::Message);
  EXPECT_EQ(frame(c).body_len, 3u);
  auto lower = with_body("content-length:   2  ", "ab");  // case and whitespace
  EXPECT_EQ(frame(lower).status, Status::Message);
  EXPECT_EQ(frame(with_body("Content-Length: 5", "hel")).status, Status::NeedMore);
}

TEST(Framer, FoldedContentLength) {
  auto m = with_body("Content-Length:\r\n  4", "abcd");  // RFC 3261 §7.3.1 folding
  Frame f = frame(m);
  ASSERT_EQ(f.status, Status::Message);
  EXPECT_EQ(f.body_len, 4u);
}

TEST(Framer, Response) {
  const std::string r = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS x\r\nContent-Length: 0\r\n\r\n";
  Frame f = frame(r);
  ASSERT_EQ(f.status, Status::Message);
  EXPECT_FALSE(f.is_request);
}

TEST(Framer, KeepAlives) {
  Frame f = frame("\r\n\r\n");
  EXPECT_EQ(f.status, Status::KeepAlivePing);
  EXPECT_EQ(f.length, 4u);
  EXPECT_EQ(frame("\r\n").status, Status::NeedMore);    // could be half a ping
  EXPECT_EQ(frame("\r\n\r").status, Status::NeedMore);
  Frame g = frame("\r\n" + kRegister);                   // leading CRLF ignored (§7.5)
  EXPECT_EQ(g.status, Status::Ignore);
  EXPECT_EQ(g.length, 2u);
  const std::string pp = "\r\n\r\n" + kRegister;
  Frame h = frame(pp);
  EXPECT_EQ(h.status, Status::KeepAlivePing);
  EXPECT_EQ(frame(std::string_view(pp).substr(h.length)).status, Status::Message);
}

TEST(Framer, MalformedStartLines) {
  for (const char* bad : {"GARBAGE\r\n\r\n", "REGISTER sip:x\r\n\r\n", "REGISTER sip:x HTTP/1.1\r\n\r\n",
                          "REG(STER sip:x SIP/2.0\r\n\r\n", " REGISTER sip:x SIP/2.0\r\n\r\n",
                          "REGISTER nocolon SIP/2.0\r\n\r\n", "SIP/2.0 2000 OK\r\n\r\n", "SIP/2.0 OK\r\n\r\n",
                          "\n\n"}) {
    Frame f = frame(std::string(bad));
    EXPECT_EQ(f.status, Status::Error) << bad;
    EXPECT_EQ(f.error, Error::BadStartLine) << bad;
    EXPECT_EQ(f.response_code, 0) << bad;  // nothing to answer
  }
}

TEST(Framer, BinaryGarbageRefusedAtOnce) {
  // A TLS ClientHello sent to a plain-SIP port, and a NUL inside a method.
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  EXPECT_EQ(frame(hello).error, Error::BadStartLine);
  EXPECT_EQ(frame(std::string("REGI\0STER", 9)).error, Error::BadStartLine);
  EXPECT_EQ(frame(std::string("REGISTER sip:x SIP/2.0\x01")).error, Error::BadStartLine);
  EXPECT_EQ(frame(std::string("REGISTER sip:x SIP/2.0\r")).status, Status::NeedMore);
}

TEST(Framer, ContentLengthRules) {
  Frame missing = frame(std::string("OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\n"));
  EXPECT_EQ(missing.status, Status::Error);
  EXPECT_EQ(missing.error, Error::MissingContentLength);
  EXPECT_EQ(missing.response_code, 400);
  for (const char* v : {"Content-Length: abc", "Content-Length: -1", "Content-Length: ", "Content-Length: 1 2",
                        "Content-Length: 99999999999", "Content-Length: 1\r\nl: 2"}) {
    Frame f = frame(with_body(v, ""));
    EXPECT_EQ(f.status, Status::Error) << v;
    EXPECT_EQ(f.error, Error::BadContentLength) << v;
    EXPECT_EQ(f.response_code, 400) << v;
  }
  // Duplicates that agree are tolerated.
  EXPECT_EQ(frame(with_body("Content-Length: 1\r\nl: 1", "x")).status, Status::Message);
  // A response with a bad length cannot be answered.
  Frame r = frame(std::string("SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n"));
  EXPECT_EQ(r.error, Error::BadContentLength);
  EXPECT_EQ(r.response_code, 0);
}

// The length is judged only once the head is complete and within the limit:
// a bad Content-Length in a head still arriving waits, one in an oversized
// head is a 513, and a folded value or the blank line split by TCP waits.
TEST(Framer, ContentLengthJudgedOnlyOnACompleteHead) {
  const std::string bad = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: x\r\nVia: a\r\n";
  EXPECT_EQ(frame(bad).status, Status::NeedMore);
  EXPECT_EQ(frame(bad + "\r").status, Status::NeedMore);
  EXPECT_EQ(frame(bad + "\r\n").error, Error::BadContentLength);
  Limits lim;
  lim.max_header = 64;
  Frame big = frame(bad + "X-Pad: " + std::string(60, 'p') + "\r\n\r\n", lim);
  EXPECT_EQ(big.error, Error::HeaderTooLarge);
  EXPECT_EQ(big.response_code, 513);
  const std::string folded = "MESSAGE sip:a@b SIP/2.0\r\ncontent-length:\r\n ";
  EXPECT_EQ(frame(folded).status, Status::NeedMore);
  EXPECT_EQ(frame(folded + "3").status, Status::NeedMore);
  Frame f = frame(folded + "3\r\n\r\nabcNEXT");
  ASSERT_EQ(f.status, Status::Message);
  EXPECT_EQ(f.body_len, 3u);
  // A header that only starts like Content-Length, and a bad length on a
  // line after a good one, are told apart.
  EXPECT_EQ(frame(with_body("Content-Lengthy: 5\r\nContent-Length: 0", "")).status, Status::Message);
  EXPECT_EQ(frame(with_body("Content-Length: 0\r\nL: 1x", "")).error, Error::BadContentLength);
  // A start line alone ends its head too.
  Frame bare = frame(std::string("OPTIONS sip:x SIP/2.0\r\n\r\n"));
  EXPECT_EQ(bare.error, Error::MissingContentLength);
  EXPECT_EQ(bare.header_len, 25u);
}

TEST(Framer, Limits) {
  Limits lim;
  lim.max_header = 256;
  lim.max_body = 10;
  std::string big = "OPTIONS sip:x SIP/2.0\r\nX-Pad: " + std::string(300, 'a') + "\r\nContent-Length: 0\r\n\r\n";
  Frame f = frame(big, lim);
  EXPECT_EQ(f.error, Error::HeaderTooLarge);
  EXPECT_EQ(f.response_code, 513);
  // Without an end of headers, refuse once the limit is reached (no unbounded buffering).
  Frame g = frame(std::string("OPTIONS sip:x SIP/2.0\r\n") + std::string(300, 'a'), lim);
  EXPECT_EQ(g.error, Error::HeaderTooLarge);
  Frame h = frame(std::string(300, 'A'), lim);  // no line end at all
  EXPECT_EQ(h.error, Error::HeaderTooLarge);
  EXPECT_EQ(h.header_len, 0u);  // nothing to answer from
  // The 513 is built from the complete lines inside the limit.
  std::string req = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK-1\r\nFrom: <sip:a@x>;tag=1\r\n"
                    "To: <sip:x>\r\nCall-ID: big-1\r\nCSeq: 1 OPTIONS\r\nX-Pad: " + std::string(300, 'p') + "\r\n\r\n";
  Frame k = frame(req, lim);
  ASSERT_EQ(k.error, Error::HeaderTooLarge);
  ASSERT_GT(k.header_len, 0u);
  EXPECT_LE(k.header_len, lim.max_header);
  const std::string r = build_response(std::string_view(req).substr(0, k.header_len), 513, "Message Too Large");
  EXPECT_EQ(r.rfind("SIP/2.0 513 Message Too Large\r\n", 0), 0u);
  EXPECT_NE(r.find("Call-ID: big-1\r\n"), std::string::npos);
  EXPECT_EQ(r.find("X-Pad"), std::string::npos);
  Frame b = frame(with_body("Content-Length: 11", ""), lim);
  EXPECT_EQ(b.error, Error::BodyTooLarge);
  EXPECT_EQ(b.response_code, 513);
  EXPECT_EQ(frame(with_body("Content-Length: 10", "0123456789"), lim).status, Status::Message);
}

TEST(Framer, ResponseBuilderCopiesDialogHeaders) {
  const std::string r = build_response(kRegister, 400, "Bad Request");
  EXPECT_EQ(r.rfind("SIP/2.0 400 Bad Request\r\n", 0), 0u);
  for (const char* h : {"Via: SIP/2.0/TLS 198.18.0.2:5061;branch=z9hG4bK776asdhds\r\n",
                        "To: Bob <sip:bob@example.test>\r\n", "From: Bob <sip:bob@example.test>;tag=456248\r\n",
                        "Call-ID: 843817637684230@998sdasdh09\r\n", "CSeq: 1826 REGISTER\r\n", "Content-Length: 0\r\n\r\n"})
    EXPECT_NE(r.find(h), std::string::npos) << h;
  EXPECT_EQ(r.find("Contact"), std::string::npos);
  // The response frames as a complete message itself.
  Frame f = frame(r);
  EXPECT_EQ(f.status, Status::Message);
  EXPECT_EQ(f.length, r.size());
  // Without the mandatory headers no response can be formed.
  EXPECT_TRUE(build_response("OPTIONS sip:x SIP/2.0\r\nVia: a\r\n\r\n", 400, "Bad Request").empty());
}
