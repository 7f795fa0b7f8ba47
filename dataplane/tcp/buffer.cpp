#include "turnpike/tcp/buffer.hpp"

#include <cstdlib>
#include <cstring>

namespace turnpike::tcp {

ChunkPool::ChunkPool(std::size_t chunk_size, std::size_t max_chunks, std::size_t slab_chunks)
    : chunk_(chunk_size), shift_(0), max_(max_chunks), slab_(slab_chunks ? slab_chunks : 1) {
  while ((std::size_t{1} << shift_) < chunk_) ++shift_;
  chunk_ = std::size_t{1} << shift_;
  free_.reserve(max_);
  slabs_.reserve(max_ / slab_ + 1);
}

ChunkPool::~ChunkPool() {
  for (auto* s : slabs_) std::free(s);
}

bool ChunkPool::grow() noexcept {
  std::size_t n = slab_;
  if (total_ + n > max_) n = max_ - total_;
  if (n == 0) return false;
  auto* s = static_cast<std::uint8_t*>(std::aligned_alloc(64, n * chunk_));
  if (!s) return false;
  slabs_.push_back(s);  // reserved in the constructor: no reallocation
  for (std::size_t i = 0; i < n; ++i) free_.push_back(s + i * chunk_);
  total_ += n;
  return true;
}

std::uint8_t* ChunkPool::get() noexcept {
  if (free_.empty() && !grow()) return nullptr;
  std::uint8_t* c = free_.back();
  free_.pop_back();
  ++in_use_;
  return c;
}

void ChunkPool::put(std::uint8_t* c) noexcept {
  free_.push_back(c);
  --in_use_;
}

void SeqBuffer::configure(unsigned chunks, unsigned chunk_shift) noexcept {
  n_ = static_cast<std::uint8_t>(chunks);
  shift_ = static_cast<std::uint8_t>(chunk_shift);
}

bool SeqBuffer::write(ChunkPool& pool, Seq at, const std::uint8_t* src, std::size_t n) noexcept {
  const std::uint32_t mask = (1u << shift_) - 1;
  while (n) {
    const unsigned s = slot(at);
    if (!c_[s] && !(c_[s] = pool.get())) return false;
    const std::uint32_t off = pos(at) & mask;
    std::size_t k = (mask + 1) - off;
    if (k > n) k = n;
    std::memcpy(c_[s] + off, src, k);
    at += static_cast<std::uint32_t>(k);
    src += k;
    n -= k;
  }
  return true;
}

void SeqBuffer::read(Seq at, std::uint8_t* dst, std::size_t n) const noexcept {
  while (n) {
    auto run = contiguous(at, n);
    std::memcpy(dst, run.data(), run.size());
    at += static_cast<std::uint32_t>(run.size());
    dst += run.size();
    n -= run.size();
  }
}

std::span<const std::uint8_t> SeqBuffer::contiguous(Seq at, std::size_t max) const noexcept {
  const std::uint32_t mask = (1u << shift_) - 1;
  const std::uint32_t off = pos(at) & mask;
  std::size_t k = (mask + 1) - off;
  if (k > max) k = max;
  return {c_[slot(at)] + off, k};
}

void SeqBuffer::release(ChunkPool& pool, Seq old_lo, Seq new_lo, bool empty) noexcept {
  // Chunks from the one holding old_lo up to (not including) the one holding new_lo.
  const std::uint32_t cmask = ~((1u << shift_) - 1);
  std::uint32_t passed = ((pos(new_lo) & cmask) - (pos(old_lo) & cmask)) >> shift_;  // modulo 2^32
  if (passed > n_) passed = n_;
  unsigned s = slot(old_lo);
  for (std::uint32_t i = 0; i < passed; ++i, s = (s + 1) & (n_ - 1)) {
    if (c_[s]) {
      pool.put(c_[s]);
      c_[s] = nullptr;
    }
  }
  if (empty) {
    unsigned t = slot(new_lo);
    if (c_[t]) {
      pool.put(c_[t]);
      c_[t] = nullptr;
    }
    // No live byte is left to keep its place (a chunk still held, from a
    // write that could not finish, holds none): rotate. chunks_held() is
    // not asked: its 16 pointers span lines of the TCB seldom in cache.
    rot_ = 0u - new_lo.raw();
  }
}

void SeqBuffer::release_all(ChunkPool& pool) noexcept {
  for (unsigned i = 0; i < kMaxChunks; ++i)
    if (c_[i]) {
      pool.put(c_[i]);
      c_[i] = nullptr;
    }
}

unsigned SeqBuffer::chunks_held() const noexcept {
  unsigned k = 0;
  for (unsigned i = 0; i < kMaxChunks; ++i) k += c_[i] != nullptr;
  return k;
}

}  // namespace turnpike::tcp
