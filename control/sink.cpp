// EventSink: bounded MPSC queue (per-cell sequence numbers, after D. Vyukov's
// bounded queue) drained by one writer thread into a size-rotated file.
#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <thread>

#include "turnpike/control/events.hpp"

namespace turnpike::control {

namespace {
struct alignas(64) Cell {
  // Cell i is free for the producer holding ticket pos when seq == pos, and
  // full for the consumer at pos when seq == pos + 1.
  std::atomic<uint64_t> seq;
  uint32_t len;
  char data[EventSink::kMaxLine];
};
}  // namespace

struct EventSink::Impl {
  SinkOptions opts;
  RateLimiter limiter;
  size_t mask;
  std::unique_ptr<Cell[]> cells;
  alignas(64) std::atomic<uint64_t> enqueue_pos{0};  // producers' ticket counter
  alignas(64) uint64_t dequeue_pos = 0;              // consumer only
  // Producers bump doorbell after publishing; the writer waits on it.
  alignas(64) std::atomic<uint32_t> doorbell{0};
  std::atomic<bool> stop{false};
  // Statistics: relaxed, read only for reporting.
  std::atomic<uint64_t> accepted{0}, written{0}, dropped_full{0}, dropped_long{0}, rotations{0},
      write_errors{0};
  // Consumer publishes how far it has written (release) so flush() can wait.
  std::atomic<uint64_t> done_pos{0};
  uint64_t reported_suppressed = 0;  // consumer only
  int64_t last_suppressed_report = 0;
  int fd = -1;
  uint64_t file_size = 0;
  std::thread writer;

  explicit Impl(SinkOptions o) : opts(std::move(o)), limiter(opts.rate_per_second) {
    size_t n = 2;
    while (n < opts.queue_capacity) n <<= 1;
    mask = n - 1;
    cells = std::make_unique<Cell[]>(n);
    for (size_t i = 0; i < n; ++i) cells[i].seq.store(i, std::memory_order_relaxed);
    open_file();
    writer = std::thread([this] { run(); });
  }

  void open_file() {
    if (opts.writer) return;  // lines go to the callback
    fd = ::open(opts.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
      write_errors.fetch_add(1, std::memory_order_relaxed);
      file_size = 0;
      return;
    }
    off_t end = ::lseek(fd, 0, SEEK_END);
    file_size = end > 0 ? static_cast<uint64_t>(end) : 0;
  }

  void rotate() {
    if (fd >= 0) {
      if (opts.fsync_on_rotate) ::fsync(fd);
      ::close(fd);
      fd = -1;
    }
    if (opts.max_files == 0) {
      ::unlink(opts.path.c_str());
    } else {
      for (unsigned i = opts.max_files; i > 1; --i)
        ::rename((opts.path + "." + std::to_string(i - 1)).c_str(), (opts.path + "." + std::to_string(i)).c_str());
      ::rename(opts.path.c_str(), (opts.path + ".1").c_str());
    }
    rotations.fetch_add(1, std::memory_order_relaxed);
    open_file();
  }

  void write_line(const char* p, size_t n) {
    if (opts.syslog) ::syslog(LOG_DAEMON | LOG_NOTICE, "%.*s", static_cast<int>(n), p);
    if (opts.writer) {
      opts.writer(std::string_view(p, n));
      written.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (file_size > 0 && file_size + n + 1 > opts.max_bytes) rotate();
    if (fd < 0) {
      write_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    char buf[kMaxLine + 1];
    std::memcpy(buf, p, n);
    buf[n] = '\n';
    ssize_t w = ::write(fd, buf, n + 1);  // O_APPEND: one write per line
    if (w != static_cast<ssize_t>(n + 1)) {
      write_errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    file_size += n + 1;
    written.fetch_add(1, std::memory_order_relaxed);
  }

  bool try_push(std::string_view line) {
    uint64_t pos = enqueue_pos.load(std::memory_order_relaxed);
    for (;;) {
      Cell& c = cells[pos & mask];
      // acquire: pairs with the consumer's release of seq, so its reads of
      // the previous lap's data are done before we overwrite the cell.
      uint64_t seq = c.seq.load(std::memory_order_acquire);
      int64_t dif = static_cast<int64_t>(seq) - static_cast<int64_t>(pos);
      if (dif == 0) {
        // relaxed: the ticket only arbitrates between producers; the data is
        // published through c.seq below.
        if (enqueue_pos.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          std::memcpy(c.data, line.data(), line.size());
          c.len = static_cast<uint32_t>(line.size());
          // release: the line is visible to the consumer that sees pos + 1.
          c.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (dif < 0) {
        return false;  // full: a whole lap behind the consumer
      } else {
        pos = enqueue_pos.load(std::memory_order_relaxed);
      }
    }
  }

  // Consumer side; returns false if empty.
  bool pop_and_write() {
    Cell& c = cells[dequeue_pos & mask];
    // acquire: pairs with the producer's release, making data/len visible.
    uint64_t seq = c.seq.load(std::memory_order_acquire);
    if (seq != dequeue_pos + 1) return false;
    write_line(c.data, c.len);
    // release: our reads of the cell happen before a producer reuses it.
    c.seq.store(dequeue_pos + mask + 1, std::memory_order_release);
    ++dequeue_pos;
    return true;
  }

  void report_suppressed() {
    uint64_t s = limiter.suppressed();
    if (s == reported_suppressed) return;
    int64_t now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    if (now == last_suppressed_report) return;  // at most one summary per second
    EventLine e{kEventSuppressed, {{"Count", std::to_string(s - reported_suppressed)}, {"Total", std::to_string(s)}}};
    std::string line = format_event(e);
    write_line(line.data(), line.size());
    reported_suppressed = s;
    last_suppressed_report = now;
  }

  void run() {
    for (;;) {
      // acquire: pairs with the producers' release increment, so the cells
      // they published before ringing are visible (seq is still re-checked).
      uint32_t bell = doorbell.load(std::memory_order_acquire);
      bool any = false;
      while (pop_and_write()) any = true;
      // release: flush() sees every line written before this position.
      done_pos.store(dequeue_pos, std::memory_order_release);
      if (any) report_suppressed();
      if (stop.load(std::memory_order_acquire)) {
        while (pop_and_write()) {
        }
        report_suppressed();
        done_pos.store(dequeue_pos, std::memory_order_release);
        break;
      }
      if (!any) {
        if (limiter.suppressed() != reported_suppressed) report_suppressed();
        doorbell.wait(bell, std::memory_order_acquire);
      }
    }
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }

  void ring() {
    // release: orders our cell publication before the bell for the waiter.
    doorbell.fetch_add(1, std::memory_order_release);
    doorbell.notify_one();
  }
};

EventSink::EventSink(SinkOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}

EventSink::~EventSink() {
  impl_->stop.store(true, std::memory_order_release);
  impl_->ring();
  impl_->writer.join();
}

EventSink::Push EventSink::submit(std::string_view kind, std::string_view source, std::string_view line) {
  if (line.size() > kMaxLine) {
    impl_->dropped_long.fetch_add(1, std::memory_order_relaxed);
    return Push::TooLong;
  }
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  if (!impl_->limiter.allow(kind, source, now)) {
    // Wake the writer on the first suppression of a burst (and every 1024th)
    // so the "Events Suppressed" summary is not held back until the next
    // accepted event; the other suppressed calls cost no syscall.
    if ((impl_->limiter.suppressed() & 1023) == 1) impl_->ring();
    return Push::RateLimited;
  }
  if (!impl_->try_push(line)) {
    impl_->dropped_full.fetch_add(1, std::memory_order_relaxed);
    return Push::QueueFull;
  }
  impl_->accepted.fetch_add(1, std::memory_order_relaxed);
  impl_->ring();
  return Push::Queued;
}

EventSink::Push EventSink::submit(const TlsErrorEvent& e) {
  char buf[kMaxLine];
  size_t n = format_tls_error_event(e, buf, sizeof buf);
  if (n == 0) {
    impl_->dropped_long.fetch_add(1, std::memory_order_relaxed);
    return Push::TooLong;
  }
  return submit(e.event, e.src_ip, {buf, n});
}

EventSink::Push EventSink::submit(const EventLine& e, std::string_view source) {
  return submit(e.kind, source, format_event(e));
}

void EventSink::flush() {
  // Everything handed out up to this ticket must be written.
  uint64_t target = impl_->enqueue_pos.load(std::memory_order_acquire);
  while (impl_->done_pos.load(std::memory_order_acquire) < target) {
    impl_->ring();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

SinkStats EventSink::stats() const {
  SinkStats s;
  s.accepted = impl_->accepted.load(std::memory_order_relaxed);
  s.written = impl_->written.load(std::memory_order_relaxed);
  s.dropped_full = impl_->dropped_full.load(std::memory_order_relaxed);
  s.dropped_long = impl_->dropped_long.load(std::memory_order_relaxed);
  s.suppressed = impl_->limiter.suppressed();
  s.rotations = impl_->rotations.load(std::memory_order_relaxed);
  s.write_errors = impl_->write_errors.load(std::memory_order_relaxed);
  return s;
}

}  // namespace turnpike::control
