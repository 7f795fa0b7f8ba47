#include "turnpike/diag/capture.hpp"

#include <cstring>

namespace turnpike::diag {

CaptureBuffer::CaptureBuffer(CaptureLimits l) : limits_(l) {
  // Offsets are 32-bit: cap the arena below 4 GiB.
  if (limits_.max_bytes > 0xffffffffu) limits_.max_bytes = 0xffffffffu;
  arena_.resize(limits_.max_bytes);
  frames_.resize(limits_.max_packets);
  // Touch the pages now so the worker takes no page fault per frame.
  if (!arena_.empty()) std::memset(arena_.data(), 0, arena_.size());
}

std::uint64_t share_of(std::uint64_t total, unsigned workers, unsigned i) {
  if (workers == 0) return 0;
  return total / workers + (i < total % workers ? 1 : 0);
}

}  // namespace turnpike::diag
