#include "tls_setup.hpp"

#include <algorithm>
#include <ctime>
#include <fstream>
#include <sstream>

#include "turnpike/net/wire.hpp"

namespace turnpike {

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

tls::ClientCertMode cert_mode(const std::string& s) {
  return s == "none" ? tls::ClientCertMode::None : s == "require" ? tls::ClientCertMode::Require : tls::ClientCertMode::Request;
}

}  // namespace

std::string build_tls(const Config& cfg, const control::StoreSnapshot& snap, control::StoreManager& stores,
                      control::VerdictCache* cache, std::uint64_t epoch, std::shared_ptr<tls::TicketKeys> tickets,
                      TlsSetup& out) {
  auto trust = std::make_shared<control::TrustStore>();
  if (!snap.ca_pem.empty())
    if (std::string e = trust->add_ca_bundle(snap.ca_pem); !e.empty()) return "trust store ca.pem: " + e;
  for (auto& [name, crl] : snap.crls)
    if (std::string e = trust->add_crl(crl); !e.empty()) return "trust store " + name + ": " + e;
  out.trust = trust;
  const tls::Verifier verifier{trust, cache, snap.eku_mode, epoch};
  out.notes.push_back(std::to_string(trust->ca_count()) + " CA(s), " + std::to_string(trust->crl_count()) +
                      " CRL(s), EKU checking mode " + std::string(control::to_string(snap.eku_mode)));

  out.listeners = cfg.effective_listeners();
  if (!out.listeners.empty()) {
    if (!snap.server.present()) return "the server store is empty (server.pem/privkey.pem): nothing to present";
    // SNI certificates go through the same checks as a server-store upload
    // (serverAuth, key match, supported key), staged and never committed.
    std::vector<tls::Identity> extra;
    for (auto& sc : cfg.sip_sni_certs) {
      std::string err;
      tls::Identity id{read_file(sc.chain, err), {}};
      if (err.empty()) id.key_pem = read_file(sc.key, err);
      if (!err.empty()) return "sip.sni_certificates: " + err;
      auto t = stores.begin();
      auto r = t.stage_server(id.cert_chain_pem, id.key_pem);
      t.abort();
      if (!r.ok) return "sip.sni_certificates " + sc.chain + ": " + r.error;
      extra.push_back(std::move(id));
    }
    if (cfg.sip_session_tickets) {
      out.tickets = tickets ? tickets : std::make_shared<tls::TicketKeys>(static_cast<std::int64_t>(cfg.sip_ticket_rotate_s));
      if (!cfg.sip_ticket_key_file.empty()) {
        if (std::string e = out.tickets->load_file(cfg.sip_ticket_key_file); !e.empty())
          return "sip.ticket_key_file " + cfg.sip_ticket_key_file + ": " + e;
        out.notes.push_back("session tickets: " + std::to_string(out.tickets->size()) + " key(s) from " +
                            cfg.sip_ticket_key_file);
      } else if (!tickets) {
        out.tickets->rotate(static_cast<std::int64_t>(std::time(nullptr)));
        out.notes.push_back("session tickets: generated keys, rotated every " + std::to_string(cfg.sip_ticket_rotate_s) + " s");
      }
    }
    for (auto& l : out.listeners) {
      tls::Options o;
      o.cert_chain_pem = snap.server.chain_pem;
      o.key_pem = snap.server.key_pem;
      o.identities = extra;
      o.tls12 = has(l.tls_versions, "1.2");
      o.tls13 = has(l.tls_versions, "1.3");
      o.cipher_list = l.ciphers;
      o.groups = l.groups;
      o.client_cert = cert_mode(l.client_cert);
      o.tickets = out.tickets;
      o.ticket_lifetime = cfg.sip_ticket_lifetime_s;
      const std::string where = "listener " + net::ipv4_to_string(l.ip) + ":" + std::to_string(l.port);
      auto r = tls::Context::make_server(o, verifier);
      if (!r) return where + ": " + r.error;
      out.listener_ctx.push_back(*r);
      std::string versions;
      for (auto& v : l.tls_versions) versions += (versions.empty() ? "" : "+") + v;
      out.notes.push_back(where + ": server certificate " + snap.server.leaf.subject +
                          (extra.empty() ? "" : " + " + std::to_string(extra.size()) + " by SNI") + ", TLS " + versions +
                          ", groups " + l.groups + ", client certificates " + l.client_cert);
    }
  }

  // The client store is what turnpike presents as a TLS client; an empty one
  // still allows server-authenticated TLS.
  if (!cfg.egress.empty() || cfg.sip_backend_tls) {
    tls::Options co;
    co.cert_chain_pem = snap.client.chain_pem;
    co.key_pem = snap.client.key_pem;
    co.groups = cfg.sip_groups;
    auto c = tls::Context::make_client(co, verifier);
    if (!c) return "client context (client store): " + c.error;
    out.client_ctx = *c;
    out.notes.push_back(snap.client.present() ? "client certificate " + snap.client.leaf.subject + " (egress" +
                                                    (cfg.sip_backend_tls ? ", TLS to backends)" : ")")
                                              : "the client store is empty: peers that require a client certificate will refuse us");
  }
  return {};
}

}  // namespace turnpike
