// A windowed minimum over recent samples (Kathleen Nichols' min-max filter):
// three samples, each the minimum of a later part of the window, so the
// minimum of the last `win` time units is known in O(1) and 24 bytes. RACK
// keeps RACK.min_RTT with it (RFC 8985 §6.2 step 1: a windowed min-filtered
// estimate, so a move to a longer path is followed instead of an all-time
// minimum staying forever).
#pragma once
#include <cstdint>

namespace turnpike::tcp {

struct WindowedMin {
  struct Sample {
    std::uint32_t t = 0;           // when (wrapping units, e.g. ms)
    std::uint32_t v = UINT32_MAX;  // value; UINT32_MAX: none yet
  };
  Sample s[3];  // s[0] the window's minimum, s[1] and s[2] the best after it

  bool empty() const noexcept { return s[0].v == UINT32_MAX; }
  std::uint32_t get() const noexcept { return s[0].v; }  // UINT32_MAX when empty
  void reset(std::uint32_t now, std::uint32_t v) noexcept { s[0] = s[1] = s[2] = Sample{now, v}; }

  // Adds sample v taken at `now`; returns the minimum over (now - win, now].
  std::uint32_t update(std::uint32_t now, std::uint32_t win, std::uint32_t v) noexcept {
    const Sample x{now, v};
    // A new minimum, or nothing in the window any more: start over.
    if (empty() || v <= s[0].v || now - s[2].t > win) {
      reset(now, v);
      return v;
    }
    if (v <= s[1].v)
      s[1] = s[2] = x;
    else if (v <= s[2].v)
      s[2] = x;
    // The minimum aged out: the next best takes its place (twice if that one
    // is out of the window too).
    const std::uint32_t age = now - s[0].t;
    if (age > win) {
      s[0] = s[1];
      s[1] = s[2];
      s[2] = x;
      if (now - s[0].t > win) {
        s[0] = s[1];
        s[1] = s[2];
      }
    } else if (s[1].t == s[0].t && age > win / 4) {
      // A quarter of the window without a second choice: take one now, so
      // the minimum's expiry does not leave only stale samples behind.
      s[1] = s[2] = x;
    } else if (s[2].t == s[1].t && age > win / 2) {
      s[2] = x;
    }
    return s[0].v;
  }
};

}  // namespace turnpike::tcp
