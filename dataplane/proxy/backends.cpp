#include "turnpike/proxy/backends.hpp"

#include <cstdio>

#include "turnpike/net/ipv6.hpp"
#include "turnpike/net/wire.hpp"
#include "turnpike/proxy/proxy_v2.hpp"

namespace turnpike::proxy {

std::string Backend::host() const { return ip.is_v4() ? net::ipv4_to_string(ip.v4()) : ip.v6().to_string(); }
std::string Backend::endpoint() const {
  return ip.is_v4() ? net::endpoint_to_string({ip.v4(), port}) : net::endpoint6_to_string({ip.v6(), port});
}

std::optional<tcp::Addr> BackendPool::source_for(const tcp::Addr& ip) const {
  if (ip.is_v4()) return tcp::Addr(source_for(ip.v4()));
  if (!opt_.source6_for) return std::nullopt;
  const auto s = opt_.source6_for(ip.v6());
  if (!s) return std::nullopt;
  return tcp::Addr(*s);
}

// A health check is a TCP connect: the backend is up when it completes the
// three-way handshake (RFC 9293 §3.5), which is what a SIP-over-TCP server
// must do before anything else. The probe then ends as a polite client
// would: with PROXY v2 on, the LOCAL command first (proxy-protocol.txt
// §2.2: a connection the proxy makes on its own behalf, so a backend with
// tcp_accept_haproxy does not log an invalid header), then FIN (RFC 9293
// §3.6). A reset would show in every backend's log as an error. The probe
// waits check_timeout for the backend's FIN and resets only a backend that
// never closes, so no probe lingers in FIN-WAIT-2 for a minute.
struct BackendPool::Probe final : tcp::ConnHandler {
  BackendPool& pool;
  std::size_t idx;
  tcp::ConnId id;
  std::uint64_t started;
  std::uint64_t closing_since = 0;  // FIN sent, waiting for the backend's
  bool finished = false;            // the check's result is in
  bool closing = false;
  Probe(BackendPool& p, std::size_t i, std::uint64_t now) : pool(p), idx(i), started(now) {}

  void end(bool ok) {
    if (finished) return;
    finished = true;
    if (id.valid() && !closing) {
      pool.st_.abort(id);
      id = {};
    }
    pool.check_result(idx, ok, pool.st_.now());
  }
  void on_connected(tcp::Stack& st, tcp::ConnId c) override {
    if (finished) return;
    if (pool.opt_.proxy_v2_local) {
      static const std::vector<std::uint8_t> local = [] {
        std::vector<std::uint8_t> v;
        proxy_v2::Header h;
        h.local = true;
        proxy_v2::encode(h, v);
        return v;
      }();
      st.write(c, local.data(), local.size());  // 16 bytes into an empty send buffer
    }
    st.shutdown_write(c);  // FIN after the header
    closing = true;
    closing_since = st.now();
    end(true);
  }
  void on_readable(tcp::Stack& st, tcp::ConnId c) override {
    while (true) {  // whatever the backend says is not our business
      const auto v = st.peek(c);
      if (v.empty()) break;
      st.consume(c, v.size());
    }
  }
  void on_peer_closed(tcp::Stack& st, tcp::ConnId c) override {
    st.close(c);  // both FINs: done (TIME-WAIT is ours, in a compact entry)
    id = {};
  }
  void on_error(tcp::Stack&, tcp::ConnId, tcp::Error) override {
    id = {};
    end(false);
  }
  void on_reset(tcp::Stack&, tcp::ConnId) override {
    id = {};
    end(false);
  }
  void on_closed(tcp::Stack&, tcp::ConnId) override { id = {}; }
  bool gone() const { return finished && !id.valid(); }
};

BackendPool::BackendPool(tcp::Stack& st, BackendPoolOptions o)
    : st_(st), opt_(std::move(o)), state_(opt_.backends.size()),
      pub_(std::make_unique<Published[]>(opt_.backends.size())) {
  if (!opt_.rise) opt_.rise = 1;
  if (!opt_.fall) opt_.fall = 1;
  // Spread the first checks over one interval so workers and backends do
  // not all probe in the same millisecond.
  for (std::size_t i = 0; i < state_.size(); ++i)
    state_[i].next_check = opt_.check_interval_us ? opt_.check_interval_us * i / state_.size() : 0;
}

BackendPool::~BackendPool() {
  for (auto& s : state_)
    if (s.probe && s.probe->id.valid()) st_.abort(s.probe->id);
  for (auto& p : closing_)
    if (p->id.valid()) st_.abort(p->id);
}

bool BackendPool::up(int idx, std::uint64_t now_us) const {
  const State& s = state_[static_cast<std::size_t>(idx)];
  return !s.down && s.down_until <= now_us;
}

int BackendPool::pick(std::uint64_t now_us) {
  const std::size_t n = opt_.backends.size();
  int best = -1;
  if (opt_.balance == Balance::RoundRobin) {
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = (rr_ + i) % n;
      if (up(static_cast<int>(k), now_us)) {
        rr_ = k + 1;
        best = static_cast<int>(k);
        break;
      }
    }
  } else {
    // Least connections; ties go round-robin so equal backends share load.
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t k = (rr_ + i) % n;
      if (!up(static_cast<int>(k), now_us)) continue;
      if (best < 0 || state_[k].active < state_[static_cast<std::size_t>(best)].active) best = static_cast<int>(k);
    }
    if (best >= 0) rr_ = static_cast<std::size_t>(best) + 1;
  }
  if (best >= 0) {
    ++state_[static_cast<std::size_t>(best)].active;
    stats_.picks.add();
  }
  return best;
}

void BackendPool::release(int idx) {
  if (idx < 0 || static_cast<std::size_t>(idx) >= state_.size()) return;
  State& s = state_[static_cast<std::size_t>(idx)];
  if (s.active) --s.active;
}

void BackendPool::connect_failed(int idx, std::uint64_t now_us) {
  if (idx < 0 || static_cast<std::size_t>(idx) >= state_.size()) return;
  stats_.connect_failures.add();
  State& s = state_[static_cast<std::size_t>(idx)];
  if (opt_.check_interval_us) {
    // Real traffic failed: down now; the checks decide when it is back.
    if (!s.down) stats_.went_down.add();
    s.down = true;
    s.pass_streak = 0;
  } else {
    s.down_until = now_us + opt_.retry_us;
  }
}

void BackendPool::check_result(std::size_t idx, bool ok, std::uint64_t now_us) {
  State& s = state_[idx];
  (ok ? stats_.checks_ok : stats_.checks_failed).add();
  if (ok) {
    s.fail_streak = 0;
    if (s.down && ++s.pass_streak >= opt_.rise) {
      s.down = false;
      s.down_until = 0;
      stats_.came_up.add();
    }
  } else {
    s.pass_streak = 0;
    if (!s.down && ++s.fail_streak >= opt_.fall) {
      s.down = true;
      stats_.went_down.add();
    }
  }
  s.next_check = now_us + opt_.check_interval_us;
  // The probe object may be inside its own callback: free it later (after
  // its connection has ended, if it is still closing).
  if (s.probe) (s.probe->closing && s.probe->id.valid() ? closing_ : done_).push_back(std::move(s.probe));
}

void BackendPool::poll(std::uint64_t now_us) {
  done_.clear();
  for (std::size_t i = 0; i < state_.size(); ++i) {
    pub_[i].up.store(up(static_cast<int>(i), now_us), std::memory_order_relaxed);
    pub_[i].active.store(state_[i].active, std::memory_order_relaxed);
  }
  for (std::size_t i = 0; i < closing_.size();) {
    Probe& p = *closing_[i];
    if (p.id.valid() && now_us - p.closing_since > opt_.check_timeout_us) {
      st_.abort(p.id);  // the backend never closed its side
      p.id = {};
      stats_.checks_unclosed.add();
    }
    if (!p.id.valid()) {
      closing_[i] = std::move(closing_.back());
      closing_.pop_back();
    } else {
      ++i;
    }
  }
  if (!opt_.check_interval_us) return;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    State& s = state_[i];
    if (s.probe) {
      if (now_us - s.probe->started > opt_.check_timeout_us) s.probe->end(false);
      continue;
    }
    if (now_us < s.next_check) continue;
    const Backend& b = opt_.backends[i];
    s.probe = std::make_unique<Probe>(*this, i, now_us);
    Probe* p = s.probe.get();
    const std::optional<tcp::Addr> src = source_for(b.ip);
    if (src) p->id = st_.connect(*src, 0, b.ip, b.port, *p);
    if (!p->id.valid()) p->end(false);  // no source address, port or control block now
  }
}

std::string BackendPool::describe(std::uint64_t now_us) const {
  std::string out;
  char line[160];
  for (std::size_t i = 0; i < state_.size(); ++i) {
    std::snprintf(line, sizeof line, "%s %s active=%u\n", opt_.backends[i].endpoint().c_str(),
                  up(static_cast<int>(i), now_us) ? "up" : "down", state_[i].active);
    out += line;
  }
  return out;
}

}  // namespace turnpike::proxy
