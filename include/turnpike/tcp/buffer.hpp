// Send and receive byte storage, indexed directly by sequence number.
//
// A SeqBuffer is a ring of `n` fixed-size chunks (n * chunk is a power of two
// dividing 2^32), so the byte for sequence number s lives at s mod capacity:
// retransmission reads from the same place, out-of-order data is written in
// place (no reassembly copy), and a wrap of the sequence space is free.
// Chunks come from a per-worker ChunkPool on first write and go back as soon
// as the bytes they hold are consumed, so an idle connection holds none.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "turnpike/counter.hpp"
#include "turnpike/tcp/seq.hpp"

namespace turnpike::tcp {

// Fixed-size chunks carved from slabs that are allocated a few at a time and
// kept for the pool's lifetime: no system allocator call in steady state.
class ChunkPool {
 public:
  ChunkPool(std::size_t chunk_size, std::size_t max_chunks, std::size_t slab_chunks = 64);
  ~ChunkPool();
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;

  std::uint8_t* get() noexcept;  // nullptr when the pool limit is reached
  void put(std::uint8_t* c) noexcept;

  std::size_t chunk_size() const noexcept { return chunk_; }
  unsigned chunk_shift() const noexcept { return shift_; }
  std::size_t in_use() const noexcept { return in_use_.load(); }  // telemetry reads it too
  std::size_t allocated() const noexcept { return total_; }
  std::size_t limit() const noexcept { return max_; }

 private:
  bool grow() noexcept;
  std::size_t chunk_;
  unsigned shift_;
  std::size_t max_;
  std::size_t slab_;
  std::size_t total_ = 0;
  Gauge in_use_;  // one writer (the worker), read by telemetry
  std::vector<std::uint8_t*> free_;
  std::vector<std::uint8_t*> slabs_;
};

class SeqBuffer {
 public:
  static constexpr unsigned kMaxChunks = 16;

  // `chunks` is a power of two <= kMaxChunks.
  void configure(unsigned chunks, unsigned chunk_shift) noexcept;

  std::uint32_t capacity() const noexcept { return static_cast<std::uint32_t>(n_) << shift_; }
  // First sequence number past the storage usable while `lo` is the oldest
  // live byte: the chunk holding `lo` must not be shared with newer bytes.
  Seq limit(Seq lo) const noexcept {
    return Seq(((lo.raw() + rot_) & ~((1u << shift_) - 1)) - rot_) + capacity();
  }

  // Stores `n` bytes at `at`; returns false (nothing partially promised) if a
  // chunk could not be obtained. Bytes already written are left in place.
  bool write(ChunkPool& pool, Seq at, const std::uint8_t* src, std::size_t n) noexcept;
  void read(Seq at, std::uint8_t* dst, std::size_t n) const noexcept;
  // Longest contiguous run starting at `at`, at most `max` bytes.
  std::span<const std::uint8_t> contiguous(Seq at, std::size_t max) const noexcept;

  // The live range moved from [old_lo, ..) to [new_lo, hi): return chunks
  // holding only bytes before new_lo; if the range is now empty, all of them,
  // and new_lo becomes the start of a chunk: the next message is stored from
  // the front of a recently used chunk (few cache lines, likely still in
  // cache), not at its sequence number's offset in it. limit() then only
  // grows.
  void release(ChunkPool& pool, Seq old_lo, Seq new_lo, bool empty) noexcept;
  void release_all(ChunkPool& pool) noexcept;
  unsigned chunks_held() const noexcept;

 private:
  // Storage is addressed by sequence number + rot_ (changed only while no
  // byte is live).
  std::uint32_t pos(Seq s) const noexcept { return s.raw() + rot_; }
  unsigned slot(Seq s) const noexcept { return (pos(s) >> shift_) & (n_ - 1); }
  // Head first: the rotation, sizes and the chunk a message after the
  // buffer ran empty starts in (slot 0) share kHeadBytes.
  std::uint32_t rot_ = 0;
  std::uint8_t n_ = 1;
  std::uint8_t shift_ = 12;
  std::uint8_t* c_[kMaxChunks] = {};

 public:
  static constexpr std::size_t kHeadBytes = 16;
};

}  // namespace turnpike::tcp
