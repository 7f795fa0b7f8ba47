// What telemetry.cpp and metrics.cpp share: visiting a module's counters as
// f(name, description, value), and summing them over workers.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/proxy/backends.hpp"
#include "turnpike/proxy/egress.hpp"
#include "turnpike/proxy/sip_proxy.hpp"

namespace turnpike::worker {

// A module's for_each; the proxy's stats are X-lists without one yet, so
// they are visited from their lists (same names, same order).
template <class S, class F>
void visit(const S& s, F&& f) {
  if constexpr (std::is_same_v<S, proxy::BackendStats>) {
    // Telemetry's names (/turnpike/sip), older than the field names.
    f("backend_picks", "connections given a backend", s.picks.load());
    f("backend_connect_failures", "backend connects refused or timed out", s.connect_failures.load());
    f("health_checks_ok", "health checks passed", s.checks_ok.load());
    f("health_checks_failed", "health checks failed", s.checks_failed.load());
    f("backend_went_down", "backends marked down", s.went_down.load());
    f("backend_came_up", "backends marked up again", s.came_up.load());
    f("health_checks_unclosed", "probes reset: the backend did not close in time", s.checks_unclosed.load());
  } else if constexpr (requires { s.for_each(f); }) {
    s.for_each(f);
  } else if constexpr (std::is_same_v<S, proxy::SipProxyStats>) {
#define TURNPIKE_X(n, d) f(#n, d, s.n.load());
    TURNPIKE_SIP_STATS(TURNPIKE_X)
#undef TURNPIKE_X
  } else if constexpr (std::is_same_v<S, proxy::EgressStats>) {
#define TURNPIKE_X(n, d) f(#n, d, s.n.load());
    TURNPIKE_EGRESS_STATS(TURNPIKE_X)
#undef TURNPIKE_X
  } else {
    static_assert(sizeof(S) == 0, "no for_each for this type");
  }
}

// Sums of one kind of counters over several sources (one per worker), in
// the module's order. Built from a zeroed instance, so every name is there
// even when no worker has the module.
class Totals {
 public:
  struct Row {
    std::string_view name, description;  // string literals or static tables
    std::uint64_t value = 0;
  };

  template <class S>
  static Totals of() {
    Totals t;
    t.add(S{});
    return t;
  }
  template <class S>
  void add(const S& s) {
    add_with([&](auto&& f) { visit(s, f); });
  }
  // g(f) calls f(name, description, value) for each counter, e.g.
  // [&](auto&& f) { stats.for_each_drop(f); }.
  template <class G>
  void add_with(G&& g) {
    std::size_t i = 0;
    g([&](std::string_view n, std::string_view d, std::uint64_t v) {
      if (i == rows_.size()) rows_.push_back({n, d, 0});
      rows_[i++].value += v;
    });
  }
  const std::vector<Row>& rows() const { return rows_; }
  std::uint64_t operator[](std::string_view name) const {
    for (auto& r : rows_)
      if (r.name == name) return r.value;
    return 0;
  }

 private:
  std::vector<Row> rows_;
};

}  // namespace turnpike::worker
