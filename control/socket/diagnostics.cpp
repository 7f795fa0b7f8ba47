// xCommand Diagnostics Snapshot [Seconds: N] [KeyLog: On|Off] [Listener: N]
// [MaxPackets: N]: checked here, run by the daemon (ControlHooks::diagnostics),
// answered when the archive is written (a deferred reply).
#include <nlohmann/json.hpp>
#include <sstream>

#include "turnpike/control/socket.hpp"
#include "turnpike/text.hpp"

namespace turnpike::control {

namespace {

Reply refuse(std::string why) {
  Reply r;
  r.error = std::move(why);
  return r;
}

// A decimal in [lo, hi]; false if not.
bool number(const std::string& v, unsigned long lo, unsigned long hi, unsigned long& out) {
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stoul(v);
  return out >= lo && out <= hi;
}

}  // namespace

std::string ControlServer::render(std::string_view line) {
  ParsedCommand c;
  if (!parse_command(line, c).empty()) return {};
  Session ro{true, "diagnostics snapshot"};
  const Reply r = run(ro, 0, c);
  std::string out;
  for (const auto& l : r.lines) out += (out.empty() ? "" : "\n") + l;
  return out;
}

Reply ControlServer::cmd_diagnostics(Session& s, int id, const ParsedCommand& c) {
  const char* usage = "xCommand Diagnostics Snapshot [Seconds: N] [KeyLog: On|Off] [Listener: N] [MaxPackets: N]";
  if (c.words.size() != 3 || !iequals(c.words[2], "Snapshot")) return refuse(usage);
  for (const auto& [k, _] : c.args)
    if (!iequals(k, "Seconds") && !iequals(k, "KeyLog") && !iequals(k, "Listener") && !iequals(k, "MaxPackets"))
      return refuse("unknown argument " + k + ": (" + usage + ")");
  // It captures traffic, may log TLS keys and writes an archive: a change.
  if (s.readonly)
    return refuse("read-only control socket: xCommand Diagnostics Snapshot is a change (use the read-write socket)");
  if (!hooks_.diagnostics) return refuse("diagnostics snapshots are not available in this process");
  DiagnosticsRequest req;
  unsigned long v = 0;
  if (const std::string* a = c.arg("Seconds")) {
    if (!number(*a, 0, 3600, v)) return refuse("Seconds: expected a number of seconds (0 = no capture)");
    req.seconds = static_cast<unsigned>(v);
  }
  if (const std::string* a = c.arg("KeyLog")) {
    if (iequals(*a, "On")) req.keylog = true;
    else if (!iequals(*a, "Off")) return refuse("KeyLog: expected On or Off");
  }
  if (const std::string* a = c.arg("Listener")) {
    if (!number(*a, 1, 64, v)) return refuse("Listener: expected a SIP TLS listener number from 1");
    req.listener = static_cast<unsigned>(v);
  }
  if (const std::string* a = c.arg("MaxPackets")) {
    if (!number(*a, 1, 100000000, v)) return refuse("MaxPackets: expected a number from 1");
    req.max_packets = static_cast<std::uint32_t>(v);
  }
  req.who = s.who;
  req.render = [this](std::string_view line) { return render(line); };
  const bool json = c.json;
  std::string e = hooks_.diagnostics(std::move(req), [this, id, json](DiagnosticsResult res) {
    Reply r;
    r.error = std::move(res.error);
    if (json && r.error.empty()) {
      // Key: value lines as one JSON object ("File" repeats: "Members", an array).
      nlohmann::json j = nlohmann::json::object();
      nlohmann::json members = nlohmann::json::array();
      for (const auto& l : res.lines) {
        const auto colon = l.find(": ");
        if (colon == std::string::npos) continue;
        const std::string k = l.substr(0, colon), val = l.substr(colon + 2);
        if (k == "File") members.push_back(val);
        else j[k] = val;
      }
      j["Members"] = std::move(members);
      std::istringstream in(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
      for (std::string line; std::getline(in, line);) r.lines.push_back(line);
    } else {
      r.lines = std::move(res.lines);
    }
    complete(id, r);
  });
  if (!e.empty()) return refuse(std::move(e));
  Reply r;
  r.deferred = true;
  return r;
}

}  // namespace turnpike::control
