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
// (docs/metrics.md). TURNPIKE_COUNTER_FIELDS declares both from a list:
//
//   #define MY_COUNTERS(X) X(rx, "frames received") X(tx, "frames sent")
//   struct MyStats { TURNPIKE_COUNTER_FIELDS(MY_COUNTERS) };
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

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
