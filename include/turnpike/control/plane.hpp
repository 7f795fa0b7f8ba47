// The control plane: owns the stores, the trust epoch, the verdict cache,
// ticket keys and the TLS settings; turns every change (start-up, SIGHUP,
// the control socket) into one transaction
//
//   validate -> build a DataplaneSnapshot -> commit the stores to disk
//            -> publish the snapshot (one atomic pointer store)
//
// so a change whose contexts cannot be built leaves the disk and the
// running data plane as they were (docs/architecture.md, "Control plane to data
// plane"; docs/style.md items 11-13). DPDK-free: the grace period is an interface
// the data plane implements with rte_rcu_qsbr (include/turnpike/worker/rcu.hpp).
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "turnpike/control/events.hpp"
#include "turnpike/control/expiry.hpp"
#include "turnpike/control/store.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"
#include "turnpike/control/would_fail.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike::control {

// What the TLS side of the data plane is built from besides the stores.
// Mapped from the configuration file by app/ (only app/ knows TOML).
struct TlsSettings {
  struct Listener {
    std::uint32_t ip = 0;  // 0: every address
    std::uint16_t port = 5061;
    std::vector<std::string> tls_versions{"1.2", "1.3"};
    std::string ciphers;
    std::string groups = "X25519:P-256";
    tls::ClientCertMode client_cert = tls::ClientCertMode::Request;
    std::uint32_t handshake_timeout_ms = 10000;
    bool operator==(const Listener&) const = default;
  };
  struct SniCert {
    std::string chain, key;  // file paths
    bool operator==(const SniCert&) const = default;
  };
  std::vector<Listener> listeners;
  std::vector<SniCert> sni;
  bool tickets = true;
  std::string ticket_key_file;      // empty: generated keys, rotated
  std::uint32_t ticket_rotate_s = 43200;
  std::uint32_t ticket_lifetime_s = 7200;
  bool client_context = false;      // egress routes or TLS to backends need one
  std::string client_groups = "X25519:P-256";
  bool operator==(const TlsSettings&) const = default;
};

// One immutable view of everything a worker needs for new handshakes. A
// connection pair takes its contexts from one snapshot at accept (both
// legs); live connections keep their contexts (shared_ptr) after a swap.
struct DataplaneSnapshot {
  std::uint64_t generation = 0;        // publication count
  std::uint64_t store_generation = 0;  // StoreSnapshot::generation it was built from
  std::uint64_t trust_epoch = 1;       // the store's (the verdict cache's epoch)
  EkuMode eku_mode = EkuMode::On;
  std::chrono::steady_clock::time_point built{};
  std::shared_ptr<const StoreSnapshot> stores;
  std::shared_ptr<const TrustStore> trust;
  std::shared_ptr<tls::TicketKeys> tickets;  // null: tickets off
  std::vector<TlsSettings::Listener> listeners;
  std::vector<std::shared_ptr<const tls::Context>> listener_ctx;  // same order as listeners
  std::shared_ptr<const tls::Context> client_ctx;  // null unless settings.client_context
  std::vector<std::string> notes;  // what was loaded, for the log
};

// Builds a snapshot from stores + settings; "" on success, else what is
// wrong (nothing is published or written then). `tickets`, when given, is
// reused so keys survive a reload (a key file is read again).
std::string build_snapshot(const TlsSettings& s, std::shared_ptr<const StoreSnapshot> stores, StoreManager& mgr,
                           VerdictCache* cache, std::shared_ptr<tls::TicketKeys> tickets, DataplaneSnapshot& out);

// A grace period over the data plane's readers: every reader has passed a
// quiescent state (or is offline) since start().
class Grace {
 public:
  virtual ~Grace() = default;
  virtual std::uint64_t start() = 0;
  virtual bool done(std::uint64_t token) = 0;  // non-blocking
};

// The published snapshot. Workers load() once per loop iteration; the
// control thread publishes and later reclaims what no reader can hold.
class SnapshotPublisher {
 public:
  explicit SnapshotPublisher(Grace& g) : grace_(g) {}
  ~SnapshotPublisher();
  SnapshotPublisher(const SnapshotPublisher&) = delete;
  SnapshotPublisher& operator=(const SnapshotPublisher&) = delete;

  // acquire: pairs with publish()'s release, so a reader that sees the new
  // pointer also sees every field written before it was published.
  const DataplaneSnapshot* load() const noexcept { return cur_.load(std::memory_order_acquire); }
  // Control thread only. Cannot fail: the new snapshot is complete.
  void publish(std::unique_ptr<const DataplaneSnapshot> s);
  // Frees retired snapshots whose grace period has ended; returns how many
  // are still waiting. Control thread only.
  std::size_t reclaim();
  std::size_t retired() const;
  std::shared_ptr<const DataplaneSnapshot> current_shared() const;  // control thread reads

 private:
  struct Retired {
    std::shared_ptr<const DataplaneSnapshot> snap;
    std::uint64_t token;
  };
  Grace& grace_;
  std::atomic<const DataplaneSnapshot*> cur_{nullptr};
  std::shared_ptr<const DataplaneSnapshot> owner_;  // keeps cur_ alive
  std::deque<Retired> retired_;
  mutable std::mutex mu_;  // control-side bookkeeping only; readers never take it
};

// Outcome of Plane::apply. ok == false: nothing changed, on disk or live.
struct ApplyResult {
  bool ok = true;
  std::string error;
  std::vector<std::string> warnings;
  std::uint64_t generation = 0;  // published snapshot generation
  std::chrono::microseconds build_time{0};
};

class Plane {
 public:
  struct Options {
    std::filesystem::path stores_dir;
    EventSink* events = nullptr;
    std::function<void(const std::string&)> on_event;  // when events is null
    std::size_t verdict_cache_entries = 65536;
    std::string eku_mode;  // from the config: "" keeps the store's setting
  };
  Plane(Options o, TlsSettings s, Grace& g);
  ~Plane();

  // Loads the stores (migrating a legacy layout), applies the config's EKU
  // mode and publishes the first snapshot. "" on success.
  std::string start();

  // A change: new TLS settings and/or a store transaction (staged through
  // stores().begin()); re-read of the store directory for SIGHUP.
  struct Change {
    const TlsSettings* settings = nullptr;  // null: unchanged
    Transaction* stores = nullptr;          // null: unchanged
    bool reread_stores = false;             // SIGHUP: turnpike-certs changed the directory
    std::string source = "api";
  };
  ApplyResult apply(const Change& c);

  SnapshotPublisher& publisher() { return pub_; }
  StoreManager& stores() { return *stores_; }
  VerdictCache& cache() { return *cache_; }
  // Peers accepted in mode Off that mode On would refuse (fed by the
  // control loop from the workers' event rings).
  WouldFailTable& would_fail() { return would_fail_; }
  const WouldFailTable& would_fail() const { return would_fail_; }
  // Remote servers' certificates (egress, TLS backends) as first verified;
  // the table's event verdicts are unused.
  WouldFailTable& remote_certs() { return remote_certs_; }
  const WouldFailTable& remote_certs() const { return remote_certs_; }
  const TlsSettings& settings() const { return settings_; }
  std::shared_ptr<tls::TicketKeys> tickets() const;
  // Control thread, about once a second: ticket rotation, reclaim,
  // certificate expiry warnings (60/30/7/1 days, control/expiry.hpp).
  void tick(std::int64_t unix_now);
  void emit(const EventLine& e);

 private:
  ApplyResult publish_built(std::unique_ptr<DataplaneSnapshot> next, std::chrono::steady_clock::time_point t0);
  Options opts_;
  TlsSettings settings_;
  SnapshotPublisher pub_;
  std::unique_ptr<StoreManager> stores_;
  std::unique_ptr<VerdictCache> cache_;
  WouldFailTable would_fail_;
  WouldFailTable remote_certs_{256};
  std::mutex apply_mu_;  // one transaction at a time (SIGHUP, socket, start-up)
  std::uint64_t next_generation_ = 1;
  ExpiryWatch expiry_;  // control thread only (tick)
};

}  // namespace turnpike::control
