#include "turnpike/log.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/time.h>

namespace turnpike {

static std::atomic<int> g_level{static_cast<int>(LogLevel::Info)};

void set_log_level(LogLevel l) { g_level.store(static_cast<int>(l), std::memory_order_relaxed); }

bool parse_log_level(const char* s, LogLevel& out) {
  if (!std::strcmp(s, "debug")) out = LogLevel::Debug;
  else if (!std::strcmp(s, "info")) out = LogLevel::Info;
  else if (!std::strcmp(s, "warn")) out = LogLevel::Warn;
  else if (!std::strcmp(s, "error")) out = LogLevel::Error;
  else return false;
  return true;
}

void log(LogLevel l, const char* fmt, ...) {
  if (static_cast<int>(l) < g_level.load(std::memory_order_relaxed)) return;
  static const char* names[] = {"debug", "info", "warn", "error"};
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm t;
  gmtime_r(&tv.tv_sec, &t);
  char buf[1024];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d turnpike %s: ", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, int(tv.tv_usec / 1000),
                        names[static_cast<int>(l)]);
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf + n, sizeof buf - n, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "%s\n", buf);
}

}  // namespace turnpike
