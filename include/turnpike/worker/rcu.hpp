// The data plane's side of snapshot publication: rte_rcu_qsbr over the
// workers. Each worker loads the published snapshot once per loop iteration
// and reports a quiescent state at the end of it; while it sleeps (adaptive
// idle) it is offline, so an idle worker never holds a retired snapshot.
#pragma once
#include <cstdint>

#include "turnpike/control/plane.hpp"

struct rte_rcu_qsbr;

namespace turnpike::worker {

class QsbrGrace final : public control::Grace {
 public:
  explicit QsbrGrace(unsigned readers);  // worker indexes 0..readers-1
  ~QsbrGrace() override;
  QsbrGrace(const QsbrGrace&) = delete;
  QsbrGrace& operator=(const QsbrGrace&) = delete;

  std::uint64_t start() override;
  bool done(std::uint64_t token) override;

  // Worker side (thread `id` only).
  void online(unsigned id);
  void offline(unsigned id);
  void quiescent(unsigned id);
  rte_rcu_qsbr* raw() const { return v_; }

 private:
  rte_rcu_qsbr* v_ = nullptr;
  unsigned readers_;
};

}  // namespace turnpike::worker
