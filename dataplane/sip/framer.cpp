#include "turnpike/sip/framer.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace turnpike::sip {

namespace {

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// RFC 3261 §25.1 token characters.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("-.!%*_+`'~", c) != nullptr && c != 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_sip_version(std::string_view v) { return ieq(v, "SIP/2.0"); }

// Request-Line = Method SP Request-URI SP SIP-Version (RFC 3261 §7.1);
// Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2).
bool check_start_line(std::string_view line, bool& is_request) {
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return false;
  const std::string_view first = line.substr(0, sp1);
  if (is_sip_version(first)) {
    const std::string_view rest = line.substr(sp1 + 1);
    if (rest.size() < 3 || rest[0] < '1' || rest[0] > '6' || !std::isdigit((unsigned char)rest[1]) ||
        !std::isdigit((unsigned char)rest[2]) || (rest.size() > 3 && rest[3] != ' '))
      return false;
    is_request = false;
    return true;
  }
  for (char c : first)
    if (!is_token_char(c)) return false;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
  const std::string_view uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (uri.find(':') == std::string_view::npos) return false;  // absoluteURI has a scheme
  for (char c : uri)
    if (c <= ' ' || c == 0x7f) return false;
  if (!is_sip_version(line.substr(sp2 + 1))) return false;
  is_request = true;
  return true;
}

}  // namespace

std::string_view error_name(Error e) noexcept {
  switch (e) {
    case Error::None: return "none";
    case Error::BadStartLine: return "bad start line";
    case Error::MissingContentLength: return "missing Content-Length";
    case Error::BadContentLength: return "invalid Content-Length";
    case Error::HeaderTooLarge: return "header section too large";
    case Error::BodyTooLarge: return "body too large";
  }
  return "?";
}

Frame frame(std::span<const std::uint8_t> buf, const Limits& lim) {
  Frame f;
  const std::string_view s(reinterpret_cast<const char*>(buf.data()), buf.size());
  if (s.empty()) return f;
  // RFC 5626 §3.5.1 ping is CRLF CRLF; RFC 3261 §7.5: CRLFs before a start
  // line are ignored on streams.
  if (s[0] == '\r' || s[0] == '\n') {
    if (s.size() >= 4 && s.substr(0, 4) == "\r\n\r\n") {
      f.status = Status::KeepAlivePing;
      f.length = 4;
      return f;
    }
    if (s.size() >= 2 && s.substr(0, 2) == "\r\n") {
      if (s.size() == 2 || (s.size() == 3 && s[2] == '\r')) return f;  // maybe a ping split by TCP
      f.status = Status::Ignore;
      f.length = 2;
      return f;
    }
    if (s.size() == 1 && s[0] == '\r') return f;
    f.status = Status::Error;
    f.error = Error::BadStartLine;
    return f;
  }
  // A start line begins with a method token or "SIP/" and holds no control
  // bytes: refuse binary garbage (a TLS record, say) at once instead of
  // buffering it up to the header limit.
  if (!is_token_char(s[0])) {
    f.status = Status::Error;
    f.error = Error::BadStartLine;
    return f;
  }
  const auto eol = s.find("\r\n");
  const std::size_t line_end = eol == std::string_view::npos ? s.size() : eol;
  for (std::size_t i = 0; i < line_end; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\t' && !(c == '\r' && i + 1 == s.size())) || c == 0x7f) {
      f.status = Status::Error;
      f.error = Error::BadStartLine;
      return f;
    }
  }
  if (eol == std::string_view::npos) {
    if (s.size() >= lim.max_header) {
      f.status = Status::Error;
      f.error = Error::HeaderTooLarge;
    }
    return f;
  }
  bool is_request = false;
  if (!check_start_line(s.substr(0, eol), is_request)) {
    f.status = Status::Error;
    f.error = Error::BadStartLine;  // no request to answer: close
    return f;
  }
  f.is_request = is_request;
  // One walk over the header lines from the start line's CRLF: it finds
  // the blank line (the first CRLF CRLF: every CRLF is met in order, so two
  // in a row are it) and reads Content-Length / l (RFC 3261 §7.3.3 compact
  // form) on the way; what it read counts only once the head is complete
  // and within the limit.
  bool have_len = false, bad_len = false;
  std::uint64_t len = 0;
  std::size_t end = std::string_view::npos;
  for (std::size_t pos = eol + 2;;) {
    std::size_t next = s.find("\r\n", pos);
    if (next == std::string_view::npos) break;
    if (next == pos) {  // the blank line
      end = pos - 2;
      break;
    }
    const char c0 = s[pos];
    std::string_view line = s.substr(pos, next - pos);
    pos = next + 2;
    // Folded continuations (§7.3.1) and names that cannot be Content-Length
    // or l are passed over without looking for their colon.
    if (bad_len || c0 == ' ' || c0 == '\t' || ((c0 | 0x20) != 'c' && (c0 | 0x20) != 'l')) continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view name = trim(line.substr(0, colon));
    if (!ieq(name, "Content-Length") && !ieq(name, "l")) continue;
    std::string_view v = trim(line.substr(colon + 1));
    // A folded value continues on the next line(s).
    bool open_end = false;
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) {
      next = s.find("\r\n", pos);
      if (next == std::string_view::npos) {
        open_end = true;  // the head is not complete yet
        break;
      }
      if (v.empty()) v = trim(s.substr(pos, next - pos));
      pos = next + 2;
    }
    if (open_end) break;
    std::uint64_t n = 0;
    bool ok = !v.empty() && v.size() <= 10;
    for (char c : v) {
      if (c < '0' || c > '9') {
        ok = false;
        break;
      }
      n = n * 10 + std::uint64_t(c - '0');
    }
    if (!ok || (have_len && n != len)) {
      bad_len = true;
      continue;
    }
    have_len = true;
    len = n;
  }
  // A head that is exactly the start line ends at eol; the walk covers that too.
  if (end == std::string_view::npos || end + 4 > lim.max_header) {
    if (s.size() >= lim.max_header || (end != std::string_view::npos && end + 4 > lim.max_header)) {
      f.status = Status::Error;
      f.error = Error::HeaderTooLarge;
      f.response_code = is_request ? 513 : 0;
      // The 513 is built from the complete header lines that fit (RFC 3261
      // §21.5.4 still wants Via, From, To, Call-ID and CSeq echoed).
      const std::size_t cut = s.substr(0, std::min<std::size_t>(s.size(), lim.max_header)).rfind("\r\n");
      f.header_len = cut == std::string_view::npos ? 0 : cut + 2;
    }
    return f;
  }
  f.header_len = end + 4;
  if (bad_len) {
    f.status = Status::Error;
    f.error = Error::BadContentLength;
    f.response_code = is_request ? 400 : 0;
    return f;
  }
  if (!have_len) {
    f.status = Status::Error;
    f.error = Error::MissingContentLength;
    f.response_code = is_request ? 400 : 0;
    return f;
  }
  if (len > lim.max_body) {
    f.status = Status::Error;
    f.error = Error::BodyTooLarge;
    f.response_code = is_request ? 513 : 0;
    return f;
  }
  f.body_len = static_cast<std::size_t>(len);
  if (s.size() < f.header_len + f.body_len) return f;  // body still arriving
  f.status = Status::Message;
  f.length = f.header_len + f.body_len;
  return f;
}

std::string build_response(std::string_view head, int code, std::string_view reason) {
  std::string via, from, to, callid, cseq;
  std::size_t pos = head.find("\r\n");
  if (pos == std::string_view::npos) return {};
  pos += 2;
  while (pos < head.size()) {
    std::size_t next = head.find("\r\n", pos);
    if (next == std::string_view::npos) next = head.size();
    const std::string_view line = head.substr(pos, next - pos);
    pos = next + 2;
    const auto colon = line.find(':');
    if (line.empty() || colon == std::string_view::npos || line[0] == ' ' || line[0] == '\t') continue;
    const std::string_view name = trim(line.substr(0, colon));
    const std::string hdr = std::string(line) + "\r\n";
    if (ieq(name, "Via") || ieq(name, "v")) via += hdr;  // every Via, in order (§8.2.6.2)
    else if ((ieq(name, "From") || ieq(name, "f")) && from.empty()) from = hdr;
    else if ((ieq(name, "To") || ieq(name, "t")) && to.empty()) to = hdr;
    else if ((ieq(name, "Call-ID") || ieq(name, "i")) && callid.empty()) callid = hdr;
    else if (ieq(name, "CSeq") && cseq.empty()) cseq = hdr;
  }
  if (via.empty() || from.empty() || to.empty() || callid.empty() || cseq.empty()) return {};
  std::string r = "SIP/2.0 " + std::to_string(code) + " " + std::string(reason) + "\r\n";
  r += via + from + to + callid + cseq;
  r += "Server: turnpike\r\nContent-Length: 0\r\n\r\n";
  return r;
}

}  // namespace turnpike::sip
