#include "turnpike/tls/stats.hpp"

#include <algorithm>
#include <atomic>

namespace turnpike::tls {

namespace {
constexpr unsigned kCells = 256;  // workers, control thread, test threads
Stats g_cells[kCells];
// relaxed: a cell index only has to be unique, nothing is published with it.
std::atomic<unsigned> g_claimed{0};
thread_local Stats* t_cell = nullptr;
}  // namespace

Stats& thread_stats() {
  if (!t_cell) [[unlikely]] {
    const unsigned i = g_claimed.fetch_add(1, std::memory_order_relaxed);
    t_cell = &g_cells[i < kCells ? i : kCells - 1];
  }
  return *t_cell;
}

Stats stats_totals() {
  Stats sum;
  const unsigned n = std::min(g_claimed.load(std::memory_order_relaxed), kCells);
#define TURNPIKE_TLS_SUM_(name, desc) sum.name += g_cells[i].name.load();
  for (unsigned i = 0; i < n; ++i) {
    TURNPIKE_TLS_COUNTERS(TURNPIKE_TLS_SUM_)
  }
#undef TURNPIKE_TLS_SUM_
  return sum;
}

}  // namespace turnpike::tls
