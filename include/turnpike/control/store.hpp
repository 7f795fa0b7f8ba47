// Dual certificate stores (server, client) and the shared trust store, kept
// in one directory with the layout of docs/eku-semantics.md, changed only through
// transactions (stage, validate, commit or abort: transaction.hpp).
//
// On disk (all writes: temp file, fsync, rename, fsync of the directory):
//   <dir>/current -> gen-000042        symlink swapped atomically at commit
//   <dir>/gen-000042/server.pem privkey.pem client.pem clientprivkey.pem
//                    ca.pem *.crl settings.conf MANIFEST
//   <dir>/server.pem -> current/server.pem   (and the other fixed names)
// A commit writes a complete new generation, fsyncs it, then swaps the
// `current` link with rename(2): a crash leaves the old or the new set.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turnpike/control/certs.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/control/policy.hpp"

namespace turnpike::control {

enum class StoreKind : uint8_t { Server, Client };
std::string_view to_string(StoreKind k);

// One certificate store: leaf + intermediates and the private key.
struct StoredCert {
  std::string chain_pem;  // leaf first
  std::string key_pem;    // unencrypted
  std::vector<Der> chain_der;
  CertFacts leaf;
  bool present() const { return !chain_der.empty(); }
  bool operator==(const StoredCert& o) const { return chain_pem == o.chain_pem && key_pem == o.key_pem; }
};

// Immutable view of the stores. Shared with readers as shared_ptr<const>.
struct StoreSnapshot {
  uint64_t generation = 0;
  uint64_t trust_epoch = 1;  // bumped by every CA bundle or CRL change
  EkuMode eku_mode = EkuMode::On;
  StoredCert server;
  StoredCert client;
  std::string ca_pem;
  std::vector<Der> ca_der;
  std::vector<CertFacts> ca_facts;
  std::map<std::string, std::string> crls;  // file name (*.crl) -> content

  // Same stores, mode and trust material (generation not compared).
  bool same_content(const StoreSnapshot& o) const;
  // Diagnostics: the three stores as PEM (trust store = CA bundle).
  std::string pem(std::string_view which) const;  // "server" | "client" | "ca"
};

// Outcome of a staging step or of validate(). ok == false: nothing changed.
struct StageResult {
  bool ok = true;
  std::string error;  // exact user-facing message on refusal
  std::vector<std::string> warnings;
};

// Exact message of the spec for a client-store upload without clientAuth.
inline constexpr std::string_view kMsgNoClientUsage =
    "Invalid certificate: The file provided does not have a client usage attribute. "
    "Services requiring mutual TLS may not work.";
inline constexpr std::string_view kMsgNoServerUsage =
    "Invalid certificate: The file provided does not have a server usage attribute (serverAuth).";
inline constexpr std::string_view kLegacyEkuUploadSetting = "XCP TLS Certificate CVS EnableServerEkuUpload";
inline constexpr std::string_view kEkuModeSetting = "SIP TLS Certificate ExtendedKeyUsage Checking Mode";

class Transaction;  // transaction.hpp, included at the end

// Called with the snapshot about to be committed (its generation and trust
// epoch set), before anything is written: a non-empty return refuses the
// commit and nothing changes (the control plane builds its TLS contexts
// here, so a store it cannot use never reaches the disk).
using BeforeWrite = std::function<std::string(const std::shared_ptr<const StoreSnapshot>& next)>;

class StoreManager {
 public:
  struct Options {
    std::filesystem::path dir;
    EventSink* events = nullptr;                       // optional
    std::function<void(const std::string&)> on_event;  // optional: every event line
  };
  explicit StoreManager(Options o);

  // Loads (creating an empty store, or migrating a legacy single-store
  // layout, on first start). Returns an error text, empty on success.
  std::string load();
  std::shared_ptr<const StoreSnapshot> snapshot() const;
  Transaction begin();

  // Applies a configuration setting by name. The legacy
  // "XCP TLS Certificate CVS EnableServerEkuUpload" is accepted, reported as
  // deprecated and ignored. Returns a status message.
  StageResult apply_setting(std::string_view key, std::string_view value, std::string_view source = "config");

  const std::filesystem::path& dir() const { return opts_.dir; }
  // Writes an event line through the manager's sink (control-plane events
  // that are not store commits: config changes, reload refusals).
  void event(const EventLine& e) { emit(e); }
  // Events emitted so far by this manager (most recent last; bounded).
  std::vector<std::string> recent_events() const;

 private:
  friend class Transaction;
  Result<std::shared_ptr<const StoreSnapshot>> commit(const Transaction& t, const BeforeWrite& hook);
  void emit(const EventLine& e);
  std::string write_generation(const StoreSnapshot& s);  // returns error
  Result<StoreSnapshot> read_generation(const std::filesystem::path& gen) const;
  std::string migrate_legacy();
  void ensure_links();
  void cleanup_generations(const std::string& keep);

  Options opts_;
  mutable std::mutex mu_;  // serialises commits and guards current_
  std::shared_ptr<const StoreSnapshot> current_;
  std::vector<std::string> events_;
};

// Diagnostics snapshot names: "<kind>_<host>_<YYYY-MM-DD_HH_MM_SS>.<ext>" (UTC).
std::string diagnostic_file_name(std::string_view kind, std::string_view host, int64_t unix_seconds,
                                 std::string_view ext);
// Writes the ca, client and server PEMs of a snapshot into outdir under those
// names (an empty store gives an empty file). Returns an error text.
std::string write_pem_dumps(const StoreSnapshot& s, const std::filesystem::path& outdir, std::string_view host,
                            int64_t unix_seconds);

// Parses a store's staged state into facts: used by load and by tests.
Result<StoredCert> parse_stored_cert(std::string_view chain_pem, std::string_view key_pem);

}  // namespace turnpike::control

// Every user of StoreManager::begin() needs the whole Transaction.
#include "turnpike/control/transaction.hpp"  // IWYU pragma: export
