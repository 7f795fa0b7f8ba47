// Minimal SIP message helpers shared by tp-loadgen and tp-sipecho: framing
// by header end + Content-Length (RFC 3261 §18.3) and header lookup. Not a
// parser for the proxy; only what the benchmark tools need.
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>

namespace tpbench {

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Length of the first complete message in buf, 0 if incomplete, -1 if broken.
inline long frame_length(std::string_view buf) {
  const auto end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) return buf.size() > 65536 ? -1 : 0;
  const std::string_view head = buf.substr(0, end + 2);
  long clen = 0;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t next = head.find("\r\n", pos + 2);
    const std::string_view line = head.substr(pos + 2, next - pos - 2);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      const auto name = trim(line.substr(0, colon));
      // "l" is the compact form of Content-Length (RFC 3261 §7.3.3).
      if (iequals(name, "Content-Length") || iequals(name, "l")) {
        clen = 0;
        for (char c : trim(line.substr(colon + 1))) {
          if (c < '0' || c > '9') return -1;
          clen = clen * 10 + (c - '0');
          if (clen > (16 << 20)) return -1;
        }
      }
    }
    pos = next;
  }
  const long total = static_cast<long>(end + 4) + clen;
  return static_cast<long>(buf.size()) >= total ? total : 0;
}

// Value of the first header named `name` (or its compact form), trimmed.
inline std::string_view header(std::string_view msg, std::string_view name, std::string_view compact = {}) {
  const auto end = msg.find("\r\n\r\n");
  const std::string_view head = msg.substr(0, end == std::string_view::npos ? msg.size() : end + 2);
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t next = head.find("\r\n", pos + 2);
    const std::string_view line = head.substr(pos + 2, next - pos - 2);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      const auto n = trim(line.substr(0, colon));
      if (iequals(n, name) || (!compact.empty() && iequals(n, compact))) return trim(line.substr(colon + 1));
    }
    pos = next;
  }
  return {};
}

}  // namespace tpbench
