// Builds the TLS side of the daemon from the stores and the configuration:
// the trust store, ticket keys, one server context per SIP listener (server
// store + SNI certificates) and the client context (client store) used for
// egress and TLS to backends. One place, so a run-time swap can rebuild the
// same set from a new store snapshot.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "turnpike/config.hpp"
#include "turnpike/control/store.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/control/vcache.hpp"
#include "turnpike/tls/engine.hpp"

namespace turnpike {

struct TlsSetup {
  std::shared_ptr<const control::TrustStore> trust;
  std::shared_ptr<tls::TicketKeys> tickets;  // null: tickets off
  std::vector<Config::SipListener> listeners;
  std::vector<std::shared_ptr<const tls::Context>> listener_ctx;  // same order as listeners
  std::shared_ptr<const tls::Context> client_ctx;  // null unless egress or TLS to backends
  std::vector<std::string> notes;  // what was loaded, for the log
};

// Returns an error text naming what is wrong; "" on success. `epoch` is the
// trust epoch for the verdict cache (bump it whenever CAs or CRLs change);
// `tickets`, when given, is reused (keys survive a reload; a key file is
// read again).
std::string build_tls(const Config& cfg, const control::StoreSnapshot& snap, control::StoreManager& stores,
                      control::VerdictCache* cache, std::uint64_t epoch, std::shared_ptr<tls::TicketKeys> tickets,
                      TlsSetup& out);

// The current TlsSetup, published by the control thread and picked up by
// workers on their next accept: one relaxed generation check per accept, a
// lock only in the accept right after a change. Connections keep the
// context they started with (shared_ptr), so a swap drops nothing.
class TlsPublisher {
 public:
  void publish(std::shared_ptr<const TlsSetup> s) {
    std::lock_guard<std::mutex> l(mu_);
    cur_ = std::move(s);
    gen_.fetch_add(1, std::memory_order_release);
  }
  std::shared_ptr<const TlsSetup> get() const {
    std::lock_guard<std::mutex> l(mu_);
    return cur_;
  }
  std::uint64_t generation() const { return gen_.load(std::memory_order_acquire); }

  // One per worker and use: caches the setup between generations.
  struct Reader {
    const TlsPublisher* pub;
    std::uint64_t gen = ~std::uint64_t(0);
    std::shared_ptr<const TlsSetup> cur;
    const TlsSetup* get() {
      const std::uint64_t g = pub->generation();
      if (g != gen) {
        cur = pub->get();
        gen = g;
      }
      return cur.get();
    }
  };

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TlsSetup> cur_;
  std::atomic<std::uint64_t> gen_{0};
};

}  // namespace turnpike
