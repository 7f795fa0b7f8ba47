// tp-loadgen: kernel-socket SIP-over-TLS load generator (wolfSSL client,
// one epoll thread, non-blocking sockets). Modes:
//   handshake  connect, TLS 1.3 full handshake, one OPTIONS, await answer, close
//   resume     the same, resuming with the previous connection's ticket (RFC 8446 §2.2)
//   mtls       handshake with a client certificate (--cert/--key)
//   reqresp    --conns persistent connections, closed loop of 700-byte REGISTERs
//   idle       --conns connections, one OPTIONS each, then held open for --hold s
// Every answer must echo the request's Call-ID and CSeq (RFC 3261 §8.2.6.2)
// with a 2xx status; anything else is counted and makes the exit code non-zero.
// --sample CMD runs CMD (sh -c) at the start and end of the measured window and
// stores its stdout in the JSON, so a caller can read proxy counters exactly there.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sipmsg.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double now_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

enum class Mode { Handshake, Resume, Mtls, ReqResp, Idle };

struct Options {
  Mode mode = Mode::Handshake;
  std::string target;
  sockaddr_in addr{};
  std::string ca, cert, key;
  std::string groups = "P-256";
  std::string cipher = "TLS13-AES128-GCM-SHA256";
  unsigned conns = 10;
  unsigned long long count = 0;  // 0: duration only
  double duration = 10;
  double timeout = 5;  // per operation
  double hold = 5;     // idle mode
  unsigned parallel_open = 200;
  int cpu = -1;
  std::string json;
  std::string sample;
  unsigned long long max_errors = 0;
  unsigned body_size = 700;
};

[[noreturn]] void usage(const char* why) {
  if (why) std::fprintf(stderr, "tp-loadgen: %s\n", why);
  std::fprintf(stderr,
               "usage: tp-loadgen MODE IP:PORT [options]\n"
               "  MODE: handshake | resume | mtls | reqresp | idle\n"
               "  --ca FILE            verify the server against this CA (default: no verification)\n"
               "  --cert FILE --key FILE  client certificate chain and key (mtls)\n"
               "  --groups P-256|X25519   key exchange group (default P-256)\n"
               "  --cipher NAME        wolfSSL suite name (default TLS13-AES128-GCM-SHA256)\n"
               "  --conns N            concurrent connections (default 10)\n"
               "  --count N            stop after N operations (connections or requests)\n"
               "  --duration S         stop after S seconds of measurement (default 10; max 600)\n"
               "  --timeout S          per-operation timeout (default 5)\n"
               "  --hold S             idle mode: hold the connections S seconds (default 5)\n"
               "  --parallel-open N    connections handshaking at once while opening (default 200)\n"
               "  --size N             REGISTER size in bytes (default 700)\n"
               "  --cpu N              pin to CPU N\n"
               "  --json FILE|-        write results as JSON\n"
               "  --sample CMD         run CMD at the start and end of the measured window\n"
               "  --max-errors N       errors tolerated before the exit code turns non-zero (default 0)\n");
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 3) usage(nullptr);
  const std::string m = argv[1];
  if (m == "handshake") o.mode = Mode::Handshake;
  else if (m == "resume") o.mode = Mode::Resume;
  else if (m == "mtls") o.mode = Mode::Mtls;
  else if (m == "reqresp") o.mode = Mode::ReqResp;
  else if (m == "idle") o.mode = Mode::Idle;
  else usage("unknown mode");
  o.target = argv[2];
  const auto colon = o.target.rfind(':');
  o.addr.sin_family = AF_INET;
  if (colon == std::string::npos || inet_pton(AF_INET, o.target.substr(0, colon).c_str(), &o.addr.sin_addr) != 1)
    usage("target must be a.b.c.d:port");
  o.addr.sin_port = htons(static_cast<uint16_t>(std::atoi(o.target.c_str() + colon + 1)));
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--ca") o.ca = val();
    else if (a == "--cert") o.cert = val();
    else if (a == "--key") o.key = val();
    else if (a == "--groups") o.groups = val();
    else if (a == "--cipher") o.cipher = val();
    else if (a == "--conns") o.conns = static_cast<unsigned>(std::strtoul(val().c_str(), nullptr, 10));
    else if (a == "--count") o.count = std::strtoull(val().c_str(), nullptr, 10);
    else if (a == "--duration") o.duration = std::atof(val().c_str());
    else if (a == "--timeout") o.timeout = std::atof(val().c_str());
    else if (a == "--hold") o.hold = std::atof(val().c_str());
    else if (a == "--parallel-open") o.parallel_open = static_cast<unsigned>(std::strtoul(val().c_str(), nullptr, 10));
    else if (a == "--size") o.body_size = static_cast<unsigned>(std::strtoul(val().c_str(), nullptr, 10));
    else if (a == "--cpu") o.cpu = std::atoi(val().c_str());
    else if (a == "--json") o.json = val();
    else if (a == "--sample") o.sample = val();
    else if (a == "--max-errors") o.max_errors = std::strtoull(val().c_str(), nullptr, 10);
    else usage(("unknown option " + a).c_str());
  }
  // Bounded always: no run longer than 10 minutes, no unbounded connection count.
  if (o.duration <= 0 || o.duration > 600) usage("--duration must be in (0, 600]");
  if (o.hold < 0 || o.hold > 600) usage("--hold must be in [0, 600]");
  if (o.timeout <= 0 || o.timeout > 60) usage("--timeout must be in (0, 60]");
  if (o.conns < 1 || o.conns > 20000) usage("--conns must be 1..20000");
  if (o.parallel_open < 1) o.parallel_open = 1;
  if (o.mode == Mode::Mtls && (o.cert.empty() || o.key.empty())) usage("mtls needs --cert and --key");
  if (o.groups != "P-256" && o.groups != "X25519") usage("--groups: P-256 or X25519");
  if (o.body_size < 300 || o.body_size > 60000) usage("--size must be 300..60000");
  return o;
}

enum class Phase { Free, Connecting, Handshake, Sending, Waiting, Ready };
enum Err { EConnect, EHandshake, EIo, ETimeout, EMismatch, EStatus, EBadFrame, ECount };
const char* kErrNames[ECount] = {"connect", "handshake", "io", "timeout", "mismatch", "status", "bad_frame"};

struct Conn {
  int fd = -1;
  WOLFSSL* ssl = nullptr;
  Phase phase = Phase::Free;
  std::string out;  // plaintext of the request being written (wolfSSL retries need the same buffer)
  std::string in;
  std::string call_id, cseq;
  unsigned seq = 0;
  double t_op = 0, t_req = 0, deadline = 0;
  bool out_armed = false;
  bool warmed = false;
  WOLFSSL_SESSION* session = nullptr;  // ticket from this slot's last connection
};

struct Stats {
  unsigned long long ops = 0, full = 0, resumed = 0, started = 0;
  unsigned long long err[ECount] = {};
  std::vector<float> lat_us;
  unsigned long long errors() const {
    unsigned long long t = 0;
    for (auto e : err) t += e;
    return t;
  }
};

std::string run_sample(const std::string& cmd) {
  if (cmd.empty()) return {};
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char b[4096];
    std::size_t n;
    while ((n = fread(b, 1, sizeof b, f)) > 0) out.append(b, n);
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (c == '\n') o += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += c;
  }
  return o;
}

class Gen {
 public:
  explicit Gen(Options o) : o_(std::move(o)), conns_(o_.conns) {}

  int run();

 private:
  Options o_;
  WOLFSSL_CTX* ctx_ = nullptr;
  int ep_ = -1;
  std::vector<Conn> conns_;
  Stats st_;
  bool measuring_ = false, stopping_ = false;
  double t_measure_ = 0, t_end_ = 0;
  unsigned opening_ = 0;  // connections between connect() and the end of their first exchange
  std::string sample_start_, sample_end_;
  unsigned long long gen_ = 0;

  bool persistent() const { return o_.mode == Mode::ReqResp || o_.mode == Mode::Idle; }
  bool setup_ctx();
  void open(unsigned i);
  void close_conn(unsigned i, bool count_error, Err e = EIo);
  void arm(unsigned i, bool want_out);
  void on_event(unsigned i, uint32_t events);
  void advance(unsigned i);
  void start_request(unsigned i);
  bool flush(unsigned i);
  bool read_response(unsigned i);
  void op_done(unsigned i);
  void next_after_op(unsigned i);
  unsigned count_phase(Phase p) const {
    unsigned n = 0;
    for (auto& c : conns_) n += c.phase == p;
    return n;
  }
};

bool Gen::setup_ctx() {
  ctx_ = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
  if (!ctx_) return false;
  if (wolfSSL_CTX_set_cipher_list(ctx_, o_.cipher.c_str()) != WOLFSSL_SUCCESS) {
    std::fprintf(stderr, "tp-loadgen: cipher %s not supported\n", o_.cipher.c_str());
    return false;
  }
  int group = o_.groups == "X25519" ? WOLFSSL_ECC_X25519 : WOLFSSL_ECC_SECP256R1;
  if (wolfSSL_CTX_set_groups(ctx_, &group, 1) != WOLFSSL_SUCCESS) return false;
  if (!o_.ca.empty()) {
    if (wolfSSL_CTX_load_verify_locations(ctx_, o_.ca.c_str(), nullptr) != WOLFSSL_SUCCESS) {
      std::fprintf(stderr, "tp-loadgen: cannot load CA %s\n", o_.ca.c_str());
      return false;
    }
    wolfSSL_CTX_set_verify(ctx_, WOLFSSL_VERIFY_PEER, nullptr);
  } else {
    wolfSSL_CTX_set_verify(ctx_, WOLFSSL_VERIFY_NONE, nullptr);
  }
  if (!o_.cert.empty()) {
    if (wolfSSL_CTX_use_certificate_chain_file(ctx_, o_.cert.c_str()) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_use_PrivateKey_file(ctx_, o_.key.c_str(), WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
      std::fprintf(stderr, "tp-loadgen: cannot load client cert/key\n");
      return false;
    }
  }
  return true;
}

void Gen::arm(unsigned i, bool want_out) {
  Conn& c = conns_[i];
  if (c.out_armed == want_out) return;
  c.out_armed = want_out;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | (want_out ? unsigned(EPOLLOUT) : 0u);
  ev.data.u32 = i;
  epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Gen::open(unsigned i) {
  Conn& c = conns_[i];
  c.in.clear();
  c.out.clear();
  c.t_op = now_s();
  c.deadline = c.t_op + o_.timeout;
  ++opening_;
  c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.phase = Phase::Connecting;
  if (connect(c.fd, reinterpret_cast<sockaddr*>(&o_.addr), sizeof o_.addr) != 0 && errno != EINPROGRESS) {
    close_conn(i, true, EConnect);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
  ev.data.u32 = i;
  c.out_armed = true;
  epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
}

void Gen::close_conn(unsigned i, bool count_error, Err e) {
  Conn& c = conns_[i];
  if (count_error && (measuring_ || c.phase != Phase::Free)) ++st_.err[e];
  if (c.phase == Phase::Connecting || c.phase == Phase::Handshake || !c.warmed) {
    if (opening_) --opening_;
  }
  if (c.ssl) {
    if (!count_error) wolfSSL_shutdown(c.ssl);  // close_notify (RFC 8446 §6.1); no wait for the peer's
    wolfSSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) {
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    ::close(c.fd);
    c.fd = -1;
  }
  c.phase = Phase::Free;
  c.warmed = false;
}

void Gen::start_request(unsigned i) {
  Conn& c = conns_[i];
  ++c.seq;
  ++gen_;
  c.call_id = "lg" + std::to_string(i) + "-" + std::to_string(gen_) + "@tp-loadgen";
  const bool reg = o_.mode == Mode::ReqResp && c.warmed;
  const char* method = reg ? "REGISTER" : "OPTIONS";
  c.cseq = std::to_string(c.seq) + " " + method;
  std::string m;
  m.reserve(o_.body_size + 64);
  m += method;
  m += reg ? " sip:registrar.test SIP/2.0\r\n" : " sip:edge.test SIP/2.0\r\n";
  // rport (RFC 3581): a SIP proxy in front answers on this very connection.
  m += "Via: SIP/2.0/TLS 198.18.0.2:5061;rport;branch=z9hG4bK-" + std::to_string(gen_) + "\r\n";
  m += "Max-Forwards: 70\r\n";
  m += reg ? "To: <sip:user" + std::to_string(i) + "@registrar.test>\r\n" : "To: <sip:edge.test>\r\n";
  m += "From: <sip:user" + std::to_string(i) + "@registrar.test>;tag=" + std::to_string(i) + "\r\n";
  m += "Call-ID: " + c.call_id + "\r\n";
  m += "CSeq: " + c.cseq + "\r\n";
  if (reg) {
    m += "Contact: <sip:user" + std::to_string(i) + "@198.18.0.2:5061;transport=tls>;expires=600\r\n";
    m += "User-Agent: tp-loadgen\r\n";
    // Pad to exactly body_size bytes so every proxy carries the same load.
    const std::string tail = "Content-Length: 0\r\n\r\n";
    const std::size_t fixed = m.size() + tail.size() + std::strlen("X-Pad: \r\n");
    if (fixed < o_.body_size) m += "X-Pad: " + std::string(o_.body_size - fixed, 'p') + "\r\n";
    m += tail;
  } else {
    m += "Content-Length: 0\r\n\r\n";
  }
  c.out = std::move(m);
  c.in.clear();
  c.t_req = now_s();
  if (!persistent() || c.warmed) c.deadline = c.t_req + o_.timeout;
  c.phase = Phase::Sending;
}

// Writes the pending request; true when it is fully handed to wolfSSL.
bool Gen::flush(unsigned i) {
  Conn& c = conns_[i];
  while (!c.out.empty()) {
    const int w = wolfSSL_write(c.ssl, c.out.data(), static_cast<int>(c.out.size()));
    if (w > 0) { c.out.erase(0, static_cast<std::size_t>(w)); continue; }
    const int e = wolfSSL_get_error(c.ssl, w);
    if (e == WOLFSSL_ERROR_WANT_WRITE) { arm(i, true); return false; }
    if (e == WOLFSSL_ERROR_WANT_READ) return false;
    close_conn(i, true, EIo);
    return false;
  }
  arm(i, false);
  c.phase = Phase::Waiting;
  return true;
}

// Reads what is there; true when a full answer arrived (and was judged).
bool Gen::read_response(unsigned i) {
  Conn& c = conns_[i];
  char buf[16384];
  for (;;) {
    const int r = wolfSSL_read(c.ssl, buf, sizeof buf);
    if (r > 0) { c.in.append(buf, static_cast<std::size_t>(r)); continue; }
    const int e = wolfSSL_get_error(c.ssl, r);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE) break;
    // Peer closed or failed before the answer was complete.
    close_conn(i, true, EIo);
    return false;
  }
  const long len = tpbench::frame_length(c.in);
  if (len < 0) { close_conn(i, true, EBadFrame); return false; }
  if (len == 0) return false;
  const std::string_view msg(c.in.data(), static_cast<std::size_t>(len));
  if (!msg.starts_with("SIP/2.0 2")) {
    close_conn(i, true, msg.starts_with("SIP/2.0 ") ? EStatus : EBadFrame);
    return false;
  }
  if (tpbench::header(msg, "Call-ID", "i") != c.call_id || tpbench::header(msg, "CSeq") != c.cseq ||
      static_cast<std::size_t>(len) != c.in.size()) {
    close_conn(i, true, EMismatch);
    return false;
  }
  c.in.clear();
  return true;
}

void Gen::op_done(unsigned i) {
  Conn& c = conns_[i];
  const double t = now_s();
  if (!c.warmed && opening_) --opening_;
  // Operations finishing while draining count too: their work is in the window.
  // A re-opened persistent connection's warm-up exchange is not an operation.
  if (measuring_ && (!persistent() || c.warmed)) {
    ++st_.ops;
    st_.lat_us.push_back(static_cast<float>((persistent() ? t - c.t_req : t - c.t_op) * 1e6));
  }
  c.warmed = true;
  next_after_op(i);
}

void Gen::next_after_op(unsigned i) {
  Conn& c = conns_[i];
  if (!persistent()) {
    if (o_.mode == Mode::Resume) {
      if (c.session) wolfSSL_SESSION_free(c.session);
      c.session = wolfSSL_get1_session(c.ssl);
    }
    close_conn(i, false);
    if (!stopping_ && (!o_.count || st_.started < o_.count)) {
      ++st_.started;
      open(i);
    }
    return;
  }
  if (o_.mode == Mode::ReqResp && measuring_ && !stopping_ && (!o_.count || st_.started < o_.count)) {
    ++st_.started;
    start_request(i);
    flush(i);
    return;
  }
  c.phase = Phase::Ready;
  c.deadline = 0;
}

void Gen::advance(unsigned i) {
  Conn& c = conns_[i];
  if (c.phase == Phase::Connecting) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) { close_conn(i, true, EConnect); return; }
    c.ssl = wolfSSL_new(ctx_);
    wolfSSL_set_fd(c.ssl, c.fd);
    if (o_.mode == Mode::Resume && c.session) wolfSSL_set_session(c.ssl, c.session);
    c.phase = Phase::Handshake;
  }
  if (c.phase == Phase::Handshake) {
    const int r = wolfSSL_connect(c.ssl);
    if (r != WOLFSSL_SUCCESS) {
      const int e = wolfSSL_get_error(c.ssl, r);
      if (e == WOLFSSL_ERROR_WANT_READ) { arm(i, false); return; }
      if (e == WOLFSSL_ERROR_WANT_WRITE) { arm(i, true); return; }
      if (st_.err[EHandshake] < 3) {
        char b[WOLFSSL_MAX_ERROR_SZ];
        std::fprintf(stderr, "tp-loadgen: handshake failed: %s\n", wolfSSL_ERR_error_string(static_cast<unsigned long>(e), b));
      }
      close_conn(i, true, EHandshake);
      return;
    }
    if (measuring_) ++(wolfSSL_session_reused(c.ssl) ? st_.resumed : st_.full);
    start_request(i);
  }
  if (c.phase == Phase::Sending && !flush(i)) return;
  if (c.phase == Phase::Waiting && read_response(i)) op_done(i);
}

void Gen::on_event(unsigned i, uint32_t events) {
  Conn& c = conns_[i];
  if (c.phase == Phase::Free) return;
  if (c.phase == Phase::Ready) {
    // An idle connection should hear nothing; a close or data is an error.
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) close_conn(i, true, EIo);
    else if (events & EPOLLIN) {
      char b[4096];
      const int r = wolfSSL_read(c.ssl, b, sizeof b);
      const int e = r > 0 ? 0 : wolfSSL_get_error(c.ssl, r);
      if (r > 0 || (e != WOLFSSL_ERROR_WANT_READ && e != WOLFSSL_ERROR_WANT_WRITE)) close_conn(i, true, r > 0 ? EMismatch : EIo);
    }
    return;
  }
  advance(i);
}

int Gen::run() {
  if (!setup_ctx()) return 2;
  ep_ = epoll_create1(EPOLL_CLOEXEC);
  const double t_start = now_s();
  double t_progress = t_start + 1;
  unsigned long long last_ops = 0;
  // Persistent modes open everything first (bounded), then measure.
  const double setup_deadline = t_start + 120;
  // Idle mode measures memory: its first sample is before any connection.
  if (o_.mode == Mode::Idle) sample_start_ = run_sample(o_.sample);
  if (!persistent()) {
    sample_start_ = run_sample(o_.sample);
    measuring_ = true;
    t_measure_ = now_s();
  }
  unsigned next_open = 0;
  epoll_event evs[512];
  double t_hold_until = 0;
  int rc_phase = 0;  // persistent: 0 opening, 1 measuring / holding, 2 draining
  for (;;) {
    const double t = now_s();
    if (g_interrupted) { std::fprintf(stderr, "tp-loadgen: interrupted\n"); stopping_ = true; }
    // Open connections, at most parallel_open handshaking at once.
    while (next_open < o_.conns && opening_ < o_.parallel_open && !stopping_) {
      if (!persistent()) {
        if (o_.count && st_.started >= o_.count) { next_open = o_.conns; break; }
        ++st_.started;
      }
      open(next_open++);
    }
    if (persistent() && rc_phase == 0) {
      // Re-open failed connections while opening.
      for (unsigned i = 0; i < next_open && opening_ < o_.parallel_open; ++i)
        if (conns_[i].phase == Phase::Free) open(i);
      if (next_open == o_.conns && count_phase(Phase::Ready) == o_.conns) {
        std::fprintf(stderr, "tp-loadgen: %u connections open and warmed after %.1f s\n", o_.conns, t - t_start);
        if (o_.mode == Mode::Idle) {
          // Let the proxy settle (lazy allocations, timers) before sampling.
          const double until = now_s() + 1;
          while (now_s() < until) epoll_wait(ep_, evs, 512, 100);
          sample_end_ = run_sample(o_.sample);
          t_hold_until = now_s() + o_.hold;
          measuring_ = true;
        } else {
          sample_start_ = run_sample(o_.sample);
          measuring_ = true;
          t_measure_ = now_s();
          for (unsigned i = 0; i < o_.conns; ++i) {
            if (o_.count && st_.started >= o_.count) break;
            ++st_.started;
            start_request(i);
            flush(i);
          }
        }
        rc_phase = 1;
      } else if (t > setup_deadline) {
        std::fprintf(stderr, "tp-loadgen: could not open %u connections in 120 s (%u ready)\n", o_.conns,
                     count_phase(Phase::Ready));
        st_.err[ETimeout] += o_.conns - count_phase(Phase::Ready);
        break;
      }
    }
    if (o_.mode == Mode::Idle && rc_phase == 1 && t >= t_hold_until) break;
    if (measuring_ && !stopping_ && o_.mode != Mode::Idle &&
        (t - t_measure_ >= o_.duration || (o_.count && st_.started >= o_.count)))
      stopping_ = true;
    if (stopping_) {
      // Drain: wait for operations in flight, bounded by the op timeout.
      bool busy = false;
      for (auto& c : conns_) busy |= c.phase != Phase::Free && c.phase != Phase::Ready;
      if (!busy) break;
    }
    if (t > t_start + o_.duration + o_.hold + o_.timeout + 130) { std::fprintf(stderr, "tp-loadgen: hard deadline\n"); break; }

    const int n = epoll_wait(ep_, evs, 512, 50);
    for (int k = 0; k < n; ++k) on_event(evs[k].data.u32, evs[k].events);

    const double t2 = now_s();
    for (unsigned i = 0; i < o_.conns; ++i) {
      Conn& c = conns_[i];
      if (c.phase != Phase::Free && c.phase != Phase::Ready && c.deadline && t2 > c.deadline) {
        close_conn(i, true, ETimeout);
        if (!persistent() && !stopping_ && (!o_.count || st_.started < o_.count)) {
          ++st_.started;
          open(i);
        }
      }
    }
    if (!persistent() || measuring_) {
      // Closed-loop handshake modes re-open slots whose connection failed.
      if (!persistent() && !stopping_)
        for (unsigned i = 0; i < next_open; ++i)
          if (conns_[i].phase == Phase::Free && (!o_.count || st_.started < o_.count)) {
            ++st_.started;
            open(i);
          }
      if (persistent() && o_.mode == Mode::ReqResp && !stopping_)
        for (unsigned i = 0; i < o_.conns; ++i) {
          if (conns_[i].phase == Phase::Free && opening_ < o_.parallel_open) {
            open(i);  // replace a failed one
          } else if (conns_[i].phase == Phase::Ready && conns_[i].warmed && (!o_.count || st_.started < o_.count)) {
            ++st_.started;
            start_request(i);
            flush(i);
          }
        }
    }
    if (t2 >= t_progress) {
      t_progress += 1;
      std::fprintf(stderr, "[tp-loadgen] %5.1fs %s ops=%llu (+%llu/s) open=%u ready=%u errors=%llu\n", t2 - t_start,
                   measuring_ ? (stopping_ ? "draining" : "measuring") : "opening", st_.ops, st_.ops - last_ops,
                   o_.conns - count_phase(Phase::Free), count_phase(Phase::Ready), st_.errors());
      last_ops = st_.ops;
    }
  }
  t_end_ = now_s();
  if (o_.mode != Mode::Idle) sample_end_ = run_sample(o_.sample);
  for (unsigned i = 0; i < o_.conns; ++i)
    if (conns_[i].phase != Phase::Free) close_conn(i, false);
  for (auto& c : conns_)
    if (c.session) wolfSSL_SESSION_free(c.session);

  // --- report ---
  const double window = o_.mode == Mode::Idle ? o_.hold : t_end_ - t_measure_;
  std::vector<float> v = st_.lat_us;
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) -> double {
    if (v.empty()) return 0;
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  const char* modes[] = {"handshake", "resume", "mtls", "reqresp", "idle"};
  const double rate = window > 0 ? static_cast<double>(st_.ops) / window : 0;
  std::printf("%s %s: %llu ops in %.2f s = %.0f/s; latency us p50 %.0f p90 %.0f p99 %.0f max %.0f; full %llu resumed %llu; errors %llu\n",
              modes[static_cast<int>(o_.mode)], o_.target.c_str(), st_.ops, window, rate, pct(0.5), pct(0.9), pct(0.99),
              v.empty() ? 0.0 : double(v.back()), st_.full, st_.resumed, st_.errors());
  if (!o_.json.empty()) {
    std::string j = "{";
    j += "\"mode\":\"" + std::string(modes[static_cast<int>(o_.mode)]) + "\",\"target\":\"" + o_.target + "\"";
    j += ",\"conns\":" + std::to_string(o_.conns) + ",\"ops\":" + std::to_string(st_.ops);
    char b[512];
    std::snprintf(b, sizeof b, ",\"seconds\":%.6f,\"rate\":%.1f", window, rate);
    j += b;
    j += ",\"handshakes_full\":" + std::to_string(st_.full) + ",\"handshakes_resumed\":" + std::to_string(st_.resumed);
    std::snprintf(b, sizeof b, ",\"latency_us\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f}", pct(0.5),
                  pct(0.9), pct(0.99), pct(0.999), v.empty() ? 0.0 : double(v.back()));
    j += b;
    j += ",\"errors\":{";
    for (int e = 0; e < ECount; ++e) j += std::string(e ? "," : "") + "\"" + kErrNames[e] + "\":" + std::to_string(st_.err[e]);
    j += "},\"errors_total\":" + std::to_string(st_.errors());
    j += ",\"sample_start\":\"" + json_escape(sample_start_) + "\",\"sample_end\":\"" + json_escape(sample_end_) + "\"}";
    if (o_.json == "-") std::printf("%s\n", j.c_str());
    else if (FILE* f = std::fopen(o_.json.c_str(), "w")) {
      std::fprintf(f, "%s\n", j.c_str());
      std::fclose(f);
    }
  }
  if (st_.err[EMismatch]) return 1;
  if (st_.ops == 0 && o_.mode != Mode::Idle) return 1;
  if (st_.errors() > o_.max_errors) return 3;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  if (o.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(o.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) std::perror("tp-loadgen: sched_setaffinity");
  }
  // Enough descriptors for --conns (the box's rule caps us at 20000).
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  const rlim_t want = std::min<rlim_t>(20000, rl.rlim_max);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  wolfSSL_Init();
  Gen g(std::move(o));
  const int rc = g.run();
  wolfSSL_Cleanup();
  return rc;
}
