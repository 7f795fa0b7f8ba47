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

inline AnswerView view_answer(std::string_view m) {
  AnswerView a;
  if (m.size() <= 12 || m.substr(0, 8) != "SIP/2.0 ") return a;
  int code = 0;
  for (std::size_t i = 8; i < 11; ++i) {
    if (m[i] < '0' || m[i] > '9') return a;
    code = code * 10 + (m[i] - '0');
  }
  a.code = code;
  bool via = false, cid = false, cseq = false;
  for_each_header(m, [&](std::string_view n, std::string_view v, std::string_view) {
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
  });
  return a;
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
inline std::size_t answer_200(std::string_view head, char* out, std::size_t cap) {
  static constexpr std::string_view kStart = "SIP/2.0 200 OK\r\n";
  static constexpr std::string_view kTail = "Server: turnpike\r\nContent-Length: 0\r\n\r\n";
  std::string_view from, to, cid, cseq;
  std::size_t len = kStart.size();
  bool fits = cap >= len, via = false;
  if (fits) std::memcpy(out, kStart.data(), kStart.size());
  // Vias are copied as they come; the others are kept for after them.
  for_each_header(head, [&](std::string_view n, std::string_view, std::string_view line) {
    if (name_is(n, "via") || name_is(n, "v")) {
      via = true;
      if (len + line.size() + 2 > cap) return fits = false;
      std::memcpy(out + len, line.data(), line.size());
      std::memcpy(out + len + line.size(), "\r\n", 2);
      len += line.size() + 2;
    } else if (from.empty() && (name_is(n, "from") || name_is(n, "f"))) from = line;
    else if (to.empty() && (name_is(n, "to") || name_is(n, "t"))) to = line;
    else if (cid.empty() && (name_is(n, "call-id") || name_is(n, "i"))) cid = line;
    else if (cseq.empty() && name_is(n, "cseq")) cseq = line;
    return true;
  });
  if (!fits || !via || from.empty() || to.empty() || cid.empty() || cseq.empty()) return 0;
  for (std::string_view l : {from, to, cid, cseq}) {
    if (len + l.size() + 2 > cap) return 0;
    std::memcpy(out + len, l.data(), l.size());
    std::memcpy(out + len + l.size(), "\r\n", 2);
    len += l.size() + 2;
  }
  if (len + kTail.size() > cap) return 0;
  std::memcpy(out + len, kTail.data(), kTail.size());
  return len + kTail.size();
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
