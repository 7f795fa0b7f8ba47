// The commands of the control socket: xConfiguration, xStatus, xCommand
// (Certificate, Audit, Events, Reload) and help, as text or JSON. Every
// change goes through Plane::apply; every refusal changes nothing.
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "turnpike/control/audit.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/control/expiry.hpp"
#include "turnpike/control/socket.hpp"
#include "turnpike/text.hpp"

namespace turnpike::control {

namespace {

constexpr std::string_view kEventStaged = "Certificate Staged";
constexpr std::string_view kEventAborted = "Certificate Transaction Aborted";
constexpr std::string_view kEventSocketChange = "Control Socket Change";

Reply fail(std::string why) {
  Reply r;
  r.error = std::move(why);
  return r;
}

std::string ip_text(std::uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xff) + "." + std::to_string((a >> 8) & 0xff) +
         "." + std::to_string(a & 0xff);
}

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// Does `path` start with the words `prefix` (case-insensitive, whole words)?
bool path_has_prefix(const std::string& path, const std::vector<std::string>& prefix, std::size_t from) {
  const auto w = split_words(path);
  if (w.size() < prefix.size() - from) return false;
  for (std::size_t i = from; i < prefix.size(); ++i)
    if (!iequals(w[i - from], prefix[i])) return false;
  return true;
}

std::string value_text(const ItemValue& v) {
  if (const auto* n = std::get_if<std::uint64_t>(&v)) return std::to_string(*n);
  return std::get<std::string>(v);
}

// Items -> nested JSON object on the path words. A path that is both a leaf
// and a prefix keeps the first (never throws on a type clash).
nlohmann::json items_json(const std::vector<Item>& items) {
  nlohmann::json root = nlohmann::json::object();
  for (const auto& it : items) {
    const auto w = split_words(it.path);
    if (w.empty()) continue;
    nlohmann::json* node = &root;
    bool ok = true;
    for (std::size_t i = 0; i + 1 < w.size(); ++i) {
      nlohmann::json& next = (*node)[w[i]];
      if (next.is_null()) next = nlohmann::json::object();
      if (!next.is_object()) {
        ok = false;
        break;
      }
      node = &next;
    }
    if (!ok || node->contains(w.back())) continue;
    if (const auto* n = std::get_if<std::uint64_t>(&it.value)) (*node)[w.back()] = *n;
    else (*node)[w.back()] = std::get<std::string>(it.value);
  }
  return root;
}

// JSON text -> reply lines (dump() escapes control characters and invalid
// UTF-8 is replaced, so a line can never be a status line).
void json_lines(Reply& r, const nlohmann::json& j) {
  std::istringstream in(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  for (std::string line; std::getline(in, line);) r.lines.push_back(line);
}

Reply items_reply(const std::vector<Item>& items, std::string_view tag, std::string_view root, bool json) {
  Reply r;
  if (json) {
    json_lines(r, items_json(items));
    return r;
  }
  for (const auto& it : items)
    r.lines.push_back(std::string(tag) + " " + std::string(root) + " " + it.path + ": " + value_text(it.value));
  return r;
}

std::string eku_names(const CertFacts& f) {
  if (!f.eku_present) return "none (unrestricted)";
  std::string out;
  for (const auto& oid : f.eku_oids) {
    std::string n = oid == "1.3.6.1.5.5.7.3.1"   ? "serverAuth"
                    : oid == "1.3.6.1.5.5.7.3.2" ? "clientAuth"
                    : oid == "1.3.6.1.5.5.7.3.3" ? "codeSigning"
                    : oid == "1.3.6.1.5.5.7.3.4" ? "emailProtection"
                    : oid == "1.3.6.1.5.5.7.3.8" ? "timeStamping"
                    : oid == "1.3.6.1.5.5.7.3.9" ? "OCSPSigning"
                    : oid == "2.5.29.37.0"       ? "anyExtendedKeyUsage"
                                                 : oid;
    out += (out.empty() ? "" : ", ") + n;
  }
  return out.empty() ? "(empty)" : out;
}

std::string ku_names(const CertFacts& f) {
  if (!f.ku_present) return "none (unrestricted)";
  static const char* names[] = {"digitalSignature", "nonRepudiation", "keyEncipherment",
                                "dataEncipherment", "keyAgreement",   "keyCertSign",
                                "cRLSign",          "encipherOnly",   "decipherOnly"};
  std::string out;
  for (unsigned b = 0; b < 9; ++b)
    if (f.key_usage & (1u << b)) out += (out.empty() ? "" : ", ") + std::string(names[b]);
  return out.empty() ? "(empty)" : out;
}

void cert_items(std::vector<Item>& out, const std::string& p, const CertFacts& f) {
  std::string san;
  for (auto& d : f.san_dns) san += (san.empty() ? "" : ", ") + ("DNS:" + d);
  for (auto& u : f.san_uri) san += (san.empty() ? "" : ", ") + ("URI:" + u);
  for (auto& i : f.san_ip) san += (san.empty() ? "" : ", ") + ("IP:" + i);
  out.push_back({p + " Subject", f.subject});
  out.push_back({p + " Issuer", f.issuer});
  out.push_back({p + " Serial", f.serial_hex});
  out.push_back({p + " NotBefore", format_utc(f.not_before) + " UTC"});
  out.push_back({p + " NotAfter", format_utc(f.not_after) + " UTC"});
  out.push_back({p + " SubjectAltName", san.empty() ? "none" : san});
  out.push_back({p + " ExtendedKeyUsage", eku_names(f)});
  out.push_back({p + " KeyUsage", ku_names(f)});
  out.push_back({p + " SHA256", fingerprint_hex(f.sha256)});
}

std::vector<Item> store_items(const StoreSnapshot& s, std::string_view which) {
  std::vector<Item> out;
  auto want = [&](std::string_view w) { return which.empty() || iequals(which, w); };
  if (which.empty()) {
    out.push_back({"Generation", s.generation});
    out.push_back({"TrustEpoch", s.trust_epoch});
    out.push_back({"Mode", std::string(to_string(s.eku_mode))});
  }
  for (auto [name, c] : {std::pair{"Server", &s.server}, std::pair{"Client", &s.client}}) {
    if (!want(name)) continue;
    if (!c->present()) out.push_back({std::string(name) + " Status", "empty"});
    else cert_items(out, name, c->leaf);
  }
  if (want("CA")) {
    out.push_back({"CA Count", static_cast<std::uint64_t>(s.ca_facts.size())});
    for (std::size_t i = 0; i < s.ca_facts.size(); ++i) cert_items(out, "CA " + std::to_string(i + 1), s.ca_facts[i]);
  }
  if (want("CRL")) {
    out.push_back({"CRL Count", static_cast<std::uint64_t>(s.crls.size())});
    std::size_t i = 0;
    for (const auto& [n, _] : s.crls) out.push_back({"CRL " + std::to_string(++i) + " Name", n});
  }
  return out;
}

std::string utc_clock(std::chrono::system_clock::time_point t) {
  return format_utc(std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count()) + " UTC";
}

// Reads a file the daemon can read, bounded.
bool read_file(const std::string& path, std::size_t max, std::string& out, std::string& err) {
  if (path.empty() || path[0] != '/') {
    err = "\"" + path + "\" is not an absolute path (files are read by the daemon; turnpikectl makes paths absolute)";
    return false;
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    err = "cannot read " + path + ": " + std::strerror(errno) + " (the file must be readable by the turnpike daemon)";
    return false;
  }
  out.clear();
  char buf[8192];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    out.append(buf, static_cast<std::size_t>(f.gcount()));
    if (out.size() > max) {
      err = path + " is larger than " + std::to_string(max) + " bytes";
      return false;
    }
  }
  if (f.bad()) {
    err = "cannot read " + path;
    return false;
  }
  return true;
}

bool yes(const std::string* v, bool& out, std::string& err, std::string_view name) {
  if (!v) return true;
  if (iequals(*v, "yes") || iequals(*v, "true") || iequals(*v, "on")) out = true;
  else if (iequals(*v, "no") || iequals(*v, "false") || iequals(*v, "off")) out = false;
  else {
    err = std::string(name) + ": expected Yes or No";
    return false;
  }
  return true;
}

// Arguments a command accepts; anything else is an error (a typo never
// silently does something else).
std::string only_args(const ParsedCommand& c, std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, _] : c.args) {
    bool ok = false;
    for (auto a : allowed) ok |= iequals(k, a);
    if (!ok) return "unknown argument " + k + ":";
  }
  return {};
}

const char* kHelp[] = {
    "turnpike control socket: one command per line; the reply ends with OK or ERROR: <reason>.",
    "Append --json (or Format: json) to any read for JSON. Words are case-insensitive.",
    "",
    "Reads:",
    "  xConfiguration [PATH...]            dump, or the keys under PATH (listeners, backends, egress, limits)",
    "  xStatus [PATH...]                   workers, ports, SIP, backends, verdict cache, snapshot, EkuWouldFail peers",
    "  xCommand Certificate Show [Staged] [Store: Server|Client|CA|CRL]",
    "                                      subject, issuer, serial, validity, SANs, EKU, keyUsage, SHA-256",
    "  xCommand Audit                      EKU sunset audit: certificates, roles, public-CA cut-overs, peers, the fix",
    "  xCommand Audit WhatIf [Mode: On|Off]  what would fail under the open transaction and/or that mode",
    "  xCommand Events Tail [Lines: N]     the last N control-plane events (default 20, at most 256)",
    "  help | xCommand Help",
    "",
    "Changes (refused on the read-only socket):",
    "  xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode: On|Off",
    "  xConfiguration XCP TLS Certificate CVS EnableServerEkuUpload: On|Off   (deprecated, ignored)",
    "  xCommand Reload                     re-read the configuration file (as SIGHUP)",
    "  Certificates are staged in one transaction, then committed or aborted.",
    "  Files are named by absolute paths readable by the daemon (it reads them, not the client):",
    "  xCommand Certificate Upload Store: Server|Client Certificate: PATH Key: PATH",
    "                                      [Passphrase: P] [AsClient: Yes]  (Server: also into the client store)",
    "  xCommand Certificate CA Set File: PATH      replace the CA bundle",
    "  xCommand Certificate CA Add File: PATH      append to the CA bundle",
    "  xCommand Certificate CRL Add Name: NAME.crl File: PATH",
    "  xCommand Certificate CRL Remove Name: NAME.crl",
    "  xCommand Certificate Commit         build, write and publish the staged stores",
    "  xCommand Certificate Abort          drop the staged stores",
    "  xCommand Diagnostics Snapshot [Seconds: N] [KeyLog: On|Off] [Listener: N] [MaxPackets: N]",
    "                                      capture N s (default 10) and write one tar.gz: stores (no keys),",
    "                                      xconf/xstat dumps, event log, pcapng per port, key log if On",
};

// What the audit needs besides the stores: where the client store is
// presented (egress routes, TLS backends: from the configuration items the
// data plane reports) and the inbound peers EKU mode On would refuse.
AuditInputs audit_inputs(const Plane& plane, const ControlHooks& hooks) {
  AuditInputs in;
  in.inbound = !plane.settings().listeners.empty();
  in.peers = plane.would_fail().peers();
  in.remote_certs = plane.remote_certs().peers();
  if (!plane.settings().client_context || !hooks.config) return in;
  std::map<std::string, std::map<std::string, std::string>> egress, backends;  // index -> key -> value
  bool backend_tls = false;
  for (const Item& it : hooks.config()) {
    const std::string v = value_text(it.value);
    auto take = [&](std::string_view prefix, auto& into) {
      if (it.path.rfind(prefix, 0) != 0) return false;
      const std::string rest = it.path.substr(prefix.size());
      const size_t sp = rest.find(' ');
      if (sp == std::string::npos) return false;
      into[rest.substr(0, sp)][rest.substr(sp + 1)] = v;
      return true;
    };
    if (take("Egress Route ", egress) || take("SIP Backend ", backends)) continue;
    if (it.path == "SIP Backends TLS") backend_tls = v == "On";
  }
  // "[v6]:port" for an IPv6 remote, as the remote's peer record writes it.
  const auto addr_port = [](const std::string& a, const std::string& p) {
    return (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + p;
  };
  for (auto& [n, kv] : egress) {
    const std::string name = kv["Name"];
    const std::string addr = addr_port(kv["Address"], kv["Port"]);
    in.remotes.push_back({"egress client",
                          "Egress Route " + n + " " + (name.empty() || name[0] == '(' ? std::string() : name + " ") +
                              "(" + addr + ")",
                          addr});
  }
  if (backend_tls)
    for (auto& [n, kv] : backends) {
      const std::string addr = addr_port(kv["Address"], kv["Port"]);
      in.remotes.push_back({"backend-TLS client", "SIP Backend " + n + " (" + addr + ")", addr});
    }
  return in;
}

}  // namespace

Reply ControlServer::execute(int session, std::string_view line) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return fail("no such session");
  ++commands_;
  ParsedCommand c;
  if (std::string e = parse_command(line, c); !e.empty()) {
    ++refused_;
    return fail("malformed command: " + e + " (try: help)");
  }
  Reply r;
  try {
    r = run(it->second, session, c);
  } catch (const std::exception& e) {
    // Bad input never takes the daemon down; nothing was half-applied
    // (every change is one Plane::apply).
    r = fail(std::string("internal error: ") + e.what());
  }
  if (!r.error.empty()) ++refused_;
  return r;
}

Reply ControlServer::run(Session& s, int id, const ParsedCommand& c) {
  const std::string& w0 = c.words[0];
  if (iequals(w0, "help") || iequals(w0, "?") || (c.words.size() == 2 && iequals(w0, "xCommand") && iequals(c.words[1], "Help")))
    return cmd_help(c);
  if (iequals(w0, "xConfiguration")) return cmd_configuration(s, c);
  if (iequals(w0, "xStatus")) return cmd_status(c);
  if (iequals(w0, "xCommand")) {
    if (c.words.size() < 2) return fail("xCommand needs a command: Certificate, Audit, Events, Reload, Diagnostics, Help");
    const std::string& w1 = c.words[1];
    if (iequals(w1, "Certificate")) return cmd_certificate(s, id, c);
    if (iequals(w1, "Audit")) return cmd_audit(c);
    if (iequals(w1, "Events")) return cmd_events(c);
    if (iequals(w1, "Reload")) return cmd_reload(s, c);
    if (iequals(w1, "Diagnostics")) return cmd_diagnostics(s, id, c);  // diagnostics.cpp
    return fail("unknown command xCommand " + w1 + " (try: help)");
  }
  return fail("unknown command " + w0 + " (try: help)");
}

Reply ControlServer::cmd_help(const ParsedCommand& c) {
  Reply r;
  if (c.json) {
    nlohmann::json j = nlohmann::json::array();
    for (const char* l : kHelp) j.push_back(l);
    json_lines(r, j);
    return r;
  }
  for (const char* l : kHelp) r.lines.emplace_back(l);
  return r;
}

std::vector<Item> ControlServer::config_items() const {
  std::vector<Item> out;
  auto snap = plane_.stores().snapshot();
  out.push_back({std::string(kEkuModeSetting), std::string(to_string(snap ? snap->eku_mode : EkuMode::On))});
  const TlsSettings& t = plane_.settings();
  for (std::size_t i = 0; i < t.listeners.size(); ++i) {
    const auto& l = t.listeners[i];
    const std::string p = "SIP TLS Listener " + std::to_string(i + 1) + " ";
    std::string versions;
    for (auto& v : l.tls_versions) versions += (versions.empty() ? "" : " ") + v;
    out.push_back({p + "Address", ip_text(l.ip)});
    out.push_back({p + "Port", std::uint64_t{l.port}});
    out.push_back({p + "Versions", versions});
    out.push_back({p + "Ciphers", l.ciphers.empty() ? "default" : l.ciphers});
    out.push_back({p + "Groups", l.groups});
    out.push_back({p + "ClientCertificate", l.client_cert == tls::ClientCertMode::None      ? "None"
                                            : l.client_cert == tls::ClientCertMode::Require ? "Require"
                                                                                            : "Request"});
    out.push_back({p + "HandshakeTimeoutMs", std::uint64_t{l.handshake_timeout_ms}});
  }
  for (std::size_t i = 0; i < t.sni.size(); ++i) {
    out.push_back({"SIP TLS SNI " + std::to_string(i + 1) + " Chain", t.sni[i].chain});
    out.push_back({"SIP TLS SNI " + std::to_string(i + 1) + " Key", t.sni[i].key});
  }
  out.push_back({"SIP TLS SessionTickets", t.tickets ? "On" : "Off"});
  out.push_back({"SIP TLS TicketLifetimeS", std::uint64_t{t.ticket_lifetime_s}});
  out.push_back({"SIP TLS TicketRotateS", std::uint64_t{t.ticket_rotate_s}});
  if (hooks_.config)
    for (auto& it : hooks_.config()) out.push_back(std::move(it));
  return out;
}

Reply ControlServer::cmd_configuration(Session& s, const ParsedCommand& c) {
  if (c.args.empty()) {
    // Dump, or the keys under the words given.
    std::vector<Item> all = config_items(), sel;
    for (auto& it : all)
      if (path_has_prefix(it.path, c.words, 1)) sel.push_back(std::move(it));
    if (sel.empty()) {
      std::string p;
      for (std::size_t i = 1; i < c.words.size(); ++i) p += (i > 1 ? " " : "") + c.words[i];
      return fail("unknown configuration path: " + p);
    }
    return items_reply(sel, "*c", "xConfiguration", c.json);
  }
  // Set: "xConfiguration A B C: value" (one key).
  if (c.args.size() != 1) return fail("xConfiguration sets one key at a time");
  std::string key;
  for (std::size_t i = 1; i < c.words.size(); ++i) key += c.words[i] + " ";
  key += c.args[0].first;
  const std::string& value = c.args[0].second;
  if (s.readonly) return fail("read-only control socket: xConfiguration " + key + " is a change (use the read-write socket)");
  if (iequals(key, kLegacyEkuUploadSetting)) {
    // Accepted, reported deprecated, ignored (docs/eku-semantics.md); the store
    // manager writes the Deprecated Setting event.
    StageResult r = plane_.stores().apply_setting(kLegacyEkuUploadSetting, value, "control socket (" + s.who + ")");
    Reply out;
    for (auto& w : r.warnings) out.lines.push_back("*r WARNING: " + w + " (the client store replaces it)");
    if (!r.ok) out.error = r.error;
    return out;
  }
  if (iequals(key, kEkuModeSetting)) return set_mode(s, 0, value);
  for (const auto& it : config_items())
    if (iequals(it.path, key))
      return fail("xConfiguration " + it.path +
                  " cannot be changed over the socket: edit the configuration file, then xCommand Reload "
                  "(keys that cannot change live are refused with the restart they need)");
  return fail("unknown configuration key: " + key);
}

Reply ControlServer::set_mode(Session& s, int, const std::string& value) {
  EkuMode m;
  if (!parse_eku_mode(value, m)) return fail("invalid value \"" + value + "\" for " + std::string(kEkuModeSetting) + ": expected On or Off");
  // A mode change commits the stores: it would make an open transaction's
  // base stale, so it waits for that transaction.
  if (txn_) return fail("a certificate transaction is open (" + txn_owner_who_ + ", since " + utc_clock(txn_since_) + "): Commit or Abort it first");
  if (plane_.stores().snapshot()->eku_mode == m) return {};  // already so: nothing to publish
  Transaction t = plane_.stores().begin();
  t.set_eku_mode(m);
  Plane::Change ch;
  ch.stores = &t;
  ch.source = "control socket (" + s.who + ")";
  const ApplyResult r = plane_.apply(ch);
  if (!r.ok) return fail(r.error);
  return {};
}

std::vector<Item> ControlServer::status_items() const {
  std::vector<Item> out;
  if (auto cur = plane_.publisher().current_shared()) {
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - cur->built);
    out.push_back({"Snapshot Generation", cur->generation});
    out.push_back({"Snapshot AgeMs", static_cast<std::uint64_t>(age.count())});
    out.push_back({"Snapshot StoreGeneration", cur->store_generation});
    out.push_back({"Snapshot TrustEpoch", cur->trust_epoch});
    out.push_back({"Snapshot Mode", std::string(to_string(cur->eku_mode))});
    out.push_back({"Snapshot RetiredWaiting", static_cast<std::uint64_t>(plane_.publisher().retired())});
    // Issue 11 item 5: days left per store and trust certificate.
    if (cur->stores) {
      const std::int64_t now = std::time(nullptr);
      std::size_t ca = 0;
      for (const StoreCert& c : store_certificates(*cur->stores)) {
        const std::string k = c.store == "server" ? "Certificate Server "
                              : c.store == "client" ? "Certificate Client "
                                                    : "Certificate Ca " + std::to_string(++ca) + " ";
        if (c.store == "ca") out.push_back({k + "Subject", c.subject});
        out.push_back({k + "NotAfter", format_utc(c.not_after) + " UTC"});
        const std::int64_t d = days_left(c.not_after, now);  // 0 once expired (NotAfter says when)
        out.push_back({k + "DaysLeft", static_cast<std::uint64_t>(d > 0 ? d : 0)});
      }
    }
  }
  const CacheStats cs = plane_.cache().stats();
  out.push_back({"VerdictCache Capacity", static_cast<std::uint64_t>(plane_.cache().capacity())});
  out.push_back({"VerdictCache Epoch", plane_.cache().epoch()});
  out.push_back({"VerdictCache Hits", cs.hits});
  out.push_back({"VerdictCache Misses", cs.misses});
  out.push_back({"VerdictCache Stale", cs.stale});
  out.push_back({"VerdictCache Inserts", cs.inserts});
  out.push_back({"VerdictCache Evictions", cs.evictions});
  // Entries held ~ inserts minus evictions (overwrites of the same key aside).
  out.push_back({"VerdictCache Entries", cs.inserts > cs.evictions ? std::min<std::uint64_t>(cs.inserts - cs.evictions, plane_.cache().capacity()) : 0});
  const std::uint64_t lookups = cs.hits + cs.misses;
  out.push_back({"VerdictCache HitRatePermille", lookups ? cs.hits * 1000 / lookups : 0});
  // Issue 11 item 3: who would be refused if the mode were On.
  {
    const WouldFailTable& t = plane_.would_fail();
    const std::vector<WouldFailPeer> peers = t.peers();
    out.push_back({"EkuWouldFail Peers", static_cast<std::uint64_t>(peers.size())});
    out.push_back({"EkuWouldFail Handshakes", t.sightings()});
    out.push_back({"EkuWouldFail RefusedHandshakes", t.refused_sightings()});
    out.push_back({"EkuWouldFail EventsSuppressed", t.suppressed()});
    out.push_back({"EkuWouldFail Evicted", t.evicted()});
    for (std::size_t i = 0; i < peers.size(); ++i) {
      const WouldFailPeer& p = peers[i];
      const std::string k = "EkuWouldFail Peer " + std::to_string(i + 1) + " ";
      out.push_back({k + "Subject", p.subject.empty() ? std::string("(resumed session: not sent)") : p.subject});
      out.push_back({k + "Issuer", p.issuer.empty() ? std::string("(resumed session: not sent)") : p.issuer});
      out.push_back({k + "Fingerprint", peer_fingerprint_text(p)});
      // Yes: refused now in mode On (item 4); No: accepted in mode Off only.
      out.push_back({k + "Refused", p.refused ? std::string("Yes") : std::string("No")});
      out.push_back({k + "LastSource", host_port(p.last_src_ip, p.last_src_port)});  // [addr]:port for IPv6
      out.push_back({k + "Listener", p.last_dst});
      out.push_back({k + "FirstSeen", format_utc(p.first_seen) + " UTC"});
      out.push_back({k + "LastSeen", format_utc(p.last_seen) + " UTC"});
      out.push_back({k + "Count", p.count});
    }
  }
  if (hooks_.status)
    for (auto& it : hooks_.status()) out.push_back(std::move(it));
  out.push_back({"Control Clients", static_cast<std::uint64_t>(clients_.size())});
  out.push_back({"Control Commands", commands_});
  out.push_back({"Control Refused", refused_});
  out.push_back({"Control OversizedLines", oversized_});
  out.push_back({"Control ClientsRejected", rejected_clients_});
  out.push_back({"Control Transaction", txn_ ? "open (" + txn_owner_who_ + ", since " + utc_clock(txn_since_) + ")" : std::string("none")});
  return out;
}

Reply ControlServer::cmd_status(const ParsedCommand& c) {
  if (!c.args.empty()) return fail("xStatus takes no arguments besides Format: json");
  std::vector<Item> all = status_items(), sel;
  for (auto& it : all)
    if (path_has_prefix(it.path, c.words, 1)) sel.push_back(std::move(it));
  if (sel.empty()) return fail("unknown status path (try: xStatus)");
  return items_reply(sel, "*s", "xStatus", c.json);
}

std::string ControlServer::busy_message(int id) const {
  if (!txn_ || txn_owner_ == id) return {};
  std::string what;
  for (auto& st : txn_steps_) what += (what.empty() ? "" : "; ") + st;
  return "another certificate transaction is in progress (" + txn_owner_who_ + ", since " + utc_clock(txn_since_) +
         (what.empty() ? "" : ": " + what) + "); it must Commit or Abort first";
}

void ControlServer::abort_txn(const std::string& why, const std::string& source) {
  if (!txn_) return;
  txn_->abort();
  std::string what;
  for (auto& st : txn_steps_) what += (what.empty() ? "" : "; ") + st;
  plane_.emit({kEventAborted, {{"Detail", why}, {"Staged", what}, {"Source", source}}, 2});
  txn_.reset();
  txn_owner_ = 0;
  txn_owner_who_.clear();
  txn_steps_.clear();
}

Reply ControlServer::cmd_certificate(Session& s, int id, const ParsedCommand& c) {
  if (c.words.size() < 3) return fail("xCommand Certificate needs: Show, Upload, CA, CRL, Commit or Abort");
  const std::string& op = c.words[2];
  const std::string source = "control socket (" + s.who + ")";
  if (iequals(op, "Show")) {
    bool staged = false;
    for (std::size_t i = 3; i < c.words.size(); ++i) {
      if (iequals(c.words[i], "Staged")) staged = true;
      else return fail("xCommand Certificate Show: unexpected word " + c.words[i] + " (Staged, Store: ...)");
    }
    if (std::string e = only_args(c, {"Store"}); !e.empty()) return fail(e);
    std::string which;
    if (const std::string* st = c.arg("Store")) {
      if (!iequals(*st, "Server") && !iequals(*st, "Client") && !iequals(*st, "CA") && !iequals(*st, "CRL"))
        return fail("Store: expected Server, Client, CA or CRL");
      which = *st;
    }
    std::vector<Item> items;
    if (staged) {
      if (!txn_) return fail("no certificate transaction is open (nothing staged)");
      items.push_back({"Transaction Owner", txn_owner_who_});
      items.push_back({"Transaction Since", utc_clock(txn_since_)});
      for (std::size_t i = 0; i < txn_steps_.size(); ++i)
        items.push_back({"Transaction Step " + std::to_string(i + 1), txn_steps_[i]});
      for (auto& it : store_items(txn_->staged(), which)) items.push_back({"Staged " + it.path, std::move(it.value)});
    } else {
      items = store_items(*plane_.stores().snapshot(), which);
    }
    return items_reply(items, "*r", "Certificate", c.json);
  }

  // Everything below changes state.
  const bool commit = iequals(op, "Commit"), abort = iequals(op, "Abort");
  if (s.readonly) return fail("read-only control socket: xCommand Certificate " + op + " is a change (use the read-write socket)");
  if (std::string b = busy_message(id); !b.empty()) return fail(b);
  if (commit || abort) {
    if (c.words.size() != 3 || !c.args.empty()) return fail("xCommand Certificate " + op + " takes no arguments");
    if (!txn_) return fail("no certificate transaction is open (stage a change first)");
    if (abort) {
      abort_txn("xCommand Certificate Abort", source);
      Reply r;
      r.lines.push_back("*r Certificate Transaction: aborted, nothing changed");
      return r;
    }
    Plane::Change ch;
    ch.stores = &*txn_;
    ch.source = source;
    const auto t0 = std::chrono::steady_clock::now();
    const ApplyResult res = plane_.apply(ch);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!res.ok) {
      // A failed commit changed nothing; the transaction cannot be retried
      // as is (its base or its content is the problem), so it ends here.
      abort_txn("commit refused: " + res.error, source);
      return fail(res.error + " (the transaction was aborted; nothing changed)");
    }
    txn_.reset();
    txn_owner_ = 0;
    txn_owner_who_.clear();
    txn_steps_.clear();
    Reply r;
    for (auto& w : res.warnings) r.lines.push_back("*r Note: " + w);
    r.lines.push_back("*r Certificate Transaction: committed");
    r.lines.push_back("*r Snapshot Generation: " + std::to_string(res.generation));
    r.lines.push_back("*r Store Generation: " + std::to_string(plane_.stores().snapshot()->generation));
    r.lines.push_back("*r CommitUs: " + std::to_string(us));
    return r;
  }

  // Staging steps: begin the transaction if this session has none; a step
  // that is refused leaves the staged copy as it was.
  const bool fresh = !txn_;
  if (fresh) {
    txn_.emplace(plane_.stores().begin());
    txn_->set_source(source);
    txn_owner_ = id;
    txn_owner_who_ = s.who;
    txn_since_ = std::chrono::system_clock::now();
  }
  auto done = [&](const StageResult& r, std::string step) -> Reply {
    if (!r.ok) {
      if (fresh && txn_steps_.empty()) {
        txn_->abort();
        txn_.reset();
        txn_owner_ = 0;
        txn_owner_who_.clear();
      }
      return fail(r.error);
    }
    txn_steps_.push_back(step);
    plane_.emit({kEventStaged, {{"Detail", step}, {"Source", source}}, 3});
    Reply out;
    for (auto& w : r.warnings) out.lines.push_back("*r Warning: " + w);
    out.lines.push_back("*r Certificate Staged: " + step);
    out.lines.push_back("*r Certificate Transaction: open (xCommand Certificate Commit | Abort)");
    return out;
  };
  auto refuse = [&](std::string why) { return done({false, std::move(why), {}}, ""); };
  std::string err;
  if (iequals(op, "Upload")) {
    if (c.words.size() != 3) return refuse("xCommand Certificate Upload takes Key: value arguments only");
    if (std::string e = only_args(c, {"Store", "Certificate", "Key", "Passphrase", "AsClient"}); !e.empty()) return refuse(e);
    const std::string *store = c.arg("Store"), *cert = c.arg("Certificate"), *key = c.arg("Key");
    if (!store || !cert || !key) return refuse("Upload needs Store: Server|Client, Certificate: PATH and Key: PATH");
    const bool server = iequals(*store, "Server");
    if (!server && !iequals(*store, "Client")) return refuse("Store: expected Server or Client");
    bool as_client = false;
    if (!yes(c.arg("AsClient"), as_client, err, "AsClient")) return refuse(err);
    if (as_client && !server) return refuse("AsClient: applies to Store: Server only");
    std::string cert_pem, key_pem;
    if (!read_file(*cert, opts_.max_file, cert_pem, err) || !read_file(*key, opts_.max_file, key_pem, err)) return refuse(err);
    UploadOptions uo;
    if (const std::string* p = c.arg("Passphrase")) uo.passphrase = *p;
    uo.also_as_client = as_client;
    uo.source = source;
    const StageResult r = server ? txn_->stage_server(cert_pem, key_pem, uo) : txn_->stage_client(cert_pem, key_pem, uo);
    std::string step = (server ? "server certificate " : "client certificate ") + *cert;
    if (r.ok) {
      const auto& f = server ? txn_->staged().server.leaf : txn_->staged().client.leaf;
      step += " (serial " + f.serial_hex + ")";
      if (as_client) step += ", also as client certificate";
    }
    return done(r, step);
  }
  if (iequals(op, "CA")) {
    if (c.words.size() != 4 || (!iequals(c.words[3], "Set") && !iequals(c.words[3], "Add")))
      return refuse("xCommand Certificate CA Set|Add File: PATH");
    if (std::string e = only_args(c, {"File"}); !e.empty()) return refuse(e);
    const std::string* file = c.arg("File");
    if (!file) return refuse("CA " + c.words[3] + " needs File: PATH");
    std::string pem;
    if (!read_file(*file, opts_.max_file, pem, err)) return refuse(err);
    const bool add = iequals(c.words[3], "Add");
    if (add) {
      std::string cur = txn_->staged().ca_pem;
      if (!cur.empty() && cur.back() != '\n') cur += '\n';
      pem = cur + pem;
    }
    return done(txn_->set_ca_bundle(pem), std::string(add ? "CA certificates added from " : "CA bundle replaced by ") + *file);
  }
  if (iequals(op, "CRL")) {
    if (c.words.size() != 4 || (!iequals(c.words[3], "Add") && !iequals(c.words[3], "Remove")))
      return refuse("xCommand Certificate CRL Add Name: NAME File: PATH | CRL Remove Name: NAME");
    const bool add = iequals(c.words[3], "Add");
    if (std::string e = add ? only_args(c, {"Name", "File"}) : only_args(c, {"Name"}); !e.empty()) return refuse(e);
    const std::string* name = c.arg("Name");
    if (!name) return refuse("CRL " + c.words[3] + " needs Name: NAME.crl");
    if (!add) return done(txn_->remove_crl(*name), "CRL " + *name + " removed");
    const std::string* file = c.arg("File");
    if (!file) return refuse("CRL Add needs File: PATH");
    std::string crl;
    if (!read_file(*file, opts_.max_file, crl, err)) return refuse(err);
    return done(txn_->add_crl(*name, crl), "CRL " + *name + " from " + *file);
  }
  return refuse("unknown command xCommand Certificate " + op + " (Show, Upload, CA, CRL, Commit, Abort)");
}

Reply ControlServer::cmd_audit(const ParsedCommand& c) {
  const AuditInputs inputs = audit_inputs(plane_, hooks_);
  const auto cur = plane_.stores().snapshot();
  std::string json, text;
  if (c.words.size() == 3 && iequals(c.words[2], "WhatIf")) {
    // Issue 11 item 4: what would fail under the staged transaction (any
    // session's; reading it changes nothing) and/or another mode.
    if (std::string e = only_args(c, {"Mode"}); !e.empty()) return fail(e);
    StoreSnapshot next = txn_ ? txn_->staged() : *cur;
    std::string basis;
    if (txn_) {
      std::string what;
      for (auto& st : txn_steps_) what += (what.empty() ? "" : "; ") + st;
      basis = "the staged transaction (" + txn_owner_who_ + (what.empty() ? "" : ": " + what) + ")";
    }
    if (const std::string* m = c.arg("Mode")) {
      EkuMode mode;
      if (!parse_eku_mode(*m, mode)) return fail("Mode: expected On or Off");
      next.eku_mode = mode;
      basis += std::string(basis.empty() ? "" : " with ") + "EKU checking mode " + std::string(to_string(mode));
    }
    if (basis.empty())
      return fail("xCommand Audit WhatIf needs Mode: On|Off or an open certificate transaction to compare with");
    const WhatIfReport w = what_if(*cur, next, inputs, basis);
    json = c.json ? w.to_json() : "";
    text = c.json ? "" : w.to_text();
  } else {
    if (c.words.size() != 2 || !c.args.empty())
      return fail("xCommand Audit [WhatIf [Mode: On|Off]] takes no other arguments besides Format: json");
    const AuditReport a = audit(*cur, inputs);
    json = c.json ? a.to_json() : "";
    text = c.json ? "" : a.to_text();
  }
  Reply r;
  if (c.json) {
    json_lines(r, nlohmann::json::parse(json));
    return r;
  }
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) r.lines.push_back(line);
  return r;
}

Reply ControlServer::cmd_events(const ParsedCommand& c) {
  if (c.words.size() != 3 || !iequals(c.words[2], "Tail")) return fail("xCommand Events Tail [Lines: N]");
  if (std::string e = only_args(c, {"Lines"}); !e.empty()) return fail(e);
  std::size_t n = 20;
  if (const std::string* l = c.arg("Lines")) {
    if (l->empty() || l->size() > 6 || l->find_first_not_of("0123456789") != std::string::npos)
      return fail("Lines: expected a number from 1 to 256");
    n = std::stoul(*l);
    if (n < 1 || n > 256) return fail("Lines: expected a number from 1 to 256");
  }
  const std::vector<std::string> ev = plane_.stores().recent_events();
  const std::size_t from = ev.size() > n ? ev.size() - n : 0;
  Reply r;
  if (c.json) {
    nlohmann::json j = nlohmann::json::array();
    for (std::size_t i = from; i < ev.size(); ++i) j.push_back(ev[i]);
    json_lines(r, j);
    return r;
  }
  for (std::size_t i = from; i < ev.size(); ++i) r.lines.push_back(ev[i]);
  return r;
}

Reply ControlServer::cmd_reload(Session& s, const ParsedCommand& c) {
  if (c.words.size() != 2 || !c.args.empty()) return fail("xCommand Reload takes no arguments");
  if (s.readonly) return fail("read-only control socket: xCommand Reload is a change (use the read-write socket)");
  if (!hooks_.reload) return fail("reload is not available here");
  if (txn_) return fail("a certificate transaction is open (" + txn_owner_who_ + ", since " + utc_clock(txn_since_) + "): Commit or Abort it first");
  const std::string source = "control socket (" + s.who + ")";
  plane_.emit({kEventSocketChange, {{"Detail", "xCommand Reload"}, {"Source", source}}, 3});
  if (std::string e = hooks_.reload(source); !e.empty()) return fail(e);
  Reply r;
  if (auto cur = plane_.publisher().current_shared())
    r.lines.push_back("*r Snapshot Generation: " + std::to_string(cur->generation));
  return r;
}

}  // namespace turnpike::control
