// turnpike-loadgen: SIP-over-TLS load from turnpike's own per-core stack in
// client mode (DPDK port -> net::NetWorker ARP/IPv4 -> tcp::Stack -> one
// proxy::Stream TLS leg per phone), so one core of client outruns what a
// kernel-socket client could offer a turnpike core.
//
// Each simulated phone has its own TCP connection (its own source port) and
// its own client certificate from a profile mix (pki.hpp), handshakes TLS
// 1.2 or 1.3 (resuming with its last ticket when asked), then runs
// REGISTER/OPTIONS transactions with think time and RFC 5626 §3.5.1 CRLF
// keep-alives. Every answer is checked against its request (status line,
// Call-ID, CSeq, top Via branch: RFC 3261 §8.1.3.3, §17.1.3). A connection
// ended before its first answer is a refusal, checked against what the
// target's EKU policy must do with that profile (docs/eku-semantics.md).
//
// Optionally it also serves the target's plain SIP backend (--backend-port)
// on the same stack, so a turnpike on the other end of a net_memif port
// has everything it needs without a kernel.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hist.hpp"
#include "pki.hpp"
#include "sipfast.hpp"
#include "turnpike/control/trust.hpp"
#include "turnpike/glue/tcp_glue.hpp"
#include "turnpike/net/neighbor.hpp"
#include "turnpike/net/stack.hpp"
#include "turnpike/port/port.hpp"
#include "turnpike/proxy/stream.hpp"
#include "turnpike/sip/framer.hpp"
#include "turnpike/tls/engine.hpp"

namespace {

using namespace turnpike;
using loadgen::Histogram;
using loadgen::kProfileNames;
using loadgen::kProfiles;
using loadgen::Profile;

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

struct Options {
  std::string device;
  std::vector<std::string> eal;
  std::string file_prefix = "tp-loadgen";
  bool huge = false;
  int cpu = -1;
  std::uint32_t ip = 0, gateway = 0;
  std::uint8_t prefix = 24;
  std::uint32_t target_ip = 0;
  std::uint16_t target_port = 5061;
  unsigned phones = 10;
  std::array<unsigned, kProfiles> mix{100, 0, 0, 0, 0, 0};
  std::string tls = "1.3";  // 1.3 | 1.2 | mix
  std::string groups = "P-256";
  unsigned resume_pct = 0;
  std::string server_ca, server_name;
  std::string method = "REGISTER";  // REGISTER | OPTIONS | mix
  unsigned per_conn = 0;           // transactions per connection, then close and reconnect (0: keep)
  double think_ms = 0, keepalive_s = 0, ramp_s = 0, rate = 0, retry_ms = 100;
  double duration = 10, timeout_ms = 5000, progress_s = 1, start_delay_s = 0, warmup_s = 0;
  double idle_hold_s = 0;  // > 0: idle mode (one transaction per phone, then keep-alives only)
  bool open_first = false;  // no transaction before every phone is open
  std::string sample;  // shell command run at the start and end of the measured window
  std::uint64_t count = 0;
  bool eku_on = true, require_cert = false;
  std::string json, pki_dir;
  std::uint16_t backend_port = 0;
  unsigned body = 0;
  bool busy_poll = false;
  bool pki_only = false;
  std::uint64_t max_errors = 0;
  std::uint64_t time_wait_ms = 1000;
  std::uint32_t max_connections = 16384;
};

[[noreturn]] void usage(const char* why) {
  if (why) std::fprintf(stderr, "turnpike-loadgen: %s\n", why);
  std::fprintf(stderr,
      "usage: turnpike-loadgen --device DEV --ipv4 A.B.C.D/P --target A.B.C.D[:PORT] [options]\n"
      " port and EAL:\n"
      "  --device DEV        vdev (net_memif0,role=client,socket=/run/x.sock | net_af_packet0,iface=veth0 |\n"
      "                      net_af_xdp0,iface=veth0 | net_tap0) or a PCI address\n"
      "  --ipv4 A/P  --gateway A   our address on that port\n"
      "  --cpu N               pin the loop to CPU N     --file-prefix P   EAL file prefix (tp-loadgen)\n"
      "  --huge                use hugepages (default --no-huge)  --eal ARG   extra EAL argument (repeat)\n"
      "  --busy-poll           never sleep when idle (default: adaptive, up to 100 us)\n"
      " phones:\n"
      "  --phones N            simulated phones, one TLS connection each (default 10)\n"
      "  --mix P=W,...         certificate profiles by weight: clientauth serverauth noeku expired\n"
      "                        untrusted nocert (default clientauth=100)\n"
      "  --pki-dir DIR         where the phone PKI is made (DIR/ca.pem: trust it on the target;\n"
      "                        an existing root there is reused)   --pki-only   make it and exit\n"
      "  --eku-mode on|off     the target's EKU mode, for the expected refusals (default on)\n"
      "  --require-cert        the target requires a client certificate (nocert refused)\n"
      "  --server-ca FILE      CA bundle that verifies the target (required)\n"
      "  --server-name NAME    name the target must prove (and SNI)\n"
      "  --tls 1.3|1.2|mix     protocol version per phone (default 1.3)   --groups G (default P-256)\n"
      "  --resume PCT          reconnections offering the last ticket (default 0)\n"
      " transactions:\n"
      "  --method REGISTER|OPTIONS|INVITE|mix   --body N   pad requests to N bytes\n"
      "                        INVITE: a call (INVITE, 200, ACK, BYE, 200): two transactions\n"
      "  --per-conn N          transactions per connection, then close and reconnect (0: keep open)\n"
      "  --think-ms T          pause after each answer   --keepalive-s K   CRLF ping when idle K s\n"
      "  --ramp-s R            phones start spread over R s   --rate R   transactions/s (0: closed loop)\n"
      "  --open-first          no transaction before every phone is open; --warmup-s and --duration\n"
      "                        then count from that moment (all phones open by warmup+duration, or error)\n"
      "  --duration S (default 10, max 3600)  --count N   stop after N transactions\n"
      "  --warmup-s W          run W s before the measured window of --duration S (rates, ops)\n"
      "  --sample CMD          run CMD (sh -c) at the start and end of the measured window; its\n"
      "                        output goes in the JSON (sample_start, sample_end)\n"
      "  --idle-hold S         idle mode: each phone sends one transaction, then only keep-alives\n"
      "                        (--keepalive-s); once all have their answer they are held S s, then\n"
      "                        --sample runs (its first run is before any connection) and all close;\n"
      "                        --duration bounds the opening\n"
      "  --timeout-ms T        per transaction and handshake (default 5000)   --retry-ms T (100)\n"
      "  --max-errors N        exit 0 up to N errors (default 0)\n"
      " output:\n"
      "  --json FILE           summary   --progress-s S   progress line period (default 1)\n"
      " backend:\n"
      "  --backend-port P      also answer plain SIP on our address:P (200 OK to every request)\n"
      "  --start-delay-s S     serve the backend S seconds before the first phone starts\n");
  std::exit(2);
}

bool parse_addr(std::string_view s, std::uint32_t& ip, std::uint16_t* port, std::uint8_t* prefix) {
  const auto colon = s.find(':');
  const auto slash = s.find('/');
  const auto end = std::min(colon, slash);
  auto a = net::parse_ipv4(s.substr(0, end));
  if (!a) return false;
  ip = *a;
  if (colon != std::string_view::npos) {
    if (!port) return false;
    const long v = std::strtol(std::string(s.substr(colon + 1)).c_str(), nullptr, 10);
    if (v < 1 || v > 65535) return false;
    *port = static_cast<std::uint16_t>(v);
  }
  if (slash != std::string_view::npos) {
    if (!prefix) return false;
    const long v = std::strtol(std::string(s.substr(slash + 1)).c_str(), nullptr, 10);
    if (v < 1 || v > 32) return false;
    *prefix = static_cast<std::uint8_t>(v);
  }
  return true;
}

double num(const char* s, const char* what, double lo, double hi) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (!end || *end || !(v >= lo && v <= hi)) {
    std::fprintf(stderr, "turnpike-loadgen: %s: '%s' is not a number in [%g, %g]\n", what, s, lo, hi);
    std::exit(2);
  }
  return v;
}

Options parse(int argc, char** argv) {
  Options o;
  auto val = [&](int& i) -> const char* {
    if (i + 1 >= argc) usage((std::string(argv[i]) + " needs a value").c_str());
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--device") o.device = val(i);
    else if (a == "--eal") o.eal.push_back(val(i));
    else if (a == "--file-prefix") o.file_prefix = val(i);
    else if (a == "--huge") o.huge = true;
    else if (a == "--busy-poll") o.busy_poll = true;
    else if (a == "--cpu") o.cpu = int(num(val(i), "--cpu", 0, 1023));
    else if (a == "--ipv4") { if (!parse_addr(val(i), o.ip, nullptr, &o.prefix)) usage("--ipv4 A.B.C.D/P"); }
    else if (a == "--gateway") { if (!parse_addr(val(i), o.gateway, nullptr, nullptr)) usage("--gateway A.B.C.D"); }
    else if (a == "--target") { if (!parse_addr(val(i), o.target_ip, &o.target_port, nullptr)) usage("--target A.B.C.D[:PORT]"); }
    else if (a == "--phones") o.phones = unsigned(num(val(i), "--phones", 1, 100000));
    else if (a == "--mix") {
      o.mix.fill(0);
      std::string s = val(i);
      std::size_t pos = 0;
      while (pos <= s.size()) {
        const std::size_t comma = std::min(s.find(',', pos), s.size());
        const std::string item = s.substr(pos, comma - pos);
        const auto eq = item.find('=');
        const std::string name = item.substr(0, eq);
        unsigned k = 0;
        while (k < kProfiles && kProfileNames[k] != name) ++k;
        if (k == kProfiles) usage(("--mix: unknown profile '" + name + "'").c_str());
        o.mix[k] = eq == std::string::npos ? 1 : unsigned(num(item.c_str() + eq + 1, "--mix weight", 0, 1e6));
        pos = comma + 1;
      }
    }
    else if (a == "--pki-dir") o.pki_dir = val(i);
    else if (a == "--eku-mode") {
      const std::string m = val(i);
      if (m != "on" && m != "off") usage("--eku-mode on|off");
      o.eku_on = m == "on";
    }
    else if (a == "--require-cert") o.require_cert = true;
    else if (a == "--pki-only") o.pki_only = true;
    else if (a == "--server-ca") o.server_ca = val(i);
    else if (a == "--server-name") o.server_name = val(i);
    else if (a == "--tls") {
      o.tls = val(i);
      if (o.tls != "1.3" && o.tls != "1.2" && o.tls != "mix") usage("--tls 1.3|1.2|mix");
    }
    else if (a == "--groups") o.groups = val(i);
    else if (a == "--resume") o.resume_pct = unsigned(num(val(i), "--resume", 0, 100));
    else if (a == "--method") {
      o.method = val(i);
      if (o.method != "REGISTER" && o.method != "OPTIONS" && o.method != "INVITE" && o.method != "mix")
        usage("--method REGISTER|OPTIONS|INVITE|mix");
    }
    else if (a == "--body") o.body = unsigned(num(val(i), "--body", 0, 60000));
    else if (a == "--per-conn") o.per_conn = unsigned(num(val(i), "--per-conn", 0, 1e9));
    else if (a == "--think-ms") o.think_ms = num(val(i), "--think-ms", 0, 3.6e6);
    else if (a == "--keepalive-s") o.keepalive_s = num(val(i), "--keepalive-s", 0, 3600);
    else if (a == "--ramp-s") o.ramp_s = num(val(i), "--ramp-s", 0, 3600);
    else if (a == "--rate") o.rate = num(val(i), "--rate", 0, 1e8);
    else if (a == "--duration") o.duration = num(val(i), "--duration", 0.1, 3600);
    else if (a == "--count") o.count = std::uint64_t(num(val(i), "--count", 0, 1e15));
    else if (a == "--timeout-ms") o.timeout_ms = num(val(i), "--timeout-ms", 1, 600000);
    else if (a == "--retry-ms") o.retry_ms = num(val(i), "--retry-ms", 0, 600000);
    else if (a == "--max-errors") o.max_errors = std::uint64_t(num(val(i), "--max-errors", 0, 1e15));
    else if (a == "--json") o.json = val(i);
    else if (a == "--warmup-s") o.warmup_s = num(val(i), "--warmup-s", 0, 600);
    else if (a == "--sample") o.sample = val(i);
    else if (a == "--idle-hold") o.idle_hold_s = num(val(i), "--idle-hold", 0.1, 3600);
    else if (a == "--open-first") o.open_first = true;
    else if (a == "--start-delay-s") o.start_delay_s = num(val(i), "--start-delay-s", 0, 600);
    else if (a == "--progress-s") o.progress_s = num(val(i), "--progress-s", 0.1, 3600);
    else if (a == "--backend-port") o.backend_port = std::uint16_t(num(val(i), "--backend-port", 1, 65535));
    else if (a == "--time-wait-ms") o.time_wait_ms = std::uint64_t(num(val(i), "--time-wait-ms", 0, 240000));
    else if (a == "--max-connections") o.max_connections = std::uint32_t(num(val(i), "--max-connections", 16, 1 << 20));
    else if (a == "-h" || a == "--help") usage(nullptr);
    else usage(("unknown option " + a).c_str());
  }
  if (o.pki_only) {
    if (o.pki_dir.empty()) usage("--pki-only needs --pki-dir");
    return o;
  }
  if (o.device.empty()) usage("--device is required");
  if (!o.ip) usage("--ipv4 is required");
  if (!o.target_ip) usage("--target is required");
  if (o.server_ca.empty()) usage("--server-ca is required (the target is always verified)");
  unsigned w = 0;
  for (unsigned x : o.mix) w += x;
  if (!w) usage("--mix: all weights are 0");
  if (o.idle_hold_s > 0 && (o.per_conn || o.rate > 0 || o.count || o.warmup_s > 0 || o.method == "INVITE"))
    usage("--idle-hold: one transaction per phone (no --per-conn, --rate, --count, --warmup-s or INVITE)");
  if (o.open_first && (o.per_conn || o.idle_hold_s > 0)) usage("--open-first: persistent phones only (no --per-conn or --idle-hold)");
  if (o.pki_dir.empty()) o.pki_dir = "/tmp/turnpike-loadgen-pki." + std::to_string(getpid());
  return o;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// --- counters ------------------------------------------------------------------

struct PerProfile {
  std::uint64_t phones = 0, attempts = 0, accepted = 0, refused = 0;
  std::uint64_t refused_expected = 0, refused_unexpected = 0, accepted_unexpected = 0;
};

struct Stats {
  std::uint64_t connects = 0, handshakes = 0, full = 0, resumed = 0, resume_offered = 0, resume_declined = 0;
  std::uint64_t sent = 0, answered = 0, pings = 0, pongs = 0, pings_abandoned = 0, closed = 0, acks = 0;
  // Every request sent ends as one of: answered (2xx, matched), failed (an
  // error: other status, mismatch, timeout, connection lost), or refused
  // (in flight when the target refused the connection's certificate).
  std::uint64_t txn_failed = 0, txn_refused = 0;
  // The loadgen's own stack: losses here would be blamed on the target.
  std::map<std::string, std::uint64_t> net_drops;
  std::uint64_t retransmits = 0, rto_timeouts = 0, tlp_probes = 0;
  // The measured window (after --warmup-s): rates count from these.
  std::uint64_t measure_at = 0, base_answered = 0, base_full = 0, base_resumed = 0;
  std::uint64_t busy_cycles = 0, tsc_hz = 0;
  // The loop thread's CPU time and involuntary context switches in the
  // measured window: on a shared box, whether another process took its CPU
  // (busy_cycles count wall time, preemption included).
  double cpu_s = 0;
  std::int64_t preempted = 0;
  // Busy iterations longer than kLongIterationUs (in busy_cycles too): on
  // open connections one iteration's work is tens of us, so these are
  // mostly another process's time slice; busy_cycles - long_cycles is the
  // loop's cost without them (not with --per-conn: handshakes take longer).
  std::uint64_t long_iterations = 0, long_cycles = 0;
  std::uint64_t rx_packets = 0, tx_packets = 0;  // the port's, in the measured window
  double idle_open_s = -1;  // idle mode: when every phone had its answer (-1: never)
  std::string sample_start, sample_end;
  std::uint64_t backend_answered = 0;
  std::uint64_t errors = 0;
  std::map<std::string, std::uint64_t> by_kind;
  std::array<PerProfile, kProfiles> profile{};
  Histogram txn, hs_full, hs_resumed, interval_txn;
};

class Gen;

// --- one simulated phone ---------------------------------------------------------

class Phone final : public proxy::StreamOwner {
 public:
  enum class St : std::uint8_t { Idle, Handshaking, Ready, Waiting };
  Phone(Gen& g, unsigned idx, Profile p, std::shared_ptr<const tls::Context> ctx, bool tls12)
      : g_(g), idx_(idx), prof_(p), ctx_(std::move(ctx)), tls12_(tls12) {}
  void on_stream(proxy::Stream& s, proxy::StreamEvent e) override;
  void tick(std::uint64_t now);
  void stop(std::uint64_t now);  // no new work: close when idle
  St state() const { return st_; }
  bool idle_open() const { return st_ == St::Ready && answered_on_conn_; }  // idle mode: answered, held
  // --open-first: open and parked until every phone is; then it starts.
  bool parked() const { return st_ == St::Ready && next_send_ == ~std::uint64_t(0); }
  void release(std::uint64_t now);
  bool live() const { return s_ != nullptr; }
  std::uint64_t due = 0;     // when tick() is wanted (0: not scheduled)
  std::uint64_t queued = 0;  // the time of its entry in Gen's heap (0: none)
  Profile profile() const { return prof_; }

 private:
  void connect(std::uint64_t now);
  void send(std::uint64_t now);
  void read(std::uint64_t now);
  int check(std::string_view m, const loadgen::AnswerView& a);
  void answered(int code, std::uint64_t now);
  std::string_view next_request();
  void ended(const char* why, std::uint64_t now);
  void finish(bool graceful, std::uint64_t next);
  std::string request(const std::string& method, unsigned cseq, const std::string& branch) const;

  Gen& g_;
  unsigned idx_;
  Profile prof_;
  std::shared_ptr<const tls::Context> ctx_;
  bool tls12_;
  std::string scratch_;  // a request formatted outside the templates
  std::unique_ptr<proxy::Stream> s_;
  St st_ = St::Idle;
  bool stopping_ = false, answered_on_conn_ = false, offered_ = false, bye_pending_ = false;
  unsigned pings_out_ = 0;  // keep-alive pings not yet ponged
  unsigned conn_no_ = 0, cseq_ = 0, on_conn_ = 0;
  std::uint64_t t_conn_ = 0, t_txn_ = 0, next_send_ = 0, last_io_ = 0;
  std::string call_id_, branch_, method_, cseq_text_;  // what the answer must carry
  std::string call_tag_, branch_tag_;  // "lg<phone>-<conn>-" and "z9hG4bK-lg<phone>x<conn>x": per connection
  std::array<loadgen::RequestTemplate, 2> tmpl_;  // REGISTER, OPTIONS on this connection
  tls::SavedSession saved_;
};

// --- the plain SIP backend (for a turnpike reached without a kernel) ------------

struct BackendConn final : tcp::ConnHandler {
  std::string in;  // a message split across the stack's buffer runs
  Stats* stats;
  bool gone = false;
  void on_readable(tcp::Stack& st, tcp::ConnId id) override {
    // Whole messages are answered where the stack holds them (no copy);
    // only a message's start that the run ends inside is gathered in `in`.
    for (auto d = st.peek(id); !d.empty() && !gone; d = st.peek(id)) {
      const std::string_view v(reinterpret_cast<const char*>(d.data()), d.size());
      if (!in.empty()) {
        in.append(v);
        st.consume(id, v.size());
        const std::size_t used = serve(st, id, in);
        if (!gone) in.erase(0, used);
        continue;
      }
      const std::size_t used = serve(st, id, v);
      if (gone) return;
      in.append(v.substr(used));
      st.consume(id, v.size());
    }
  }
  // Answers the complete messages at the start of buf; returns the bytes they took.
  std::size_t serve(tcp::Stack& st, tcp::ConnId id, std::string_view buf) {
    std::size_t off = 0;
    for (;;) {
      const std::string_view rest = buf.substr(off);
      const bool ack = rest.substr(0, 4) == "ACK ";  // never answered (RFC 3261 §17)
      {
        // A plain request is framed and answered in one pass (into out);
        // the rest (and an answer larger than out) as the proxy frames it.
        char out[4096];
        loadgen::Answer200 b(out, sizeof out);
        if (const std::size_t len = loadgen::quick_frame(rest, true, b)) {
          const std::size_t n = ack ? 0 : b.finish();
          if (ack || n) {
            if (n && st.write(id, out, n) == static_cast<long>(n)) ++stats->backend_answered;
            off += len;
            continue;
          }
        }
      }
      const sip::Frame f = sip::frame(rest);
      if (f.status == sip::Status::NeedMore) break;
      if (f.status == sip::Status::Error) {
        st.abort(id);
        gone = true;
        return off;
      }
      if (f.status == sip::Status::KeepAlivePing) st.write(id, "\r\n", 2);
      if (f.status == sip::Status::Message && f.is_request && !ack) {
        const std::string r = sip::build_response(rest.substr(0, f.header_len), 200, "OK");
        if (!r.empty() && st.write(id, r.data(), r.size()) == static_cast<long>(r.size())) ++stats->backend_answered;
      }
      off += f.length;
    }
    return off;
  }
  void on_peer_closed(tcp::Stack& st, tcp::ConnId id) override {
    st.close(id);
    gone = true;
  }
  void on_reset(tcp::Stack&, tcp::ConnId) override { gone = true; }
  void on_error(tcp::Stack&, tcp::ConnId, tcp::Error) override { gone = true; }
  void on_closed(tcp::Stack&, tcp::ConnId) override { gone = true; }
};

struct Backend final : tcp::Listener {
  Stats* stats = nullptr;
  std::vector<std::unique_ptr<BackendConn>> conns;
  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId) override {
    auto c = std::make_unique<BackendConn>();
    c->stats = stats;
    conns.push_back(std::move(c));
    return conns.back().get();
  }
  void reap() { std::erase_if(conns, [](const auto& c) { return c->gone; }); }
};

// --- the generator ----------------------------------------------------------------

class Gen {
 public:
  Gen(const Options& o, tcp::Stack& st, std::uint64_t tsc_hz)
      : o(o), st(st), us_mul_(static_cast<std::uint64_t>((unsigned __int128)1'000'000u << kUsShift) / tsc_hz) {}
  const Options& o;
  tcp::Stack& st;
  Stats stats;
  std::mt19937_64 rng{0x5eed};
  std::vector<std::unique_ptr<Phone>> phones;
  std::vector<std::unique_ptr<proxy::Stream>> graveyard;  // closed legs, freed outside their callbacks
  bool stopping = false;
  bool gate = false;  // --open-first: phones park once open until every phone is

  // TSC to microseconds by one multiply (a 128-bit division per call was
  // 7 % of the loop's profile at 320k REGISTER pairs/s).
  std::uint64_t us(std::uint64_t tsc) const { return static_cast<std::uint64_t>(((unsigned __int128)tsc * us_mul_) >> kUsShift); }
  std::uint64_t now_us() const { return us(rte_rdtsc()); }
  // The loop's time, read once per iteration (its RX burst): what callbacks
  // inside the iteration see as now.
  std::uint64_t set_now(std::uint64_t tsc) { return now_ = us(tsc); }
  std::uint64_t now() const { return now_; }
  // A phone has at most one live heap entry, at or before its due time: a
  // later time only moves `due` (each transaction's timeout would otherwise
  // add an entry that outlives its answer, a heap of rate x timeout).
  void schedule(Phone& p, std::uint64_t at) {
    p.due = at;
    if (p.queued && p.queued <= at) return;  // run_due queues it again for `due`
    p.queued = at;
    heap_.push({at, &p});
  }
  void error(const std::string& kind, const std::string& detail = {}) {
    ++stats.errors;
    if (++stats.by_kind[kind] <= 3)
      std::fprintf(stderr, "error: %s%s%s\n", kind.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  }
  // A transaction may start now (target rate: token bucket); else when.
  std::uint64_t may_send(std::uint64_t now) {
    if (o.count && stats.sent >= o.count) return ~std::uint64_t(0);
    if (o.rate <= 0) return 0;
    const double burst = std::max(1.0, o.rate / 100);
    tokens_ = std::min(burst, tokens_ + double(now - tokens_at_) * o.rate / 1e6);
    tokens_at_ = now;
    if (tokens_ >= 1) {
      tokens_ -= 1;
      return 0;
    }
    return now + static_cast<std::uint64_t>((1 - tokens_) * 1e6 / o.rate) + 1;
  }
  void run_due(std::uint64_t now) {
    while (!heap_.empty() && heap_.top().at <= now) {
      const Entry e = heap_.top();
      heap_.pop();
      if (e.p->queued != e.at) continue;  // an earlier entry took its place
      e.p->queued = 0;
      if (!e.p->due) continue;  // cancelled
      if (e.p->due > now) {     // moved later since
        e.p->queued = e.p->due;
        heap_.push({e.p->due, e.p});
        continue;
      }
      e.p->due = 0;
      e.p->tick(now);
    }
    graveyard.clear();
  }
  std::uint64_t next_due() const { return heap_.empty() ? ~std::uint64_t(0) : heap_.top().at; }
  std::uint64_t tokens_at_ = 0;

 private:
  struct Entry {
    std::uint64_t at;
    Phone* p;
    bool operator>(const Entry& o) const { return at > o.at; }
  };
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
  static constexpr unsigned kUsShift = 40;  // 10^6 * 2^40 / tsc_hz: under 1e-8 relative error below 10 GHz
  std::uint64_t us_mul_;
  std::uint64_t now_ = 0;
  double tokens_ = 0;
};

void Phone::connect(std::uint64_t now) {
  auto& ps = g_.stats.profile[unsigned(prof_)];
  s_ = std::make_unique<proxy::Stream>(g_.st, *this, 256 * 1024);
  ++conn_no_;
  on_conn_ = 0;
  call_tag_.assign("lg").append(std::to_string(idx_)).append("-").append(std::to_string(conn_no_)).append("-");
  branch_tag_.assign("z9hG4bK-lg").append(std::to_string(idx_)).append("x").append(std::to_string(conn_no_)).append("x");
  for (auto& t : tmpl_) t.clear();
  answered_on_conn_ = false;
  pings_out_ = 0;
  t_conn_ = last_io_ = now;
  ++g_.stats.connects;
  ++ps.attempts;
  if (!s_->connect(g_.o.ip, g_.o.target_ip, g_.o.target_port)) {
    g_.error("connect_failed", "the stack refused an active open (ports or connection slots exhausted)");
    g_.graveyard.push_back(std::move(s_));
    g_.schedule(*this, now + static_cast<std::uint64_t>(g_.o.retry_ms * 1000) + 1);
    return;
  }
  offered_ = saved_ && std::uniform_int_distribution<unsigned>(0, 99)(g_.rng) < g_.o.resume_pct;
  s_->start_tls(ctx_, g_.o.server_name, false, offered_ ? saved_ : tls::SavedSession{});
  if (offered_) ++g_.stats.resume_offered;
  st_ = St::Handshaking;
  g_.schedule(*this, now + static_cast<std::uint64_t>(g_.o.timeout_ms * 1000));
}

std::string Phone::request(const std::string& method, unsigned cseq, const std::string& branch) const {
  const std::string n = std::to_string(idx_);
  const std::string ip = net::ipv4_to_string(g_.o.ip);
  std::string r;
  r.reserve(std::max<std::size_t>(g_.o.body, 512));
  r += method + " sip:" + (g_.o.server_name.empty() ? net::ipv4_to_string(g_.o.target_ip) : g_.o.server_name) +
       " SIP/2.0\r\n";
  r += "Via: SIP/2.0/TLS " + ip + ";branch=" + branch + "\r\n";
  r += "Max-Forwards: 70\r\n";
  r += "From: <sip:phone" + n + "@loadgen.test>;tag=t" + n + "\r\n";
  r += "To: <sip:phone" + n + "@loadgen.test>\r\n";
  r += "Call-ID: " + call_id_ + "\r\n";
  r += "CSeq: " + std::to_string(cseq) + " " + method + "\r\n";
  if (method == "REGISTER") r += "Contact: <sip:phone" + n + "@" + ip + ";transport=tls>;reg-id=1\r\nExpires: 3600\r\n";
  if (method == "INVITE") r += "Contact: <sip:phone" + n + "@" + ip + ";transport=tls>\r\n";
  const std::string tail = "Content-Length: 0\r\n\r\n";
  const std::size_t pad = std::string_view("X-Pad: \r\n").size();
  if (method != "ACK" && r.size() + tail.size() + pad < g_.o.body)
    r += "X-Pad: " + std::string(g_.o.body - r.size() - tail.size() - pad, 'x') + "\r\n";
  r += tail;
  return r;
}

// This transaction's request. REGISTER and OPTIONS come from a template of
// this connection whose CSeq digits (in Call-ID, branch and CSeq) are
// patched; the rest of a call (INVITE, ACK, BYE) is formatted each time.
std::string_view Phone::next_request() {
  const bool reg = method_ == "REGISTER";
  if (!reg && method_ != "OPTIONS") {
    scratch_ = request(method_, cseq_, branch_);
    return scratch_;
  }
  loadgen::RequestTemplate& t = tmpl_[reg ? 0 : 1];
  if (!t.fits(cseq_)) {
    std::string r = request(method_, cseq_, branch_);
    const std::size_t cid = r.find("\r\nCall-ID: "), br = r.find(";branch="), cs = r.find("\r\nCSeq: ");
    if (cid == std::string::npos || br == std::string::npos || cs == std::string::npos) {
      scratch_ = std::move(r);  // not expected: request() writes all three
      return scratch_;
    }
    t.set(std::move(r), cseq_, {cid + 11 + call_tag_.size(), br + 8 + branch_tag_.size(), cs + 8, 0}, 3);
  }
  return t.patch(cseq_);
}

void Phone::send(std::uint64_t now) {
  // A call's BYE goes right after its ACK, outside --rate and --count: the
  // INVITE that opened the call was counted (RFC 3261 §15: the caller ends it).
  const bool bye = bye_pending_;
  if (!bye) {
    if (const std::uint64_t later = g_.may_send(now)) {
      if (later == ~std::uint64_t(0)) return stop(now);  // --count reached
      next_send_ = later;
      g_.schedule(*this, later);
      return;
    }
  }
  ++cseq_;
  // Assigned in place: no allocation once the strings have their capacity.
  char cb[10];
  const std::string_view c(cb, std::size_t(std::to_chars(cb, cb + sizeof cb, cseq_).ptr - cb));
  if (bye) {
    method_ = "BYE";  // same Call-ID as the INVITE (one dialog)
    bye_pending_ = false;
  } else {
    method_ = g_.o.method == "mix" ? (cseq_ % 2 ? "REGISTER" : "OPTIONS") : g_.o.method;
    call_id_.assign(call_tag_).append(c).append("@loadgen.test");
  }
  branch_.assign(branch_tag_).append(c);  // RFC 3261 §8.1.1.7 magic cookie
  cseq_text_.assign(c).append(" ").append(method_);
  s_->write(next_request());
  ++g_.stats.sent;
  t_txn_ = last_io_ = now;
  st_ = St::Waiting;
  g_.schedule(*this, now + static_cast<std::uint64_t>(g_.o.timeout_ms * 1000));
}

void Phone::tick(std::uint64_t now) {
  switch (st_) {
    case St::Idle:
      if (!stopping_ && !g_.stopping) connect(now);
      return;
    case St::Handshaking:
    case St::Waiting:
      if (now - (st_ == St::Waiting ? t_txn_ : t_conn_) >= static_cast<std::uint64_t>(g_.o.timeout_ms * 1000)) {
        if (st_ == St::Waiting) ++g_.stats.txn_failed;
        g_.error(st_ == St::Waiting ? "transaction_timeout" : "handshake_timeout");
        if (st_ == St::Handshaking) ++g_.stats.profile[unsigned(prof_)].refused;
        finish(false, now + static_cast<std::uint64_t>(g_.o.retry_ms * 1000));
      } else {
        g_.schedule(*this, (st_ == St::Waiting ? t_txn_ : t_conn_) + static_cast<std::uint64_t>(g_.o.timeout_ms * 1000));
      }
      return;
    case St::Ready: {
      if (stopping_ || g_.stopping) return finish(true, 0);
      if (now >= next_send_) return send(now);
      const std::uint64_t ka = static_cast<std::uint64_t>(g_.o.keepalive_s * 1e6);
      if (ka && now >= last_io_ + ka) {
        s_->write("\r\n\r\n");  // RFC 5626 §3.5.1 ping; the pong is one CRLF
        ++g_.stats.pings;
        ++pings_out_;
        last_io_ = now;
      }
      g_.schedule(*this, ka ? std::min(next_send_, last_io_ + ka) : next_send_);
      return;
    }
  }
}

void Phone::release(std::uint64_t now) {
  if (!parked()) return;
  next_send_ = now;
  g_.schedule(*this, now);
}

void Phone::stop(std::uint64_t now) {
  stopping_ = true;
  if (st_ == St::Ready) finish(true, 0);
  else if (st_ == St::Idle) due = 0;
  (void)now;
}

void Phone::on_stream(proxy::Stream& s, proxy::StreamEvent e) {
  if (&s != s_.get()) return;
  const std::uint64_t now = g_.now();
  switch (e) {
    case proxy::StreamEvent::Open: {
      ++g_.stats.handshakes;
      const bool resumed = s.session() && s.session()->resumed();
      (resumed ? g_.stats.resumed : g_.stats.full) += 1;
      (resumed ? g_.stats.hs_resumed : g_.stats.hs_full).record(now - t_conn_);
      if (offered_ && !resumed) ++g_.stats.resume_declined;
      st_ = St::Ready;
      next_send_ = now;
      if (stopping_ || g_.stopping) return finish(true, 0);
      if (g_.gate) {
        next_send_ = ~std::uint64_t(0);  // parked until every phone is open
        return;
      }
      send(now);
      return;
    }
    case proxy::StreamEvent::Readable: return read(now);
    case proxy::StreamEvent::Writable: return;
    case proxy::StreamEvent::PeerEof: return ended("peer closed", now);
    case proxy::StreamEvent::TlsFailed: return ended(("tls: " + s.failure()).c_str(), now);
    case proxy::StreamEvent::Timeout: return ended("handshake timeout", now);
    case proxy::StreamEvent::Reset: return ended("reset", now);
    case proxy::StreamEvent::Error: return ended("tcp error", now);
    case proxy::StreamEvent::Closed: return ended("closed", now);
  }
}

void Phone::read(std::uint64_t now) {
  for (;;) {
    if (!s_) return;
    const auto d = s_->peek();
    if (d.empty()) break;
    // RFC 5626 §4.4.1: the pong is one CRLF. With a ping outstanding, a CRLF
    // is its pong even when it arrives alone; the framer would wait for a
    // second one (a server never pings, §3.5.1, but two pongs would look
    // like a ping to it).
    if (pings_out_ && d.size() >= 2 && d[0] == '\r' && d[1] == '\n') {
      s_->consume(2);
      last_io_ = now;
      --pings_out_;
      ++g_.stats.pongs;
      continue;
    }
    // A plain answer is framed and viewed in one pass; the rest by the
    // proxy's framer.
    const std::string_view v(reinterpret_cast<const char*>(d.data()), d.size());
    loadgen::AnswerCollector ac;
    if (const std::size_t len = loadgen::quick_frame(v, false, ac)) {
      ac.a.code = loadgen::AnswerCollector::code_of(v);
      last_io_ = now;
      const int code = check(v.substr(0, len), ac.a);
      s_->consume(len);
      if (code) answered(code, now);
      continue;
    }
    const sip::Frame f = sip::frame(d);
    if (f.status == sip::Status::NeedMore) break;
    if (f.status == sip::Status::Error) {
      g_.error("bad_framing", std::string(sip::error_name(f.error)));
      return finish(false, now + static_cast<std::uint64_t>(g_.o.retry_ms * 1000));
    }
    last_io_ = now;
    if (f.status == sip::Status::Ignore) {  // a pong
      s_->consume(f.length);
      if (pings_out_) {
        --pings_out_;
        ++g_.stats.pongs;
      }
      continue;
    }
    if (f.status == sip::Status::KeepAlivePing) {
      s_->consume(f.length);
      s_->write("\r\n");  // the server's ping: pong (RFC 5626 §4.4.1)
      continue;
    }
    // Checked where it lies (no copy); what follows may write, so after consume().
    const std::string_view m = v.substr(0, f.length);
    const int code = check(m, loadgen::view_answer(m));
    s_->consume(f.length);
    if (code) answered(code, now);
  }
  if (s_ && s_->eof() && st_ != St::Idle) ended("peer closed", now);
}

// The answer's status code when it answers the request in flight; 0 (an
// error counted) when not.
int Phone::check(std::string_view m, const loadgen::AnswerView& a) {
  if (st_ != St::Waiting) {
    g_.error("unsolicited_message", std::string(m.substr(0, m.find('\r'))));
    return 0;
  }
  // RFC 3261 §17.1.3: the response matches the client transaction by the
  // top Via's branch and the CSeq method; Call-ID and CSeq number too.
  const char* kind = nullptr;
  if (!a.code) kind = "not_a_response";
  else if (a.call_id != call_id_) kind = "callid_mismatch";
  else if (a.cseq != cseq_text_) kind = "cseq_mismatch";
  else if (!loadgen::via_has_branch(a.via, branch_)) kind = "via_branch_mismatch";
  if (kind) {
    // Not the answer to our request: the transaction stays open (its timeout).
    g_.error(kind, std::string(m.substr(0, 200)));
    return 0;
  }
  return a.code;
}

void Phone::answered(int code, std::uint64_t now) {
  auto& ps = g_.stats.profile[unsigned(prof_)];
  if (code >= 100 && code < 200) return;  // provisional: the final answer follows
  if (code < 200 || code > 299) {
    ++g_.stats.txn_failed;
    g_.error("status_" + std::to_string(code));
  } else {
    ++g_.stats.answered;
    g_.stats.txn.record(now - t_txn_);
    g_.stats.interval_txn.record(now - t_txn_);
  }
  if (!answered_on_conn_) {
    answered_on_conn_ = true;
    ++ps.accepted;
    if (!loadgen::expect_accepted(prof_, g_.o.eku_on, g_.o.require_cert)) {
      ++ps.accepted_unexpected;
      g_.error("accepted_unexpected", std::string(kProfileNames[unsigned(prof_)]));
    }
    if (s_->session()) {
      tls::SavedSession sv = s_->session()->save();  // TLS 1.3: the ticket came after the handshake
      if (sv) saved_ = std::move(sv);
    }
  }
  ++on_conn_;
  st_ = St::Ready;
  if (g_.o.idle_hold_s > 0) {
    // Idle mode: no more transactions on this connection, only keep-alives.
    next_send_ = ~std::uint64_t(0);
    if (stopping_ || g_.stopping) return finish(true, 0);
    if (const auto ka = static_cast<std::uint64_t>(g_.o.keepalive_s * 1e6)) g_.schedule(*this, last_io_ + ka);
    return;
  }
  if (method_ == "INVITE") {
    // RFC 3261 §13.2.2.4: the 2xx is acknowledged end to end by an ACK of
    // its own (a new branch); §17.1.1.3: a non-2xx by the transaction's ACK
    // (the same branch). No answer comes to either. Then the BYE.
    const bool ok2xx = code >= 200 && code <= 299;
    s_->write(request("ACK", cseq_, ok2xx ? branch_ + "a" : branch_));
    ++g_.stats.acks;
    if (ok2xx) {
      bye_pending_ = true;
      return send(now);
    }
  }
  const std::uint64_t think = static_cast<std::uint64_t>(g_.o.think_ms * 1000);
  if (g_.o.per_conn && on_conn_ >= g_.o.per_conn) return finish(true, now + think);
  next_send_ = now + think;
  if (stopping_ || g_.stopping) return finish(true, 0);
  if (!think) return send(now);
  const std::uint64_t ka = static_cast<std::uint64_t>(g_.o.keepalive_s * 1e6);
  g_.schedule(*this, ka ? std::min(next_send_, last_io_ + ka) : next_send_);
}

// The connection ended without our asking.
void Phone::ended(const char* why, std::uint64_t now) {
  if (!s_) return;
  auto& ps = g_.stats.profile[unsigned(prof_)];
  const bool want_ok = loadgen::expect_accepted(prof_, g_.o.eku_on, g_.o.require_cert);
  if (!answered_on_conn_) {
    // Refused (TLS 1.2: in the handshake; TLS 1.3: the server's alert after
    // our Finished, before any answer).
    ++ps.refused;
    if (st_ == St::Waiting) ++g_.stats.txn_refused;
    if (want_ok && offered_ && tls12_) {
      // wolfSSL 5.5.4 fails a TLS 1.2 resumption the server declines
      // (tls::Session): retry at once with a full handshake.
      saved_ = {};
      finish(false, now);
      return;
    }
    if (want_ok) {
      ++ps.refused_unexpected;
      g_.error("refused_unexpected", std::string(kProfileNames[unsigned(prof_)]) + ": " + why);
    } else {
      ++ps.refused_expected;
    }
    saved_ = {};
  } else if (st_ == St::Waiting) {
    ++g_.stats.txn_failed;
    g_.error("closed_in_transaction", why);
  } else if (!stopping_ && !g_.stopping) {
    g_.error("closed_by_peer", why);
  }
  finish(false, now + static_cast<std::uint64_t>(g_.o.retry_ms * 1000));
}

// Ends the connection; the next one at `next` (0: none).
void Phone::finish(bool graceful, std::uint64_t next) {
  if (s_) {
    if (graceful) s_->close();  // close_notify, FIN (RFC 8446 §6.1)
    else if (!s_->gone()) s_->abort();
    g_.graveyard.push_back(std::move(s_));
    ++g_.stats.closed;
  }
  st_ = St::Idle;
  g_.stats.pings_abandoned += pings_out_;  // the connection ended before their pongs
  pings_out_ = 0;
  if (next && !stopping_ && !g_.stopping) g_.schedule(*this, next);
  else due = 0;
}

// --- output ----------------------------------------------------------------------

std::string json_escape(std::string_view s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\', r += c;
    else if (c == '\n') r += "\\n";
    else if (static_cast<unsigned char>(c) < 0x20) r += ' ';
    else r += c;
  }
  return r;
}

// Output of `sh -c cmd`, trailing newlines cut ("" for no command).
std::string run_sample(const std::string& cmd) {
  if (cmd.empty()) return {};
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char b[4096];
    std::size_t n;
    while ((n = std::fread(b, 1, sizeof b, f)) > 0) out.append(b, n);
    pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string hist_json(const Histogram& h) {
  char b[320];
  std::snprintf(b, sizeof b,
                "{\"count\": %" PRIu64 ", \"min\": %" PRIu64 ", \"mean\": %.1f, \"p50\": %" PRIu64 ", \"p90\": %" PRIu64
                ", \"p99\": %" PRIu64 ", \"p999\": %" PRIu64 ", \"max\": %" PRIu64 "}",
                h.count(), h.min(), h.mean(), h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.quantile(0.999),
                h.max());
  return b;
}

void write_json(const Options& o, const Stats& s, double elapsed, bool ok, const std::string& path) {
  std::string j = "{\n";
  auto kv = [&j](const char* k, const std::string& v, bool last = false) {
    j += "  \"" + std::string(k) + "\": " + v + (last ? "\n" : ",\n");
  };
  kv("tool", "\"turnpike-loadgen\"");
  kv("target", "\"" + net::ipv4_to_string(o.target_ip) + ":" + std::to_string(o.target_port) + "\"");
  kv("device", "\"" + json_escape(o.device) + "\"");
  kv("phones", std::to_string(o.phones));
  kv("tls", "\"" + o.tls + "\"");
  kv("method", "\"" + o.method + "\"");
  kv("eku_mode", o.eku_on ? "\"on\"" : "\"off\"");
  kv("elapsed_s", std::to_string(elapsed));
  kv("connects", std::to_string(s.connects));
  kv("handshakes", std::to_string(s.handshakes));
  kv("handshakes_full", std::to_string(s.full));
  kv("handshakes_resumed", std::to_string(s.resumed));
  kv("resume_offered", std::to_string(s.resume_offered));
  kv("resume_declined", std::to_string(s.resume_declined));
  kv("requests_sent", std::to_string(s.sent));
  kv("answers_ok", std::to_string(s.answered));
  kv("requests_failed", std::to_string(s.txn_failed));
  kv("requests_refused_in_flight", std::to_string(s.txn_refused));
  kv("requests_unaccounted", std::to_string(s.sent - s.answered - s.txn_failed - s.txn_refused));
  kv("acks_sent", std::to_string(s.acks));
  kv("keepalive_pings", std::to_string(s.pings));
  kv("keepalive_pongs", std::to_string(s.pongs));
  kv("keepalive_pings_abandoned", std::to_string(s.pings_abandoned));
  kv("backend_answered", std::to_string(s.backend_answered));
  char rate[64];
  // Rates over the measured window (--warmup-s excluded).
  const std::uint64_t ops = s.answered - s.base_answered;
  std::snprintf(rate, sizeof rate, "%.1f", elapsed > 0 ? double(ops) / elapsed : 0.0);
  kv("transactions_per_s", rate);
  std::snprintf(rate, sizeof rate, "%.1f", elapsed > 0 ? double(s.full - s.base_full) / elapsed : 0.0);
  kv("full_handshakes_per_s", rate);
  std::snprintf(rate, sizeof rate, "%.1f", elapsed > 0 ? double(s.resumed - s.base_resumed) / elapsed : 0.0);
  kv("resumed_handshakes_per_s", rate);
  // The fields bench/peers/report.py reads (as tp-loadgen writes them).
  kv("ops", std::to_string(ops));
  std::snprintf(rate, sizeof rate, "%.1f", elapsed > 0 ? double(ops) / elapsed : 0.0);
  kv("rate", rate);
  std::snprintf(rate, sizeof rate, "%.2f", ops && s.tsc_hz ? double(s.busy_cycles) * 1e6 / double(s.tsc_hz) / double(ops) : 0.0);
  kv("loadgen_busy_us_per_op", rate);
  kv("loadgen_busy_cycles_per_op", std::to_string(ops ? s.busy_cycles / ops : 0));
  std::snprintf(rate, sizeof rate, "%.2f",
                ops && s.tsc_hz ? double(s.busy_cycles - s.long_cycles) * 1e6 / double(s.tsc_hz) / double(ops) : 0.0);
  // Without busy iterations over kLongIterationUs (preempted); not where
  // handshakes take much of the time (--per-conn).
  kv("loadgen_busy_us_per_op_short", o.per_conn ? "null" : rate);
  kv("loadgen_long_iterations", std::to_string(s.long_iterations));
  std::snprintf(rate, sizeof rate, "%.1f", elapsed > 0 ? s.cpu_s / elapsed * 100 : 0.0);
  kv("loadgen_cpu_percent", rate);
  kv("loadgen_preempted", std::to_string(s.preempted));
  kv("loadgen_rx_packets", std::to_string(s.rx_packets));
  kv("loadgen_tx_packets", std::to_string(s.tx_packets));
  std::snprintf(rate, sizeof rate, "%.1f", elapsed > 0 && s.tsc_hz ? double(s.busy_cycles) / double(s.tsc_hz) / elapsed * 100 : 0.0);
  kv("loadgen_busy_percent", rate);
  kv("seconds", std::to_string(elapsed));
  if (o.idle_hold_s > 0) {
    kv("idle_hold_s", std::to_string(o.idle_hold_s));
    kv("idle_open_s", std::to_string(s.idle_open_s));
  }
  kv("conns", std::to_string(o.phones));
  kv("errors_total", std::to_string(s.errors));
  kv("sample_start", "\"" + json_escape(s.sample_start) + "\"");
  kv("sample_end", "\"" + json_escape(s.sample_end) + "\"");
  kv("latency_us", hist_json(s.txn));
  kv("handshake_full_us", hist_json(s.hs_full));
  kv("handshake_resumed_us", hist_json(s.hs_resumed));
  std::string e = "{";
  for (auto& [k, v] : s.by_kind) e += (e.size() > 1 ? ", \"" : "\"") + k + "\": " + std::to_string(v);
  kv("errors", std::to_string(s.errors));
  kv("errors_by_kind", e + "}");
  std::string p = "{";
  for (unsigned i = 0; i < kProfiles; ++i) {
    const auto& x = s.profile[i];
    if (!x.phones) continue;
    if (p.size() > 1) p += ", ";
    p += "\"" + std::string(kProfileNames[i]) + "\": {\"phones\": " + std::to_string(x.phones) +
         ", \"expect\": \"" +
         (loadgen::expect_accepted(Profile(i), o.eku_on, o.require_cert) ? "accepted" : "refused") +
         "\", \"attempts\": " + std::to_string(x.attempts) + ", \"accepted\": " + std::to_string(x.accepted) +
         ", \"refused\": " + std::to_string(x.refused) + ", \"refused_expected\": " +
         std::to_string(x.refused_expected) + ", \"refused_unexpected\": " + std::to_string(x.refused_unexpected) +
         ", \"accepted_unexpected\": " + std::to_string(x.accepted_unexpected) + "}";
  }
  kv("profiles", p + "}");
  std::string nd = "{";
  for (auto& [k, v] : s.net_drops) nd += (nd.size() > 1 ? ", \"" : "\"") + k + "\": " + std::to_string(v);
  kv("loadgen_frame_drops", nd + "}");
  kv("loadgen_tcp_retransmits", std::to_string(s.retransmits));
  kv("loadgen_tcp_rto_timeouts", std::to_string(s.rto_timeouts));
  kv("loadgen_tcp_tlp_probes", std::to_string(s.tlp_probes));
  kv("ok", ok ? "true" : "false", true);
  j += "}\n";
  std::ofstream(path) << j;
}

// --- EAL and port -----------------------------------------------------------------

std::vector<std::string> eal_args(const Options& o) {
  std::vector<std::string> a{"turnpike-loadgen", "--file-prefix", o.file_prefix, "--log-level", "5"};
  if (!o.huge) a.insert(a.end(), {"--no-huge", "-m", "256"});
  if (o.cpu >= 0) a.insert(a.end(), {"--lcores", "0@" + std::to_string(o.cpu)});
  const port::PortOptions pc{.name = "lg0", .device = o.device};
  if (pc.is_vdev()) {
    a.insert(a.end(), {"--no-pci", "--vdev", port::effective_device(o.device, 1, port::af_packet_frames(o.max_connections, 100))});
  } else {
    a.insert(a.end(), {"-a", o.device});
  }
  a.insert(a.end(), o.eal.begin(), o.eal.end());
  return a;
}

// A busy loop iteration longer than this was most likely preempted (Stats).
constexpr std::uint64_t kLongIterationUs = 200;

// The calling thread's CPU time (s) and involuntary context switches so far.
std::pair<double, std::int64_t> thread_usage() {
  rusage ru{};
  if (getrusage(RUSAGE_THREAD, &ru) != 0) return {0, 0};
  return {double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
          ru.ru_nivcsw};
}

void sleep_us(std::uint64_t us) {
  timespec ts{0, static_cast<long>(us * 1000)};
  nanosleep(&ts, nullptr);
}

int run(const Options& o) {
  // Certificates first: no EAL to tear down when openssl fails.
  std::array<unsigned, kProfiles> count{};
  std::vector<Profile> order;  // phone i's profile, interleaved by weight
  {
    unsigned wsum = 0;
    for (unsigned w : o.mix) wsum += w;
    std::array<double, kProfiles> credit{};
    for (unsigned i = 0; i < o.phones; ++i) {
      unsigned best = 0;
      for (unsigned k = 0; k < kProfiles; ++k) {
        credit[k] += double(o.mix[k]) / wsum;
        if (credit[k] > credit[best]) best = k;
      }
      credit[best] -= 1;
      ++count[best];
      order.push_back(Profile(best));
    }
  }
  const double t_pki = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  const loadgen::PhonePki pki = loadgen::make_pki(o.pki_dir, count);
  std::fprintf(stderr, "pki: %u phone certificates in %s (%.2f s); the target must trust %s\n", o.phones,
               o.pki_dir.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count() - t_pki,
               pki.ca_pem.c_str());
  if (o.pki_only) return 0;

  tls::init_library();
  auto trust = std::make_shared<control::TrustStore>();
  if (auto e = trust->add_ca_bundle(slurp(o.server_ca)); !e.empty()) throw std::runtime_error("--server-ca: " + e);
  control::VerdictCache server_cache(64);
  const tls::Verifier verifier{trust, &server_cache, control::EkuMode::On, 1};

  std::vector<std::string> args = eal_args(o);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  if (rte_eal_init(int(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "EAL initialisation failed: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  const std::uint64_t tsc_hz = rte_get_tsc_hz();
  rte_mempool* pool = rte_pktmbuf_pool_create("lg_mbuf", 32767, 256, 0, 2048 + 128, rte_socket_id());
  if (!pool) {
    std::fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
    return 1;
  }
  port::PortOptions pc;
  pc.name = "lg0";
  pc.device = o.device;
  pc.ipv4 = o.ip;
  pc.prefix = o.prefix;
  pc.gateway = o.gateway;
  const std::string dev = pc.is_vdev() ? args[std::find(args.begin(), args.end(), "--vdev") - args.begin() + 1] : o.device;
  const port::PortInfo pi = port::setup_port(pc, dev, 1, pool);
  std::fprintf(stderr, "port %s (%s) mac %s ipv4 %s/%u link %s\n", pi.name.c_str(), pi.driver.c_str(),
               pi.mac.to_string().c_str(), net::ipv4_to_string(o.ip).c_str(), o.prefix, pi.link_up ? "up" : "down");

  net::NeighborTable neigh(1024, 300 * tsc_hz);
  net::PortNet pn;
  pn.port_id = pi.port_id;
  pn.mac = pi.mac;
  pn.ip = o.ip;
  pn.prefix = o.prefix;
  pn.gateway = o.gateway;
  pn.neigh = &neigh;
  const std::uint16_t pid = pi.port_id;
  net::NetWorker nw({pn}, pool, [pid](std::uint16_t, rte_mbuf** p, std::uint16_t n) { return rte_eth_tx_burst(pid, 0, p, n); },
                    1024, net::NetTimers{tsc_hz / 5, 3 * tsc_hz});
  tcp::Config tcfg;
  tcfg.max_connections = o.max_connections;
  tcfg.max_half_open = std::min<std::uint32_t>(o.max_connections, 8192);
  tcfg.time_wait_us = o.time_wait_ms * 1000;  // many short connections from one address: ports come back soon
  tcfg.ephemeral_lo = 1024;
  tcfg.ephemeral_hi = 65535;
  tcfg.max_chunks = std::max<std::uint32_t>(8192, o.max_connections * 4);
  std::random_device rd;
  tcfg.secret = tcp::SipKey{(std::uint64_t(rd()) << 32) | rd(), (std::uint64_t(rd()) << 32) | rd()};
  glue::TcpGlue glue(nw, pool, tcfg, tsc_hz, 0, {}, 0, pi.tx_csum_offload);
  nw.set_l4_handler([&glue](std::uint16_t p, rte_mbuf* m, const net::Ipv4Hdr& ip, std::uint64_t now) {
    return glue.on_ipv4(p, m, ip, now);
  });
  nw.announce(0);
  if (o.gateway) nw.solicit(0, o.gateway);
  nw.solicit(0, o.target_ip);
  nw.flush();

  Gen g(o, glue.stack(), tsc_hz);
  g.stats.tsc_hz = tsc_hz;
  Backend backend;
  backend.stats = &g.stats;
  if (o.backend_port && glue.stack().listen(o.ip, o.backend_port, backend) != 0)
    throw std::runtime_error("listen on the backend port failed");

  // Client contexts: one per phone (its own leaf and version).
  std::array<unsigned, kProfiles> next{};
  for (unsigned i = 0; i < o.phones; ++i) {
    const Profile p = order[i];
    const bool v12 = o.tls == "1.2" || (o.tls == "mix" && i % 2);
    tls::Options co;
    if (p != Profile::NoCert) {
      co.cert_chain_pem = pki.leaves[unsigned(p)][next[unsigned(p)]++];
      co.key_pem = pki.key_pem;
    }
    co.groups = o.groups;
    co.tls12 = v12;
    co.tls13 = !v12;
    auto c = tls::Context::make_client(co, verifier);
    if (!c) throw std::runtime_error("client context: " + c.error);
    g.phones.push_back(std::make_unique<Phone>(g, i, p, *c, v12));
    ++g.stats.profile[unsigned(p)].phones;
  }
  std::string mixdesc;
  for (unsigned k = 0; k < kProfiles; ++k)
    if (count[k]) mixdesc += " " + std::string(kProfileNames[k]) + "=" + std::to_string(count[k]);
  std::fprintf(stderr, "ready: %u phones (%s) -> %s:%u, TLS %s, %s%s\n", o.phones, mixdesc.c_str() + 1,
               net::ipv4_to_string(o.target_ip).c_str(), o.target_port, o.tls.c_str(), o.method.c_str(),
               o.backend_port ? (", backend on :" + std::to_string(o.backend_port)).c_str() : "");

  // Wait for ARP of the target (or the gateway) so the first SYNs are not held.
  const std::uint64_t start0 = g.now_us();
  rte_mbuf* pkts[net::NetWorker::kBurst];
  bool link_seen = pi.link_up;
  for (unsigned tries = 0; !g_interrupted && g.now_us() - start0 < 3'000'000; ++tries) {
    const std::uint16_t n = rte_eth_rx_burst(pid, 0, pkts, net::NetWorker::kBurst);
    const std::uint64_t t = rte_rdtsc();
    if (n) nw.input(0, pkts, n, t);
    if (!link_seen) {
      // memif and tap come up after start: what was sent before is lost.
      // Announce again so a target that knew an earlier loadgen's MAC for
      // our address updates it (RFC 5227 §2.3).
      rte_eth_link link{};
      if (rte_eth_link_get_nowait(pid, &link) == 0 && link.link_status) {
        link_seen = true;
        nw.announce(0);
        nw.solicit(0, o.gateway && !pn.on_link(o.target_ip) ? o.gateway : o.target_ip);
      }
    }
    nw.tick(t);
    nw.flush();
    net::MacAddr mac;
    if (neigh.lookup(o.gateway && !pn.on_link(o.target_ip) ? o.gateway : o.target_ip, t, mac)) break;
    if (tries % 1000 == 999) nw.solicit(0, o.gateway && !pn.on_link(o.target_ip) ? o.gateway : o.target_ip);
    if (!n) sleep_us(100);
  }

  // Serve the backend (and answer ARP) before the first phone: a target
  // that probes its backends marks ours up in the meantime.
  for (const std::uint64_t until = g.now_us() + static_cast<std::uint64_t>(o.start_delay_s * 1e6);
       !g_interrupted && g.now_us() < until;) {
    const std::uint64_t tsc = rte_rdtsc();
    const std::uint16_t n = rte_eth_rx_burst(pid, 0, pkts, net::NetWorker::kBurst);
    if (n) nw.input(0, pkts, n, tsc);
    glue.poll(tsc);
    nw.tick(tsc);
    nw.flush();
    if (!n) sleep_us(50);
  }
  const bool idle = o.idle_hold_s > 0;
  bool measuring = false;
  std::pair<double, std::int64_t> usage0{}, usage1{};
  rte_eth_stats ps0{}, ps1{};
  if (idle) {
    usage0 = thread_usage();
    rte_eth_stats_get(pid, &ps0);
    // Idle mode measures the target's memory: the first sample is taken
    // before any connection, the second after they are all open and held.
    g.stats.sample_start = run_sample(o.sample);
    measuring = true;
  }
  const std::uint64_t t0 = g.now_us();
  g.tokens_at_ = t0;
  if (idle) g.stats.measure_at = t0;
  for (unsigned i = 0; i < o.phones; ++i)
    g.schedule(*g.phones[i], t0 + static_cast<std::uint64_t>(o.ramp_s * 1e6 * i / o.phones));
  std::uint64_t warm_at = t0 + static_cast<std::uint64_t>(o.warmup_s * 1e6);
  std::uint64_t end_at = warm_at + static_cast<std::uint64_t>(o.duration * 1e6);
  g.gate = o.open_first;
  std::uint64_t idle_until = 0;  // idle mode: when the hold ends (0: not all open yet)
  bool idle_done = false;
  const std::uint64_t period = static_cast<std::uint64_t>(o.progress_s * 1e6);
  std::uint64_t next_progress = t0 + period, next_tick = 0, drain_until = 0, last_answered = 0, last_full = 0,
                last_res = 0, last_err = 0;
  unsigned empty = 0;
  std::uint64_t sleep_for = 1;
  const std::uint64_t long_iteration = tsc_hz / 1'000'000 * kLongIterationUs;
  std::uint64_t stop_at = 0;
  for (;;) {
    const std::uint64_t tsc = rte_rdtsc();
    const std::uint64_t now = g.set_now(tsc);
    const std::uint16_t n = rte_eth_rx_burst(pid, 0, pkts, net::NetWorker::kBurst);
    if (n) nw.input(0, pkts, n, tsc);
    unsigned work = n + glue.poll(tsc);
    if (tsc >= next_tick) {
      nw.tick(tsc);
      backend.reap();
      next_tick = tsc + tsc_hz / 1000;
      if (g.gate && !g.stopping) {
        const std::uint64_t at = g.now_us();
        const bool all = std::all_of(g.phones.begin(), g.phones.end(), [](auto& p) { return p->parked(); });
        if (all || at >= end_at) {
          // Every phone open: the warm-up and the measured window start now.
          g.gate = false;
          if (all) {
            warm_at = at + static_cast<std::uint64_t>(o.warmup_s * 1e6);
            end_at = warm_at + static_cast<std::uint64_t>(o.duration * 1e6);
            std::fprintf(stdout, "all %u phones open after %.2f s\n", o.phones, double(at - t0) / 1e6);
          } else {
            unsigned open = 0;
            for (auto& p : g.phones) open += p->parked();
            g.error("not_all_open", std::to_string(open) + " of " + std::to_string(o.phones) + " phones open");
          }
          for (auto& p : g.phones) p->release(at);
        }
      }
      if (idle && !idle_until && !g.stopping &&
          std::all_of(g.phones.begin(), g.phones.end(), [](auto& p) { return p->idle_open(); })) {
        const std::uint64_t at = g.now_us();
        g.stats.idle_open_s = double(at - t0) / 1e6;
        idle_until = at + static_cast<std::uint64_t>(o.idle_hold_s * 1e6);
        std::fprintf(stdout, "all %u phones open and idle after %.2f s; holding %.1f s\n", o.phones,
                     g.stats.idle_open_s, o.idle_hold_s);
      }
    }
    if (idle && idle_until && !idle_done && now >= idle_until) {
      g.stats.sample_end = run_sample(o.sample);
      idle_done = true;
    }
    if (idle && !idle_until && !g.stopping && now >= end_at) {
      unsigned open = 0;
      for (auto& p : g.phones) open += p->idle_open();
      g.error("idle_not_open", std::to_string(open) + " of " + std::to_string(o.phones) + " phones open and idle after " +
                                   std::to_string(o.duration) + " s");
    }
    if (g.next_due() <= now) {
      g.run_due(now);
      ++work;
    }
    nw.flush();
    const bool count_done = o.count && g.stats.sent >= o.count && std::none_of(g.phones.begin(), g.phones.end(), [](auto& p) {
      return p->state() == Phone::St::Waiting;
    });
    const bool time_up = idle ? idle_done || (!idle_until && now >= end_at) : now >= end_at;
    if (!g.stopping && (time_up || g_interrupted || count_done ||
                        (o.max_errors && g.stats.errors > o.max_errors * 10 + 1000))) {
      g.stopping = true;
      stop_at = now;
      usage1 = thread_usage();
      rte_eth_stats_get(pid, &ps1);
      if (measuring && !idle) g.stats.sample_end = run_sample(o.sample);
      for (auto& p : g.phones) p->stop(now);
      drain_until = now + static_cast<std::uint64_t>(o.timeout_ms * 1000) + 500'000;
    }
    if (!measuring && !g.gate && now >= warm_at && !g.stopping) {
      measuring = true;
      usage0 = thread_usage();
    rte_eth_stats_get(pid, &ps0);
      g.stats.sample_start = run_sample(o.sample);
      g.stats.measure_at = g.now_us();
      g.stats.base_answered = g.stats.answered, g.stats.base_full = g.stats.full, g.stats.base_resumed = g.stats.resumed;
    }
    if (now >= next_progress || (g.stopping && !drain_until)) {
      const double el = double(now - t0) / 1e6;
      unsigned open = 0;
      for (auto& p : g.phones) open += p->state() == Phone::St::Ready || p->state() == Phone::St::Waiting;
      const double per = o.progress_s;
      std::fprintf(stdout,
                   "[%6.1fs] phones %u/%u open | hs full %.0f/s resumed %.0f/s | txn %" PRIu64
                   " (%.0f/s) p50 %" PRIu64 " us p99 %" PRIu64 " us | refused %" PRIu64 " | errors %" PRIu64
                   " (+%" PRIu64 ")\n",
                   el, open, o.phones, double(g.stats.full - last_full) / per, double(g.stats.resumed - last_res) / per,
                   g.stats.answered, double(g.stats.answered - last_answered) / per, g.stats.interval_txn.quantile(0.5),
                   g.stats.interval_txn.quantile(0.99),
                   [&] {
                     std::uint64_t r = 0;
                     for (auto& x : g.stats.profile) r += x.refused;
                     return r;
                   }(),
                   g.stats.errors, g.stats.errors - last_err);
      std::fflush(stdout);
      g.stats.interval_txn.clear();
      last_answered = g.stats.answered, last_full = g.stats.full, last_res = g.stats.resumed, last_err = g.stats.errors;
      next_progress += period;
    }
    if (g.stopping) {
      bool live = false;
      for (auto& p : g.phones) live |= p->live();
      // Our closes' FIN exchanges finish before the port goes down.
      if ((!live && glue.stack().connections() <= backend.conns.size()) || now >= drain_until) break;
    }
    // The loop's busy cycles inside the measured window: what one loadgen
    // core spends per operation (its capacity, independent of the target).
    if (work && measuring && !g.stopping) {
      const std::uint64_t c = rte_rdtsc() - tsc;
      g.stats.busy_cycles += c;
      if (c > long_iteration) {
        ++g.stats.long_iterations;
        g.stats.long_cycles += c;
      }
    }
    if (work || o.busy_poll) {
      empty = 0;
      sleep_for = 1;
      continue;
    }
    if (++empty >= 200) {
      const std::uint64_t due = g.next_due();
      if (due > now + sleep_for) sleep_us(std::min<std::uint64_t>(sleep_for, due - now));
      sleep_for = std::min<std::uint64_t>(sleep_for * 2, 100);
    }
  }
  if (!g.stats.measure_at) g.stats.measure_at = t0;
  if (!stop_at) {
    usage1 = thread_usage();
    rte_eth_stats_get(pid, &ps1);
  }
  g.stats.rx_packets = ps1.ipackets - ps0.ipackets;
  g.stats.tx_packets = ps1.opackets - ps0.opackets;
  g.stats.cpu_s = usage1.first - usage0.first;
  g.stats.preempted = usage1.second - usage0.second;
  const double elapsed = double((stop_at ? stop_at : g.now_us()) - g.stats.measure_at) / 1e6;
  for (auto& p : g.phones)
    if (p->live() && p->state() == Phone::St::Waiting) {
      ++g.stats.txn_failed;
      g.error("unanswered_at_end");
    }

  // Summary.
  nw.stats(0).for_each_drop([&g](std::string_view name, std::string_view, std::uint64_t v) {
    if (v) g.stats.net_drops[std::string(name)] = v;
  });
  g.stats.retransmits = glue.stack().counters().retransmits.load();
  g.stats.rto_timeouts = glue.stack().counters().rto_timeouts.load();
  g.stats.tlp_probes = glue.stack().counters().tlp_probes.load();
  const Stats& s = g.stats;
  bool profiles_ok = true;
  std::printf("\n== turnpike-loadgen summary (%.2f s) ==\n", elapsed);
  std::printf("connections %" PRIu64 ", handshakes %" PRIu64 " (full %" PRIu64 ", resumed %" PRIu64 " of %" PRIu64
              " offered)\n",
              s.connects, s.handshakes, s.full, s.resumed, s.resume_offered);
  std::printf("transactions: sent %" PRIu64 ", answered and matched %" PRIu64 " (%.1f/s); keep-alive pings %" PRIu64
              ", pongs %" PRIu64 "\n",
              s.sent, s.answered, elapsed > 0 ? double(s.answered - s.base_answered) / elapsed : 0.0, s.pings, s.pongs);
  const std::uint64_t unaccounted = s.sent - s.answered - s.txn_failed - s.txn_refused;
  std::printf("  failed %" PRIu64 ", in flight at a refusal %" PRIu64 ", unaccounted %" PRIu64 "\n", s.txn_failed,
              s.txn_refused, unaccounted);
  auto pr = [](const char* what, const Histogram& h) {
    if (!h.count()) return;
    std::printf("%-22s n=%-8" PRIu64 " p50 %" PRIu64 "  p90 %" PRIu64 "  p99 %" PRIu64 "  p99.9 %" PRIu64 "  max %" PRIu64
                " us\n",
                what, h.count(), h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.quantile(0.999), h.max());
  };
  pr("transaction latency", s.txn);
  pr("full handshake", s.hs_full);
  pr("resumed handshake", s.hs_resumed);
  std::printf("profiles (EKU mode %s%s):\n", o.eku_on ? "on" : "off", o.require_cert ? ", certificate required" : "");
  for (unsigned i = 0; i < kProfiles; ++i) {
    const auto& x = s.profile[i];
    if (!x.phones) continue;
    const bool want = loadgen::expect_accepted(Profile(i), o.eku_on, o.require_cert);
    const bool ok = want ? x.refused_unexpected == 0 && x.accepted > 0 : x.accepted_unexpected == 0 && x.refused > 0;
    profiles_ok &= ok;
    std::printf("  %-11s phones %-5" PRIu64 " expect %-8s attempts %-7" PRIu64 " accepted %-7" PRIu64
                " refused %-7" PRIu64 " %s\n",
                kProfileNames[i].data(), x.phones, want ? "accepted" : "refused", x.attempts, x.accepted, x.refused,
                ok ? "ok" : "MISMATCH");
  }
  std::printf("errors %" PRIu64 "%s\n", s.errors, s.errors ? ":" : "");
  for (auto& [k, v] : s.by_kind) std::printf("  %-24s %" PRIu64 "\n", k.c_str(), v);
  if (o.backend_port) std::printf("backend answered %" PRIu64 "\n", s.backend_answered);
  {
    // The loop's own cost (busy iterations in the measured window): what one
    // loadgen core can drive, whatever the target's speed.
    const std::uint64_t ops = s.answered - s.base_answered;
    const double cyc = ops ? double(s.busy_cycles) / double(ops) : 0;
    const double cyc_short = ops ? double(s.busy_cycles - s.long_cycles) / double(ops) : 0;
    const double us = s.tsc_hz ? 1e6 / double(s.tsc_hz) : 0.0;
    std::printf("loadgen busy %.0f cycles = %.2f us per transaction, %.1f%% of the window; CPU %.1f%% of the window, "
                "preempted %" PRId64 " times; packets in %.2f, out %.2f per transaction\n",
                cyc, cyc * us, elapsed > 0 && s.tsc_hz ? double(s.busy_cycles) / double(s.tsc_hz) / elapsed * 100 : 0.0,
                elapsed > 0 ? s.cpu_s / elapsed * 100 : 0.0, s.preempted, ops ? double(s.rx_packets) / double(ops) : 0.0,
                ops ? double(s.tx_packets) / double(ops) : 0.0);
    if (!o.per_conn)
      std::printf("  %" PRIu64 " busy iterations over %" PRIu64 " us (preempted); without them %.2f us per transaction\n",
                  s.long_iterations, kLongIterationUs, cyc_short * us);
  }
  std::printf("loadgen stack: tcp retransmits %" PRIu64 " (RTO %" PRIu64 ", tail loss probes %" PRIu64 "), frame drops",
              s.retransmits, s.rto_timeouts, s.tlp_probes);
  for (auto& [k, v] : s.net_drops) std::printf(" %s=%" PRIu64, k.c_str(), v);
  std::printf("%s\n", s.net_drops.empty() ? " none" : "");
  const bool ok = profiles_ok && s.errors <= o.max_errors && unaccounted == 0;
  if (!o.json.empty()) write_json(o, s, elapsed, ok, o.json);

  g.phones.clear();
  g.graveyard.clear();
  port::stop_port(pid);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "turnpike-loadgen: %s\n", e.what());
    return 1;
  }
}
