// Transaction staging and upload validation (docs/eku-semantics.md, "Uploading
// certificates"). A refused step leaves the staged state untouched.
#include "turnpike/control/transaction.hpp"

#include <algorithm>
#include <ctime>

#include "turnpike/control/trust.hpp"

namespace turnpike::control {
namespace {

int64_t now_or(int64_t t) { return t ? t : static_cast<int64_t>(std::time(nullptr)); }

// Builds the trust store a staged state describes; error text on failure.
std::string build_trust(const StoreSnapshot& s, TrustStore& t) {
  if (!s.ca_pem.empty())
    if (std::string e = t.add_ca_bundle(s.ca_pem); !e.empty()) return "CA bundle: " + e;
  for (const auto& [n, data] : s.crls)
    if (std::string e = t.add_crl(data); !e.empty()) return n + ": " + e;
  return {};
}

std::string chain_warning(const StoreSnapshot& s, const StoredCert& c, std::string_view store) {
  TrustStore t;
  if (std::string e = build_trust(s, t); !e.empty()) return {};
  std::vector<Der> inter(c.chain_der.begin() + 1, c.chain_der.end());
  ChainResult r = t.verify(c.chain_der[0], inter);
  if (r.status == ChainStatus::Ok) return {};
  return std::string("The ") + std::string(store) +
         " certificate chain does not validate against the trust store: " + r.detail +
         ". Upload the issuing CA certificate to the trust store.";
}

bool key_size_supported(const CertFacts& f) {
  switch (f.key_type) {
    case KeyType::Rsa: return f.key_bits >= 2048 && f.key_bits <= 4096;
    case KeyType::Ecdsa: return f.key_bits == 256 || f.key_bits == 384;
    case KeyType::Ed25519: return true;
    case KeyType::Unknown: break;
  }
  return false;
}

std::string key_desc(const CertFacts& f) {
  switch (f.key_type) {
    case KeyType::Rsa: return "RSA " + std::to_string(f.key_bits);
    case KeyType::Ecdsa: return "ECDSA " + std::to_string(f.key_bits);
    case KeyType::Ed25519: return "Ed25519";
    case KeyType::Unknown: break;
  }
  return "unknown algorithm";
}

bool valid_crl_name(std::string_view n) {
  if (n.size() < 5 || n.size() > 128 || n.substr(n.size() - 4) != ".crl" || n[0] == '.') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

}  // namespace

StageResult Transaction::refuse_trust(std::string msg) {
  if (mgr_) {
    std::lock_guard<std::mutex> l(mgr_->mu_);
    mgr_->emit({kEventUploadRefused, {{"Store", "trust"}, {"Reason", msg}, {"Source", source_}}});
  }
  return {false, std::move(msg), {}};
}

Transaction::Transaction(StoreManager* m, std::shared_ptr<const StoreSnapshot> base)
    : mgr_(m),
      base_(base ? std::move(base) : std::make_shared<const StoreSnapshot>()),
      staged_(std::make_shared<StoreSnapshot>(*base_)) {}

StageResult Transaction::stage_server(std::string_view cert, std::string_view key, const UploadOptions& o) {
  return stage(StoreKind::Server, cert, key, o);
}
StageResult Transaction::stage_client(std::string_view cert, std::string_view key, const UploadOptions& o) {
  return stage(StoreKind::Client, cert, key, o);
}

StageResult Transaction::stage(StoreKind kind, std::string_view cert, std::string_view key, const UploadOptions& o) {
  StageResult r;
  auto refuse = [&](std::string msg) {
    r.ok = false;
    r.error = std::move(msg);
    if (mgr_) {
      std::lock_guard<std::mutex> l(mgr_->mu_);
      mgr_->emit({kEventUploadRefused,
                  {{"Store", std::string(to_string(kind))}, {"Reason", r.error}, {"Source", o.source}}});
    }
    return r;
  };
  if (done_) return refuse("the transaction is already finished");

  // Malformed PEM/DER. A single DER certificate is accepted too.
  std::vector<Der> chain;
  if (cert.find("-----BEGIN") != std::string_view::npos) {
    auto ders = pem_certs_to_der(cert);
    if (!ders) return refuse("Invalid certificate: " + ders.error);
    chain = std::move(*ders);
  } else {
    chain.emplace_back(cert.begin(), cert.end());
  }
  std::vector<CertFacts> facts;
  for (const Der& d : chain) {
    auto f = extract_facts(d);
    if (!f) return refuse("Invalid certificate: " + f.error);
    facts.push_back(std::move(*f));
  }
  const CertFacts& leaf = facts[0];
  if (leaf.is_ca) return refuse("Invalid certificate: the first certificate is a CA certificate, not an end-entity certificate");
  if (!key_size_supported(leaf))
    return refuse("Invalid certificate: unsupported key type (" + key_desc(leaf) +
                  "); supported: RSA 2048-4096, ECDSA P-256/P-384, Ed25519");
  // RFC 5280 4.1.2.5: outside the validity window the certificate is unusable.
  int64_t now = now_or(o.now);
  if (now > leaf.not_after)
    return refuse("Invalid certificate: the certificate has expired (not after " + format_utc(leaf.not_after) + " UTC)");
  if (now < leaf.not_before)
    return refuse("Invalid certificate: the certificate is not yet valid (not before " + format_utc(leaf.not_before) +
                  " UTC)");
  if (kind == StoreKind::Client && !allows_client_auth(leaf)) return refuse(std::string(kMsgNoClientUsage));
  if (kind == StoreKind::Server && !allows_server_auth(leaf)) return refuse(std::string(kMsgNoServerUsage));

  KeyLoad k = load_private_key(key, o.passphrase);
  if (!k.key) return refuse("Invalid private key: " + k.message);
  if (!key_matches_cert(*k.key, chain[0])) return refuse("Invalid private key: the private key does not match the certificate");

  StoredCert c;
  for (const Der& d : chain) c.chain_pem += der_cert_to_pem(d);
  // Stored unencrypted (the service starts unattended), file mode 0600.
  c.key_pem = k.error == KeyError::None && key.find("ENCRYPTED") == std::string_view::npos ? std::string(key)
                                                                                             : private_key_to_pem(*k.key);
  c.chain_der = std::move(chain);
  c.leaf = leaf;

  if (std::string w = chain_warning(*staged_, c, to_string(kind)); !w.empty()) r.warnings.push_back(std::move(w));
  // RFC 5280 4.2.1.3: judge the keyUsage as the peer will (a server
  // certificate is checked by clients with the outbound rule, ours by theirs).
  Role peer_view = kind == StoreKind::Server ? Role::Outbound : Role::Inbound;
  if (leaf.ku_present && !verdict(leaf, EkuMode::Off, peer_view).accept)
    r.warnings.push_back("The certificate's keyUsage does not allow TLS " +
                         std::string(kind == StoreKind::Server ? "server" : "client") +
                         " use: peers will refuse it (unsupported certificate purpose).");
  if (kind == StoreKind::Server) {
    staged_->server = c;
    if (o.also_as_client) {
      // "Upload server certificate file as client certificate": bypasses the
      // clientAuth check on purpose.
      if (!allows_client_auth(leaf))
        r.warnings.push_back(
            "The client store now holds the server certificate, which has no clientAuth: peers that enforce "
            "clientAuth will refuse turnpike's outbound mutual TLS (unsupported certificate purpose).");
      staged_->client = std::move(c);
    }
  } else {
    staged_->client = std::move(c);
  }
  dirty_ = true;
  return r;
}

StageResult Transaction::set_ca_bundle(std::string_view pem) {
  StageResult r;
  if (done_) return {false, "the transaction is already finished", {}};
  StoreSnapshot next = *staged_;
  next.ca_pem = std::string(pem);
  next.ca_der.clear();
  next.ca_facts.clear();
  if (!pem.empty()) {
    TrustStore t;
    if (std::string e = t.add_ca_bundle(pem); !e.empty()) return refuse_trust("Invalid CA bundle: " + e);
    auto ders = pem_certs_to_der(pem);
    next.ca_der = std::move(*ders);
    int64_t now = now_or(0);
    for (const Der& d : next.ca_der) {
      CertFacts f = *extract_facts(d);
      if (now > f.not_after) r.warnings.push_back("CA certificate " + f.subject + " has expired");
      next.ca_facts.push_back(std::move(f));
    }
  } else {
    r.warnings.push_back("The CA bundle is empty: no peer certificate will verify.");
  }
  TrustStore t;
  if (std::string e = build_trust(next, t); !e.empty()) return refuse_trust("Invalid trust store: " + e);
  *staged_ = std::move(next);
  dirty_ = trust_changed_ = true;
  return r;
}

StageResult Transaction::add_crl(std::string_view name, std::string_view content) {
  if (done_) return {false, "the transaction is already finished", {}};
  std::string n(name);
  if (n.size() < 4 || n.substr(n.size() - 4) != ".crl") n += ".crl";
  if (!valid_crl_name(n)) return refuse_trust("Invalid CRL name: use letters, digits, '.', '-', '_' and the .crl suffix");
  StoreSnapshot next = *staged_;
  next.crls[n] = std::string(content);
  TrustStore t;
  if (std::string e = build_trust(next, t); !e.empty()) return refuse_trust("Invalid CRL: " + e);
  *staged_ = std::move(next);
  dirty_ = trust_changed_ = true;
  return {};
}

StageResult Transaction::remove_crl(std::string_view name) {
  if (done_) return {false, "the transaction is already finished", {}};
  std::string n(name);
  if (n.size() < 4 || n.substr(n.size() - 4) != ".crl") n += ".crl";
  if (!staged_->crls.erase(n)) return {false, "No such CRL: " + n, {}};
  dirty_ = trust_changed_ = true;
  return {};
}

void Transaction::set_eku_mode(EkuMode m) {
  if (done_ || staged_->eku_mode == m) return;
  staged_->eku_mode = m;
  dirty_ = true;
}

StageResult Transaction::validate() const {
  StageResult r;
  TrustStore t;
  if (std::string e = build_trust(*staged_, t); !e.empty()) return {false, "Invalid trust store: " + e, {}};
  int64_t now = now_or(0);
  for (auto [kind, c] : {std::pair{StoreKind::Server, &staged_->server}, std::pair{StoreKind::Client, &staged_->client}}) {
    if (!c->present()) {
      r.warnings.push_back(std::string("The ") + std::string(to_string(kind)) + " store is empty.");
      continue;
    }
    if (now > c->leaf.not_after)
      r.warnings.push_back(std::string("The ") + std::string(to_string(kind)) + " certificate has expired.");
    if (std::string w = chain_warning(*staged_, *c, to_string(kind)); !w.empty()) r.warnings.push_back(std::move(w));
  }
  if (staged_->client.present() && !allows_client_auth(staged_->client.leaf))
    r.warnings.push_back("The client certificate has no clientAuth: peers that enforce clientAuth will refuse it.");
  return r;
}

Result<std::shared_ptr<const StoreSnapshot>> Transaction::commit() { return commit(nullptr); }

Result<std::shared_ptr<const StoreSnapshot>> Transaction::commit(const BeforeWrite& before_write) {
  using R = Result<std::shared_ptr<const StoreSnapshot>>;
  if (done_) return R::fail("the transaction is already finished");
  if (!mgr_) return R::fail("no store manager");
  StageResult v = validate();
  if (!v.ok) return R::fail(v.error);
  auto r = mgr_->commit(*this, before_write);
  if (r) done_ = true;
  return r;
}

void Transaction::abort() {
  done_ = true;
  staged_ = std::make_shared<StoreSnapshot>(*base_);
  dirty_ = trust_changed_ = false;
}

}  // namespace turnpike::control
