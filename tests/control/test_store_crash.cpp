// Crash safety of commits: a child process commits alternately two different
// store states as fast as it can; the parent SIGKILLs it at random moments,
// then loads the directory and requires exactly one of the two states
// (guards against a half-written generation or a mix of old and new files).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>

#include "store_testutil.hpp"
#include "turnpike/control/store.hpp"

using namespace turnpike::control;
using namespace turnpike::testing;

namespace {
constexpr int kKills = 200;

struct State {
  std::string server_chain, server_key, client_chain, client_key, crl;
  EkuMode mode;
};

// Stages `s` on top of whatever is committed.
bool commit_state(StoreManager& m, const State& s) {
  Transaction t = m.begin();
  if (!t.stage_server(s.server_chain, s.server_key).ok) return false;
  if (!t.stage_client(s.client_chain, s.client_key).ok) return false;
  auto cur = m.snapshot();
  for (const auto& [n, _] : cur->crls) t.remove_crl(n);
  if (!s.crl.empty() && !t.add_crl("inter", s.crl).ok) return false;
  t.set_eku_mode(s.mode);
  return static_cast<bool>(t.commit());
}

[[noreturn]] void child(const std::filesystem::path& dir, const State& a, const State& b, int ready_fd) {
  StoreManager m({.dir = dir});
  if (!m.load().empty()) _exit(2);
  // Tell the parent the commit loop starts now, so its kill delay is
  // measured from here and not from fork (start-up is slow on a loaded box).
  char c = 1;
  if (write(ready_fd, &c, 1) != 1) _exit(4);
  for (uint64_t i = 0;; ++i)
    if (!commit_state(m, i % 2 ? a : b)) _exit(3);
}
}  // namespace

TEST(StoreCrash, SigkillDuringCommitsLeavesOldOrNewState) {
  TempDir dir;
  State a{chain("server"), key("server"), chain("client"), key("client"), "", EkuMode::On};
  State b{chain("both"), key("both"), chain("any"), key("any"), pki_file("inter.crl"), EkuMode::Off};
  StoreSnapshot sa, sb;
  {
    StoreManager m({.dir = dir.path});
    ASSERT_EQ(m.load(), "");
    Transaction t = m.begin();
    ASSERT_TRUE(t.set_ca_bundle(pki_file("ca.pem")).ok);
    ASSERT_TRUE(t.commit());
    ASSERT_TRUE(commit_state(m, b));
    sb = *m.snapshot();
    ASSERT_TRUE(commit_state(m, a));
    sa = *m.snapshot();
  }
  // Kill delays span about three commits, measured here on this machine.
  auto t0 = std::chrono::steady_clock::now();
  {
    StoreManager m({.dir = dir.path});
    ASSERT_EQ(m.load(), "");
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(commit_state(m, i % 2 ? a : b));
  }
  auto per_commit = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0) / 4;
  std::mt19937 rng(12345);
  std::uniform_int_distribution<long> delay_us(0, 3 * std::max<long>(per_commit.count(), 100));
  int saw_a = 0, saw_b = 0, mid_commit = 0;
  uint64_t last_gen = sa.generation;
  for (int k = 0; k < kKills; ++k) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(ready[0]);
      child(dir.path, a, b, ready[1]);
    }
    close(ready[1]);
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1) << "child failed to start";
    close(ready[0]);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status) << " at kill " << k;

    // Leftovers of an interrupted commit: a temp or second generation dir.
    int gens = 0;
    for (auto& e : std::filesystem::directory_iterator(dir.path))
      gens += e.path().filename().string().rfind("gen-", 0) == 0;
    mid_commit += gens > 1;

    StoreManager m({.dir = dir.path});
    std::string err = m.load();
    ASSERT_EQ(err, "") << "after kill " << k;
    auto s = m.snapshot();
    bool is_a = s->same_content(sa), is_b = s->same_content(sb);
    ASSERT_TRUE(is_a || is_b) << "mixed state after kill " << k << " generation " << s->generation;
    ASSERT_GE(s->generation, last_gen);  // committed generations never go back
    last_gen = s->generation;
    saw_a += is_a;
    saw_b += is_b;
  }
  // Both outcomes occurred, so kills did land at different points.
  EXPECT_GT(saw_a, 0);
  EXPECT_GT(saw_b, 0);
  EXPECT_GT(mid_commit, 0);  // and some inside a commit
  std::printf("kills=%d state_a=%d state_b=%d mid_commit=%d last_generation=%lu commit_us=%ld\n", kKills, saw_a,
              saw_b, mid_commit, static_cast<unsigned long>(last_gen), static_cast<long>(per_commit.count()));
}
