// The loadgen's per-message SIP work without allocation: one pass over an
// answer's header lines for what RFC 3261 §17.1.3 matches it by, the 200 OK
// its backend sends (the same bytes as sip::build_response, into a caller's
// buffer), and a request kept as bytes whose CSeq number is patched in
// place for each transaction. Only what the load generator needs: the
// proxy has its own parser.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace turnpike::loadgen {

inline char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c + ('a' - 'A')) : c; }

// `name` is lower case.
inline bool name_is(std::string_view n, std::string_view name) {
  if (n.size() != name.size()) return false;
  for (std::size_t i = 0; i < n.size(); ++i)
    if (lower(n[i]) != name[i]) return false;
  return true;
}

inline std::string_view trim_ws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(name, value, line) for each header line of `head` after the start
// line (name and value trimmed; line without its CRLF) until the blank line;
// stops early when f returns false. Continuation lines (RFC 3261 §7.3.1
// folding) and lines without a colon are skipped, as sip::build_response does.
template <class F>
void for_each_header(std::string_view head, F&& f) {
  std::size_t pos = head.find("\r\n");
  if (pos == std::string_view::npos) return;
  pos += 2;
  while (pos < head.size()) {
    std::size_t next = head.find("\r\n", pos);
    if (next == std::string_view::npos) next = head.size();
    const std::string_view line = head.substr(pos, next - pos);
    pos = next + 2;
    if (line.empty()) return;  // the blank line ends the headers
    if (line[0] == ' ' || line[0] == '\t') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    if (!f(trim_ws(line.substr(0, colon)), trim_ws(line.substr(colon + 1)), line)) return;
  }
}

// What an answer is matched by (RFC 3261 §8.1.3.3, §17.1.3): status code
// (0: not a response), the first Via (its first value), Call-ID and CSeq.
struct AnswerView {
  int code = 0;
  std::string_view via, call_id, cseq;
};

// Takes the header lines of an answer (view_answer, frame_answer).
struct AnswerCollector {
  AnswerView a;
  bool via = false, cid = false, cseq = false;
  // The status code of a start line (0: not a response).
  static int code_of(std::string_view m) {
    if (m.size() <= 12 || m.substr(0, 8) != "SIP/2.0 ") return 0;
    int code = 0;
    for (std::size_t i = 8; i < 11; ++i) {
      if (m[i] < '0' || m[i] > '9') return 0;
      code = code * 10 + (m[i] - '0');
    }
    return code;
  }
  bool operator()(std::string_view n, std::string_view v, std::string_view) {
    if (!via && (name_is(n, "via") || name_is(n, "v"))) {
      via = true;
      a.via = v.substr(0, v.find(','));
    } else if (!cid && (name_is(n, "call-id") || name_is(n, "i"))) {
      cid = true;
      a.call_id = v;
    } else if (!cseq && name_is(n, "cseq")) {
      cseq = true;
      a.cseq = v;
    }
    return !(via && cid && cseq);
  }
};

inline AnswerView view_answer(std::string_view m) {
  AnswerCollector c;
  c.a.code = AnswerCollector::code_of(m);
  if (c.a.code) for_each_header(m, c);
  return c.a;
}

// "branch=<b>" as a whole parameter of a Via value (not a prefix of a longer branch).
inline bool via_has_branch(std::string_view via, std::string_view b) {
  for (std::size_t at = via.find(";branch="); at != std::string_view::npos; at = via.find(";branch=", at + 1)) {
    const std::string_view rest = via.substr(at + 8);
    if (rest.substr(0, b.size()) == b && (rest.size() == b.size() || rest[b.size()] == ';' || rest[b.size()] == ' ' ||
                                          rest[b.size()] == '\t'))
      return true;
  }
  return false;
}

// A 200 OK to the request whose headers are `head` (RFC 3261 §8.2.6: every
// Via in order, From, To, Call-ID, CSeq), written to out; the same bytes as
// sip::build_response(head, 200, "OK"). Returns its length, 0 when a
// header is missing or it does not fit.
class Answer200 {
 public:
  Answer200(char* out, std::size_t cap) : out_(out), cap_(cap), fits_(cap >= kStart.size()) {
    if (fits_) std::memcpy(out_, kStart.data(), kStart.size());
  }
  // Vias are copied as they come; the others are kept for after them.
  bool operator()(std::string_view n, std::string_view, std::string_view line) {
    if (name_is(n, "via") || name_is(n, "v")) {
      via_ = true;
      fits_ = fits_ && put(line);
    } else if (from_.empty() && (name_is(n, "from") || name_is(n, "f"))) from_ = line;
    else if (to_.empty() && (name_is(n, "to") || name_is(n, "t"))) to_ = line;
    else if (cid_.empty() && (name_is(n, "call-id") || name_is(n, "i"))) cid_ = line;
    else if (cseq_.empty() && name_is(n, "cseq")) cseq_ = line;
    return true;
  }
  // The answer's length (0: a header missing or no room).
  std::size_t finish() {
    if (!fits_ || !via_ || from_.empty() || to_.empty() || cid_.empty() || cseq_.empty()) return 0;
    for (std::string_view l : {from_, to_, cid_, cseq_})
      if (!put(l)) return 0;
    if (len_ + kTail.size() > cap_) return 0;
    std::memcpy(out_ + len_, kTail.data(), kTail.size());
    return len_ + kTail.size();
  }

 private:
  static constexpr std::string_view kStart = "SIP/2.0 200 OK\r\n";
  static constexpr std::string_view kTail = "Server: turnpike\r\nContent-Length: 0\r\n\r\n";
  bool put(std::string_view line) {
    if (len_ + line.size() + 2 > cap_) return false;
    std::memcpy(out_ + len_, line.data(), line.size());
    std::memcpy(out_ + len_ + line.size(), "\r\n", 2);
    len_ += line.size() + 2;
    return true;
  }
  char* out_;
  std::size_t cap_, len_ = kStart.size();
  bool fits_, via_ = false;
  std::string_view from_, to_, cid_, cseq_;
};

inline std::size_t answer_200(std::string_view head, char* out, std::size_t cap) {
  Answer200 b(out, cap);
  for_each_header(head, b);
  return b.finish();
}

// One pass over a whole message at the start of buf that is plain: a
// request (or a response: `request` false) start line, header lines without
// folding, one Content-Length of digits (RFC 3261 §18.3: required on a
// stream), head and body within sip::Limits' defaults and all in buf. Each
// header line goes to f as in for_each_header; returns the message's length.
// 0 for anything else (incomplete too): the caller frames it with
// sip::frame, which tells more from less and broken.
template <class F>
std::size_t quick_frame(std::string_view buf, bool request, F&& f) {
  static constexpr std::size_t kMaxHead = 16 * 1024, kMaxBody = 64 * 1024;
  const std::size_t eol = buf.find("\r\n");
  if (eol == std::string_view::npos) return 0;
  const std::string_view start = buf.substr(0, eol);
  if (request ? !(start.size() > 12 && start[0] >= 'A' && start[0] <= 'Z' && start.ends_with(" SIP/2.0"))
              : !(start.size() >= 12 && start.starts_with("SIP/2.0 ")))
    return 0;
  std::size_t pos = eol + 2, clen = 0;
  bool have_len = false;
  for (;;) {
    const std::size_t next = buf.find("\r\n", pos);
    if (next == std::string_view::npos || next > kMaxHead) return 0;
    if (next == pos) break;  // the blank line
    const std::string_view line = buf.substr(pos, next - pos);
    pos = next + 2;
    if (line[0] == ' ' || line[0] == '\t') return 0;  // folding
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return 0;
    const std::string_view n = trim_ws(line.substr(0, colon)), v = trim_ws(line.substr(colon + 1));
    if (name_is(n, "content-length") || name_is(n, "l")) {
      if (have_len || v.empty() || v.size() > 5) return 0;
      for (char c : v) {
        if (c < '0' || c > '9') return 0;
        clen = clen * 10 + std::size_t(c - '0');
      }
      have_len = true;
    }
    f(n, v, line);
  }
  if (!have_len || clen > kMaxBody) return 0;
  const std::size_t len = pos + 2 + clen;
  return len <= buf.size() ? len : 0;
}

// A request kept as its bytes, with the places where the transaction's
// CSeq number appears (Call-ID, Via branch, CSeq: at most kSlots). Made
// again only when the number's digit count changes (or the caller's other
// fields do), so a transaction costs a few byte copies instead of formatting.
class RequestTemplate {
 public:
  static constexpr unsigned kSlots = 4;
  // text: the request for CSeq number `cseq`; at: where its digits are.
  void set(std::string text, unsigned cseq, const std::array<std::size_t, kSlots>& at, unsigned slots) {
    text_ = std::move(text);
    digits_ = ndigits(cseq);
    at_ = at;
    slots_ = slots;
  }
  // Whether cseq fits the number's width here (else make it again).
  bool fits(unsigned cseq) const { return !text_.empty() && ndigits(cseq) == digits_; }
  // The request for `cseq` (fits(cseq) must hold).
  std::string_view patch(unsigned cseq) {
    char d[10];
    const auto r = std::to_chars(d, d + sizeof d, cseq);
    for (unsigned i = 0; i < slots_; ++i) std::memcpy(text_.data() + at_[i], d, std::size_t(r.ptr - d));
    return text_;
  }
  void clear() { text_.clear(); }
  static unsigned ndigits(unsigned v) {
    unsigned n = 1;
    while (v >= 10) v /= 10, ++n;
    return n;
  }

 private:
  std::string text_;
  unsigned digits_ = 0, slots_ = 0;
  std::array<std::size_t, kSlots> at_{};
};

}  // namespace turnpike::loadgen
