// The table of configuration keys, as HAProxy's keyword tables: one row per
// key (section, name, range, default, description, how to read and show
// it). It drives the TOML parser, --set, --check-config's listing and the
// sample file (deploy/turnpike.toml), so a key is written once.
#pragma once
#include <toml++/toml.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "turnpike/app/config.hpp"

namespace turnpike::config_keys {

// Where a value was read, for "file:line: key: problem".
struct Where {
  const std::string& origin;  // file name, or "--set a=b"
  const toml::node* node;     // its line (none for --set)
  std::string key;            // "tcp.rcvbuf", "ports[0].mtu"
  [[noreturn]] void fail(const std::string& what) const;
};

// One key of a table of type T (Config, a [[ports]] entry, a listener...).
template <class T>
struct Field {
  const char* section;  // "tcp"; "" in sub-tables
  const char* name;
  std::string range;    // "16..4194304", "\"poll\" | \"adaptive\"", "string"
  const char* help;     // for the sample, as comment lines ('\n' separates them)
  const char* example;  // TOML literal shown commented out in the sample when the default is unset
  const char* missing;  // non-null: the key is required; what to say when absent
  std::function<void(T&, const toml::node&, const Where&)> read;
  std::function<std::string(const T&)> show;  // the value as TOML; "" when unset
  // Reload (SIGHUP, turnpikectl reload): a live key is applied to the running
  // daemon; any other key's change is refused, named by `group` (default:
  // its section) in "these changes need a restart".
  bool live = false;
  const char* group = nullptr;
};

struct Section {
  const char* name;
  const char* help;
};

const std::vector<Section>& sections();
const std::vector<Field<Config>>& keys();  // every [section] key, in sample order
const std::vector<Field<port::PortOptions>>& port_keys();  // one [[ports]] entry

// Reads one table through `fields`: known keys in table order, then an
// error for the first key the table does not know (a typo must not be
// silently ignored on an edge appliance). `pre` prefixes key names
// ("ports[0].", "sip.listeners[1].").
template <class T>
void read_table(T& out, const toml::table& t, const toml::node* where, const std::vector<Field<T>>& fields,
                const std::string& origin, const std::string& pre, const char* section = "") {
  std::set<std::string> known;
  for (auto& f : fields) {
    if (std::string(f.section) != section) continue;
    known.insert(f.name);
    const toml::node* n = t.get(f.name);
    if (!n) {
      if (f.missing) Where{origin, where, pre + f.name}.fail(f.missing);
      continue;
    }
    f.read(out, *n, Where{origin, n, pre + f.name});
  }
  for (auto& [k, v] : t)
    if (!known.count(std::string(k.str()))) Where{origin, &v, pre + std::string(k.str())}.fail("unknown key");
}

// Shows a table through `fields` as a TOML inline table ("{ a = 1, b = 2 }"),
// leaving out unset keys.
template <class T>
std::string show_inline(const T& v, const std::vector<Field<T>>& fields) {
  std::string out = "{ ";
  bool first = true;
  for (auto& f : fields) {
    const std::string s = f.show(v);
    if (s.empty()) continue;
    out += (first ? "" : ", ") + std::string(f.name) + " = " + s;
    first = false;
  }
  return out + " }";
}

std::string toml_string(const std::string& s);  // a TOML basic string literal

}  // namespace turnpike::config_keys
