// In-process DPDK environment for tests and benchmarks: EAL without
// hugepages, PCI or shared files, so several test binaries can run at once.
#pragma once
#include <rte_mempool.h>

namespace turnpike::testing {

// Initialises EAL once per process (aborts the test binary if it cannot).
void init_test_eal();
// A pktmbuf pool from the test EAL (created once per name).
rte_mempool* test_pool(const char* name = "test_pool", unsigned n = 8191);

}  // namespace turnpike::testing
