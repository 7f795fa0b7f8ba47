// SIP over TLS through turnpike on DPDK net_ring ports, in one process:
//   side A = turnpike (NetWorker + TcpGlue + BackendPool + SipProxy on 5061)
//   side B = the load: TLS clients towards A:5061 on B's own TcpGlue stack,
//            and the plain SIP backend on B:5060 that A's proxy forwards to.
// Each side is pumped separately (not RingPair::pump) so that side A's work
// can be timed on its own with rte_rdtsc and so that frames can be held back
// (reordering), which a drop-only RingPair filter cannot do. Time is virtual
// (1 tick = 1 us, TcpGlue tsc_hz = 1e6): runs are repeatable.
// Shared by tests/net/test_ring_sip.cpp and bench/ring/bench_ring_sip.cpp.
#pragma once
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <time.h>
#include <wolfssl/ssl.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "eal_env.hpp"
#include "pki_fixture.hpp"
#include "ring_harness.hpp"
#include "turnpike/proxy/backends.hpp"
#include "turnpike/proxy/sip_proxy.hpp"
#include "turnpike/sip/framer.hpp"
#include "turnpike/tls/engine.hpp"
#include "turnpike/glue/tcp_glue.hpp"

namespace turnpike::ringsip {

// Which side's pump is running: lets a benchmark attribute allocations.
enum class Side : int { none, a, b };
inline Side g_side = Side::none;

struct Impair {
  double loss = 0;     // per frame, both directions
  double reorder = 0;  // per frame: held back and delivered after the next round's frames
  std::uint64_t seed = 1;
};

struct ImpairCounts {
  std::uint64_t frames = 0, dropped = 0, held = 0, overtaken = 0;
};

struct RigOptions {
  const char* tag = "sip";
  tls::ClientCertMode client_cert = tls::ClientCertMode::None;
  std::string client_leaf;     // PKI leaf the clients present ("" = none)
  std::string groups = "P-256";  // key exchange; the client's key share is the first
  bool tickets = false;        // server issues session tickets
  bool server_cache = true;    // A's verdict cache (false: every chain verified)
  Impair impair;
  unsigned open_per_round = 64;   // new connections B starts per round
  // Requests (and closes) B starts per round: bounded so that no burst
  // overflows the 1024-entry rings (NetWorker tx_full drops).
  unsigned sends_per_round = 128;
  std::uint64_t time_wait_us = 100'000;
  std::uint32_t max_connections = 8192;
};

// --- SIP messages ------------------------------------------------------------

inline std::string_view header(std::string_view msg, std::string_view name) {
  // Header names at line starts; compact forms are not used by this load.
  std::size_t pos = 0;
  while ((pos = msg.find("\r\n", pos)) != std::string_view::npos) {
    pos += 2;
    if (msg.size() - pos > name.size() && msg.compare(pos, name.size(), name) == 0 && msg[pos + name.size()] == ':') {
      std::size_t v = pos + name.size() + 1;
      while (v < msg.size() && msg[v] == ' ') ++v;
      const std::size_t e = msg.find("\r\n", v);
      return msg.substr(v, e == std::string_view::npos ? std::string_view::npos : e - v);
    }
  }
  return {};
}

// A request of exactly `size` bytes (padded with an X-Pad header), unique by
// (conn, seq).
inline std::string make_request(std::string_view method, unsigned conn, unsigned seq, std::size_t size = 700) {
  const std::string c = std::to_string(conn), s = std::to_string(seq);
  std::string r;
  r.reserve(size);
  r += std::string(method) + " sip:example.test SIP/2.0\r\n";
  r += "Via: SIP/2.0/TLS 198.18.100.2:5061;branch=z9hG4bK-" + c + "-" + s + "\r\n";
  r += "Max-Forwards: 70\r\n";
  r += "From: <sip:user" + c + "@example.test>;tag=f" + c + "\r\n";
  r += "To: <sip:user" + c + "@example.test>\r\n";
  r += "Call-ID: " + c + "-" + s + "@ring.test\r\n";
  r += "CSeq: " + s + " " + std::string(method) + "\r\n";
  r += "Contact: <sip:user" + c + "@198.18.100.2:5061;transport=tls>\r\n";
  r += "Expires: 3600\r\n";
  const std::string tail = "Content-Length: 0\r\n\r\n";
  const std::size_t pad_hdr = std::string_view("X-Pad: \r\n").size();
  if (r.size() + tail.size() + pad_hdr < size) r += "X-Pad: " + std::string(size - r.size() - tail.size() - pad_hdr, 'x') + "\r\n";
  r += tail;
  return r;
}

// The backend's answer: 200 OK echoing Via, From, To, Call-ID and CSeq.
inline std::string make_response(std::string_view req) {
  std::string r = "SIP/2.0 200 OK\r\n";
  for (std::string_view h : {"Via", "From", "To", "Call-ID", "CSeq"})
    r += std::string(h) + ": " + std::string(header(req, h)) + "\r\n";
  r += "Content-Length: 0\r\n\r\n";
  return r;
}

// --- the plain SIP backend on B ---------------------------------------------

struct BackendConn final : tcp::ConnHandler {
  std::string in;
  std::uint64_t* answered;
  std::uint64_t* errors;
  std::uint64_t* bytes;
  bool gone = false;
  void on_readable(tcp::Stack& st, tcp::ConnId id) override {
    for (auto d = st.peek(id); !d.empty(); d = st.peek(id)) {
      in.append(reinterpret_cast<const char*>(d.data()), d.size());
      st.consume(id, d.size());
    }
    for (;;) {
      const sip::Frame f = sip::frame(in);
      if (f.status == sip::Status::NeedMore) break;
      if (f.status != sip::Status::Message) {
        ++*errors;
        in.clear();
        break;
      }
      *bytes += f.length;
      const std::string r = make_response(std::string_view(in).substr(0, f.length));
      // Responses are small and the send buffer large: a short write is a bug here.
      if (st.write(id, r.data(), r.size()) != static_cast<long>(r.size())) ++*errors;
      ++*answered;
      in.erase(0, f.length);
    }
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
  std::vector<std::unique_ptr<BackendConn>> conns;
  std::uint64_t answered = 0, errors = 0, bytes = 0;  // bytes: of framed requests
  tcp::ConnHandler* on_accept(tcp::Stack&, tcp::ConnId) override {
    auto c = std::make_unique<BackendConn>();
    c->answered = &answered;
    c->errors = &errors;
    c->bytes = &bytes;
    conns.push_back(std::move(c));
    return conns.back().get();
  }
  void reap() {
    std::erase_if(conns, [](const auto& c) { return c->gone; });
  }
};

// --- TLS clients on B ----------------------------------------------------------

class Rig;

struct Client final : tcp::ConnHandler {
  enum class St : std::uint8_t { connecting, handshaking, open, closing, done, failed };
  Rig& rig;
  unsigned n;                // connection number (in Call-IDs)
  unsigned requests;         // to send before closing
  std::string method;
  tcp::ConnId id;
  tls::Session s;
  St st = St::connecting;
  unsigned sent = 0, answered = 0, mismatched = 0;
  bool waiting = false;      // a request is outstanding
  bool hold_close = false;   // stay open after the last answer until released
  bool resumed = false;
  bool hs_done = false;      // the TLS handshake completed
  bool close_notify = false; // the peer's close_notify came before its FIN
  std::string in;
  std::string why;           // failure reason

  Client(Rig& r, unsigned num, unsigned reqs, std::string m, std::shared_ptr<const tls::Context> ctx,
         tls::SavedSession resume)
      : rig(r), n(num), requests(reqs), method(std::move(m)), s(std::move(ctx), "server.test", false, std::move(resume)) {}

  void on_connected(tcp::Stack&, tcp::ConnId) override {
    st = St::handshaking;
    s.step();
    flush();
  }
  void on_readable(tcp::Stack& stk, tcp::ConnId) override {
    for (auto d = stk.peek(id); !d.empty(); d = stk.peek(id)) {
      s.feed(d.data(), d.size());
      stk.consume(id, d.size());
    }
    progress();
  }
  void on_writable(tcp::Stack&, tcp::ConnId) override { flush(); }
  void on_peer_closed(tcp::Stack& stk, tcp::ConnId) override;
  void on_reset(tcp::Stack&, tcp::ConnId) override { fail("reset", false); }
  void on_error(tcp::Stack&, tcp::ConnId, tcp::Error e) override { fail(tcp::error_name(e), false); }
  void on_closed(tcp::Stack&, tcp::ConnId) override {
    if (st != St::done && st != St::failed) fail("closed early", false);
  }

  void fail(std::string w, bool close_conn = true);
  void progress();
  void send_next();
  void start_close();
  void flush();
};

struct Totals {
  std::uint64_t opened = 0, handshakes = 0, done = 0, failed = 0, answered = 0, mismatched = 0, resumed = 0;
  std::uint64_t close_notify = 0;  // closes answered with close_notify
};

class Rig {
 public:
  explicit Rig(RigOptions o);
  ~Rig();

  // Starts `count` connections (at most open_per_round a round), each
  // sending `requests` messages of `method` one after another, then closing
  // (unless hold: they stay open until release_all()).
  void open(unsigned count, unsigned requests, std::string method = "REGISTER", bool hold = false,
            tls::SavedSession resume = {});
  // One round: A's pump, then B's. Returns frames moved.
  unsigned round();
  // Rounds until pred() or max_virtual_us passes; returns pred().
  template <class P>
  bool run_until(P pred, std::uint64_t max_virtual_us) {
    const std::uint64_t end = now_ + max_virtual_us;
    while (!pred() && now_ < end) round();
    return pred();
  }
  // Holding clients: queue `more` requests each (open ones only).
  void request_all(unsigned more);
  void release_all();  // holding clients close
  // All started connections ended (done or failed) and nothing is pending.
  bool idle() const { return pending_open_ == 0 && live_clients() == 0; }
  std::size_t live_clients() const;
  // Until A's proxy has no pairs and both stacks have no connections.
  bool drain(std::uint64_t max_virtual_us = 120'000'000);

  Totals totals() const;
  std::vector<std::unique_ptr<Client>>& clients() { return clients_; }
  void reap_clients();  // frees finished clients (keeps totals)

  glue::TcpGlue& ga() { return *ga_; }
  glue::TcpGlue& gb() { return *gb_; }
  proxy::SipProxy& proxy() { return *proxy_; }
  proxy::BackendPool& pool() { return *pool_; }
  Backend& backend() { return backend_; }
  control::VerdictCache* server_cache() { return cache_a_.get(); }
  std::shared_ptr<const tls::Context> proxy_context() const { return server_ctx_; }
  testing::RingPair& ring() { return *rp_; }
  const ImpairCounts& impair() const { return ic_; }
  std::uint64_t now() const { return now_; }
  std::size_t max_live_pairs() const { return max_live_; }
  // rte_rdtsc cycles spent in each side's pump (A counted only in rounds
  // where it received frames or sent segments: its busy cycles).
  std::uint64_t cycles_a = 0, cycles_b = 0, busy_rounds_a = 0, rounds = 0;
  // The same rounds' thread CPU time (excludes time the OS gave to others).
  std::uint64_t cpu_ns_a = 0, cpu_ns_b = 0;
  bool measure_cpu = false;
  // When set: A's busy rounds as CLOCK_MONOTONIC [start, end) ns, so that a
  // `perf record -k CLOCK_MONOTONIC` profile can keep A's samples only.
  std::vector<std::pair<std::uint64_t, std::uint64_t>>* spans_a = nullptr;
  std::uint64_t tls_events = 0, sip_events = 0;

  // For clients.
  std::shared_ptr<const tls::Context> client_ctx;
  void want_send(Client* c) { ready_.push_back(c); }
  tcp::Stack& bstack() { return gb_->stack(); }

 private:
  unsigned rx(testing::RingPair::Side& s, bool is_a);
  void drive_b();

  RigOptions opt_;
  std::unique_ptr<testing::RingPair> rp_;
  std::unique_ptr<glue::TcpGlue> ga_, gb_;
  std::unique_ptr<control::VerdictCache> cache_a_, cache_b_;
  std::shared_ptr<const tls::Context> server_ctx_;
  std::unique_ptr<proxy::BackendPool> pool_;
  std::unique_ptr<proxy::SipProxy> proxy_;
  Backend backend_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::deque<Client*> ready_;
  std::deque<rte_mbuf*> held_[2];  // [0]: frames for A, [1]: for B
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> u_{0, 1};
  ImpairCounts ic_;
  std::uint64_t now_ = 1, last_poll_ = 0;
  std::size_t max_live_ = 0;
  // Open queue.
  unsigned pending_open_ = 0, open_reqs_ = 0, next_n_ = 0;
  std::string open_method_;
  bool open_hold_ = false;
  tls::SavedSession open_resume_;
  Totals retired_;
};

// --- implementation ------------------------------------------------------------

inline void Client::fail(std::string w, bool close_conn) {
  if (st == St::done || st == St::failed) return;
  if (close_conn && id.valid()) rig.bstack().abort(id);  // detaches us: no more callbacks
  why = std::move(w);
  st = St::failed;
}

inline void Client::flush() {
  if (st == St::done || st == St::failed) return;
  const auto out = s.output();
  if (out.empty()) return;
  const long w = rig.bstack().write(id, out.data(), out.size());
  if (w > 0) s.consume_output(static_cast<std::size_t>(w));
}

inline void Client::progress() {
  if (st == St::handshaking) {
    s.step();
    if (s.state() == tls::Session::State::Failed) return fail("handshake: " + s.failure());
    if (s.state() == tls::Session::State::Open) {
      st = St::open;
      hs_done = true;
      resumed = s.resumed();
      if (sent < requests) rig.want_send(this);
    }
  }
  if (st == St::open || st == St::closing) {
    std::uint8_t buf[4096];
    while (std::size_t k = s.read(buf, sizeof buf)) in.append(reinterpret_cast<const char*>(buf), k);
    for (;;) {
      const sip::Frame f = sip::frame(in);
      if (f.status == sip::Status::NeedMore) break;
      if (f.status != sip::Status::Message || !waiting) {
        ++mismatched;
        in.clear();
        break;
      }
      // The answer must be the 200 for our outstanding request (RFC 3261 §8.1.3.3: Via branch, Call-ID, CSeq).
      const std::string_view m = std::string_view(in).substr(0, f.length);
      const std::string want = make_request(method, n, sent, 0);
      const bool ok = m.starts_with("SIP/2.0 200 ") && header(m, "Call-ID") == header(want, "Call-ID") &&
                      header(m, "CSeq") == header(want, "CSeq") && header(m, "Via") == header(want, "Via");
      ok ? ++answered : ++mismatched;
      waiting = false;
      in.erase(0, f.length);
      if (sent < requests || !hold_close) rig.want_send(this);  // next request, or the close
    }
  }
  flush();
}

inline void Client::send_next() {
  if (st != St::open || waiting) return;
  if (sent >= requests) {
    if (!hold_close) start_close();
    return;
  }
  ++sent;
  const std::string r = make_request(method, n, sent);
  s.write(reinterpret_cast<const std::uint8_t*>(r.data()), r.size());
  waiting = true;
  flush();
}

inline void Client::start_close() {
  st = St::closing;
  s.close();  // close_notify (RFC 8446 §6.1), then our FIN; A closes both legs
  flush();
  rig.bstack().shutdown_write(id);
}

inline void Client::on_peer_closed(tcp::Stack& stk, tcp::ConnId) {
  if (st != St::closing) return fail("peer closed first");
  // Session::read() stops at our own close(): ask wolfSSL directly whether
  // the bytes that came after it held the peer's close_notify.
  std::uint8_t b[256];
  (void)wolfSSL_read(s.raw(), b, sizeof b);
  close_notify = (wolfSSL_get_shutdown(s.raw()) & WOLFSSL_RECEIVED_SHUTDOWN) != 0;
  stk.close(id);  // our FIN is out already: TIME_WAIT follows
  st = St::done;
}

// The TCP stacks' mbufs: as turnpike's own pool, with a per-lcore cache
// (mbuf.cache's default, 256), so that a freed mbuf is the next one taken
// while still in cache; the shared test pool has none and hands out every
// mbuf of its ring in turn, each a cache miss.
inline rte_mempool* rig_pool() {
  testing::init_test_eal();
  if (rte_mempool* p = rte_mempool_lookup("sip_ring_pool")) return p;
  rte_mempool* p = rte_pktmbuf_pool_create("sip_ring_pool", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (!p) throw std::runtime_error("sip_ring_pool: " + std::string(rte_strerror(rte_errno)));
  return p;
}

inline Rig::Rig(RigOptions o) : opt_(std::move(o)), rng_(opt_.impair.seed) {
  rp_ = std::make_unique<testing::RingPair>(opt_.tag);
  tcp::Config cfg;
  cfg.time_wait_us = opt_.time_wait_us;
  cfg.max_connections = opt_.max_connections;
  cfg.max_half_open = 4096;
  ga_ = std::make_unique<glue::TcpGlue>(*rp_->a().net, rig_pool(), cfg, 1'000'000, 0, std::vector<rte_ring*>{});
  gb_ = std::make_unique<glue::TcpGlue>(*rp_->b().net, rig_pool(), cfg, 1'000'000, 0, std::vector<rte_ring*>{});
  rp_->a().net->set_l4_handler([this](std::uint16_t p, rte_mbuf* m, const net::Ipv4Hdr& ip, std::uint64_t now) {
    return ga_->on_ipv4(p, m, ip, now);
  });
  rp_->b().net->set_l4_handler([this](std::uint16_t p, rte_mbuf* m, const net::Ipv4Hdr& ip, std::uint64_t now) {
    return gb_->on_ipv4(p, m, ip, now);
  });

  auto trust = std::make_shared<control::TrustStore>();
  if (auto e = trust->add_ca_bundle(testing::pki_file("ca.pem")); !e.empty()) throw std::runtime_error("ca: " + e);
  if (opt_.server_cache) cache_a_ = std::make_unique<control::VerdictCache>(4096);
  cache_b_ = std::make_unique<control::VerdictCache>(64);
  tls::Options so;
  so.cert_chain_pem = testing::pki_file("server-chain.pem");
  so.key_pem = testing::pki_file("server.key");
  so.client_cert = opt_.client_cert;
  so.groups = opt_.groups;
  so.tls12 = false;  // SIP edge figures are for TLS 1.3
  if (opt_.tickets) so.tickets = std::make_shared<tls::TicketKeys>();
  auto s = tls::Context::make_server(so, tls::Verifier{trust, cache_a_.get(), control::EkuMode::On, 1});
  if (!s) throw std::runtime_error("server context: " + s.error);
  server_ctx_ = *s;
  tls::Options co;
  if (!opt_.client_leaf.empty()) {
    co.cert_chain_pem = testing::pki_file(opt_.client_leaf + "-chain.pem");
    co.key_pem = testing::pki_file(opt_.client_leaf + ".key");
  }
  co.groups = opt_.groups;
  co.tls12 = false;
  auto c = tls::Context::make_client(co, tls::Verifier{trust, cache_b_.get(), control::EkuMode::On, 1});
  if (!c) throw std::runtime_error("client context: " + c.error);
  client_ctx = *c;

  const std::uint32_t a_ip = rp_->a().pn.ip, b_ip = rp_->b().pn.ip;
  proxy::BackendPoolOptions bo;
  bo.backends.push_back(proxy::Backend{b_ip, 5060});
  bo.source_for = [a_ip](std::uint32_t) { return a_ip; };
  pool_ = std::make_unique<proxy::BackendPool>(ga_->stack(), std::move(bo));
  proxy_ = std::make_unique<proxy::SipProxy>(
      *pool_, [this] { return server_ctx_; }, proxy::SipProxyOptions{},
      [this](const control::TlsErrorEvent& e) {
        ++tls_events;
        if (tls_events <= 5) std::printf("tls event: %s %s\n", std::string(e.event).c_str(), std::string(e.detail).c_str());
      },
      [this](const control::EventLine&) { ++sip_events; });
  if (ga_->stack().listen(0, 5061, *proxy_) != 0) throw std::runtime_error("listen 5061");
  if (gb_->stack().listen(0, 5060, backend_) != 0) throw std::runtime_error("listen 5060");
}

inline Rig::~Rig() {
  for (auto& q : held_)
    for (rte_mbuf* m : q) rte_pktmbuf_free(m);
  // Handlers must outlive their stacks' callbacks: stacks first.
  proxy_.reset();
  pool_.reset();
  ga_.reset();
  gb_.reset();
  rp_.reset();
}

inline void Rig::open(unsigned count, unsigned requests, std::string method, bool hold, tls::SavedSession resume) {
  pending_open_ += count;
  open_reqs_ = requests;
  open_method_ = std::move(method);
  open_hold_ = hold;
  open_resume_ = std::move(resume);
}

inline unsigned Rig::rx(testing::RingPair::Side& s, bool is_a) {
  std::deque<rte_mbuf*>& held = held_[is_a ? 0 : 1];
  const std::size_t was_held = held.size();
  rte_mbuf* pkts[32];
  unsigned total = 0;
  while (std::uint16_t n = rte_eth_rx_burst(s.port_id, 0, pkts, 32)) {
    std::uint16_t keep = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
      ++ic_.frames;
      if (opt_.impair.loss > 0 && u_(rng_) < opt_.impair.loss) {
        rte_pktmbuf_free(pkts[i]);
        ++ic_.dropped;
      } else if (opt_.impair.reorder > 0 && u_(rng_) < opt_.impair.reorder) {
        held.push_back(pkts[i]);
        ++ic_.held;
      } else {
        pkts[keep++] = pkts[i];
      }
    }
    if (keep) s.net->input(0, pkts, keep, now_);
    if (was_held) ic_.overtaken += keep;  // frames that passed older held ones
    total += n;
  }
  // Frames held in an earlier round go in after this round's: reordered.
  for (std::size_t i = 0; i < was_held; ++i) {
    rte_mbuf* m = held.front();
    held.pop_front();
    s.net->input(0, &m, 1, now_);
    ++total;
  }
  s.net->tick(now_);
  return total;
}

inline void Rig::drive_b() {
  for (unsigned k = 0; k < opt_.open_per_round && pending_open_; ++k) {
    --pending_open_;
    auto c = std::make_unique<Client>(*this, next_n_++, open_reqs_, open_method_, client_ctx, open_resume_);
    c->hold_close = open_hold_;
    Client* raw = c.get();
    clients_.push_back(std::move(c));
    ++retired_.opened;
    raw->id = gb_->stack().connect(rp_->b().pn.ip, 0, rp_->a().pn.ip, 5061, *raw);
    if (!raw->id.valid()) raw->fail("connect");
  }
  for (unsigned k = 0; k < opt_.sends_per_round && !ready_.empty(); ++k) {
    Client* c = ready_.front();
    ready_.pop_front();
    c->send_next();
  }
}

inline std::uint64_t clock_ns(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}
inline std::uint64_t thread_ns() { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

inline unsigned Rig::round() {
  // Side A: NetWorker input, TCP, TLS, SIP proxy, timers, flush.
  g_side = Side::a;
  const std::uint64_t tx0 = ga_->stack().counters().tx_segments.load();
  std::uint64_t n0 = measure_cpu ? thread_ns() : 0;
  const std::uint64_t m0 = spans_a ? clock_ns(CLOCK_MONOTONIC) : 0;
  std::uint64_t t0 = rte_rdtsc();
  unsigned moved = rx(rp_->a(), true);
  ga_->poll(now_);
  if (now_ - last_poll_ >= 2000) {  // "every few ms"
    pool_->poll(now_);
    proxy_->poll(now_);
    last_poll_ = now_;
  }
  rp_->a().net->flush();
  std::uint64_t t1 = rte_rdtsc();
  if (moved || ga_->stack().counters().tx_segments.load() != tx0) {
    cycles_a += t1 - t0;
    if (measure_cpu) cpu_ns_a += thread_ns() - n0;
    if (spans_a) spans_a->emplace_back(m0, clock_ns(CLOCK_MONOTONIC));
    ++busy_rounds_a;
  }
  max_live_ = std::max(max_live_, proxy_->live());
  // Side B: the load and the backend.
  g_side = Side::b;
  n0 = measure_cpu ? thread_ns() : 0;
  t0 = rte_rdtsc();
  const unsigned mb = rx(rp_->b(), false);
  gb_->poll(now_);
  drive_b();
  rp_->b().net->flush();
  cycles_b += rte_rdtsc() - t0;
  if (measure_cpu) cpu_ns_b += thread_ns() - n0;
  g_side = Side::none;
  moved += mb;
  ++rounds;
  // About 1 us of virtual time per frame moved (at least 20 us a busy
  // round, 1 ms when idle): timers such as delayed ACKs then spread over the
  // wheel's ticks as at a real packet rate, instead of thousands expiring in
  // one tick and overflowing a ring in one poll.
  now_ += moved ? std::max(20u, moved) : 1000;
  return moved;
}

inline std::size_t Rig::live_clients() const {
  std::size_t n = 0;
  for (auto& c : clients_) n += c->st != Client::St::done && c->st != Client::St::failed;
  return n;
}

inline void Rig::request_all(unsigned more) {
  for (auto& c : clients_)
    if (c->st == Client::St::open) {
      const bool was_idle = c->sent >= c->requests && !c->waiting;
      c->requests += more;
      if (was_idle) want_send(c.get());
    }
}

inline void Rig::release_all() {
  for (auto& c : clients_) {
    c->hold_close = false;
    if (c->st == Client::St::open && !c->waiting && c->sent >= c->requests) want_send(c.get());  // paced close
  }
}

inline Totals Rig::totals() const {
  Totals t = retired_;
  for (auto& c : clients_) {
    t.handshakes += c->hs_done;
    t.done += c->st == Client::St::done;
    t.failed += c->st == Client::St::failed;
    t.answered += c->answered;
    t.mismatched += c->mismatched;
    t.resumed += c->resumed;
    t.close_notify += c->close_notify;
  }
  return t;
}

inline void Rig::reap_clients() {
  // ready_ may only point at open clients; finished ones are never queued
  // after their last answer, but purge defensively.
  std::erase_if(ready_, [](Client* c) { return c->st != Client::St::open; });
  for (auto& c : clients_)
    if (c->st == Client::St::done || c->st == Client::St::failed) {
      retired_.handshakes += c->hs_done;
      retired_.done += c->st == Client::St::done;
      retired_.failed += c->st == Client::St::failed;
      retired_.answered += c->answered;
      retired_.mismatched += c->mismatched;
      retired_.resumed += c->resumed;
      retired_.close_notify += c->close_notify;
    }
  std::erase_if(clients_, [](const auto& c) { return c->st == Client::St::done || c->st == Client::St::failed; });
  backend_.reap();
}

inline bool Rig::drain(std::uint64_t max_virtual_us) {
  return run_until(
      [&] {
        return proxy_->live() == 0 && ga_->stack().connections() == 0 && gb_->stack().connections() == 0 &&
               held_[0].empty() && held_[1].empty();
      },
      max_virtual_us);
}

}  // namespace turnpike::ringsip
