// Control plane: snapshot build, transactional commit (build before the
// disk), publication and retirement. Grace periods come from a small
// atomic-counter QSBR here (the daemon uses rte_rcu_qsbr); the concurrency
// test also runs under TSan.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <vector>

#include "pki_fixture.hpp"
#include "turnpike/control/plane.hpp"

using namespace turnpike;
using namespace turnpike::control;
using turnpike::testing::pki_file;

namespace {

// Readers bump their counter at every quiescent state; a grace period has
// ended when every online reader's counter moved past the value it had at
// start() (or the reader is offline).
class TestGrace final : public Grace {
 public:
  explicit TestGrace(unsigned n) : q_(n) {
    for (auto& r : q_) r.online.store(false);
  }
  std::uint64_t start() override {
    std::lock_guard<std::mutex> g(mu_);
    Token t;
    for (auto& r : q_) t.seen.push_back(r.online.load(std::memory_order_seq_cst) ? r.count.load() : ~0ull);
    tokens_.push_back(std::move(t));
    return tokens_.size() - 1;
  }
  bool done(std::uint64_t token) override {
    std::lock_guard<std::mutex> g(mu_);
    const Token& t = tokens_[token];
    for (std::size_t i = 0; i < q_.size(); ++i)
      if (t.seen[i] != ~0ull && q_[i].online.load() && q_[i].count.load() == t.seen[i]) return false;
    return true;
  }
  void online(unsigned i) { q_[i].online.store(true, std::memory_order_seq_cst); }
  void offline(unsigned i) { q_[i].online.store(false, std::memory_order_seq_cst); }
  // seq_cst: orders the reader's earlier loads of the snapshot before the bump.
  void quiescent(unsigned i) { q_[i].count.fetch_add(1, std::memory_order_seq_cst); }

 private:
  struct Reader {
    std::atomic<std::uint64_t> count{0};
    std::atomic<bool> online{false};
  };
  struct Token {
    std::vector<std::uint64_t> seen;
  };
  std::vector<Reader> q_;
  std::mutex mu_;
  std::vector<Token> tokens_;
};

struct TempDir {
  std::filesystem::path p;
  TempDir() {
    char t[] = "/tmp/tp-plane-XXXXXX";
    p = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(p); }
};

TlsSettings one_listener() {
  TlsSettings s;
  s.listeners.push_back({});
  s.client_context = true;
  return s;
}

// A plane whose stores hold `both` (server) and `client`, trust ca.pem.
struct PlaneRig {
  TempDir dir;
  TestGrace grace{1};
  std::unique_ptr<Plane> plane;
  PlaneRig() {
    Plane::Options o;
    o.stores_dir = dir.p;
    o.verdict_cache_entries = 1024;
    plane = std::make_unique<Plane>(o, one_listener(), grace);
    {
      // Seed the stores before start (the empty server store has nothing to present).
      StoreManager::Options so;
      so.dir = dir.p;
      StoreManager m(so);
      EXPECT_EQ(m.load(), "");
      auto t = m.begin();
      EXPECT_TRUE(t.set_ca_bundle(pki_file("ca.pem")).ok);
      EXPECT_TRUE(t.stage_server(pki_file("both-chain.pem"), pki_file("both.key")).ok);
      EXPECT_TRUE(t.stage_client(pki_file("client-chain.pem"), pki_file("client.key")).ok);
      EXPECT_TRUE(t.commit());
    }
    EXPECT_EQ(plane->start(), "");
  }
  std::string on_disk(const char* f) const { return turnpike::testing::slurp(dir.p / f); }
};

}  // namespace

TEST(Plane, StartPublishesOneSnapshotWithTheStoresEpoch) {
  PlaneRig r;
  const DataplaneSnapshot* s = r.plane->publisher().load();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->generation, 1u);
  EXPECT_EQ(s->listener_ctx.size(), 1u);
  EXPECT_NE(s->client_ctx, nullptr);
  EXPECT_EQ(s->trust_epoch, s->stores->trust_epoch);
  EXPECT_EQ(s->listener_ctx[0]->verifier().epoch, s->stores->trust_epoch);
  EXPECT_EQ(r.plane->cache().epoch(), s->trust_epoch);
}

// Regression (issue 9): contexts were built after the new store was on
// disk, so a store the data plane could not use was committed anyway and
// the next restart failed.
TEST(Plane, AFailedBuildLeavesDiskAndPublishedSnapshotUnchanged) {
  PlaneRig r;
  const DataplaneSnapshot* before = r.plane->publisher().load();
  const std::string server_before = r.on_disk("server.pem");
  const std::uint64_t gen_before = r.plane->stores().snapshot()->generation;

  auto t = r.plane->stores().begin();
  ASSERT_TRUE(t.stage_server(pki_file("san-chain.pem"), pki_file("san.key")).ok);
  TlsSettings bad = one_listener();
  bad.listeners[0].ciphers = "NOT-A-CIPHER";  // the context cannot be built
  Plane::Change c;
  c.stores = &t;
  c.settings = &bad;
  const ApplyResult res = r.plane->apply(c);
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.error.find("NOT-A-CIPHER"), std::string::npos) << res.error;
  EXPECT_EQ(r.plane->publisher().load(), before);
  EXPECT_EQ(r.on_disk("server.pem"), server_before);
  EXPECT_EQ(r.plane->stores().snapshot()->generation, gen_before);
  EXPECT_EQ(r.plane->settings(), one_listener());

  // The same change with good settings goes through: disk, then publication.
  auto t2 = r.plane->stores().begin();
  ASSERT_TRUE(t2.stage_server(pki_file("san-chain.pem"), pki_file("san.key")).ok);
  Plane::Change ok;
  ok.stores = &t2;
  const ApplyResult res2 = r.plane->apply(ok);
  ASSERT_TRUE(res2.ok) << res2.error;
  EXPECT_EQ(res2.generation, 2u);
  EXPECT_NE(r.plane->publisher().load(), before);
  EXPECT_EQ(r.on_disk("server.pem"), pki_file("san-chain.pem"));
  EXPECT_EQ(r.plane->publisher().load()->stores->server.leaf.subject_cn, "san.test");
}

TEST(Plane, TrustChangeBumpsTheOneEpochAndTheCache) {
  PlaneRig r;
  const std::uint64_t e0 = r.plane->publisher().load()->trust_epoch;
  auto t = r.plane->stores().begin();
  ASSERT_TRUE(t.add_crl("inter.crl", pki_file("inter.crl")).ok);
  Plane::Change c;
  c.stores = &t;
  ASSERT_TRUE(r.plane->apply(c).ok);
  const DataplaneSnapshot* s = r.plane->publisher().load();
  EXPECT_EQ(s->trust_epoch, e0 + 1);
  EXPECT_EQ(s->stores->trust_epoch, e0 + 1);
  EXPECT_EQ(r.plane->cache().epoch(), e0 + 1);  // older cached chain verdicts are stale
  // A mode change is no trust change.
  auto t2 = r.plane->stores().begin();
  t2.set_eku_mode(EkuMode::Off);
  Plane::Change c2;
  c2.stores = &t2;
  ASSERT_TRUE(r.plane->apply(c2).ok);
  EXPECT_EQ(r.plane->publisher().load()->trust_epoch, e0 + 1);
  EXPECT_EQ(r.plane->publisher().load()->eku_mode, EkuMode::Off);
}

TEST(Plane, TicketKeysSurviveAReload) {
  PlaneRig r;
  auto k = r.plane->publisher().load()->tickets;
  ASSERT_NE(k, nullptr);
  Plane::Change c;
  ASSERT_TRUE(r.plane->apply(c).ok);
  EXPECT_EQ(r.plane->publisher().load()->tickets, k);
}

TEST(SnapshotPublisher, RetiredAfterTheGracePeriodOnly) {
  TestGrace g(2);
  SnapshotPublisher pub(g);
  pub.publish(std::make_unique<DataplaneSnapshot>());
  EXPECT_EQ(pub.reclaim(), 0u);  // nothing retired yet
  g.online(0);
  g.online(1);
  const DataplaneSnapshot* held = pub.load();
  pub.publish(std::make_unique<DataplaneSnapshot>());
  EXPECT_EQ(pub.retired(), 1u);
  EXPECT_EQ(pub.reclaim(), 1u);  // both readers may still hold `held`
  g.quiescent(0);
  EXPECT_EQ(pub.reclaim(), 1u);  // reader 1 has not passed a quiescent state
  // An idle (offline, sleeping) reader does not hold the snapshot back.
  g.offline(1);
  EXPECT_EQ(pub.reclaim(), 0u);
  EXPECT_NE(pub.load(), held);
}

// Readers against publish and retire: every snapshot a reader loads is
// intact until its next quiescent state (ASan/TSan would see a freed one).
TEST(SnapshotPublisherConcurrency, ReadersNeverSeeAFreedSnapshot) {
  constexpr unsigned kReaders = 2;
  TestGrace g(kReaders);
  SnapshotPublisher pub(g);
  auto make = [](std::uint64_t n) {
    auto s = std::make_unique<DataplaneSnapshot>();
    s->generation = n;
    s->trust_epoch = n * 7;
    s->notes.assign(4, std::string(64, char('a' + n % 26)));
    return s;
  };
  pub.publish(make(1));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0}, loads{0};
  std::vector<std::thread> readers;
  for (unsigned i = 0; i < kReaders; ++i)
    readers.emplace_back([&, i] {
      g.online(i);
      std::uint64_t last = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const DataplaneSnapshot* s = pub.load();
        if (s->trust_epoch != s->generation * 7 || s->notes.size() != 4 ||
            s->notes[3][0] != char('a' + s->generation % 26) || s->generation < last)
          bad.fetch_add(1);
        last = s->generation;
        loads.fetch_add(1, std::memory_order_relaxed);
        g.quiescent(i);
        if (loads.load(std::memory_order_relaxed) % 64 == 0) {  // now and then idle, like a sleeping worker
          g.offline(i);
          std::this_thread::yield();
          g.online(i);
        }
      }
      g.offline(i);
    });
  while (loads.load() < 100) std::this_thread::yield();  // readers running
  for (std::uint64_t n = 2; n <= 20000; ++n) {
    pub.publish(make(n));
    pub.reclaim();
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(loads.load(), 0u);
  EXPECT_EQ(pub.reclaim(), 0u);  // all readers offline: everything retired is freed
  EXPECT_EQ(pub.load()->generation, 20000u);
}
