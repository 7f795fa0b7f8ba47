#include "diagnostics.hpp"

#include <rte_cycles.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "turnpike/control/store.hpp"
#include "turnpike/diag/pcapng.hpp"
#include "turnpike/log.hpp"
#include "turnpike/tls/engine.hpp"
#include "turnpike/tls/keylog.hpp"
#include "turnpike/worker/worker.hpp"

namespace turnpike {

namespace {

constexpr std::string_view kEventKeyLogOn = "TLS Key Logging Enabled";
constexpr std::string_view kEventKeyLogOff = "TLS Key Logging Disabled";
constexpr std::string_view kEventWritten = "Diagnostics Snapshot Written";
constexpr std::size_t kMaxEventLog = 16u << 20;  // the tail of the events file kept

// Host part of the file names: letters, digits, '-' and '.' only, so the
// '_' separators of <kind>_<host>_<time> stay unambiguous.
std::string host_name() {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0 || !h[0]) return "turnpike";
  std::string s(h);
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '-';
  return s;
}

std::uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000ull + std::uint64_t(ts.tv_nsec);
}

std::string tail_of_file(const std::string& path, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(std::max<std::streamoff>(0, in.tellg()));
  const std::size_t from = size > max ? size - max : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string s(size - from, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

}  // namespace

struct Diagnostics::Job {
  // In.
  std::string dir, host;
  std::int64_t t = 0;
  std::vector<std::unique_ptr<diag::CaptureBuffer>> buffers;
  std::vector<std::string> port_names;
  std::uint64_t start_ns = 0, end_ns = 0, start_tsc = 0, tsc_hz = 1;
  std::uint32_t snaplen = 65535;
  std::vector<diag::ArchiveEntry> entries;  // everything but the captures
  // Out.
  std::string path, error;
  std::uint64_t frames = 0, dropped = 0, truncated = 0, bytes = 0;

  void run() {
    // One pcapng per port: the frames of every worker for that port, in
    // time order (each worker's own frames are already in order).
    for (std::size_t p = 0; p < port_names.size(); ++p) {
      std::vector<std::pair<const diag::CaptureBuffer*, const diag::CapturedFrame*>> fr;
      std::uint64_t dropped_here = 0;
      for (auto& b : buffers) {
        for (const auto& f : b->frames())
          if (f.port == p) fr.emplace_back(b.get(), &f);
        dropped_here += b->dropped_on(static_cast<std::uint16_t>(p));
      }
      std::stable_sort(fr.begin(), fr.end(), [](auto& a, auto& b) { return a.second->tsc < b.second->tsc; });
      std::string out;
      diag::PcapngWriter w(out, "turnpike diagnostics snapshot");
      const std::string ifname = "eth" + std::to_string(p);
      const std::uint32_t ifc = w.add_interface(ifname, port_names[p], snaplen);
      for (auto& [b, f] : fr) {
        // The workers' TSC is invariant and shared: convert from the start.
        const auto dt = static_cast<__int128>(static_cast<std::int64_t>(f->tsc - start_tsc)) * 1'000'000'000 /
                        static_cast<__int128>(tsc_hz);
        w.packet(ifc, static_cast<std::uint64_t>(static_cast<__int128>(start_ns) + dt), b->bytes(*f), f->orig_len,
                 f->dir);
        bytes += f->caplen;
      }
      frames += fr.size();
      w.statistics(ifc, start_ns, end_ns, fr.size() + dropped_here, dropped_here,
                   dropped_here ? "capture bound reached: " + std::to_string(dropped_here) + " frame(s) not captured"
                                : std::string());
      entries.push_back({control::diagnostic_file_name(ifname + "_diagnostic_logging_tcpdump00", host, t, "pcapng"),
                         std::move(out)});
    }
    for (auto& b : buffers) {
      dropped += b->dropped_packets();
      truncated += b->truncated();
    }
    buffers.clear();  // the capture memory goes back before the archive is compressed
    path = (std::filesystem::path(dir) / control::diagnostic_file_name("diagnostics", host, t, "tar.gz")).string();
    error = diag::write_tar_gz(path, entries, t);
  }
};

Diagnostics::Diagnostics(const Config& cfg, worker::Runtime& rt, worker::QsbrGrace& grace, control::Plane* plane,
                         control::EventSink* events)
    : cfg_(cfg), rt_(rt), grace_(grace), plane_(plane), events_(events) {}

Diagnostics::~Diagnostics() {
  for (auto& w : rt_.workers) w->capture.store(nullptr, std::memory_order_relaxed);
  if (!keylog_ctx_.empty()) {
    for (auto& c : keylog_ctx_) c->set_keylog(nullptr);
    tls::KeyLog::instance().end();
  }
  if (writer_.joinable()) writer_.join();
}

void Diagnostics::emit(std::string_view kind, int level,
                       std::vector<std::pair<std::string_view, std::string>> fields) {
  control::EventLine e{kind, std::move(fields), level};
  if (plane_) plane_->emit(e);
  else if (events_) events_->submit(e);
}

std::string Diagnostics::start(control::DiagnosticsRequest req,
                               std::function<void(control::DiagnosticsResult)> done) {
  if (phase_ != Phase::Idle) {
    const auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline_ - std::chrono::steady_clock::now());
    return "a diagnostics snapshot is already running (" + req_.who + ", " +
           (phase_ == Phase::Capturing ? std::to_string(std::max<long long>(0, left.count())) + " s of capture left"
                                       : std::string("writing the archive")) +
           "); try again when it is done";
  }
  if (req.seconds > cfg_.diagnostics_max_seconds)
    return "Seconds: at most " + std::to_string(cfg_.diagnostics_max_seconds) + " (diagnostics.max_seconds)";
  std::shared_ptr<const control::DataplaneSnapshot> snap = plane_ ? plane_->publisher().current_shared() : nullptr;
  if (req.keylog) {
    const std::size_t n = snap ? snap->listener_ctx.size() : 0;
    if (req.listener < 1 || req.listener > n)
      return "KeyLog: no SIP TLS Listener " + std::to_string(req.listener) + " (" + std::to_string(n) +
             " configured)";
  }
  const std::string dir = cfg_.diagnostics_path();
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) {
    // Private: the archives hold certificates, traffic and maybe keys.
    if (!std::filesystem::create_directories(dir, ec) && ec) return "cannot create " + dir + ": " + ec.message();
    ::chmod(dir.c_str(), 0700);
  }
  if (::access(dir.c_str(), W_OK) != 0) return "cannot write to " + dir + ": " + std::strerror(errno);

  // Capture buffers: the bounds are shared out so that all workers together
  // stay within them; allocated and touched here, not by the workers.
  const unsigned nw = static_cast<unsigned>(rt_.workers.size());
  const std::uint64_t max_bytes = std::uint64_t(cfg_.diagnostics_max_mb) << 20;
  const std::uint64_t max_packets = req.max_packets ? req.max_packets : cfg_.diagnostics_max_packets;
  buffers_.clear();
  if (req.seconds)
    for (unsigned i = 0; i < nw; ++i)
      buffers_.push_back(std::make_unique<diag::CaptureBuffer>(diag::CaptureLimits{
          static_cast<std::size_t>(diag::share_of(max_bytes, nw, i)),
          static_cast<std::uint32_t>(diag::share_of(max_packets, nw, i)), cfg_.diagnostics_snaplen}));
  req_ = std::move(req);
  done_ = std::move(done);
  t_unix_ = static_cast<std::int64_t>(std::time(nullptr));
  start_tsc_ = rte_rdtsc();
  start_ns_ = realtime_ns();
  if (req_.keylog) {
    tls::KeyLog::instance().begin();
    keylog_ctx_.push_back(snap->listener_ctx[req_.listener - 1]);
    keylog_ctx_.back()->set_keylog(&tls::KeyLog::instance());
    log(LogLevel::Warn, "TLS key logging enabled for SIP TLS Listener %u for %u s (%s)", req_.listener, req_.seconds,
        req_.who.c_str());
    emit(kEventKeyLogOn, 1,
         {{"Detail", "NSS key log of SIP TLS Listener " + std::to_string(req_.listener) + " for " +
                         std::to_string(req_.seconds) + " s: whoever holds the snapshot can decrypt that traffic"},
          {"Listener", std::to_string(req_.listener)},
          {"Source", req_.who}});
  }
  // release: pairs with the worker's acquire fence (the buffer is ready).
  for (std::size_t i = 0; i < buffers_.size(); ++i)
    rt_.workers[i]->capture.store(buffers_[i].get(), std::memory_order_release);
  deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(req_.seconds);
  phase_ = Phase::Capturing;
  log(LogLevel::Info, "diagnostics snapshot: capturing for %u s (%s)", req_.seconds, req_.who.c_str());
  return {};
}

void Diagnostics::stop_capture() {
  for (auto& w : rt_.workers) w->capture.store(nullptr, std::memory_order_relaxed);
  if (!keylog_ctx_.empty()) {
    for (auto& c : keylog_ctx_) c->set_keylog(nullptr);
    tls::KeyLog::instance().end();
  }
  end_ns_ = realtime_ns();
  grace_token_ = grace_.start();
  phase_ = Phase::Grace;
}

// Everything the archive holds besides the captures, read on this thread
// (the stores, the renderers and the event sink belong to it).
void Diagnostics::collect() {
  job_ = std::make_unique<Job>();
  Job& j = *job_;
  j.dir = cfg_.diagnostics_path();
  j.host = host_name();
  j.t = t_unix_;
  j.buffers = std::move(buffers_);
  for (auto& p : rt_.ports) j.port_names.push_back(p.name + " (" + p.driver + " " + p.device + ")");
  j.start_ns = start_ns_;
  j.end_ns = end_ns_;
  j.start_tsc = start_tsc_;
  j.tsc_hz = rt_.tsc_hz ? rt_.tsc_hz : 1;
  j.snaplen = cfg_.diagnostics_snaplen;
  auto name = [&](std::string_view kind, std::string_view ext) {
    return control::diagnostic_file_name(kind, j.host, j.t, ext);
  };
  // Stores: the certificate chains only; private keys never leave the store.
  if (plane_)
    if (auto s = plane_->stores().snapshot())
      for (const char* kind : {"ca", "client", "server"}) j.entries.push_back({name(kind, "pem"), s->pem(kind)});
  if (req_.render) {
    j.entries.push_back({name("xconf_dump", "txt"), req_.render("xConfiguration") + "\n"});
    j.entries.push_back({name("xconf_dump", "json"), req_.render("xConfiguration --json") + "\n"});
    j.entries.push_back({name("xstat_dump", "txt"), req_.render("xStatus") + "\n"});
    j.entries.push_back({name("xstat_dump", "json"), req_.render("xStatus --json") + "\n"});
  }
  if (!keylog_ctx_.empty()) {
    tls::KeyLog& k = tls::KeyLog::instance();
    j.entries.push_back({name("keylog", "txt"), k.contents()});
    log(LogLevel::Warn, "TLS key logging disabled (%llu line(s), %llu dropped)",
        static_cast<unsigned long long>(k.lines()), static_cast<unsigned long long>(k.dropped()));
    emit(kEventKeyLogOff, 1,
         {{"Detail", "NSS key log of SIP TLS Listener " + std::to_string(req_.listener) + " ended"},
          {"Listener", std::to_string(req_.listener)},
          {"Lines", std::to_string(k.lines())},
          {"Source", req_.who}});
    keylog_ctx_.clear();
  }
  // The event log last, so it shows this snapshot's own events.
  std::string events;
  if (events_) events_->flush();
  if (!cfg_.events_file.empty()) events = tail_of_file(cfg_.events_file, kMaxEventLog);
  if (events.empty() && plane_)
    for (auto& l : plane_->stores().recent_events()) events += l + "\n";
  j.entries.push_back({name("loggingsnapshot", "txt"), std::move(events)});
  written_.store(false, std::memory_order_relaxed);
  writer_ = std::thread([this] {
    job_->run();
    written_.store(true, std::memory_order_release);
  });
  phase_ = Phase::Writing;
}

void Diagnostics::finish() {
  writer_.join();
  Job& j = *job_;
  control::DiagnosticsResult r;
  if (!j.error.empty()) {
    r.error = "diagnostics snapshot not written: " + j.error;
    log(LogLevel::Error, "%s", r.error.c_str());
  } else {
    r.lines.push_back("Path: " + j.path);
    r.lines.push_back("Files: " + std::to_string(j.entries.size()));
    r.lines.push_back("Seconds: " + std::to_string(req_.seconds));
    r.lines.push_back("Frames: " + std::to_string(j.frames));
    r.lines.push_back("FramesDropped: " + std::to_string(j.dropped));
    r.lines.push_back("FramesTruncated: " + std::to_string(j.truncated));
    r.lines.push_back("CaptureBytes: " + std::to_string(j.bytes));
    r.lines.push_back(std::string("KeyLog: ") + (req_.keylog ? "On" : "Off"));
    for (auto& e : j.entries) r.lines.push_back("File: " + e.name);
    log(LogLevel::Info, "diagnostics snapshot written: %s (%llu frames, %llu dropped by the bound)", j.path.c_str(),
        static_cast<unsigned long long>(j.frames), static_cast<unsigned long long>(j.dropped));
    emit(kEventWritten, 3,
         {{"Path", j.path}, {"Frames", std::to_string(j.frames)}, {"FramesDropped", std::to_string(j.dropped)},
          {"Source", req_.who}});
  }
  job_.reset();
  phase_ = Phase::Idle;
  auto done = std::move(done_);
  done_ = nullptr;
  req_ = {};
  // The reply must never take the daemon down.
  try {
    if (done) done(std::move(r));
  } catch (const std::exception& e) {
    log(LogLevel::Error, "diagnostics snapshot: reply failed: %s", e.what());
  }
}

void Diagnostics::poll() {
  switch (phase_) {
    case Phase::Idle: return;
    case Phase::Capturing:
      // A publication during the window brings new listener contexts: arm
      // the one that new sessions of the listener will use.
      if (!keylog_ctx_.empty() && plane_)
        if (auto s = plane_->publisher().current_shared(); s && req_.listener <= s->listener_ctx.size()) {
          const auto& c = s->listener_ctx[req_.listener - 1];
          if (c && std::find(keylog_ctx_.begin(), keylog_ctx_.end(), c) == keylog_ctx_.end()) {
            c->set_keylog(&tls::KeyLog::instance());
            keylog_ctx_.push_back(c);
          }
        }
      if (std::chrono::steady_clock::now() >= deadline_) stop_capture();
      return;
    case Phase::Grace:
      // After this, no worker holds a buffer pointer or is inside a key log append.
      if (grace_.done(grace_token_)) collect();
      return;
    case Phase::Writing:
      if (written_.load(std::memory_order_acquire)) finish();
      return;
  }
}

}  // namespace turnpike
