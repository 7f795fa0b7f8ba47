#include "eal_env.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unistd.h>

namespace turnpike::testing {

void init_test_eal() {
  static std::once_flag once;
  std::call_once(once, [] {
    // --no-shconf and a per-process prefix: parallel test binaries never
    // share runtime files (--in-memory is refused with --no-huge).
    static std::string prefix = "--file-prefix=tptest" + std::to_string(getpid());
    const char* args[] = {"turnpike-test", "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
                          prefix.c_str(), "--log-level=4", "--no-telemetry", "-l", "0"};
    if (rte_eal_init(int(sizeof args / sizeof *args), const_cast<char**>(args)) < 0) {
      std::fprintf(stderr, "test EAL init failed: %s\n", rte_strerror(rte_errno));
      std::abort();
    }
  });
}

rte_mempool* test_pool(const char* name, unsigned n) {
  init_test_eal();
  if (rte_mempool* p = rte_mempool_lookup(name)) return p;
  rte_mempool* p = rte_pktmbuf_pool_create(name, n, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (!p) {
    std::fprintf(stderr, "test pool %s: %s\n", name, rte_strerror(rte_errno));
    std::abort();
  }
  return p;
}

}  // namespace turnpike::testing
