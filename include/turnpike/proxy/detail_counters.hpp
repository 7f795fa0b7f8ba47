// Refusals counted by their event Detail ("unsupported certificate
// purpose", "certificate has expired", ...). One writer (the worker), any
// number of readers (telemetry) without locks: a slot's name is written
// before the slot count is published with release; readers acquire it.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <string_view>

#include "turnpike/counter.hpp"

namespace turnpike::proxy {

class DetailCounters {
 public:
  static constexpr std::size_t kSlots = 31;  // plus one for "other"
  static constexpr std::size_t kNameMax = 63;

  void add(std::string_view detail) {
    const std::size_t n = used_.load(std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i)
      if (detail == name(i)) return count_[i].add();
    if (n == kSlots) return other_.add();
    const std::size_t len = std::min(detail.size(), kNameMax);
    std::memcpy(names_[n].data(), detail.data(), len);
    names_[n][len] = '\0';
    count_[n].add();
    used_.store(n + 1, std::memory_order_release);
  }
  // Readers: for (i < size()) name(i), count(i); then other().
  std::size_t size() const { return used_.load(std::memory_order_acquire); }
  std::string_view name(std::size_t i) const { return names_[i].data(); }
  std::uint64_t count(std::size_t i) const { return count_[i].load(); }
  std::uint64_t other() const { return other_.load(); }

 private:
  std::array<std::array<char, kNameMax + 1>, kSlots> names_{};
  std::array<Counter, kSlots> count_;
  Counter other_;
  std::atomic<std::size_t> used_{0};
};

}  // namespace turnpike::proxy
