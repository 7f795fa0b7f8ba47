#pragma once
// Which pairs a proxy's 10 ms pass looks at: a wheel of one second in 10 ms
// slots. With thousands of pairs, a pass over all of them touched each one's
// cold state every 10 ms; the wheel hands the pass only the pairs due.
// A pair has one live entry: the owner keeps the time schedule() returned
// and tells advance() which entries still match it (older ones are dropped
// when met, so rescheduling never searches the wheel).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace turnpike::proxy {

class DueWheel {
 public:
  static constexpr std::uint64_t kSlotUs = 10'000;
  static constexpr std::size_t kSlots = 100;
  static constexpr std::uint64_t kHorizonUs = (kSlots - 1) * kSlotUs;  // latest time one entry can ask for

  // Enters `key` at `at`, clamped to the wheel's second and never into a
  // slot already handled; returns the time entered (the live entry's).
  std::uint64_t schedule(std::uint32_t key, std::uint64_t at, std::uint64_t now_us) {
    at = std::clamp(at, now_us + 1, now_us + kHorizonUs);
    std::uint64_t t = at / kSlotUs;
    if (tick_ != kNoTick) t = std::max(t, tick_ + 1);
    slots_[t % kSlots].push_back({key, at});
    return at;
  }

  // At most once per slot: every slot since the last pass (the whole wheel
  // at most) is emptied; an entry `live(key, at)` rejects is dropped, one
  // not yet due (this pass came early in its slot) moves to the next slot,
  // the others go to `due(key)`, which may schedule again (a later slot).
  template <class Live, class Due>
  void advance(std::uint64_t now_us, Live&& live, Due&& due) {
    if (now_us - last_us_ < kSlotUs) return;
    last_us_ = now_us;
    const std::uint64_t tick = now_us / kSlotUs;
    std::uint64_t from = tick_ == kNoTick || tick_ >= tick ? tick : tick_ + 1;
    if (tick - from >= kSlots) from = tick - kSlots + 1;
    for (std::uint64_t t = from; t <= tick; ++t) {
      slot_.clear();
      slot_.swap(slots_[t % kSlots]);
      tick_ = t;  // what due() schedules goes to a later slot
      for (const Entry& e : slot_) {
        if (!live(e.key, e.at)) continue;
        if (e.at > now_us) {
          slots_[(tick + 1) % kSlots].push_back(e);
          continue;
        }
        due(e.key);
      }
    }
  }

 private:
  struct Entry {
    std::uint32_t key;
    std::uint64_t at;
  };
  static constexpr std::uint64_t kNoTick = ~std::uint64_t{0};
  std::vector<std::vector<Entry>> slots_ = std::vector<std::vector<Entry>>(kSlots);
  std::vector<Entry> slot_;  // the slot being handled, kept for its capacity
  std::uint64_t tick_ = kNoTick;  // the last slot handled (now_us / kSlotUs)
  std::uint64_t last_us_ = 0;
};

}  // namespace turnpike::proxy
