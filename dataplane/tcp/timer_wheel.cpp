#include "turnpike/tcp/timer_wheel.hpp"

namespace turnpike::tcp {

TimerWheel::TimerWheel(std::uint32_t tick_us, std::uint64_t now_us) noexcept
    : tick_us_(tick_us ? tick_us : 1), next_(now_us / (tick_us ? tick_us : 1) + 1) {
  for (auto& h : l0_) init(h);
  for (auto& lv : ln_)
    for (auto& h : lv) init(h);
}

void TimerWheel::init(Head& h) noexcept { h.node.next = h.node.prev = &h.node; }

void TimerWheel::link(Head& h, Timer& t) noexcept {
  t.prev = h.node.prev;
  t.next = &h.node;
  h.node.prev->next = &t;
  h.node.prev = &t;
}

void TimerWheel::unlink(Timer& t) noexcept {
  t.prev->next = t.next;
  t.next->prev = t.prev;
  t.next = t.prev = nullptr;
}

void TimerWheel::place(Timer& t) noexcept {
  std::uint64_t at = t.expires < next_ ? next_ : t.expires;
  std::uint64_t delta = at - next_;
  if (delta >= kSpan) {  // clamp: re-placed when it comes down to level 0
    delta = kSpan - 1;
    at = next_ + delta;
  }
  if (delta < kSlots0) {
    link(l0_[at & (kSlots0 - 1)], t);
  } else {
    unsigned lv = 0;
    while (lv < kLevels - 2 && delta >= (1ull << (kBits0 + kBitsN * (lv + 1)))) ++lv;
    const unsigned shift = kBits0 + kBitsN * lv;
    link(ln_[lv][(at >> shift) & (kSlotsN - 1)], t);
  }
  t.slot = at;
  ++linked_;
}

void TimerWheel::arm(Timer& t, std::uint64_t at_us) noexcept {
  // Round up so a timer never fires before its time.
  const std::uint64_t e = (at_us + tick_us_ - 1) / tick_us_;
  if (!t.pending) {
    t.pending = true;
    ++count_;
  }
  t.expires = e;
  // Linked in a slot reached by then (level 0 at `slot`, an upper level
  // cascaded before it): advance() re-places it from there.
  if (t.next && e >= t.slot) return;
  if (t.next) {
    unlink(t);
    --linked_;
  }
  place(t);
}

void TimerWheel::cancel(Timer& t) noexcept {
  disarm(t);
  if (!t.next) return;
  unlink(t);
  --linked_;
}

void TimerWheel::disarm(Timer& t) noexcept {
  if (!t.pending) return;
  t.pending = false;
  --count_;
}

void TimerWheel::cascade(unsigned level, unsigned idx) noexcept {
  Head& h = ln_[level][idx];
  Timer* t = h.node.next;
  init(h);
  while (t != &h.node) {
    Timer* nx = t->next;
    t->next = t->prev = nullptr;
    --linked_;
    if (t->pending) place(*t);  // a disarmed one is dropped here
    t = nx;
  }
}

}  // namespace turnpike::tcp
