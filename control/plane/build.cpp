// DataplaneSnapshot from a store snapshot and the TLS settings: the trust
// store, ticket keys, one server context per SIP listener (server store +
// SNI certificates) and the client context (client store) for egress and
// TLS to backends. Runs on the control thread, never on a worker.
#include <algorithm>
#include <arpa/inet.h>
#include <ctime>
#include <fstream>
#include <sstream>

#include "turnpike/control/plane.hpp"

namespace turnpike::control {

namespace {

std::string read_file(const std::string& path, std::string& err) {
  std::ifstream in(path);
  if (!in) {
    err = path + ": cannot open";
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool has(const std::vector<std::string>& v, const char* s) { return std::find(v.begin(), v.end(), s) != v.end(); }

std::string addr(std::uint32_t ip, std::uint16_t port) {
  char b[INET_ADDRSTRLEN] = "0.0.0.0";
  const std::uint32_t n = htonl(ip);
  inet_ntop(AF_INET, &n, b, sizeof b);
  return std::string(b) + ":" + std::to_string(port);
}

const char* cert_mode_name(tls::ClientCertMode m) {
  return m == tls::ClientCertMode::None ? "none" : m == tls::ClientCertMode::Require ? "require" : "request";
}

}  // namespace

std::string build_snapshot(const TlsSettings& s, std::shared_ptr<const StoreSnapshot> stores, StoreManager& mgr,
                           VerdictCache* cache, std::shared_ptr<tls::TicketKeys> tickets, DataplaneSnapshot& out) {
  const StoreSnapshot& snap = *stores;
  auto trust = std::make_shared<TrustStore>();
  if (!snap.ca_pem.empty())
    if (std::string e = trust->add_ca_bundle(snap.ca_pem); !e.empty()) return "trust store ca.pem: " + e;
  for (auto& [name, crl] : snap.crls)
    if (std::string e = trust->add_crl(crl); !e.empty()) return "trust store " + name + ": " + e;
  out.stores = stores;
  out.store_generation = snap.generation;
  out.trust_epoch = snap.trust_epoch;
  out.eku_mode = snap.eku_mode;
  out.trust = trust;
  // One trust epoch: the store's. The cache keys verdicts by it, so a CA or
  // CRL commit makes every cached chain verdict stale at once.
  const tls::Verifier verifier{trust, cache, snap.eku_mode, snap.trust_epoch};
  out.notes.push_back(std::to_string(trust->ca_count()) + " CA(s), " + std::to_string(trust->crl_count()) +
                      " CRL(s), EKU checking mode " + std::string(to_string(snap.eku_mode)) + ", trust epoch " +
                      std::to_string(snap.trust_epoch));

  out.listeners = s.listeners;
  if (!s.listeners.empty()) {
    if (!snap.server.present()) return "the server store is empty (server.pem/privkey.pem): nothing to present";
    // SNI certificates go through the same checks as a server-store upload
    // (serverAuth, key match, supported key), staged and never committed.
    std::vector<tls::Identity> extra;
    for (auto& sc : s.sni) {
      std::string err;
      tls::Identity id{read_file(sc.chain, err), {}};
      if (err.empty()) id.key_pem = read_file(sc.key, err);
      if (!err.empty()) return "sip.sni_certificates: " + err;
      auto t = mgr.begin();
      auto r = t.stage_server(id.cert_chain_pem, id.key_pem);
      t.abort();
      if (!r.ok) return "sip.sni_certificates " + sc.chain + ": " + r.error;
      extra.push_back(std::move(id));
    }
    if (s.tickets) {
      out.tickets = tickets ? tickets : std::make_shared<tls::TicketKeys>(static_cast<std::int64_t>(s.ticket_rotate_s));
      if (!s.ticket_key_file.empty()) {
        if (std::string e = out.tickets->load_file(s.ticket_key_file); !e.empty())
          return "sip.ticket_key_file " + s.ticket_key_file + ": " + e;
        out.notes.push_back("session tickets: " + std::to_string(out.tickets->size()) + " key(s) from " +
                            s.ticket_key_file);
      } else if (!tickets) {
        out.tickets->rotate(static_cast<std::int64_t>(std::time(nullptr)));
        out.notes.push_back("session tickets: generated keys, rotated every " + std::to_string(s.ticket_rotate_s) +
                            " s");
      }
    }
    for (auto& l : s.listeners) {
      tls::Options o;
      o.cert_chain_pem = snap.server.chain_pem;
      o.key_pem = snap.server.key_pem;
      o.identities = extra;
      o.tls12 = has(l.tls_versions, "1.2");
      o.tls13 = has(l.tls_versions, "1.3");
      o.cipher_list = l.ciphers;
      o.groups = l.groups;
      o.client_cert = l.client_cert;
      o.tickets = out.tickets;
      o.ticket_lifetime = s.ticket_lifetime_s;
      const std::string where = "listener " + addr(l.ip, l.port);
      auto r = tls::Context::make_server(o, verifier);
      if (!r) return where + ": " + r.error;
      out.listener_ctx.push_back(*r);
      std::string versions;
      for (auto& v : l.tls_versions) versions += (versions.empty() ? "" : "+") + v;
      out.notes.push_back(where + ": server certificate " + snap.server.leaf.subject +
                          (extra.empty() ? "" : " + " + std::to_string(extra.size()) + " by SNI") + ", TLS " + versions +
                          ", groups " + l.groups + ", client certificates " + cert_mode_name(l.client_cert));
    }
  }

  // The client store is what turnpike presents as a TLS client; an empty one
  // still allows server-authenticated TLS.
  if (s.client_context) {
    tls::Options co;
    co.cert_chain_pem = snap.client.chain_pem;
    co.key_pem = snap.client.key_pem;
    co.groups = s.client_groups;
    auto c = tls::Context::make_client(co, verifier);
    if (!c) return "client context (client store): " + c.error;
    out.client_ctx = *c;
    out.notes.push_back(snap.client.present() ? "client certificate " + snap.client.leaf.subject
                                              : "the client store is empty: peers that require a client certificate "
                                                "will refuse us");
  }
  return {};
}

}  // namespace turnpike::control
