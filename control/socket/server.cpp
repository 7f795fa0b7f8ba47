// The socket side of the control server: Unix-domain listeners (read-write
// and read-only), non-blocking clients, line framing with a bound, sessions.
// Everything runs on the control thread from poll(); nothing here blocks.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "turnpike/control/socket.hpp"

namespace turnpike::control {

namespace {

std::string errno_text(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + std::strerror(errno);
}

bool fill_addr(const std::string& path, sockaddr_un& a) {
  std::memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return false;
  std::memcpy(a.sun_path, path.data(), path.size());
  return true;
}

}  // namespace

ControlServer::ControlServer(Plane& plane, ControlHooks hooks, ControlOptions opts)
    : plane_(plane), hooks_(std::move(hooks)), opts_(std::move(opts)) {}

ControlServer::~ControlServer() {
  abort_txn("the control server stopped", "control socket");
  for (auto& c : clients_) ::close(c.fd);
  clients_.clear();
  for (auto& l : listeners_) {
    ::close(l.fd);
    ::unlink(l.path.c_str());
  }
}

std::string ControlServer::open() {
  gid_t gid = static_cast<gid_t>(-1);
  if (!opts_.group.empty()) {
    group gr{}, *res = nullptr;
    std::vector<char> buf(16384);
    if (getgrnam_r(opts_.group.c_str(), &gr, buf.data(), buf.size(), &res) != 0 || !res)
      return "control.group: no group named \"" + opts_.group + "\"";
    gid = gr.gr_gid;
  }
  std::vector<Listener> made;
  auto undo = [&](std::string why) {
    for (auto& l : made) {
      ::close(l.fd);
      ::unlink(l.path.c_str());
    }
    return why;
  };
  for (auto [path, ro] : {std::pair{opts_.path, false}, std::pair{opts_.readonly_path, true}}) {
    if (path.empty()) continue;
    sockaddr_un a;
    if (!fill_addr(path, a)) return undo("control socket path too long (at most " + std::to_string(sizeof a.sun_path - 1) + " bytes): " + path);
    // The parent directory: created if missing (group-readable when a group
    // is given, so its members can reach the socket).
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    std::error_code ec;
    if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
      if (!std::filesystem::create_directories(parent, ec) && ec)
        return undo("cannot create " + parent.string() + ": " + ec.message());
      ::chmod(parent.c_str(), opts_.group.empty() ? 0755 : 0750);
      if (gid != static_cast<gid_t>(-1) && ::chown(parent.c_str(), static_cast<uid_t>(-1), gid) != 0)
        return undo(errno_text("cannot chown", parent.string()));
    }
    // A stale socket (a previous daemon that died) is removed; a live one
    // means another daemon owns it; anything else is not ours to delete.
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) return undo(path + " exists and is not a socket: not removing it");
      const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      if (probe >= 0) ::close(probe);
      if (live) return undo("another process is listening on " + path + " (is turnpike already running?)");
      ::unlink(path.c_str());
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return undo(errno_text("socket for", path));
    // Created private, then opened to the configured mode and group: never
    // reachable by others in between.
    const mode_t old = ::umask(0177);
    const int b = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::umask(old);
    if (b != 0) {
      std::string e = errno_text("cannot bind", path);
      ::close(fd);
      return undo(e);
    }
    made.push_back({fd, path, ro});
    if (gid != static_cast<gid_t>(-1) && ::chown(path.c_str(), static_cast<uid_t>(-1), gid) != 0)
      return undo(errno_text("cannot chown", path));
    if (::chmod(path.c_str(), opts_.mode) != 0) return undo(errno_text("cannot chmod", path));
    if (::listen(fd, 16) != 0) return undo(errno_text("cannot listen on", path));
  }
  listeners_ = std::move(made);
  return {};
}

int ControlServer::open_session(bool readonly, std::string who) {
  const int id = next_session_++;
  sessions_[id] = Session{readonly, std::move(who)};
  return id;
}

void ControlServer::close_session(int session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  if (txn_ && txn_owner_ == session)
    abort_txn("the client disconnected with the transaction open", "control socket (" + it->second.who + ")");
  sessions_.erase(it);
}

void ControlServer::accept_on(Listener& l) {
  for (int n = 0; n < 64; ++n) {
    const int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a client that went away before accept
    if (clients_.size() >= opts_.max_clients) {
      ++rejected_clients_;
      const std::string msg = "ERROR: too many control clients (" + std::to_string(opts_.max_clients) + "); try again later\n";
      [[maybe_unused]] ssize_t w = ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      continue;
    }
    ucred cr{};
    socklen_t len = sizeof cr;
    std::string who = "client";
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
      who = "uid " + std::to_string(cr.uid) + " pid " + std::to_string(cr.pid);
    if (l.readonly) who += " read-only";
    Client c;
    c.fd = fd;
    c.session = open_session(l.readonly, who);
    clients_.push_back(std::move(c));
  }
}

bool ControlServer::read_from(Client& c) {
  char buf[16384];
  // Bounded per poll: one busy client cannot hold the control loop.
  for (int rounds = 0; rounds < 16; ++rounds) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    if (n == 0) {
      // Peer closed (or half-closed): with a reply pending, the rest runs
      // once it is sent (complete()).
      if (c.waiting) {
        c.eof = true;
        return true;
      }
      // A last line without LF still runs, then the replies go out and the
      // connection closes.
      if (!c.skipping && !c.in.empty()) {
        Reply r = execute(c.session, c.in);
        c.in.clear();
        if (r.deferred) {
          c.waiting = c.eof = true;
          return true;
        }
        c.out += r.frame();
      }
      c.closing = true;
      return true;
    }
    if (!feed(c, std::string_view(buf, static_cast<std::size_t>(n)))) return false;
  }
  return true;
}

bool ControlServer::feed(Client& c, std::string_view data) {
  while (!data.empty()) {
    if (c.waiting) {
      // A deferred reply is pending: keep the input, in order, for later.
      c.held.append(data);
      return c.held.size() <= opts_.max_output;
    }
    const std::size_t nl = data.find('\n');
    const std::string_view part = data.substr(0, nl);
    if (c.skipping) {
      if (nl != std::string_view::npos) c.skipping = false;
    } else if (c.in.size() + part.size() > opts_.max_line) {
      ++oversized_;
      ++commands_;
      ++refused_;
      Reply r;
      r.error = "line longer than " + std::to_string(opts_.max_line) + " bytes: ignored, nothing changed";
      c.out += r.frame();
      c.in.clear();
      c.skipping = nl == std::string_view::npos;
    } else {
      c.in.append(part);
      if (nl != std::string_view::npos) {
        if (!c.in.empty() && c.in != "\r") {
          Reply r = execute(c.session, c.in);
          if (r.deferred) c.waiting = true;
          else c.out += r.frame();
        }
        c.in.clear();
      }
    }
    data = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
    if (c.out.size() > opts_.max_output) return false;  // not reading its replies
  }
  return true;
}

void ControlServer::complete(int session, const Reply& r) {
  for (auto& c : clients_) {
    if (c.session != session || !c.waiting) continue;
    c.out += r.frame();
    c.waiting = false;
    std::string held = std::move(c.held);
    c.held.clear();
    if (!feed(c, held)) c.closing = true;  // over the output bound: close once written
    if (c.eof && !c.waiting) {
      if (!c.skipping && !c.in.empty()) {
        Reply last = execute(c.session, c.in);
        c.in.clear();
        if (last.deferred) return;  // still waiting; closes after that reply
        c.out += last.frame();
      }
      c.closing = true;
    }
    return;
  }
}

bool ControlServer::write_to(Client& c) {
  while (c.out_off < c.out.size()) {
    const ssize_t n =
        ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.out_off += static_cast<std::size_t>(n);
  }
  c.out.clear();  // all sent: keeps the capacity for the next reply
  c.out_off = 0;
  return true;
}

void ControlServer::drop(std::size_t idx) {
  ::close(clients_[idx].fd);
  const int session = clients_[idx].session;
  clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(idx));
  close_session(session);  // aborts a transaction it left open
}

std::size_t ControlServer::poll(int timeout_ms) {
  std::vector<pollfd> fds;
  fds.reserve(listeners_.size() + clients_.size());
  for (auto& l : listeners_) fds.push_back({l.fd, POLLIN, 0});
  for (auto& c : clients_)
    fds.push_back({c.fd, static_cast<short>((c.closing || c.eof ? 0 : POLLIN) | (c.out.empty() ? 0 : POLLOUT)), 0});
  if (fds.empty()) return 0;
  const int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n <= 0) return 0;
  const std::uint64_t before = commands_;
  // Clients first (their indices match fds), then new connections.
  const std::size_t nl = listeners_.size(), nc = clients_.size();
  std::vector<bool> dead(nc, false);
  for (std::size_t i = 0; i < nc; ++i) {
    Client& c = clients_[i];
    const short ev = fds[nl + i].revents;
    if (ev & POLLNVAL) {
      dead[i] = true;
      continue;
    }
    if ((ev & (POLLIN | POLLHUP | POLLERR)) && !c.closing && !c.eof && !read_from(c)) dead[i] = true;
    if (!dead[i] && !write_to(c)) dead[i] = true;
    if (!dead[i] && c.closing && c.out.empty()) dead[i] = true;
    if (!dead[i] && (ev & (POLLHUP | POLLERR)) && c.closing) dead[i] = true;
    // Gone for good while its reply was pending: nobody to answer.
    if (!dead[i] && (ev & (POLLHUP | POLLERR)) && c.eof) dead[i] = true;
  }
  for (std::size_t i = nc; i-- > 0;)
    if (dead[i]) drop(i);
  for (std::size_t i = 0; i < nl; ++i)
    if (fds[i].revents & POLLIN) accept_on(listeners_[i]);
  return static_cast<std::size_t>(commands_ - before);
}

}  // namespace turnpike::control
