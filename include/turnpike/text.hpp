// Small ASCII text helpers shared by the control plane and the data plane
// (configuration lists, data files, host names). Locale-independent: host
// names, cipher names and file fields are ASCII by definition.
#pragma once
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike {

inline std::string ascii_lower(std::string_view s) {
  std::string o(s);
  for (char& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// ASCII case-insensitive equality (keywords, host names, settings).
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Every field between separators, empty ones included ("a,,b" -> a, "", b;
// "" -> one empty field): positional formats such as TSV need them.
inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> v;
  for (;;) {
    const std::size_t e = s.find(sep);
    v.push_back(s.substr(0, e));
    if (e == std::string_view::npos) return v;
    s.remove_prefix(e + 1);
  }
}

// A list as operators write it ("X25519 : P-256:"): the fields trimmed,
// empty ones dropped.
inline std::vector<std::string_view> split_list(std::string_view s, char sep) {
  std::vector<std::string_view> v;
  for (std::string_view f : split(s, sep))
    if (!trim(f).empty()) v.push_back(trim(f));
  return v;
}

}  // namespace turnpike
