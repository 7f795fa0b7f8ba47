// The control socket: a Unix-domain, line-oriented server run by the
// control thread (never by a worker), in the command language of the
// Expressway CLI (xConfiguration / xStatus / xCommand), over a Plane.
//
// Framing (docs/control.md): a request is one line (LF, optional CR) of at
// most ControlOptions::max_line bytes. A reply is zero or more content lines
// followed by exactly one status line, "OK" or "ERROR: <reason>". No content
// line is "OK" or starts with "ERROR:" (such a line is sent indented by one
// space), so a client reads lines until the first status line.
//
// Certificate changes are staged in one transaction at a time (HAProxy's
// `set ssl cert` / `commit ssl cert` / `abort ssl cert`): the session that
// stages first owns it until Commit or Abort; another session's change is
// refused with a message naming the open transaction; a session that goes
// away aborts it. DPDK-free: data-plane counters come from ControlHooks.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "turnpike/control/diagnostics.hpp"
#include "turnpike/control/plane.hpp"

namespace turnpike::control {

// ---- command parser (pure; fuzzed by fuzz_control_socket)

// A request split into words, "Key: value" arguments and the output format:
//   xCommand Certificate Upload Store: Server Certificate: "/etc/a b.pem" Key: /k.pem
//   -> words {xCommand, Certificate, Upload}, args {{Store, Server}, ...}
// A value may be double-quoted (\" and \\ escapes inside); "--json" or
// "Format: json" select JSON (removed from words/args).
struct ParsedCommand {
  std::vector<std::string> words;
  std::vector<std::pair<std::string, std::string>> args;
  bool json = false;
  // The value of argument `key` (case-insensitive), if given.
  const std::string* arg(std::string_view key) const;
};

inline constexpr std::size_t kMaxCommandTokens = 64;

// "" on success, else why the line is malformed (out is then unspecified).
std::string parse_command(std::string_view line, ParsedCommand& out);

// ---- what the data plane adds (implemented by app/, DPDK-side)

// One value of a status or configuration tree: "Worker 0 BusyCycles" -> 42.
// Path words are separated by single spaces; JSON nests on them.
using ItemValue = std::variant<std::uint64_t, std::string>;
struct Item {
  std::string path;
  ItemValue value;
};

struct ControlHooks {
  std::function<std::vector<Item>()> status;  // xStatus: workers, ports, SIP, backends...
  std::function<std::vector<Item>()> config;  // xConfiguration reads: backends, egress, limits...
  // xCommand Reload: the whole-config reload (the SIGHUP path); "" on
  // success, else the reason nothing changed.
  std::function<std::string(const std::string& source)> reload;
  // xCommand Diagnostics Snapshot (control/diagnostics.hpp); unset: refused.
  DiagnosticsHook diagnostics;
};

struct ControlOptions {
  std::string path;           // read-write socket ("" : none)
  std::string readonly_path;  // monitoring socket: reads only ("" : none)
  std::string group;          // owner group of both sockets ("" : the daemon's)
  mode_t mode = 0660;
  std::size_t max_line = 64 * 1024;          // longer: ERROR, the line is skipped
  std::size_t max_clients = 16;              // more: ERROR and closed at once
  std::size_t max_output = 8 * 1024 * 1024;  // a client that stops reading is dropped
  std::size_t max_file = 1024 * 1024;        // certificate, key, CA, CRL files
};

// A reply before framing.
struct Reply {
  std::vector<std::string> lines;
  std::string error;  // empty: OK
  // Answered later (complete()): the client's further lines wait for it.
  bool deferred = false;
  std::string frame() const;  // lines + status line, each ending in '\n'
};

class ControlServer {
 public:
  ControlServer(Plane& plane, ControlHooks hooks, ControlOptions opts);
  ~ControlServer();  // aborts an open transaction, closes and unlinks the sockets
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Creates the sockets (parent directory, stale file removed, mode, group).
  // "" on success, else why (nothing is left listening then).
  std::string open();
  // Accepts, reads, runs complete lines and writes what it can; never
  // blocks longer than timeout_ms (0: not at all). Returns lines run.
  std::size_t poll(int timeout_ms = 0);

  // The same sessions without a socket (tests, fuzzing).
  int open_session(bool readonly, std::string who);
  Reply execute(int session, std::string_view line);
  // A deferred reply is ready: sends it to the session's client (if still
  // connected), then runs the lines that client sent meanwhile.
  void complete(int session, const Reply& r);
  void close_session(int session);  // aborts its transaction

  std::size_t clients() const { return clients_.size(); }
  bool transaction_open() const { return txn_.has_value(); }
  int transaction_owner() const { return txn_owner_; }

 private:
  struct Session {
    bool readonly = false;
    std::string who;  // "uid 0 pid 123 on /run/turnpike/turnpike.sock"
  };
  struct Client {
    int fd = -1;
    int session = 0;
    std::string in, out;
    std::size_t out_off = 0;  // bytes of `out` already sent (consumed by offset)
    bool skipping = false;  // discarding the rest of an oversized line
    bool closing = false;   // close once `out` is written
    bool waiting = false;   // a deferred reply is pending: input is held
    bool eof = false;       // the peer closed while a reply was pending
    std::string held;       // input received while waiting
  };
  struct Listener {
    int fd = -1;
    std::string path;
    bool readonly = false;
  };

  Reply run(Session& s, int id, const ParsedCommand& c);
  Reply cmd_help(const ParsedCommand& c);
  Reply cmd_configuration(Session& s, const ParsedCommand& c);
  Reply cmd_status(const ParsedCommand& c);
  Reply cmd_certificate(Session& s, int id, const ParsedCommand& c);
  Reply cmd_audit(const ParsedCommand& c);
  Reply cmd_events(const ParsedCommand& c);
  Reply cmd_reload(Session& s, const ParsedCommand& c);
  Reply cmd_diagnostics(Session& s, int id, const ParsedCommand& c);
  std::string render(std::string_view line);  // a read command's content lines
  Reply set_mode(Session& s, int id, const std::string& value);
  std::string busy_message(int id) const;  // "" when `id` may change state
  void abort_txn(const std::string& why, const std::string& source);
  std::vector<Item> config_items() const;
  std::vector<Item> status_items() const;

  void accept_on(Listener& l);
  bool read_from(Client& c);  // false: closed
  bool feed(Client& c, std::string_view data);  // runs complete lines; false: output over the bound
  bool write_to(Client& c);   // false: failed
  void drop(std::size_t idx);

  Plane& plane_;
  ControlHooks hooks_;
  ControlOptions opts_;
  std::vector<Listener> listeners_;
  std::vector<Client> clients_;
  std::map<int, Session> sessions_;
  int next_session_ = 1;
  std::uint64_t commands_ = 0, refused_ = 0, oversized_ = 0, rejected_clients_ = 0;

  // The one open certificate transaction.
  std::optional<Transaction> txn_;
  int txn_owner_ = 0;
  std::string txn_owner_who_;
  std::chrono::system_clock::time_point txn_since_{};
  std::vector<std::string> txn_steps_;  // what is staged, for messages and Show Staged
};

}  // namespace turnpike::control
