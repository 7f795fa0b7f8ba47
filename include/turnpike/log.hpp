// Minimal timestamped logging to stderr for the daemon (control thread and
// start-up only; workers never log on the fast path).
#pragma once
#include <cstdarg>

namespace turnpike {
enum class LogLevel { Debug, Info, Warn, Error };
void set_log_level(LogLevel l);
bool parse_log_level(const char* s, LogLevel& out);
[[gnu::format(printf, 2, 3)]] void log(LogLevel l, const char* fmt, ...);
}  // namespace turnpike
