// xCommand Diagnostics Snapshot, as the control socket hands it to the
// daemon (dataplane/app/diagnostics.cpp): started by the command, answered
// when the archive is written (the socket holds that client's reply and its
// further lines until then; other clients are served meanwhile).
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike::control {

struct DiagnosticsRequest {
  unsigned seconds = 10;          // capture window (0: no capture)
  bool keylog = false;            // NSS key log of one listener during the window
  unsigned listener = 1;          // SIP TLS Listener N (1-based) for the key log
  std::uint32_t max_packets = 0;  // 0: [diagnostics] max_packets
  std::string who;                // the client, for events
  // Renders a read command ("xConfiguration", "xStatus --json") as the
  // socket would answer it: the content lines joined with '\n'.
  std::function<std::string(std::string_view line)> render;
};

struct DiagnosticsResult {
  std::vector<std::string> lines;
  std::string error;  // empty: OK
};

// "" when started (`done` is called later, on the control thread), else the
// refusal (nothing started, `done` never called).
using DiagnosticsHook =
    std::function<std::string(DiagnosticsRequest req, std::function<void(DiagnosticsResult)> done)>;

}  // namespace turnpike::control
