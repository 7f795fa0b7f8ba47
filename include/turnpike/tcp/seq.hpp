// TCP sequence numbers as a strong type: arithmetic is modulo 2^32 and
// comparisons are wrap-around safe (RFC 9293 §3.4). Two numbers compare by the
// sign of their 32-bit difference, valid while they are < 2^31 apart.
#pragma once
#include <cstdint>

namespace turnpike::tcp {

class Seq {
 public:
  constexpr Seq() noexcept = default;
  constexpr explicit Seq(std::uint32_t v) noexcept : v_(v) {}
  constexpr std::uint32_t raw() const noexcept { return v_; }

  constexpr Seq operator+(std::uint32_t n) const noexcept { return Seq(v_ + n); }
  constexpr Seq operator-(std::uint32_t n) const noexcept { return Seq(v_ - n); }
  constexpr Seq& operator+=(std::uint32_t n) noexcept { v_ += n; return *this; }
  constexpr Seq& operator-=(std::uint32_t n) noexcept { v_ -= n; return *this; }
  // Signed distance a - b; meaningful when |a - b| < 2^31.
  friend constexpr std::int32_t operator-(Seq a, Seq b) noexcept {
    return static_cast<std::int32_t>(a.v_ - b.v_);
  }
  friend constexpr bool operator==(Seq a, Seq b) noexcept { return a.v_ == b.v_; }
  friend constexpr bool operator<(Seq a, Seq b) noexcept { return (a - b) < 0; }
  friend constexpr bool operator<=(Seq a, Seq b) noexcept { return (a - b) <= 0; }
  friend constexpr bool operator>(Seq a, Seq b) noexcept { return (a - b) > 0; }
  friend constexpr bool operator>=(Seq a, Seq b) noexcept { return (a - b) >= 0; }

 private:
  std::uint32_t v_ = 0;
};

constexpr Seq seq_max(Seq a, Seq b) noexcept { return a < b ? b : a; }
constexpr Seq seq_min(Seq a, Seq b) noexcept { return a < b ? a : b; }
// lo <= s < hi, the window test of RFC 9293 §3.4.
constexpr bool seq_in(Seq s, Seq lo, Seq hi) noexcept { return lo <= s && s < hi; }
// Unsigned byte count from a to b (b at or after a).
constexpr std::uint32_t seq_dist(Seq a, Seq b) noexcept { return b.raw() - a.raw(); }

// RFC 7323 timestamps compare with the same modular rule (§5.2, PAWS).
constexpr bool ts_before(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b) < 0;
}

}  // namespace turnpike::tcp
