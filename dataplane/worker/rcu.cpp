#include "turnpike/worker/rcu.hpp"

#include <rte_rcu_qsbr.h>

#include <cstdlib>
#include <new>

namespace turnpike::worker {

QsbrGrace::QsbrGrace(unsigned readers) : readers_(readers ? readers : 1) {
  const std::size_t sz = rte_rcu_qsbr_get_memsize(readers_);
  // Plain aligned memory: the variable is shared only within this process.
  v_ = static_cast<rte_rcu_qsbr*>(std::aligned_alloc(RTE_CACHE_LINE_SIZE, (sz + RTE_CACHE_LINE_SIZE - 1) /
                                                                              RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE));
  if (!v_ || rte_rcu_qsbr_init(v_, readers_) != 0) throw std::bad_alloc();
  for (unsigned i = 0; i < readers_; ++i) rte_rcu_qsbr_thread_register(v_, i);
}

QsbrGrace::~QsbrGrace() { std::free(v_); }

std::uint64_t QsbrGrace::start() { return rte_rcu_qsbr_start(v_); }

// wait = false: the control thread polls, it never blocks on a worker.
bool QsbrGrace::done(std::uint64_t token) { return rte_rcu_qsbr_check(v_, token, false) == 1; }

void QsbrGrace::online(unsigned id) { rte_rcu_qsbr_thread_online(v_, id); }
void QsbrGrace::offline(unsigned id) { rte_rcu_qsbr_thread_offline(v_, id); }
void QsbrGrace::quiescent(unsigned id) { rte_rcu_qsbr_quiescent(v_, id); }

}  // namespace turnpike::worker
