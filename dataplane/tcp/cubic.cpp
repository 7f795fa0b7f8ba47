#include "turnpike/tcp/cubic.hpp"

#include <algorithm>
#include <cmath>

namespace turnpike::tcp {

std::uint32_t Cubic::on_congestion(std::uint32_t cwnd, std::uint32_t smss) noexcept {
  const float w = static_cast<float>(cwnd);
  // §4.7 fast convergence: a flow whose w_max shrank releases bandwidth.
  w_max = w < w_max ? w * (1.0f + kBeta) / 2.0f : w;
  epoch = 0;
  const float ss = std::max(w * kBeta, 2.0f * static_cast<float>(smss));
  return static_cast<std::uint32_t>(ss);
}

std::uint32_t Cubic::on_ack(std::uint32_t cwnd, std::uint32_t acked, std::uint32_t smss, std::uint64_t now,
                            std::uint32_t srtt_us) noexcept {
  const float mss = static_cast<float>(smss);
  const float w = static_cast<float>(cwnd);
  if (epoch == 0) {
    // §4.2: a new epoch starts with the first ACK in congestion avoidance.
    epoch = now ? now : 1;
    if (w_max < w) w_max = w;  // no loss seen yet (or grown past it)
    // K = cbrt(W_max * (1 - beta) / C), in seconds with windows in segments.
    k_us = std::cbrt((w_max - w) / mss / kC) * 1e6f;
    w_est = w;
  }
  const float t = static_cast<float>(now - epoch + srtt_us) / 1e6f;  // §4.2: target one RTT ahead
  const float d = t - k_us / 1e6f;
  const float target_seg = kC * d * d * d + w_max / mss;
  float target = std::clamp(target_seg * mss, w, 1.5f * w);  // §4.4 bounds
  // §4.3 Reno-friendly region: alpha = 3 (1 - beta) / (1 + beta) per RTT.
  const float alpha = 3.0f * (1.0f - kBeta) / (1.0f + kBeta);
  w_est += alpha * mss * static_cast<float>(acked) / w;
  if (w_est > target) target = w_est;
  // §4.4: grow by (target - cwnd) / cwnd per segment acknowledged.
  const float grow = (target - w) * static_cast<float>(acked) / w;
  return cwnd + static_cast<std::uint32_t>(std::max(0.0f, grow));
}

}  // namespace turnpike::tcp
