#include "turnpike/control/would_fail.hpp"

#include "turnpike/control/events.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace turnpike::control {
namespace {

constexpr char kSep = '\x1f';  // ASCII unit separator: never in an address, scrubbed from names
constexpr char kHex[] = "0123456789abcdef";

struct Writer {
  char* p;
  std::size_t cap, n = 0;
  bool ok = true;
  void put(char c) {
    if (n < cap) p[n++] = c;
    else ok = false;
  }
  void str(std::string_view s, std::size_t max = SIZE_MAX) {
    for (std::size_t i = 0; i < s.size() && i < max; ++i) put(s[i] == kSep ? ' ' : s[i]);
  }
  void num(int64_t v) {
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    str({b, static_cast<std::size_t>(r.ptr - b)});
  }
};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

template <class T>
bool parse_num(std::string_view s, T& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool prefix_match(const Fingerprint& partial, const Fingerprint& full) {
  return std::equal(partial.begin(), partial.begin() + 16, full.begin());
}

}  // namespace

// Fields: fp hex (64, or 32 when partial) | src ip | src port | dst ip |
// dst port | time | EKU (256 when present + bits) | refused (0/1) |
// subject | issuer.
std::size_t encode_sighting(const WouldFailSighting& s, char* buf, std::size_t cap) {
  Writer w{buf, cap};
  const std::size_t nb = s.fp_partial ? 16 : s.fp.size();
  for (std::size_t i = 0; i < nb; ++i) {
    w.put(kHex[s.fp[i] >> 4]);
    w.put(kHex[s.fp[i] & 15]);
  }
  w.put(kSep);
  w.str(s.src_ip, 64);
  w.put(kSep);
  w.num(s.src_port);
  w.put(kSep);
  w.str(s.dst_ip, 64);
  w.put(kSep);
  w.num(s.dst_port);
  w.put(kSep);
  w.num(s.time);
  w.put(kSep);
  w.num((s.eku_present ? 256 : 0) | s.eku);
  w.put(kSep);
  w.put(s.refused ? '1' : '0');
  w.put(kSep);
  w.str(s.subject, kSightingNameMax);
  w.put(kSep);
  w.str(s.issuer, kSightingNameMax);
  return w.ok ? w.n : 0;
}

bool decode_sighting(std::string_view rec, WouldFailSighting& out) {
  constexpr int kFields = 10;
  std::string_view f[kFields];
  for (int i = 0; i < kFields; ++i) {
    const bool last = i == kFields - 1;
    const std::size_t e = last ? rec.size() : rec.find(kSep);
    if (e == std::string_view::npos) return false;
    f[i] = rec.substr(0, e);
    rec.remove_prefix(last ? rec.size() : e + 1);
  }
  if (f[0].size() != 64 && f[0].size() != 32) return false;
  out = {};
  out.fp_partial = f[0].size() == 32;
  for (std::size_t i = 0; i < f[0].size() / 2; ++i) {
    const int hi = hexval(f[0][2 * i]), lo = hexval(f[0][2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.fp[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  out.src_ip = f[1];
  out.dst_ip = f[3];
  if (f[7] != "0" && f[7] != "1") return false;
  out.refused = f[7] == "1";
  out.subject = f[8];
  out.issuer = f[9];
  unsigned eku = 0;
  if (!parse_num(f[6], eku) || eku > 511) return false;
  out.eku_present = eku & 256;
  out.eku = static_cast<uint8_t>(eku & 255);
  return parse_num(f[2], out.src_port) && parse_num(f[4], out.dst_port) && parse_num(f[5], out.time);
}

std::string peer_fingerprint_text(const WouldFailPeer& p) {
  if (!p.fp_partial) return fingerprint_hex(p.fp);
  return to_hex(std::span<const uint8_t>(p.fp.data(), 16), ':') + ":...";
}

WouldFailTable::WouldFailTable(std::size_t capacity, int64_t log_interval_s)
    : capacity_(std::max<std::size_t>(capacity, 1)), interval_(log_interval_s) {}

bool WouldFailTable::note(const WouldFailSighting& s) {
  std::lock_guard lk(mu_);
  ++(s.refused ? refused_ : sightings_);
  auto it = std::find_if(peers_.begin(), peers_.end(), [&](const WouldFailPeer& p) {
    if (p.refused != s.refused) return false;  // refused now vs. accepted in mode Off: two findings
    if (s.fp_partial || p.fp_partial) return prefix_match(s.fp, p.fp);
    return p.fp == s.fp;
  });
  if (it == peers_.end()) {
    if (peers_.size() >= capacity_) {
      // The least recently seen peer makes room (a bounded table; counted).
      auto old = std::min_element(peers_.begin(), peers_.end(),
                                  [](const WouldFailPeer& a, const WouldFailPeer& b) { return a.last_seen < b.last_seen; });
      peers_.erase(old);
      ++evicted_;
    }
    WouldFailPeer p;
    p.fp = s.fp;
    p.fp_partial = s.fp_partial;
    p.refused = s.refused;
    p.first_seen = s.time;
    p.last_logged = INT64_MIN;
    peers_.push_back(std::move(p));
    it = peers_.end() - 1;
  }
  WouldFailPeer& p = *it;
  if (p.fp_partial && !s.fp_partial) {
    p.fp = s.fp;  // a full handshake names the peer a resumption could not
    p.fp_partial = false;
  }
  if (!s.subject.empty()) p.subject = s.subject;
  if (!s.issuer.empty()) p.issuer = s.issuer;
  if (!s.fp_partial) {  // a resumption carries no EKU of its own
    p.eku_present = s.eku_present;
    p.eku = s.eku;
  }
  p.last_src_ip = s.src_ip;
  p.last_src_port = s.src_port;
  p.last_dst = host_port(s.dst_ip, s.dst_port);  // "[addr]:port" for IPv6
  p.last_seen = std::max(p.last_seen, s.time);
  ++p.count;
  if (s.refused) return false;  // its refusal line is written by the worker's own event
  if (p.last_logged != INT64_MIN && s.time - p.last_logged < interval_) {
    ++suppressed_;
    return false;
  }
  p.last_logged = s.time;
  return true;
}

std::vector<WouldFailPeer> WouldFailTable::peers() const {
  std::lock_guard lk(mu_);
  std::vector<WouldFailPeer> v = peers_;
  std::stable_sort(v.begin(), v.end(), [](const WouldFailPeer& a, const WouldFailPeer& b) { return a.last_seen > b.last_seen; });
  return v;
}

uint64_t WouldFailTable::sightings() const {
  std::lock_guard lk(mu_);
  return sightings_;
}
uint64_t WouldFailTable::refused_sightings() const {
  std::lock_guard lk(mu_);
  return refused_;
}
uint64_t WouldFailTable::suppressed() const {
  std::lock_guard lk(mu_);
  return suppressed_;
}
uint64_t WouldFailTable::evicted() const {
  std::lock_guard lk(mu_);
  return evicted_;
}
void WouldFailTable::clear() {
  std::lock_guard lk(mu_);
  peers_.clear();
}

}  // namespace turnpike::control
