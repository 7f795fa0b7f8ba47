// tp-sipecho: SIP backend for benchmarks. Plain TCP, one epoll thread; every
// request gets a 200 OK echoing Via/From/To/Call-ID/CSeq (RFC 3261 §8.2.6.2).
// A PROXY protocol header (v1 text or v2 binary) at the start of a
// connection is skipped. Runs until SIGTERM/SIGINT or --duration.
// --corrupt N answers every Nth request with a wrong CSeq, so tests can
// check that tp-loadgen notices answers that do not match their request.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "sipmsg.hpp"

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

struct Conn {
  std::string in, out;
  bool proxy_checked = false;
  bool want_out = false;  // EPOLLOUT armed
};

// Bytes of a PROXY header at the front of buf: >0 found, 0 none, -1 need more.
long proxy_header_len(const std::string& buf) {
  static const char v2sig[12] = {'\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
  if (buf.size() < 12) {
    if (std::memcmp(buf.data(), v2sig, buf.size()) == 0 || std::string_view(buf).starts_with(std::string_view("PROXY").substr(0, buf.size())))
      return -1;
    return 0;
  }
  if (std::memcmp(buf.data(), v2sig, 12) == 0) {
    if (buf.size() < 16) return -1;
    const long len = 16 + ((static_cast<unsigned char>(buf[14]) << 8) | static_cast<unsigned char>(buf[15]));
    return static_cast<long>(buf.size()) >= len ? len : -1;
  }
  if (buf.compare(0, 6, "PROXY ") == 0) {
    const auto e = buf.find("\r\n");
    if (e == std::string::npos) return buf.size() > 107 ? 0 : -1;
    return static_cast<long>(e + 2);
  }
  return 0;
}

void respond(std::string_view req, std::string& out, bool corrupt) {
  using tpbench::trim;
  out += "SIP/2.0 200 OK\r\n";
  const auto end = req.find("\r\n\r\n");
  const std::string_view head = req.substr(0, end + 2);
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t next = head.find("\r\n", pos + 2);
    const std::string_view line = head.substr(pos + 2, next - pos - 2);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      const auto n = trim(line.substr(0, colon));
      if (corrupt && tpbench::iequals(n, "CSeq")) {
        out += "CSeq: 999999 BOGUS\r\n";
        pos = next;
        continue;
      }
      for (const char* h : {"Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq"})
        if (tpbench::iequals(n, h)) {
          out.append(line);
          out += "\r\n";
          break;
        }
    }
    pos = next;
  }
  out += "Server: tp-sipecho\r\nContent-Length: 0\r\n\r\n";
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:5060";
  int cpu = -1;
  double duration = 3600;
  unsigned long long corrupt = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--listen") listen = val();
    else if (a == "--cpu") cpu = std::atoi(val().c_str());
    else if (a == "--duration") duration = std::atof(val().c_str());
    else if (a == "--corrupt") corrupt = std::strtoull(val().c_str(), nullptr, 10);
    else {
      std::fprintf(stderr, "usage: tp-sipecho [--listen ip:port] [--cpu N] [--duration S] [--corrupt N]\n");
      return 2;
    }
  }
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);

  const auto colon = listen.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(std::atoi(listen.c_str() + colon + 1)));
  if (colon == std::string::npos || inet_pton(AF_INET, listen.substr(0, colon).c_str(), &sa.sin_addr) != 1) {
    std::fprintf(stderr, "tp-sipecho: bad --listen %s\n", listen.c_str());
    return 2;
  }
  const int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(lfd, 4096) != 0) {
    std::perror("tp-sipecho: bind/listen");
    return 1;
  }
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = lfd;
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  std::unordered_map<int, Conn> conns;
  std::fprintf(stderr, "tp-sipecho: ready on %s\n", listen.c_str());
  std::fflush(stderr);

  unsigned long long requests = 0, accepted = 0, bad = 0, pings = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(duration);
  epoll_event evs[256];
  char buf[65536];
  auto close_conn = [&](int fd) {
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
  };
  while (!g_stop && std::chrono::steady_clock::now() < deadline) {
    const int n = epoll_wait(ep, evs, 256, 200);
    for (int k = 0; k < n; ++k) {
      const int fd = evs[k].data.fd;
      if (fd == lfd) {
        for (;;) {
          const int c = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns[c];
          ++accepted;
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Conn& c = it->second;
      bool gone = false;
      if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          const ssize_t r = ::read(fd, buf, sizeof buf);
          if (r > 0) { c.in.append(buf, static_cast<std::size_t>(r)); continue; }
          if (r == 0 || (errno != EAGAIN && errno != EINTR)) gone = true;
          if (r < 0 && errno == EINTR) continue;
          break;
        }
        if (!c.proxy_checked && !c.in.empty()) {
          const long p = proxy_header_len(c.in);
          if (p > 0) { c.in.erase(0, static_cast<std::size_t>(p)); c.proxy_checked = true; }
          else if (p == 0) c.proxy_checked = true;
        }
        std::size_t off = 0;
        while (c.proxy_checked) {
          // RFC 5626 keep-alives between messages: a ping (CRLFCRLF) gets
          // its pong (one CRLF, §4.4.1), so phones behind a TLS terminator
          // see their pongs; a stray CR or LF is skipped.
          bool split_ping = false;
          while (off < c.in.size() && (c.in[off] == '\r' || c.in[off] == '\n')) {
            const std::string_view rest = std::string_view(c.in).substr(off);
            if (rest.starts_with("\r\n\r\n")) {
              c.out += "\r\n";
              ++pings;
              off += 4;
            } else if (std::string_view("\r\n\r\n").starts_with(rest)) {
              split_ping = true;  // the rest of the ping is in the next read
              break;
            } else {
              ++off;
            }
          }
          if (split_ping) break;
          const long len = tpbench::frame_length(std::string_view(c.in).substr(off));
          if (len < 0) { ++bad; gone = true; break; }
          if (len == 0) break;
          const std::string_view msg(c.in.data() + off, static_cast<std::size_t>(len));
          if (!msg.starts_with("SIP/2.0 ")) {  // requests only; responses are dropped
            ++requests;
            respond(msg, c.out, corrupt && requests % corrupt == 0);
          }
          off += static_cast<std::size_t>(len);
        }
        c.in.erase(0, off);
      }
      while (!c.out.empty()) {
        const ssize_t w = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (w > 0) { c.out.erase(0, static_cast<std::size_t>(w)); continue; }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN) gone = true;
        break;
      }
      if (gone) { close_conn(fd); continue; }
      if (c.want_out != !c.out.empty()) {
        c.want_out = !c.out.empty();
        epoll_event cev{};
        cev.events = EPOLLIN | EPOLLRDHUP | (c.want_out ? unsigned(EPOLLOUT) : 0u);
        cev.data.fd = fd;
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
    }
  }
  for (auto& [fd, c] : conns) ::close(fd);
  std::fprintf(stderr, "tp-sipecho: accepted=%llu requests=%llu pings=%llu bad=%llu\n", accepted, requests, pings, bad);
  return 0;
}
