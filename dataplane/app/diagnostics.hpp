// xCommand Diagnostics Snapshot on the daemon side: a capture window on the
// workers, then one tar.gz (docs/control.md "Diagnostics"). Runs on the
// control thread from the control loop, in phases that never block it:
//   Capturing: each worker has a CaptureBuffer (and a listener's new
//              sessions log their keys when asked) until the deadline;
//   Grace:     buffers detached, waiting for every worker to pass a
//              quiescent state, after which no worker writes into them;
//   Writing:   a helper thread builds the pcapng files and the archive;
//   then the socket gets its reply.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "turnpike/app/config.hpp"
#include "turnpike/control/diagnostics.hpp"
#include "turnpike/control/events.hpp"
#include "turnpike/control/plane.hpp"
#include "turnpike/diag/archive.hpp"
#include "turnpike/diag/capture.hpp"
#include "turnpike/worker/rcu.hpp"
#include "turnpike/worker/runtime.hpp"

namespace turnpike {

class Diagnostics {
 public:
  // `cfg` is read at every start ([diagnostics] applies without a restart).
  Diagnostics(const Config& cfg, worker::Runtime& rt, worker::QsbrGrace& grace, control::Plane* plane,
              control::EventSink* events);
  // Call after the workers stopped: detaches the buffers and joins the
  // writer; a pending reply is dropped.
  ~Diagnostics();
  Diagnostics(const Diagnostics&) = delete;
  Diagnostics& operator=(const Diagnostics&) = delete;

  std::string start(control::DiagnosticsRequest req, std::function<void(control::DiagnosticsResult)> done);
  void poll();  // from the control loop, every pass

 private:
  enum class Phase { Idle, Capturing, Grace, Writing };
  struct Job;  // what the writer thread gets and returns
  void stop_capture();
  void collect();
  void finish();
  void emit(std::string_view kind, int level, std::vector<std::pair<std::string_view, std::string>> fields);

  const Config& cfg_;
  worker::Runtime& rt_;
  worker::QsbrGrace& grace_;
  control::Plane* plane_;
  control::EventSink* events_;

  Phase phase_ = Phase::Idle;
  control::DiagnosticsRequest req_;
  std::function<void(control::DiagnosticsResult)> done_;
  std::chrono::steady_clock::time_point deadline_{};
  std::uint64_t grace_token_ = 0;
  std::int64_t t_unix_ = 0;        // snapshot time (file names)
  std::uint64_t start_ns_ = 0, start_tsc_ = 0, end_ns_ = 0;
  std::vector<std::unique_ptr<diag::CaptureBuffer>> buffers_;  // one per worker
  std::vector<std::shared_ptr<const tls::Context>> keylog_ctx_;  // contexts armed for the key log
  std::unique_ptr<Job> job_;
  std::thread writer_;
  std::atomic<bool> written_{false};  // release by the writer, acquire here
};

}  // namespace turnpike
