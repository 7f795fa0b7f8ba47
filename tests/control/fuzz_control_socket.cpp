// libFuzzer target for the control socket's command parser and reply
// framing: any line parses or is refused with a reason, never crashes, and
// a framed reply always ends in exactly one status line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "turnpike/control/socket.hpp"

using namespace turnpike::control;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  ParsedCommand c;
  const std::string err = parse_command(line, c);
  if (err.empty()) {
    if (c.words.empty() || c.args.size() + c.words.size() > kMaxCommandTokens) std::abort();
    for (const auto& [k, v] : c.args)
      if (k.empty() || c.arg(k) == nullptr) std::abort();
  }
  // Whatever a command echoes back (values, errors) keeps the framing.
  Reply r;
  r.lines.emplace_back(line);
  if (!err.empty()) r.error = std::string(line);
  const std::string f = r.frame();
  std::size_t status_lines = 0, start = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '\n') continue;
    std::string_view l(f.data() + start, i - start);
    if (l == "OK" || l.substr(0, 6) == "ERROR:") ++status_lines;
    start = i + 1;
  }
  if (status_lines != 1 || f.back() != '\n') std::abort();
  return 0;
}
