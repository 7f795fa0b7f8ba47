// xCommand Diagnostics Snapshot over a real control socket with a fake
// daemon hook: the reply is deferred until the hook calls back, other
// clients are served meanwhile, the waiting client's later lines keep their
// order, a half-closed client still gets its reply, a vanished one does
// not break the server; argument checks, read-only refusal, JSON, render.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "pki_fixture.hpp"
#include "turnpike/control/socket.hpp"

using namespace turnpike::control;
using turnpike::testing::pki_file;

namespace {

class ZeroGrace final : public Grace {
 public:
  std::uint64_t start() override { return 0; }
  bool done(std::uint64_t) override { return true; }
};

// Server on temp sockets; the diagnostics hook keeps the request and its
// callback, and the poll thread answers once the test says so.
struct DiagRig {
  std::filesystem::path dir;
  ZeroGrace grace;
  std::unique_ptr<Plane> plane;
  std::unique_ptr<ControlServer> srv;
  std::string rw, ro;
  std::mutex mu;
  DiagnosticsRequest req;
  std::function<void(DiagnosticsResult)> done;
  std::string refuse;  // non-empty: the hook refuses with it
  int started = 0;
  std::atomic<bool> release{false}, stop{false};
  std::string rendered;
  std::thread loop;

  DiagRig() {
    char t[] = "/tmp/tp-diag-XXXXXX";
    dir = mkdtemp(t);
    {
      StoreManager m({.dir = dir / "stores"});
      EXPECT_EQ(m.load(), "");
      auto tx = m.begin();
      EXPECT_TRUE(tx.set_ca_bundle(pki_file("ca.pem")).ok);
      EXPECT_TRUE(tx.stage_server(pki_file("both-chain.pem"), pki_file("both.key")).ok);
      EXPECT_TRUE(tx.commit());
    }
    Plane::Options po;
    po.stores_dir = dir / "stores";
    po.verdict_cache_entries = 64;
    po.on_event = [](const std::string&) {};
    TlsSettings s;
    s.listeners.push_back({});
    plane = std::make_unique<Plane>(po, s, grace);
    EXPECT_EQ(plane->start(), "");
    ControlHooks h;
    h.status = [] { return std::vector<Item>{{"Worker 0 Packets", std::uint64_t{7}}}; };
    h.diagnostics = [this](DiagnosticsRequest r, std::function<void(DiagnosticsResult)> d) {
      std::lock_guard<std::mutex> l(mu);
      if (!refuse.empty()) return refuse;
      ++started;
      rendered = r.render("xStatus");
      req = std::move(r);
      done = std::move(d);
      return std::string{};
    };
    rw = (dir / "ctl.sock").string();
    ro = (dir / "ctl.ro.sock").string();
    srv = std::make_unique<ControlServer>(*plane, h, ControlOptions{.path = rw, .readonly_path = ro});
    EXPECT_EQ(srv->open(), "");
    loop = std::thread([this] {
      while (!stop.load()) {
        srv->poll(5);
        std::function<void(DiagnosticsResult)> d;
        {
          std::lock_guard<std::mutex> l(mu);
          if (release.load() && done) {
            d = std::move(done);
            done = nullptr;
          }
        }
        if (d) {
          release = false;
          d(DiagnosticsResult{{"Path: /x/diagnostics_h_t.tar.gz", "Frames: 3", "File: a.pem", "File: b.pcapng"}, {}});
        }
      }
    });
  }
  ~DiagRig() {
    stop = true;
    loop.join();
    srv.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  int started_count() {
    std::lock_guard<std::mutex> l(mu);
    return started;
  }
};

struct Conn {
  int fd = -1;
  std::string buf;
  explicit Conn(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Conn() { ::close(fd); }
  void send(std::string_view s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }
  // Lines up to and including the next status line ("<closed>" at EOF).
  std::vector<std::string> reply() {
    std::vector<std::string> out;
    for (;;) {
      for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
        std::string l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        out.push_back(l);
        if (l == "OK" || l.rfind("ERROR:", 0) == 0) return out;
      }
      char b[4096];
      const ssize_t n = ::recv(fd, b, sizeof b, 0);
      if (n <= 0) {
        out.push_back("<closed>");
        return out;
      }
      buf.append(b, static_cast<std::size_t>(n));
    }
  }
  // True if nothing arrives within `ms`.
  bool quiet(int ms) {
    timeval tv{0, ms * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char b[64];
    const ssize_t n = ::recv(fd, b, sizeof b, MSG_PEEK);
    timeval back{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &back, sizeof back);
    return n < 0 && buf.empty();
  }
};

}  // namespace

TEST(ControlDiagnostics, ReplyWaitsForTheHookWhileOthersAreServed) {
  DiagRig rig;
  Conn a(rig.rw), b(rig.rw);
  // The snapshot and a read in one write: the read must wait its turn.
  a.send("xCommand Diagnostics Snapshot Seconds: 3 KeyLog: On Listener: 1 MaxPackets: 4\nxStatus\n");
  for (int i = 0; i < 400 && rig.started_count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(rig.started_count(), 1);
  EXPECT_EQ(rig.req.seconds, 3u);
  EXPECT_TRUE(rig.req.keylog);
  EXPECT_EQ(rig.req.listener, 1u);
  EXPECT_EQ(rig.req.max_packets, 4u);
  EXPECT_NE(rig.req.who.find("uid"), std::string::npos);
  // The socket's own renderer, for the dumps.
  EXPECT_NE(rig.rendered.find("\n*s xStatus Worker 0 Packets: 7\n"), std::string::npos) << rig.rendered;
  // Another client is served meanwhile; the waiting one hears nothing.
  b.send("xStatus\n");
  EXPECT_EQ(b.reply().back(), "OK");
  EXPECT_TRUE(a.quiet(100));
  rig.release = true;
  auto r = a.reply();
  ASSERT_EQ(r.back(), "OK");
  EXPECT_EQ(r.front(), "Path: /x/diagnostics_h_t.tar.gz");
  // Then the line it sent after the snapshot, in order.
  r = a.reply();
  EXPECT_NE(std::find(r.begin(), r.end(), "*s xStatus Worker 0 Packets: 7"), r.end());
  EXPECT_EQ(r.back(), "OK");
}

TEST(ControlDiagnostics, HalfClosedClientStillGetsItsReply) {
  DiagRig rig;
  Conn a(rig.rw);
  a.send("xCommand Diagnostics Snapshot\nxStatus");  // the last line has no LF
  ::shutdown(a.fd, SHUT_WR);
  for (int i = 0; i < 400 && rig.started_count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(rig.started_count(), 1);
  EXPECT_EQ(rig.req.seconds, 10u);  // the default
  EXPECT_FALSE(rig.req.keylog);
  rig.release = true;
  EXPECT_EQ(a.reply().back(), "OK");
  EXPECT_EQ(a.reply().back(), "OK");  // the unterminated last line ran too
  EXPECT_EQ(a.reply().back(), "<closed>");
}

TEST(ControlDiagnostics, VanishedClientDoesNotBreakTheServer) {
  DiagRig rig;
  {
    Conn a(rig.rw);
    a.send("xCommand Diagnostics Snapshot Seconds: 1\n");
    for (int i = 0; i < 400 && rig.started_count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  rig.release = true;  // the answer has nobody to go to
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Conn b(rig.rw);
  b.send("xStatus\n");
  EXPECT_EQ(b.reply().back(), "OK");
  EXPECT_EQ(rig.srv->clients(), 1u);
}

TEST(ControlDiagnostics, RefusalsAreImmediate) {
  DiagRig rig;
  Conn a(rig.rw), r(rig.ro);
  for (const char* bad : {"xCommand Diagnostics Snapshot Seconds: x", "xCommand Diagnostics Snapshot Seconds: 99999",
                          "xCommand Diagnostics Snapshot KeyLog: Maybe", "xCommand Diagnostics Snapshot Listener: 0",
                          "xCommand Diagnostics Snapshot MaxPackets: 0", "xCommand Diagnostics Snapshot Bogus: 1",
                          "xCommand Diagnostics", "xCommand Diagnostics Other"}) {
    a.send(std::string(bad) + "\n");
    EXPECT_EQ(a.reply().back().rfind("ERROR:", 0), 0u) << bad;
  }
  r.send("xCommand Diagnostics Snapshot\n");
  auto rr = r.reply();
  EXPECT_NE(rr.back().find("read-only control socket"), std::string::npos) << rr.back();
  {
    std::lock_guard<std::mutex> l(rig.mu);
    rig.refuse = "a diagnostics snapshot is already running";
  }
  a.send("xCommand Diagnostics Snapshot\n");
  EXPECT_EQ(a.reply().back(), "ERROR: a diagnostics snapshot is already running");
  EXPECT_EQ(rig.started_count(), 0);
}

TEST(ControlDiagnostics, JsonReplyListsTheMembers) {
  DiagRig rig;
  Conn a(rig.rw);
  rig.release = true;
  a.send("xCommand Diagnostics Snapshot Seconds: 0 --json\n");
  auto r = a.reply();
  ASSERT_EQ(r.back(), "OK");
  std::string text;
  for (std::size_t i = 0; i + 1 < r.size(); ++i) text += r[i] + "\n";
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["Path"], "/x/diagnostics_h_t.tar.gz");
  EXPECT_EQ(j["Frames"], "3");
  EXPECT_EQ(j["Members"], nlohmann::json::array({"a.pem", "b.pcapng"}));
}
