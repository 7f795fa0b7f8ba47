// Per-worker event hand-off: one producer (a worker), one consumer (the
// control thread), fixed cells, no allocation, no system call, never blocks
// (docs/architecture.md: "Workers send events ... through per-core
// single-producer rings; they never block on logging"). The control thread
// drains each ring into the EventSink, which rate-limits and writes.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "turnpike/counter.hpp"

namespace turnpike::control {

class EventRing {
 public:
  static constexpr std::size_t kCellBytes = 1152;  // kind + source + one event line
  // The source key is the peer's address as text; its longest form is an
  // IPv6 address with an IPv4 tail, 45 characters (INET6_ADDRSTRLEN - 1).
  // A cell holds that, a kind up to 100 characters and a full line
  // (EventSink::kMaxLine, 1000), so IPv6 peers never make an event too long.
  static constexpr std::size_t kMaxSourceBytes = 45;
  static_assert(kCellBytes >= 100 + kMaxSourceBytes + 1000);

  explicit EventRing(std::size_t cells = 1024) {
    std::size_t n = 2;
    while (n < cells) n <<= 1;
    cells_ = std::make_unique<Cell[]>(n);
    mask_ = n - 1;
  }
  EventRing(const EventRing&) = delete;
  EventRing& operator=(const EventRing&) = delete;

  // Producer only. false when the ring is full or the event does not fit a
  // cell; both are counted, the worker carries on.
  bool push(std::string_view kind, std::string_view source, std::string_view line) noexcept {
    const std::size_t need = kind.size() + source.size() + line.size();
    if (need > kCellBytes) {
      dropped_long_.add();
      return false;
    }
    const std::uint64_t head = head_.load(std::memory_order_relaxed);  // only we write it
    // acquire: the consumer's release of tail_ means it has finished reading
    // the cell we are about to overwrite.
    if (head - tail_.load(std::memory_order_acquire) > mask_) {
      dropped_full_.add();
      return false;
    }
    Cell& c = cells_[head & mask_];
    c.kind_len = static_cast<std::uint16_t>(kind.size());
    c.source_len = static_cast<std::uint16_t>(source.size());
    c.line_len = static_cast<std::uint16_t>(line.size());
    std::memcpy(c.data, kind.data(), kind.size());
    std::memcpy(c.data + kind.size(), source.data(), source.size());
    std::memcpy(c.data + kind.size() + source.size(), line.data(), line.size());
    // release: the cell's bytes are visible to the consumer that sees head+1.
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer only: f(kind, source, line) for every queued event, oldest
  // first; returns how many.
  template <class F>
  std::size_t drain(F&& f) {
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);  // only we write it
    // acquire: pairs with push()'s release of head_.
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    std::size_t n = 0;
    for (; tail != head; ++tail, ++n) {
      const Cell& c = cells_[tail & mask_];
      f(std::string_view(c.data, c.kind_len), std::string_view(c.data + c.kind_len, c.source_len),
        std::string_view(c.data + c.kind_len + c.source_len, c.line_len));
      // release: we are done with the cell before the producer may reuse it.
      tail_.store(tail + 1, std::memory_order_release);
    }
    return n;
  }

  // Producer only: an event that could not be formatted within a line.
  void drop_long() noexcept {
    dropped_long_.add();
  }
  std::uint64_t dropped_full() const noexcept { return dropped_full_.load(); }
  std::uint64_t dropped_long() const noexcept { return dropped_long_.load(); }
  std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  struct Cell {
    std::uint16_t kind_len = 0, source_len = 0, line_len = 0;
    char data[kCellBytes];
  };
  std::unique_ptr<Cell[]> cells_;
  std::size_t mask_ = 0;
  alignas(64) std::atomic<std::uint64_t> head_{0};  // producer writes
  alignas(64) std::atomic<std::uint64_t> tail_{0};  // consumer writes
  // Single writer (the producer), read by telemetry.
  alignas(64) Counter dropped_full_;
  Counter dropped_long_;
};

}  // namespace turnpike::control
