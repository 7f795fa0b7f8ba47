// The /metrics page: walks the Runtime as telemetry.cpp does, reading the
// same single-writer relaxed counters, and writes Prometheus families
// (docs/metrics.md). Runs on the metrics listener's thread: reads only,
// never a lock a worker takes.
#pragma once
#include <string>

#include "turnpike/worker/runtime.hpp"

namespace turnpike::worker {

std::string render_metrics(const Runtime& rt);

}  // namespace turnpike::worker
