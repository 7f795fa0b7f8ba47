#include "turnpike/control/sunset.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

#include "turnpike/control/certs.hpp"
#include "turnpike/text.hpp"

namespace turnpike::control {
namespace {

constexpr std::string_view kBuiltin =
#include "public_ca_eku_sunset.inc"
    ;

bool num(std::string_view s, int& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "YYYY-MM-DD", "YYYY-MM" or "-".
bool parse_date(std::string_view s, SunsetDate& d) {
  d = {};
  if (s == "-") return true;
  const auto parts = split(s, '-');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].size() != 4 || parts[1].size() != 2) return false;
  int y = 0, m = 0, day = 1;
  if (!num(parts[0], y) || !num(parts[1], m) || m < 1 || m > 12 || y < 2000 || y > 2100) return false;
  if (parts.size() == 3 && (parts[2].size() != 2 || !num(parts[2], day) || day < 1 || day > 31)) return false;
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = day;
  d.t = timegm(&tm);
  d.month = parts.size() == 2;
  return true;
}

}  // namespace

std::string SunsetDate::text() const {
  if (!t) return "-";
  const std::string s = format_utc(t);  // "YYYY-MM-DD HH:MM:SS"
  return s.substr(0, month ? 7 : 10);
}

std::string_view to_string(SunsetState s) {
  switch (s) {
    case SunsetState::Private: return "private";
    case SunsetState::Announced: return "announced";
    case SunsetState::DefaultOff: return "default-off";
    case SunsetState::Stopped: return "stopped";
  }
  return "?";
}

const SunsetEntry* SunsetTable::match(std::string_view issuer) const {
  const std::string dn = ascii_lower(issuer);
  for (const auto& r : rows)
    for (const auto& m : r.match)
      if (!m.empty() && dn.find(m) != std::string::npos) return &r;
  return nullptr;
}

SunsetState SunsetTable::state(const SunsetEntry* e, int64_t now) {
  if (!e) return SunsetState::Private;
  if (e->hard_stop && now >= e->hard_stop.t) return SunsetState::Stopped;
  if (e->default_off && now >= e->default_off.t) return SunsetState::DefaultOff;
  return SunsetState::Announced;
}

std::string parse_sunset_table(std::string_view text, SunsetTable& out) {
  out.rows.clear();
  int n = 0;
  for (std::string_view line : split(text, '\n')) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty() || trim(line).front() == '#') continue;
    const auto f = split(line, '\t');
    const std::string where = "line " + std::to_string(n) + ": ";
    if (f.size() != 5) return where + "expected 5 tab-separated columns, found " + std::to_string(f.size());
    SunsetEntry e;
    for (auto m : split(f[0], '|'))
      if (!trim(m).empty()) e.match.push_back(ascii_lower(trim(m)));
    if (e.match.empty()) return where + "empty match column";
    e.ca = std::string(trim(f[1]));
    if (e.ca.empty()) return where + "empty CA name";
    if (!parse_date(trim(f[2]), e.default_off)) return where + "default_off: expected YYYY-MM-DD, YYYY-MM or -";
    if (!parse_date(trim(f[3]), e.hard_stop)) return where + "hard_stop: expected YYYY-MM-DD, YYYY-MM or -";
    if (!e.default_off && !e.hard_stop) return where + "no date at all";
    if (e.default_off && e.hard_stop && e.hard_stop.t < e.default_off.t) return where + "hard_stop before default_off";
    e.source = std::string(trim(f[4]));
    if (e.source.empty()) return where + "a row needs its source";
    out.rows.push_back(std::move(e));
  }
  return out.rows.empty() ? "no rows" : "";
}

std::string_view builtin_sunset_tsv() { return kBuiltin; }

const SunsetTable& builtin_sunset_table() {
  static const SunsetTable t = [] {
    SunsetTable x;
    // The build's test (Sunset.BuiltinTableParses) keeps this from failing.
    if (!parse_sunset_table(kBuiltin, x).empty()) x.rows.clear();
    return x;
  }();
  return t;
}

std::string sunset_text(const SunsetEntry& e, int64_t now) {
  std::string s = e.ca + ": ";
  const bool off_past = e.default_off && now >= e.default_off.t;
  const bool hard_past = e.hard_stop && now >= e.hard_stop.t;
  if (e.default_off) s += std::string(off_past ? "no clientAuth by default since " : "no clientAuth by default from ") + e.default_off.text();
  if (e.hard_stop) {
    if (e.default_off) s += ", ";
    s += std::string(hard_past ? "none issued since " : "none issued from ") + e.hard_stop.text();
  }
  return s;
}

}  // namespace turnpike::control
