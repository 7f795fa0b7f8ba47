// Prometheus text format 0.0.4 ("Exposition formats", prometheus.io):
//   # HELP name escaped-help
//   # TYPE name counter|gauge
//   name{label="escaped value",...} value
#include <charconv>
#include <cmath>
#include <cstdio>

#include "turnpike/control/metrics.hpp"

namespace turnpike::control::metrics {

namespace {
bool alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

bool valid_metric_name(std::string_view n) {
  if (n.empty() || !(alpha(n[0]) || n[0] == ':')) return false;
  for (char c : n)
    if (!alpha(c) && !digit(c) && c != ':') return false;
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || !alpha(n[0]) || n.starts_with("__")) return false;  // "__" is reserved for Prometheus
  for (char c : n)
    if (!alpha(c) && !digit(c)) return false;
  return true;
}

std::string escape_label_value(std::string_view v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\') o += "\\\\";
    else if (c == '"') o += "\\\"";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

std::string escape_help(std::string_view v) {
  std::string o;
  o.reserve(v.size());
  for (char c : v) {
    if (c == '\\') o += "\\\\";
    else if (c == '\n') o += "\\n";
    else o += c;
  }
  return o;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integers below 2^53 print exactly, without an exponent.
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    char b[32];
    std::snprintf(b, sizeof b, "%.0f", v);
    return b;
  }
  char b[64];
  auto r = std::to_chars(b, b + sizeof b, v);  // shortest round-trip form
  return std::string(b, r.ptr);
}

Writer::Family* Writer::find(std::string_view name) {
  for (auto& f : fams_)
    if (f.name == name) return &f;
  return nullptr;
}

void Writer::family(std::string_view name, Type t, std::string_view help) {
  if (Family* f = find(name)) {
    if (f->type != t) ++rejected_;  // same name, other type: a collector bug
    return;
  }
  if (!valid_metric_name(name)) {
    ++rejected_;
    return;
  }
  fams_.push_back(Family{std::string(name), std::string(help), t, {}});
}

void Writer::add_line(std::string_view name, const Labels& labels, const std::string& value) {
  Family* f = find(name);
  if (!f) {
    ++rejected_;
    return;
  }
  std::string line(name);
  if (!labels.empty()) {
    line += '{';
    bool first = true;
    for (auto& [k, v] : labels) {
      if (!valid_label_name(k)) {
        ++rejected_;
        return;
      }
      if (!first) line += ',';
      first = false;
      line += k;
      line += "=\"";
      line += escape_label_value(v);
      line += '"';
    }
    line += '}';
  }
  line += ' ';
  line += value;
  f->lines.push_back(std::move(line));
}

void Writer::sample(std::string_view name, const Labels& labels, double value) {
  add_line(name, labels, format_value(value));
}

void Writer::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  add_line(name, labels, std::to_string(value));  // exact beyond 2^53
}

std::string Writer::render() const {
  std::string o;
  for (auto& f : fams_) {
    o += "# HELP " + f.name + ' ' + escape_help(f.help) + '\n';
    o += "# TYPE " + f.name + (f.type == Type::Counter ? " counter\n" : " gauge\n");
    for (auto& l : f.lines) {
      o += l;
      o += '\n';
    }
  }
  return o;
}

bool parse_listen(std::string_view s, std::string& ip, std::uint16_t& port, std::string& why) {
  ip.clear();
  port = 0;
  if (s.empty() || s == "off") return true;
  const std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    why = "expected \"ip:port\" (e.g. \"127.0.0.1:9661\") or \"off\"";
    return false;
  }
  const std::string_view a = s.substr(0, colon), p = s.substr(colon + 1);
  // Dotted quad: four numbers 0..255.
  int parts = 0;
  std::size_t i = 0;
  while (i <= a.size() && parts < 5) {
    std::size_t j = a.find('.', i);
    if (j == std::string_view::npos) j = a.size();
    const std::string_view part = a.substr(i, j - i);
    unsigned v = 0;
    auto r = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || part.size() > 3 || r.ec != std::errc{} || r.ptr != part.data() + part.size() || v > 255) {
      why = "\"" + std::string(a) + "\" is not an IPv4 address";
      return false;
    }
    ++parts;
    i = j + 1;
  }
  if (parts != 4) {
    why = "\"" + std::string(a) + "\" is not an IPv4 address";
    return false;
  }
  unsigned v = 0;
  auto r = std::from_chars(p.data(), p.data() + p.size(), v);
  if (p.empty() || r.ec != std::errc{} || r.ptr != p.data() + p.size() || v == 0 || v > 65535) {
    why = "port \"" + std::string(p) + "\" must be 1..65535";
    return false;
  }
  ip = std::string(a);
  port = static_cast<std::uint16_t>(v);
  return true;
}

}  // namespace turnpike::control::metrics
