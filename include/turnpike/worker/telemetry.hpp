// DPDK telemetry commands and the human-readable counter dump
// (telemetry.cpp): both walk the Runtime on the control thread and read the
// workers' relaxed counters through each module's for_each.
#pragma once
#include <string>

#include "turnpike/worker/runtime.hpp"

namespace turnpike::worker {

// Registers /turnpike/... commands with DPDK telemetry (dpdk-telemetry.py).
void register_telemetry(const Runtime& rt);
// Human-readable counters (SIGUSR1 and exit).
std::string format_stats(const Runtime& rt);

}  // namespace turnpike::worker
