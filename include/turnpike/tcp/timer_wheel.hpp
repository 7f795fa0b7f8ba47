// Per-worker hierarchical timer wheel (Varghese & Lauck, scheme 7; the
// cascading layout of the classic Linux timer wheel). Arm and cancel are O(1):
// timers are intrusive list nodes. Time is an explicit microsecond clock that
// the caller passes in; nothing reads a system clock, so tests are exact.
#pragma once
#include <cstdint>

namespace turnpike::tcp {

struct Timer {
  Timer* next = nullptr;  // nullptr when not linked into a slot
  Timer* prev = nullptr;
  std::uint64_t expires = 0;  // tick it is due
  std::uint64_t slot = 0;     // tick of the slot it is linked in (reached no later)
  std::uint32_t owner = 0;    // free for the user (e.g. connection index)
  std::uint8_t kind = 0;      // free for the user
  bool pending = false;       // will fire (a disarmed timer may stay linked)

  bool armed() const noexcept { return pending; }
};

class TimerWheel {
 public:
  static constexpr unsigned kBits0 = 8;  // level 0: 256 ticks
  static constexpr unsigned kBitsN = 6;  // levels 1..3: 64 slots each
  static constexpr unsigned kLevels = 4;
  static constexpr unsigned kSlots0 = 1u << kBits0;
  static constexpr unsigned kSlotsN = 1u << kBitsN;
  // Longest distance that fits the wheel; later expiries are re-armed on the way.
  static constexpr std::uint64_t kSpan = 1ull << (kBits0 + kBitsN * (kLevels - 1));

  explicit TimerWheel(std::uint32_t tick_us = 1000, std::uint64_t now_us = 0) noexcept;
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms (or re-arms) `t` to fire at the first tick at or after `at_us`.
  // A time in the past fires on the next advance(). A timer still linked in
  // a slot reached no later than the new time stays where it is (only its
  // due tick changes; it moves on when its slot comes): an RTO or delayed
  // ACK pushed back on every segment costs no list operation, which would
  // touch the neighbours' nodes, other connections' control blocks.
  void arm(Timer& t, std::uint64_t at_us) noexcept;
  // Unlinks `t`: it may be destroyed or reused afterwards.
  void cancel(Timer& t) noexcept;
  // `t` will not fire but may stay linked until its slot comes (or it is
  // armed again): for timers that live as long as the wheel and are
  // stopped and restarted often. cancel() before destroying it.
  void disarm(Timer& t) noexcept;

  // Fires, in tick order, every timer due at `now_us`. `fire(Timer&)` may arm
  // or cancel any timer, including the one it was given.
  template <class F>
  void advance(std::uint64_t now_us, F&& fire);

  std::uint32_t tick_us() const noexcept { return tick_us_; }
  std::uint64_t armed_count() const noexcept { return count_; }  // pending timers
  std::uint64_t linked_count() const noexcept { return linked_; }  // disarmed ones not yet unlinked too
  std::uint64_t current_tick() const noexcept { return next_ - 1; }

 private:
  struct Head {
    Timer node;  // circular sentinel
  };
  void place(Timer& t) noexcept;
  void cascade(unsigned level, unsigned idx) noexcept;
  static void link(Head& h, Timer& t) noexcept;
  static void init(Head& h) noexcept;

  std::uint32_t tick_us_;
  static void unlink(Timer& t) noexcept;
  std::uint64_t next_;  // next tick to process
  std::uint64_t count_ = 0;   // pending
  std::uint64_t linked_ = 0;  // in a slot (pending or disarmed)
  Head l0_[kSlots0];
  Head ln_[kLevels - 1][kSlotsN];
};

template <class F>
void TimerWheel::advance(std::uint64_t now_us, F&& fire) {
  const std::uint64_t target = now_us / tick_us_;
  while (next_ <= target) {
    if (linked_ == 0) {  // nothing linked: jump straight to now
      next_ = target + 1;
      return;
    }
    const unsigned idx = static_cast<unsigned>(next_ & (kSlots0 - 1));
    if (idx == 0) {
      // Crossing a level-0 revolution: bring the next slot of each upper
      // level down, as long as the lower level also wrapped.
      for (unsigned lv = 0; lv < kLevels - 1; ++lv) {
        const unsigned shift = kBits0 + kBitsN * lv;
        const unsigned j = static_cast<unsigned>((next_ >> shift) & (kSlotsN - 1));
        cascade(lv, j);
        if (j != 0) break;
      }
    }
    const std::uint64_t tick = next_++;
    // Detach the slot so callbacks may re-arm into it safely.
    Head local;
    init(local);
    Head& h = l0_[idx];
    if (h.node.next != &h.node) {
      local.node.next = h.node.next;
      local.node.prev = h.node.prev;
      local.node.next->prev = &local.node;
      local.node.prev->next = &local.node;
      init(h);
    }
    while (local.node.next != &local.node) {
      Timer& t = *local.node.next;
      unlink(t);
      --linked_;
      if (!t.pending) continue;  // disarmed: dropped here
      if (t.expires > tick) {    // pushed back, or parked beyond the wheel's span: re-place
        place(t);
        continue;
      }
      t.pending = false;
      --count_;
      fire(t);
    }
  }
}

}  // namespace turnpike::tcp
