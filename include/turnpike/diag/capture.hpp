// Per-worker packet capture for the diagnostics snapshot: a bounded,
// preallocated buffer that one worker fills with copies of the frames it
// receives and transmits during the capture window, and that the control
// thread reads only after the worker stopped writing (a grace period, see
// dataplane/app/diagnostics.cpp). DPDK-free: the mbuf copy is in
// mbuf_capture.hpp, so the bounds are unit-tested without an EAL.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace turnpike::diag {

// The pcapng epb_flags direction values (RFC draft pcapng §4.3.1).
enum class Dir : std::uint8_t { In = 1, Out = 2 };

struct CapturedFrame {
  std::uint64_t tsc = 0;       // worker's TSC when the burst was seen
  std::uint32_t offset = 0;    // into the byte arena
  std::uint32_t caplen = 0;    // bytes kept (at most the snap length)
  std::uint32_t orig_len = 0;  // bytes on the wire
  std::uint16_t port = 0;      // port index (eth0, eth1, ...)
  Dir dir = Dir::In;
};

struct CaptureLimits {
  std::size_t max_bytes = 0;       // arena size for frame bytes
  std::uint32_t max_packets = 0;   // frame records
  std::uint32_t snaplen = 65535;   // longer frames are truncated (counted)
};

class CaptureBuffer {
 public:
  // Allocates (and touches) everything up front: the worker never allocates.
  explicit CaptureBuffer(CaptureLimits l);
  CaptureBuffer(const CaptureBuffer&) = delete;
  CaptureBuffer& operator=(const CaptureBuffer&) = delete;

  // Writer (one worker): room for `caplen` = min(orig_len, snaplen) bytes of
  // one frame, or nullptr when the packet or byte bound is reached. The
  // capture keeps the first frames and counts the rest: a window that
  // overflows still shows how the connections in it started.
  std::uint8_t* reserve(std::uint16_t port, Dir dir, std::uint64_t tsc, std::uint32_t orig_len,
                        std::uint32_t& caplen) noexcept {
    const std::uint32_t cl = orig_len < limits_.snaplen ? orig_len : limits_.snaplen;
    if (n_ == limits_.max_packets || used_ + cl > arena_.size()) [[unlikely]] {
      ++dropped_packets_;
      ++dropped_port_[port % kPorts];
      dropped_bytes_ += orig_len;
      return nullptr;
    }
    if (cl < orig_len) ++truncated_;
    frames_[n_++] = CapturedFrame{tsc, static_cast<std::uint32_t>(used_), cl, orig_len, port, dir};
    std::uint8_t* p = arena_.data() + used_;
    used_ += cl;
    caplen = cl;
    return p;
  }

  // Reader (after the writer stopped).
  std::span<const CapturedFrame> frames() const noexcept { return {frames_.data(), n_}; }
  std::span<const std::uint8_t> bytes(const CapturedFrame& f) const noexcept {
    return {arena_.data() + f.offset, f.caplen};
  }
  std::uint64_t dropped_packets() const noexcept { return dropped_packets_; }
  std::uint64_t dropped_bytes() const noexcept { return dropped_bytes_; }
  std::uint64_t dropped_on(std::uint16_t port) const noexcept { return dropped_port_[port % kPorts]; }
  std::uint64_t truncated() const noexcept { return truncated_; }
  std::size_t used_bytes() const noexcept { return used_; }
  const CaptureLimits& limits() const noexcept { return limits_; }

 private:
  CaptureLimits limits_;
  std::vector<std::uint8_t> arena_;
  std::vector<CapturedFrame> frames_;
  std::size_t n_ = 0, used_ = 0;
  static constexpr std::size_t kPorts = 16;  // per-port drop counts (ports beyond share slots)
  std::uint64_t dropped_packets_ = 0, dropped_bytes_ = 0, truncated_ = 0;
  std::array<std::uint64_t, kPorts> dropped_port_{};
};

// Splits a total bound over `workers` buffers so that together they never
// exceed it (worker i gets total/workers, plus one of the remainder).
std::uint64_t share_of(std::uint64_t total, unsigned workers, unsigned i);

}  // namespace turnpike::diag
