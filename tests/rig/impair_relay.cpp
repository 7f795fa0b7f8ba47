// tp-impair: user-space link impairment between two interfaces (this kernel
// has no netem). Frames read on one side with AF_PACKET are written to the
// other after loss, delay with jitter, reordering, duplication and corruption
// chosen per direction by a seeded PRNG. Every action is counted; the counts
// are written as JSON to --stats on exit (SIGTERM/SIGINT) and on SIGUSR1, so
// a test can prove the impairment happened. It relays any EtherType; IPv6
// frames (0x86dd, also behind one 802.1Q tag) are counted apart as well
// ("ipv6" in each direction), so a test over both families can tell that
// its IPv6 traffic, ND included, was impaired and not only its IPv4.
//
// usage: tp-impair --left IF --right IF [--seed N] [--stats FILE]
//          [--loss P] [--delay MS] [--jitter MS] [--reorder P] [--reorder-gap MS]
//          [--duplicate P] [--corrupt P]   (P in percent; both directions)
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <random>
#include <string>
#include <vector>

namespace {

std::atomic<bool> g_stop{false}, g_dump{false};
void on_signal(int s) {
  if (s == SIGUSR1) g_dump = true;
  else g_stop = true;
}

std::uint64_t now_us() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000 + std::uint64_t(ts.tv_nsec) / 1000;
}

struct Params {
  double loss = 0, reorder = 0, duplicate = 0, corrupt = 0;  // probabilities 0..1
  double delay_ms = 0, jitter_ms = 0, reorder_gap_ms = 10;
};

struct Counts {
  std::uint64_t received = 0, forwarded = 0, dropped = 0, duplicated = 0, reordered = 0, corrupted = 0,
                delayed = 0, send_errors = 0;
};
struct Stats : Counts {
  Counts ipv6;  // the IPv6 frames among them
};

// EtherType 0x86dd, directly or behind one 802.1Q / 802.1ad tag.
bool is_ipv6_frame(const std::uint8_t* p, std::size_t n) {
  if (n < 14) return false;
  std::uint16_t type = std::uint16_t(p[12] << 8 | p[13]);
  if ((type == 0x8100 || type == 0x88a8) && n >= 18) type = std::uint16_t(p[16] << 8 | p[17]);
  return type == 0x86dd;
}

struct Frame {
  std::uint64_t due;
  std::uint64_t seq;  // FIFO among equal due times
  int out;
  bool ipv6;
  std::vector<std::uint8_t> bytes;
  bool operator>(const Frame& o) const { return due != o.due ? due > o.due : seq > o.seq; }
};

int open_if(const char* name) {
  const unsigned idx = if_nametoindex(name);
  if (!idx) {
    std::fprintf(stderr, "tp-impair: no interface %s\n", name);
    std::exit(2);
  }
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (fd < 0) {
    std::perror("tp-impair: socket(AF_PACKET)");
    std::exit(2);
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = int(idx);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) {
    std::perror("tp-impair: bind");
    std::exit(2);
  }
  int one = 1;
  // Do not read back what we ourselves send on this interface.
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  int buf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf);
  return fd;
}

void dump(const char* path, const Stats (&st)[2], const Params& p, std::uint64_t seed) {
  FILE* f = path ? std::fopen(path, "w") : stderr;
  if (!f) return;
  std::fprintf(f,
               "{\"seed\": %llu, \"loss\": %.4f, \"delay_ms\": %.2f, \"jitter_ms\": %.2f, \"reorder\": %.4f, "
               "\"duplicate\": %.4f, \"corrupt\": %.4f",
               (unsigned long long)seed, p.loss, p.delay_ms, p.jitter_ms, p.reorder, p.duplicate, p.corrupt);
  const char* names[2] = {"left_to_right", "right_to_left"};
  auto counts = [f](const Counts& s) {
    std::fprintf(f,
                 "\"received\": %llu, \"forwarded\": %llu, \"dropped\": %llu, \"duplicated\": %llu, "
                 "\"reordered\": %llu, \"corrupted\": %llu, \"delayed\": %llu, \"send_errors\": %llu",
                 (unsigned long long)s.received, (unsigned long long)s.forwarded, (unsigned long long)s.dropped,
                 (unsigned long long)s.duplicated, (unsigned long long)s.reordered, (unsigned long long)s.corrupted,
                 (unsigned long long)s.delayed, (unsigned long long)s.send_errors);
  };
  for (int d = 0; d < 2; ++d) {
    std::fprintf(f, ", \"%s\": {", names[d]);
    counts(st[d]);
    std::fprintf(f, ", \"ipv6\": {");
    counts(st[d].ipv6);
    std::fprintf(f, "}}");
  }
  std::fprintf(f, "}\n");
  if (path) std::fclose(f);
}

double arg_num(const char* opt, const char* v, double lo, double hi) {
  char* end;
  const double x = std::strtod(v, &end);
  if (*end || x < lo || x > hi) {
    std::fprintf(stderr, "tp-impair: %s %s: expected a number in [%g, %g]\n", opt, v, lo, hi);
    std::exit(2);
  }
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  const char *left = nullptr, *right = nullptr, *stats_path = nullptr;
  std::uint64_t seed = 1;
  Params p;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "tp-impair: %s needs a value\n", a.c_str());
      return 2;
    }
    const char* v = argv[++i];
    if (a == "--left") left = v;
    else if (a == "--right") right = v;
    else if (a == "--stats") stats_path = v;
    else if (a == "--seed") seed = std::strtoull(v, nullptr, 10);
    else if (a == "--loss") p.loss = arg_num("--loss", v, 0, 100) / 100;
    else if (a == "--delay") p.delay_ms = arg_num("--delay", v, 0, 10000);
    else if (a == "--jitter") p.jitter_ms = arg_num("--jitter", v, 0, 10000);
    else if (a == "--reorder") p.reorder = arg_num("--reorder", v, 0, 100) / 100;
    else if (a == "--reorder-gap") p.reorder_gap_ms = arg_num("--reorder-gap", v, 0, 10000);
    else if (a == "--duplicate") p.duplicate = arg_num("--duplicate", v, 0, 100) / 100;
    else if (a == "--corrupt") p.corrupt = arg_num("--corrupt", v, 0, 100) / 100;
    else {
      std::fprintf(stderr, "tp-impair: unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (!left || !right) {
    std::fprintf(stderr, "usage: tp-impair --left IF --right IF [--loss P --delay MS --jitter MS --reorder P "
                         "--duplicate P --corrupt P --seed N --stats FILE]\n");
    return 2;
  }
  if (p.jitter_ms > p.delay_ms) p.jitter_ms = p.delay_ms;  // never schedule into the past
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGUSR1, &sa, nullptr);

  const int fds[2] = {open_if(left), open_if(right)};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0, 1);
  Stats st[2];
  std::priority_queue<Frame, std::vector<Frame>, std::greater<Frame>> q;
  std::uint64_t seq = 0;
  std::vector<std::uint8_t> buf(65536);
  std::fprintf(stderr, "tp-impair: %s <-> %s ready\n", left, right);
  while (!g_stop) {
    if (g_dump.exchange(false)) dump(stats_path, st, p, seed);
    int timeout_ms = 100;
    if (!q.empty()) {
      const std::uint64_t n = now_us();
      timeout_ms = q.top().due <= n ? 0 : int((q.top().due - n + 999) / 1000);
    }
    pollfd pfd[2] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}};
    if (poll(pfd, 2, timeout_ms) < 0 && errno != EINTR) break;
    for (int d = 0; d < 2; ++d) {
      if (!(pfd[d].revents & POLLIN)) continue;
      for (int burst = 0; burst < 256; ++burst) {
        const ssize_t n = recv(fds[d], buf.data(), buf.size(), 0);
        if (n <= 0) break;
        Stats& s = st[d];
        const bool v6 = is_ipv6_frame(buf.data(), std::size_t(n));
        // Every count goes to the total and, for an IPv6 frame, to its own.
        auto count = [&](std::uint64_t Counts::*m) {
          ++(s.*m);
          if (v6) ++(s.ipv6.*m);
        };
        count(&Counts::received);
        if (u01(rng) < p.loss) {
          count(&Counts::dropped);
          continue;
        }
        const int copies = u01(rng) < p.duplicate ? 2 : 1;
        if (copies == 2) count(&Counts::duplicated);
        for (int c = 0; c < copies; ++c) {
          Frame f{0, seq++, fds[1 - d], v6, std::vector<std::uint8_t>(buf.begin(), buf.begin() + n)};
          // Corrupt a byte past the Ethernet header: receivers must catch it
          // by checksum; the L2 addressing stays intact so it is delivered.
          if (n > 14 && u01(rng) < p.corrupt) {
            f.bytes[14 + std::size_t(u01(rng) * double(n - 14)) % std::size_t(n - 14)] ^=
                std::uint8_t(1u << int(u01(rng) * 8));
            count(&Counts::corrupted);
          }
          double delay = p.delay_ms + (p.jitter_ms > 0 ? (u01(rng) * 2 - 1) * p.jitter_ms : 0);
          if (u01(rng) < p.reorder) {
            delay += p.reorder_gap_ms;  // held back: frames behind it overtake
            count(&Counts::reordered);
          }
          if (delay > 0) count(&Counts::delayed);
          f.due = now_us() + std::uint64_t(delay * 1000);
          q.push(std::move(f));
        }
      }
    }
    const std::uint64_t n = now_us();
    while (!q.empty() && q.top().due <= n) {
      const Frame& f = q.top();
      const int d = f.out == fds[1] ? 0 : 1;
      const bool ok = send(f.out, f.bytes.data(), f.bytes.size(), 0) >= 0;
      ++(ok ? st[d].forwarded : st[d].send_errors);
      if (f.ipv6) ++(ok ? st[d].ipv6.forwarded : st[d].ipv6.send_errors);
      q.pop();
    }
  }
  dump(stats_path, st, p, seed);
  return 0;
}
