// The counter vocabulary of every module: a Counter only grows, a Gauge
// goes up and down. Each cell has exactly one writer (the worker, or the
// thread owning the module); readers (DPDK telemetry, /metrics, the SIGUSR1
// dump) run on other threads. So the cells are relaxed atomics: a plain
// load/add/store on x86, no lock prefix, and a reader sees a whole value,
// possibly a moment old, which is all monitoring needs.
//
// A module lists its counters once, as X(name, description) entries, and
// exposes for_each(f) calling f(name, description, value) for each of them;
// telemetry and the Prometheus page loop over that instead of naming fields
// (docs/metrics.md); CounterTotals sums them over workers.
// TURNPIKE_COUNTER_FIELDS declares the members and for_each from a list:
//
//   #define MY_COUNTERS(X) X(rx, "frames received") X(tx, "frames sent")
//   struct MyStats { TURNPIKE_COUNTER_FIELDS(MY_COUNTERS) };
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace turnpike {

class Counter {
 public:
  Counter() noexcept = default;
  // Copies take a snapshot (a zeroed copy of a module's counters, totals).
  Counter(const Counter& o) noexcept : v_(o.load()) {}
  Counter& operator=(const Counter& o) noexcept {
    v_.store(o.load(), std::memory_order_relaxed);
    return *this;
  }

  // relaxed: single writer, so load + store cannot lose an update, and
  // readers need no ordering with anything else.
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  Counter& operator++() noexcept {
    add(1);
    return *this;
  }
  Counter& operator+=(std::uint64_t n) noexcept {
    add(n);
    return *this;
  }
  std::uint64_t load() const noexcept { return v_.load(std::memory_order_relaxed); }
  operator std::uint64_t() const noexcept { return load(); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A level (live connections, chunks in use), same single-writer relaxed cell.
class Gauge {
 public:
  Gauge() noexcept = default;
  Gauge(const Gauge& o) noexcept : v_(o.load()) {}
  Gauge& operator=(const Gauge& o) noexcept { return set(o.load()); }
  Gauge& operator=(std::size_t v) noexcept { return set(v); }
  Gauge& operator++() noexcept { return set(load() + 1); }
  Gauge& operator--() noexcept { return set(load() - 1); }
  Gauge& operator+=(std::size_t n) noexcept { return set(load() + n); }
  Gauge& operator-=(std::size_t n) noexcept { return set(load() - n); }
  std::size_t load() const noexcept { return v_.load(std::memory_order_relaxed); }
  operator std::size_t() const noexcept { return load(); }

 private:
  Gauge& set(std::size_t v) noexcept {
    v_.store(v, std::memory_order_relaxed);  // single writer, as Counter
    return *this;
  }
  std::atomic<std::size_t> v_{0};
};

// Sums of one kind of counters over several sources (one per worker), in
// the module's for_each order, for the readers (telemetry, xStatus). Built from a zeroed instance, so every name is there
// even when no worker has the module.
class CounterTotals {
 public:
  struct Row {
    std::string_view name, description;  // string literals or static tables
    std::uint64_t value = 0;
  };

  template <class S>
  static CounterTotals of() {
    CounterTotals t;
    t.add(S{});
    return t;
  }
  template <class S>
  void add(const S& s) {
    add_with([&](auto&& f) { s.for_each(f); });
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

}  // namespace turnpike

// One Counter member per X(name, description) entry of LIST, and
// for_each(f) calling f(name, description, value) in the list's order.
#define TURNPIKE_COUNTER_FIELD_(name, desc) ::turnpike::Counter name;
#define TURNPIKE_COUNTER_VISIT_(name, desc) f(#name, desc, name.load());
#define TURNPIKE_COUNTER_FIELDS(LIST)   \
  LIST(TURNPIKE_COUNTER_FIELD_)         \
  template <class F>                    \
  void for_each(F&& f) const {          \
    LIST(TURNPIKE_COUNTER_VISIT_)       \
  }
