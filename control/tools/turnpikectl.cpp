// turnpikectl: the command-line client of turnpike's control socket.
// It sends command lines and prints the replies; the daemon does the work
// (docs/control.md describes the language and the framing).
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "turnpike/text.hpp"

namespace {

enum Exit { kOk = 0, kRefused = 1, kUsage = 2, kNoConnect = 3 };

constexpr const char* kDefaultSocket = "/run/turnpike/turnpike.sock";

const char* kDescription = R"(NAME
    turnpikectl - control a running turnpike SIP-over-TLS edge

SYNOPSIS
    turnpikectl [--socket PATH] [--json] [--timeout S] COMMAND [WORDS...] [';' COMMAND...]
    turnpikectl [--socket PATH] [--json] -f FILE|-

DESCRIPTION
    turnpikectl connects to the daemon's control socket, sends one command
    line per COMMAND (all on one connection, in order) and prints each reply.
    The daemon reads every file named in a command itself: paths must be
    readable by the turnpike daemon; relative paths are made absolute here.
    A certificate change is staged and then committed in one connection: if
    the connection ends with a transaction open, the daemon aborts it.)";

const char* kFooter = R"(COMMANDS
    status [PATH...]            xStatus: workers, ports, SIP handshakes by Detail,
                                verdict cache, backends up/down, snapshot generation/age
    config [PATH...]            xConfiguration: EKU mode, listeners, backends, egress, limits
    mode [on|off]               show or set "SIP TLS Certificate ExtendedKeyUsage Checking Mode"
    reload                      re-read the configuration file (as SIGHUP)
    cert show [staged] [server|client|ca|crl]
                                subject, issuer, serial, validity, SANs, EKU, keyUsage, SHA-256
    cert swap server CERT KEY [--as-client] [--passphrase P]
    cert swap client CERT KEY [--passphrase P]
                                stage and commit a new certificate (one transaction)
    cert ca set|add FILE        replace / extend the CA bundle, and commit
    cert crl add NAME FILE | cert crl remove NAME
                                change a CRL, and commit
    audit                       EKU sunset audit: store certificates (clientAuth, issuer, expiry,
                                roles, public-CA cut-over), remotes, inbound peers, scenario, fix
    audit whatif [on|off]       what would fail under the open transaction and/or that EKU mode
    events [N]                  the last N control-plane events (default 20)
    diag [SECONDS] [keylog [LISTENER]] [max-packets N]
                                diagnostics snapshot: capture SECONDS (default 10, 0: none) on
                                every data-plane port, then one tar.gz (path printed): store PEMs
                                (never keys), xconf/xstat dumps, event log, pcapng per port and,
                                with keylog, an NSS key log of SIP TLS listener LISTENER (default 1)
                                so Wireshark decrypts it. Waits SECONDS + 60 s unless --timeout
    help                        the daemon's command list
    x...                        any command of the daemon's language, sent as is, e.g.
                                xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode: Off
                                xCommand Certificate Upload Store: Server Certificate: a.pem Key: a.key
                                xCommand Certificate Commit | Abort | Show Staged

OPTIONS
    --socket PATH               control socket (default $TURNPIKE_SOCKET, else /run/turnpike/turnpike.sock;
                                the read-only monitoring socket is /run/turnpike/turnpike.ro.sock)
    --json                      JSON replies for reads (same as "Format: json")
    --timeout S                 seconds to wait for each reply (default 30)
    -h, --help                  this page
    -f FILE, -f -               a session: commands from a file or stdin, one per line, sent
                                as they are read on one connection; each reply is printed with
                                its status line (OK or ERROR: ...); stops at the first refusal

EXIT STATUS
    0   every command succeeded (the daemon answered OK)
    1   the daemon refused a command (ERROR: ... on stderr); nothing changed
    2   usage error
    3   cannot connect to the socket (daemon not running, wrong path, not in the
        socket's group) or the connection was lost

EXAMPLES
    turnpikectl mode off
    turnpikectl cert show server
    turnpikectl cert swap server /etc/turnpike/new/server.pem /etc/turnpike/new/privkey.pem
    turnpikectl status SIP --json
    turnpikectl xCommand Certificate Upload Store: Server Certificate: s.pem Key: s.key ';' \
                xCommand Certificate Show Staged ';' xCommand Certificate Commit

FILES
    /run/turnpike/turnpike.sock, /run/turnpike/turnpike.ro.sock ([control] in turnpike.toml)
)";

// One word of a command line: quoted when it holds blanks or quotes (a
// "Key:" word is never quoted, so it stays a key).
std::string quote(const std::string& w) {
  if (!w.empty() && w.find_first_of(" \t\"\\") == std::string::npos) return w;
  std::string q = "\"";
  for (char c : w) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::string absolute(const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  std::error_code ec;
  auto a = std::filesystem::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

// Joins words into a line; the values of path arguments become absolute.
std::string join(const std::vector<std::string>& words) {
  std::string line;
  bool path_next = false;
  for (const auto& w : words) {
    std::string v = path_next ? absolute(w) : w;
    path_next = false;
    for (const char* k : {"Certificate:", "Key:", "File:"})
      if (strcasecmp(w.c_str(), k) == 0) path_next = true;
    line += (line.empty() ? "" : " ") + (path_next ? v : quote(v));
  }
  return line;
}

bool is_status(const std::string& l) { return l == "OK" || l.rfind("ERROR:", 0) == 0; }

class Conn {
 public:
  ~Conn() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::string open(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) return "socket path too long: " + path;
    std::memcpy(a.sun_path, path.data(), path.size());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return std::strerror(errno);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int e = errno;
      std::string why = "cannot connect to " + path + ": " + std::strerror(e);
      if (e == EACCES) why += " (not in the socket's group? see [control] group in turnpike.toml)";
      if (e == ENOENT || e == ECONNREFUSED) why += " (is turnpike running? is [control] socket set?)";
      return why;
    }
    return {};
  }
  // Sends one line and reads the reply: content lines to `out`, the status
  // line to `status`. false: the connection failed.
  bool call(const std::string& line, int timeout_s, std::vector<std::string>& out, std::string& status) {
    const std::string msg = line + "\n";
    for (std::size_t off = 0; off < msg.size();) {
      const ssize_t n = ::send(fd_, msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (true) {
      std::size_t nl;
      while ((nl = buf_.find('\n')) != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (is_status(l)) {
          status = l;
          return true;
        }
        // The server indents a content line that would look like a status.
        if (l.size() > 1 && l[0] == ' ' && is_status(l.substr(1))) l.erase(0, 1);
        out.push_back(std::move(l));
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        status = "ERROR: no reply within " + std::to_string(timeout_s) + " s";
        return false;
      }
      pollfd p{fd_, POLLIN, 0};
      const int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) continue;
      char b[16384];
      const ssize_t n = ::recv(fd_, b, sizeof b, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf_.append(b, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

// A convenience command -> command lines of the daemon's language; empty
// with `err` set on a usage error.
std::vector<std::string> translate(const std::vector<std::string>& w, bool json, std::string& err) {
  const auto lower = [](std::string_view s) { return turnpike::ascii_lower(s); };
  const std::string cmd = lower(w[0]);
  const std::string fmt = json ? " Format: json" : "";
  auto rest = [&](std::size_t from) {
    std::vector<std::string> r(w.begin() + static_cast<std::ptrdiff_t>(from), w.end());
    return r;
  };
  if (cmd[0] == 'x' || cmd == "help" || cmd == "?") return {join(w) + fmt};
  if (cmd == "reload" && w.size() == 1) return {"xCommand Reload"};
  if (cmd == "status") return {join([&] { auto r = rest(1); r.insert(r.begin(), "xStatus"); return r; }()) + fmt};
  if (cmd == "config") return {join([&] { auto r = rest(1); r.insert(r.begin(), "xConfiguration"); return r; }()) + fmt};
  if (cmd == "audit" && w.size() == 1) return {"xCommand Audit" + fmt};
  if (cmd == "audit" && lower(w[1]) == "whatif" && w.size() <= 3) {
    if (w.size() == 2) return {"xCommand Audit WhatIf" + fmt};  // the open transaction
    const std::string m = lower(w[2]);
    if (m != "on" && m != "off") {
      err = "audit whatif: expected on or off";
      return {};
    }
    return {"xCommand Audit WhatIf Mode: " + std::string(m == "on" ? "On" : "Off") + fmt};
  }
  if (cmd == "diag") {
    auto num = [](const std::string& s) { return !s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos; };
    std::string line = "xCommand Diagnostics Snapshot";
    std::size_t i = 1;
    if (i < w.size() && num(w[i])) line += " Seconds: " + w[i++];
    for (; i < w.size(); ++i) {
      const std::string a = lower(w[i]);
      if (a == "keylog") {
        line += " KeyLog: On";
        if (i + 1 < w.size() && num(w[i + 1])) line += " Listener: " + w[++i];
      } else if (a == "max-packets" && i + 1 < w.size() && num(w[i + 1])) {
        line += " MaxPackets: " + w[++i];
      } else {
        err = "diag: expected [SECONDS] [keylog [LISTENER]] [max-packets N]";
        return {};
      }
    }
    return {line + fmt};
  }
  if (cmd == "events" && w.size() <= 2) {
    if (w.size() == 2 && w[1].find_first_not_of("0123456789") != std::string::npos) {
      err = "events: N must be a number";
      return {};
    }
    return {"xCommand Events Tail" + (w.size() == 2 ? " Lines: " + w[1] : std::string()) + fmt};
  }
  if (cmd == "mode") {
    const std::string key = "xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode";
    if (w.size() == 1) return {key + fmt};
    const std::string v = lower(w[1]);
    if (w.size() == 2 && (v == "on" || v == "off")) return {key + ": " + (v == "on" ? "On" : "Off")};
    err = "mode: expected on or off";
    return {};
  }
  if (cmd == "cert" && w.size() >= 2) {
    const std::string sub = lower(w[1]);
    if (sub == "show") {
      std::string line = "xCommand Certificate Show";
      for (std::size_t i = 2; i < w.size(); ++i) {
        const std::string a = lower(w[i]);
        if (a == "staged") line += " Staged";
        else if (a == "server" || a == "client" || a == "ca" || a == "crl") line += " Store: " + w[i];
        else {
          err = "cert show: unexpected " + w[i] + " (staged, server, client, ca, crl)";
          return {};
        }
      }
      return {line + fmt};
    }
    if (sub == "swap" && w.size() >= 5) {
      const std::string store = lower(w[2]);
      if (store != "server" && store != "client") {
        err = "cert swap: server or client";
        return {};
      }
      std::string line = "xCommand Certificate Upload Store: " + std::string(store == "server" ? "Server" : "Client") +
                         " Certificate: " + quote(absolute(w[3])) + " Key: " + quote(absolute(w[4]));
      for (std::size_t i = 5; i < w.size(); ++i) {
        if (w[i] == "--as-client" && store == "server") line += " AsClient: Yes";
        else if (w[i] == "--passphrase" && i + 1 < w.size()) line += " Passphrase: " + quote(w[++i]);
        else {
          err = "cert swap: unexpected " + w[i];
          return {};
        }
      }
      return {line, "xCommand Certificate Commit"};
    }
    if (sub == "ca" && w.size() == 4 && (lower(w[2]) == "set" || lower(w[2]) == "add"))
      return {"xCommand Certificate CA " + std::string(lower(w[2]) == "set" ? "Set" : "Add") + " File: " + quote(absolute(w[3])),
              "xCommand Certificate Commit"};
    if (sub == "crl" && w.size() == 5 && lower(w[2]) == "add")
      return {"xCommand Certificate CRL Add Name: " + quote(w[3]) + " File: " + quote(absolute(w[4])),
              "xCommand Certificate Commit"};
    if (sub == "crl" && w.size() == 4 && lower(w[2]) == "remove")
      return {"xCommand Certificate CRL Remove Name: " + quote(w[3]), "xCommand Certificate Commit"};
  }
  err = "unknown command \"" + w[0] + "\" (turnpikectl --help)";
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  // --help prints the whole page (NAME .. FILES), man-style, to stdout.
  CLI::App app{"turnpikectl", "turnpikectl"};
  app.set_help_flag();
  bool help = false;
  app.add_flag("-h,--help", help, "This page");
  std::string socket_path;
  if (const char* env = std::getenv("TURNPIKE_SOCKET"); env && *env) socket_path = env;
  else socket_path = kDefaultSocket;
  bool json = false;
  int timeout_s = 30;
  std::string file;
  app.add_option("--socket", socket_path, "Control socket path");
  app.add_flag("--json", json, "JSON replies for reads");
  app.add_option("--timeout", timeout_s, "Seconds to wait for each reply")->check(CLI::Range(1, 3600));
  app.add_option("-f,--file", file, "Commands from FILE (or - for stdin), one per line");
  app.prefix_command();  // everything from the first command word on is the command
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kUsage;
  }
  if (help) {
    std::cout << kDescription << "\n\n" << kFooter;
    return kOk;
  }
  // A diagnostics snapshot answers after its capture window: wait for the
  // window plus a minute to write the archive, unless --timeout was given.
  const bool timeout_given = app.count("--timeout") > 0;
  auto wait_for = [&](const std::string& line) {
    const std::string l = turnpike::ascii_lower(line);
    if (timeout_given || l.find("diagnostics") == std::string::npos) return timeout_s;
    int secs = 10;
    if (auto at = l.find("seconds:"); at != std::string::npos) {
      at = l.find_first_not_of(' ', at + 8);
      if (at != std::string::npos && std::isdigit(static_cast<unsigned char>(l[at])))
        secs = std::atoi(l.c_str() + at);
    }
    return std::max(timeout_s, std::min(secs, 3600) + 60);
  };
  std::vector<std::string> words;
  for (auto& w : app.remaining()) {
    if (w == "--json") json = true;
    else words.push_back(w);
  }

  // -f: a session fed line by line (each reply printed with its status
  // line as it arrives, so a script or a person can drive one transaction).
  if (!file.empty()) {
    if (!words.empty()) {
      std::cerr << "turnpikectl: -f and command words are exclusive\n";
      return kUsage;
    }
    FILE* f = file == "-" ? stdin : std::fopen(file.c_str(), "r");
    if (!f) {
      std::cerr << "turnpikectl: cannot read " << file << ": " << std::strerror(errno) << "\n";
      return kUsage;
    }
    Conn c;
    if (std::string e = c.open(socket_path); !e.empty()) {
      std::cerr << "turnpikectl: " << e << "\n";
      return kNoConnect;
    }
    char* l = nullptr;
    size_t cap = 0;
    ssize_t n;
    int rc = kOk;
    while (rc == kOk && (n = getline(&l, &cap, f)) >= 0) {
      std::string s(l, static_cast<std::size_t>(n));
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      const std::size_t first = s.find_first_not_of(" \t");
      if (first == std::string::npos || s[first] == '#') continue;
      if (json && s.find("--json") == std::string::npos) s += " --json";
      std::vector<std::string> out;
      std::string status;
      const bool ok = c.call(s, wait_for(s), out, status);
      for (auto& o : out) std::cout << o << "\n";
      if (!ok) {
        std::cout.flush();
        std::cerr << "turnpikectl: " << (status.empty() ? "connection to " + socket_path + " lost" : status) << "\n";
        rc = kNoConnect;
      } else {
        std::cout << status << std::endl;  // flushed: the reader may be waiting for it
        if (status != "OK") rc = kRefused;  // stop: later lines may depend on this one
      }
    }
    std::free(l);
    if (f != stdin) std::fclose(f);
    return rc;
  }

  // Command words, split on ';', all on one connection.
  std::vector<std::string> lines;
  std::vector<std::vector<std::string>> cmds(1);
  for (auto& w : words) {
    if (w == ";") cmds.emplace_back();
    else cmds.back().push_back(w);
  }
  for (auto& cw : cmds) {
    if (cw.empty()) {
      std::cerr << "turnpikectl: no command (turnpikectl --help)\n";
      return kUsage;
    }
    std::string err;
    auto t = translate(cw, json, err);
    if (!err.empty()) {
      std::cerr << "turnpikectl: " << err << "\n";
      return kUsage;
    }
    lines.insert(lines.end(), t.begin(), t.end());
  }

  Conn c;
  if (std::string e = c.open(socket_path); !e.empty()) {
    std::cerr << "turnpikectl: " << e << "\n";
    return kNoConnect;
  }
  for (const auto& line : lines) {
    std::vector<std::string> out;
    std::string status;
    const bool ok = c.call(line, wait_for(line), out, status);
    for (auto& l : out) std::cout << l << "\n";
    std::cout.flush();
    if (!ok) {
      std::cerr << "turnpikectl: " << (status.empty() ? "connection to " + socket_path + " lost" : status) << "\n";
      return kNoConnect;
    }
    if (status != "OK") {
      std::cerr << "turnpikectl: " << status << "\n";
      return kRefused;
    }
  }
  return kOk;
}
