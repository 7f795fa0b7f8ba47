#include "turnpike/control/plane.hpp"

namespace turnpike::control {

SnapshotPublisher::~SnapshotPublisher() {
  // Readers are gone (workers joined) when the publisher is destroyed.
  cur_.store(nullptr, std::memory_order_relaxed);
}

void SnapshotPublisher::publish(std::unique_ptr<const DataplaneSnapshot> s) {
  std::shared_ptr<const DataplaneSnapshot> next(std::move(s));
  std::lock_guard<std::mutex> g(mu_);
  // seq_cst (release would do for the contents: a reader's acquire load of
  // the new pointer sees the whole snapshot): also orders this store before
  // the grace period's reads of which readers are online, so a reader that
  // comes online after start() looked can only load the new pointer.
  cur_.store(next.get(), std::memory_order_seq_cst);
  // The grace period starts after the store: a reader that loads from now on
  // gets the new pointer, so only readers already inside an iteration can
  // hold the old one, and each reports a quiescent state when it finishes.
  if (owner_) retired_.push_back({std::move(owner_), grace_.start()});
  owner_ = std::move(next);
}

std::size_t SnapshotPublisher::reclaim() {
  std::lock_guard<std::mutex> g(mu_);
  while (!retired_.empty() && grace_.done(retired_.front().token)) retired_.pop_front();
  return retired_.size();
}

std::size_t SnapshotPublisher::retired() const {
  std::lock_guard<std::mutex> g(mu_);
  return retired_.size();
}

std::shared_ptr<const DataplaneSnapshot> SnapshotPublisher::current_shared() const {
  std::lock_guard<std::mutex> g(mu_);
  return owner_;
}

}  // namespace turnpike::control
