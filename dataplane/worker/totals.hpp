// Sums of a module's counters over workers, for telemetry.cpp and the
// SIGUSR1 dump: built on each module's for_each(name, description, value).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace turnpike::worker {

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

}  // namespace turnpike::worker
