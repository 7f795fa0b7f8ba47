// A log-linear latency histogram in the manner of HdrHistogram (Debian has
// no hdrhistogram-c): values below 128 have a bucket each, above that every
// power of two is split into 64 linear buckets, so any recorded value is
// known to within 1/64 (1.6 %) of itself. Fixed size, no allocation after
// construction, merge by addition.
#pragma once
#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace turnpike::loadgen {

class Histogram {
 public:
  static constexpr unsigned kLinear = 128;  // exact below this
  static constexpr unsigned kSub = 64;      // buckets per power of two above it
  static constexpr unsigned kBuckets = kLinear + (64 - 7) * kSub;

  void record(std::uint64_t v) {
    ++counts_[index(v)];
    ++total_;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
    sum_ += v;
  }
  void add(const Histogram& o) {
    for (unsigned i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
    sum_ += o.sum_;
  }
  void clear() { *this = Histogram{}; }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return total_ ? max_ : 0; }
  std::uint64_t min() const { return total_ ? min_ : 0; }
  double mean() const { return total_ ? double(sum_) / double(total_) : 0; }
  // The value at quantile q (0..1): the upper edge of the bucket holding
  // it, clamped to the largest value recorded.
  std::uint64_t quantile(double q) const {
    if (!total_) return 0;
    const std::uint64_t rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(q * double(total_) + 0.5));
    std::uint64_t seen = 0;
    for (unsigned i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

  static unsigned index(std::uint64_t v) {
    if (v < kLinear) return static_cast<unsigned>(v);
    const unsigned m = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= 7
    const unsigned shift = m - 6;
    const unsigned top = static_cast<unsigned>(v >> shift);  // 64..127
    return kLinear + (m - 7) * kSub + (top - kSub);
  }
  static std::uint64_t upper(unsigned i) {
    if (i < kLinear) return i;
    const unsigned m = (i - kLinear) / kSub + 7, top = (i - kLinear) % kSub + kSub;
    const unsigned shift = m - 6;
    return ((std::uint64_t(top) + 1) << shift) - 1;
  }

 private:
  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0, max_ = 0, min_ = ~std::uint64_t(0), sum_ = 0;
};

}  // namespace turnpike::loadgen
