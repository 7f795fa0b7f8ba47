// CUBIC congestion avoidance (RFC 9438), per connection. Slow start, fast
// recovery and the RTO response stay in the stack (RFC 5681/6582); CUBIC
// decides the multiplicative decrease and the window growth in congestion
// avoidance. Windows in bytes, time in microseconds.
#pragma once
#include <cstdint>

namespace turnpike::tcp {

struct Cubic {
  static constexpr float kBeta = 0.7f;  // RFC 9438 §4.6
  static constexpr float kC = 0.4f;     // RFC 9438 §5

  float w_max = 0;          // bytes, window just before the last reduction
  float k_us = 0;           // time to grow back to w_max (§4.2 eq. 2)
  float w_est = 0;          // Reno-friendly estimate (§4.3)
  std::uint64_t epoch = 0;  // start of the current avoidance epoch; 0 = none

  // Congestion event (§4.6, with fast convergence §4.7): returns ssthresh.
  std::uint32_t on_congestion(std::uint32_t cwnd, std::uint32_t smss) noexcept;
  // New data ACKed in congestion avoidance: returns the new cwnd (§4.2-4.4).
  std::uint32_t on_ack(std::uint32_t cwnd, std::uint32_t acked, std::uint32_t smss, std::uint64_t now_us,
                       std::uint32_t srtt_us) noexcept;
};

}  // namespace turnpike::tcp
