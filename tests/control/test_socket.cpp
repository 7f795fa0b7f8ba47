// Control socket: the command parser, then the server over a real Unix
// socket in a temp dir with a Plane on a temp store directory: every
// command and its JSON form, malformed and huge lines, concurrent clients,
// a client killed mid-transaction, the read-only socket, permissions.
#include <gtest/gtest.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "pki_fixture.hpp"
#include "turnpike/control/socket.hpp"

using namespace turnpike;
using namespace turnpike::control;
using turnpike::testing::pki_dir;
using turnpike::testing::pki_file;

namespace {

// ---- parser

ParsedCommand parse_ok(std::string_view l) {
  ParsedCommand c;
  const std::string e = parse_command(l, c);
  EXPECT_EQ(e, "") << l;
  return c;
}

std::string parse_err(std::string_view l) {
  ParsedCommand c;
  return parse_command(l, c);
}

}  // namespace

TEST(ControlParse, WordsArgumentsAndQuotes) {
  auto c = parse_ok("xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode: On");
  ASSERT_EQ(c.words.size(), 6u);
  EXPECT_EQ(c.words[5], "Checking");
  ASSERT_EQ(c.args.size(), 1u);
  EXPECT_EQ(c.args[0].first, "Mode");
  EXPECT_EQ(c.args[0].second, "On");
  EXPECT_FALSE(c.json);

  c = parse_ok("xCommand Certificate Upload Store: Server Certificate: \"/tmp/a b \\\"c\\\".pem\" Key:/k.pem\r");
  ASSERT_EQ(c.words.size(), 3u);
  ASSERT_NE(c.arg("certificate"), nullptr);  // keys are case-insensitive
  EXPECT_EQ(*c.arg("Certificate"), "/tmp/a b \"c\".pem");
  EXPECT_EQ(*c.arg("Key"), "/k.pem");  // Key:value without a blank
  EXPECT_EQ(*c.arg("Store"), "Server");

  EXPECT_TRUE(parse_ok("xStatus --json").json);
  c = parse_ok("xStatus Snapshot Format: json");
  EXPECT_TRUE(c.json);
  EXPECT_TRUE(c.args.empty());  // Format is not an argument of the command
  EXPECT_FALSE(parse_ok("xStatus Format: Text").json);
  // A quoted word is a value, never a key.
  c = parse_ok("xCommand X \"A:\"");
  EXPECT_EQ(c.words.back(), "A:");
}

TEST(ControlParse, MalformedLinesAreRefusedWithAReason) {
  EXPECT_NE(parse_err(""), "");
  EXPECT_NE(parse_err("   \t "), "");
  EXPECT_NE(parse_err("xCommand A \"unterminated"), "");
  EXPECT_NE(parse_err("xCommand A \"bad\\q\""), "");
  EXPECT_NE(parse_err("xCommand A \"x\"y"), "");
  EXPECT_NE(parse_err("xCommand A Key:"), "");            // no value
  EXPECT_NE(parse_err("xCommand A Key: 1 Key: 2"), "");   // twice
  EXPECT_NE(parse_err("xCommand A Key: 1 stray"), "");    // a word after arguments
  EXPECT_NE(parse_err(": x"), "");                        // no name
  EXPECT_NE(parse_err("Key: x"), "");                     // no command word
  EXPECT_NE(parse_err("xStatus Format: xml"), "");
  EXPECT_NE(parse_err(std::string("xStatus \0 x", 11)), "");  // control bytes
  std::string many = "xStatus";
  for (int i = 0; i < 70; ++i) many += " w";
  EXPECT_NE(parse_err(many).find("too many"), std::string::npos);
}

namespace {

// ---- a Plane on a temp store directory, a server on temp sockets

class NoGrace final : public Grace {  // no readers in these tests
 public:
  std::uint64_t start() override { return 0; }
  bool done(std::uint64_t) override { return true; }
};

struct TempDir {
  std::filesystem::path p;
  TempDir() {
    char t[] = "/tmp/tp-ctl-XXXXXX";
    p = mkdtemp(t);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
  }
};

std::string pki(const char* name) { return (pki_dir() / name).string(); }

struct Rig {
  TempDir dir;
  NoGrace grace;
  std::unique_ptr<Plane> plane;
  std::unique_ptr<ControlServer> srv;
  std::atomic<bool> stop{false};
  std::atomic<int> reloads{0};
  std::thread loop;
  std::string rw, ro;

  explicit Rig(ControlOptions o = {}, bool run = true) {
    {
      StoreManager m({.dir = dir.p / "stores"});
      EXPECT_EQ(m.load(), "");
      auto t = m.begin();
      EXPECT_TRUE(t.set_ca_bundle(pki_file("ca.pem")).ok);
      EXPECT_TRUE(t.stage_server(pki_file("both-chain.pem"), pki_file("both.key")).ok);
      EXPECT_TRUE(t.stage_client(pki_file("client-chain.pem"), pki_file("client.key")).ok);
      EXPECT_TRUE(t.commit());
    }
    Plane::Options po;
    po.stores_dir = dir.p / "stores";
    po.verdict_cache_entries = 1024;
    po.on_event = [](const std::string&) {};
    TlsSettings s;
    s.listeners.push_back({});
    s.client_context = true;
    plane = std::make_unique<Plane>(po, s, grace);
    EXPECT_EQ(plane->start(), "");
    ControlHooks h;
    h.status = [] { return std::vector<Item>{{"Worker 0 BusyCycles", std::uint64_t{42}}, {"Backends Up", std::uint64_t{1}}}; };
    h.config = [] {
      return std::vector<Item>{{"SIP Backend 1 Address", std::string("198.18.1.2")}, {"SIP Limits MaxBodyBytes", std::uint64_t{65536}}};
    };
    h.reload = [this](const std::string&) {
      ++reloads;
      return std::string{};
    };
    rw = (dir.p / "run" / "ctl.sock").string();
    ro = (dir.p / "run" / "ctl.ro.sock").string();
    if (o.path.empty()) o.path = rw;
    if (o.readonly_path.empty()) o.readonly_path = ro;
    srv = std::make_unique<ControlServer>(*plane, h, o);
    if (!run) return;
    EXPECT_EQ(srv->open(), "");
    loop = std::thread([this] {
      while (!stop.load()) srv->poll(5);
    });
  }
  ~Rig() {
    stop = true;
    if (loop.joinable()) loop.join();
  }
};

// A blocking client: sends a line, reads to the status line.
struct Client {
  int fd = -1;
  std::string buf;
  explicit Client(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.data(), path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
    timeval tv{10, 0};  // a hung server fails the test instead of hanging it
    if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  void send_raw(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  // Content lines, then the status line last.
  std::vector<std::string> reply() {
    std::vector<std::string> out;
    while (true) {
      std::size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        std::string l = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        out.push_back(l);
        if (l == "OK" || l.rfind("ERROR:", 0) == 0) return out;
      }
      char b[65536];
      ssize_t n = ::recv(fd, b, sizeof b, 0);
      if (n <= 0) {
        out.push_back("<closed>");
        return out;
      }
      buf.append(b, static_cast<std::size_t>(n));
    }
  }
  std::vector<std::string> cmd(const std::string& line) {
    send_raw(line + "\n");
    return reply();
  }
};

std::string status_of(const std::vector<std::string>& r) { return r.empty() ? "" : r.back(); }
std::string text_of(const std::vector<std::string>& r) {
  std::string s;
  for (std::size_t i = 0; i + 1 < r.size(); ++i) s += r[i] + "\n";
  return s;
}
nlohmann::json json_of(const std::vector<std::string>& r) { return nlohmann::json::parse(text_of(r)); }
bool has(const std::vector<std::string>& r, std::string_view needle) {
  return text_of(r).find(needle) != std::string::npos || status_of(r).find(needle) != std::string::npos;
}

const std::string kMode = "xConfiguration SIP TLS Certificate ExtendedKeyUsage Checking Mode";

// Whether a transaction is open, asked over the socket: the server's state
// belongs to its thread.
bool txn_open(const std::string& path) {
  Client c(path);
  for (const auto& l : c.cmd("xStatus Control Transaction"))
    if (l.rfind("*s xStatus Control Transaction: ", 0) == 0) return l.find(": none") == std::string::npos;
  ADD_FAILURE() << "no transaction status";
  return false;
}

std::string upload(const char* store, const char* name, const char* extra = "") {
  return std::string("xCommand Certificate Upload Store: ") + store + " Certificate: " + pki((std::string(name) + "-chain.pem").c_str()) +
         " Key: " + pki((std::string(name) + ".key").c_str()) + extra;
}

}  // namespace

TEST(ControlSocket, HelpAndJson) {
  Rig r;
  Client c(r.rw);
  ASSERT_GE(c.fd, 0);
  auto h = c.cmd("help");
  EXPECT_EQ(status_of(h), "OK");
  EXPECT_TRUE(has(h, "xCommand Certificate Commit"));
  EXPECT_TRUE(has(h, "readable by the daemon"));
  auto j = c.cmd("xCommand Help --json");
  ASSERT_EQ(status_of(j), "OK");
  EXPECT_TRUE(json_of(j).is_array());
}

TEST(ControlSocket, ConfigurationDumpGetSetAndJson) {
  Rig r;
  Client c(r.rw);
  auto d = c.cmd("xConfiguration");
  ASSERT_EQ(status_of(d), "OK");
  EXPECT_TRUE(has(d, "*c " + kMode + ": On\n"));
  EXPECT_TRUE(has(d, "*c xConfiguration SIP TLS Listener 1 Port: 5061"));
  EXPECT_TRUE(has(d, "*c xConfiguration SIP Backend 1 Address: 198.18.1.2"));  // from the hook
  EXPECT_TRUE(has(d, "SIP Limits MaxBodyBytes: 65536"));
  auto g = c.cmd("xconfiguration sip tls certificate");  // case-insensitive prefix
  ASSERT_EQ(status_of(g), "OK");
  EXPECT_EQ(g.size(), 2u);
  auto gj = c.cmd("xConfiguration SIP TLS Format: json");
  ASSERT_EQ(status_of(gj), "OK");
  EXPECT_EQ(json_of(gj)["SIP"]["TLS"]["Certificate"]["ExtendedKeyUsage"]["Checking"]["Mode"], "On");
  EXPECT_EQ(json_of(gj)["SIP"]["TLS"]["Listener"]["1"]["Port"], 5061);
  EXPECT_EQ(status_of(c.cmd("xConfiguration No Such Path")).rfind("ERROR: unknown configuration path", 0), 0u);

  // The set of the spec: answered OK, persisted, published, an event.
  const std::uint64_t gen = r.plane->publisher().load()->generation;
  auto s = c.cmd(kMode + ": Off");
  EXPECT_EQ(s, std::vector<std::string>{"OK"});
  EXPECT_EQ(r.plane->publisher().load()->eku_mode, EkuMode::Off);
  EXPECT_GT(r.plane->publisher().load()->generation, gen);
  {
    StoreManager m({.dir = r.dir.p / "stores"});
    ASSERT_EQ(m.load(), "");
    EXPECT_EQ(m.snapshot()->eku_mode, EkuMode::Off);  // on disk
  }
  EXPECT_TRUE(has(c.cmd(kMode), "Mode: Off"));
  EXPECT_TRUE(has(c.cmd("xCommand Events Tail Lines: 10"), "EKU Checking Mode Change"));
  EXPECT_EQ(c.cmd(kMode + ": on"), std::vector<std::string>{"OK"});
  EXPECT_EQ(r.plane->publisher().load()->eku_mode, EkuMode::On);

  // Bad values and read-only keys change nothing.
  const std::uint64_t gen2 = r.plane->publisher().load()->generation;
  EXPECT_EQ(status_of(c.cmd(kMode + ": Maybe")).rfind("ERROR: invalid value", 0), 0u);
  EXPECT_TRUE(has(c.cmd("xConfiguration SIP TLS Listener 1 Port: 5062"), "cannot be changed over the socket"));
  EXPECT_TRUE(has(c.cmd("xConfiguration Foo Bar: 1"), "ERROR: unknown configuration key"));
  EXPECT_TRUE(has(c.cmd(kMode + ": On Other: 1"), "one key at a time"));
  EXPECT_EQ(r.plane->publisher().load()->generation, gen2);

  // The deprecated setting: accepted, reported deprecated, ignored.
  auto dep = c.cmd("xConfiguration XCP TLS Certificate CVS EnableServerEkuUpload: On");
  EXPECT_EQ(status_of(dep), "OK");
  EXPECT_TRUE(has(dep, "deprecated and ignored"));
  EXPECT_EQ(r.plane->publisher().load()->generation, gen2);
  EXPECT_TRUE(has(c.cmd("xCommand Events Tail"), "Deprecated Setting"));
}

TEST(ControlSocket, StatusTextAndJson) {
  Rig r;
  Client c(r.rw);
  auto s = c.cmd("xStatus");
  ASSERT_EQ(status_of(s), "OK");
  EXPECT_TRUE(has(s, "*s xStatus Snapshot Generation: 1\n"));
  EXPECT_TRUE(has(s, "*s xStatus Snapshot AgeMs: "));
  EXPECT_TRUE(has(s, "*s xStatus VerdictCache Capacity: "));
  EXPECT_TRUE(has(s, "*s xStatus Worker 0 BusyCycles: 42"));  // from the hook
  EXPECT_TRUE(has(s, "*s xStatus Control Clients: 1"));
  auto j = c.cmd("xStatus --json");
  ASSERT_EQ(status_of(j), "OK");
  auto js = json_of(j);
  EXPECT_EQ(js["Snapshot"]["Generation"], 1);
  EXPECT_EQ(js["Worker"]["0"]["BusyCycles"], 42);
  EXPECT_EQ(js["Control"]["Transaction"], "none");
  auto sub = c.cmd("xStatus Snapshot");
  EXPECT_FALSE(has(sub, "Worker"));
  EXPECT_TRUE(has(c.cmd("xStatus Nope"), "ERROR: unknown status path"));
}

TEST(ControlSocket, CertificateShowTextAndJson) {
  Rig r;
  Client c(r.rw);
  const auto snap = r.plane->stores().snapshot();
  auto s = c.cmd("xCommand Certificate Show");
  ASSERT_EQ(status_of(s), "OK");
  EXPECT_TRUE(has(s, "*r Certificate Server Subject: " + snap->server.leaf.subject));
  EXPECT_TRUE(has(s, "*r Certificate Server SHA256: " + fingerprint_hex(snap->server.leaf.sha256)));
  EXPECT_TRUE(has(s, "*r Certificate Server ExtendedKeyUsage: serverAuth, clientAuth"));
  EXPECT_TRUE(has(s, "*r Certificate Client ExtendedKeyUsage: clientAuth"));
  EXPECT_TRUE(has(s, "*r Certificate Client Serial: " + snap->client.leaf.serial_hex));
  EXPECT_TRUE(has(s, "*r Certificate Server NotAfter: "));
  EXPECT_TRUE(has(s, "*r Certificate Server KeyUsage: "));
  EXPECT_TRUE(has(s, "*r Certificate Server SubjectAltName: "));
  EXPECT_TRUE(has(s, "*r Certificate CA 1 Subject: "));
  auto j = json_of(c.cmd("xCommand Certificate Show Store: Client Format: json"));
  EXPECT_EQ(j["Client"]["SHA256"], fingerprint_hex(snap->client.leaf.sha256));
  EXPECT_FALSE(j.contains("Server"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Show Staged"), "ERROR: no certificate transaction is open"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Show Store: Nope"), "ERROR: Store:"));
}

// The HAProxy set/commit/abort model: staged copy visible to Show Staged,
// live unchanged until Commit, Abort drops it.
TEST(ControlSocket, StageAbortCommit) {
  Rig r;
  Client c(r.rw);
  const auto* before = r.plane->publisher().load();
  const std::string fp_before = fingerprint_hex(before->stores->server.leaf.sha256);
  auto up = c.cmd(upload("Server", "san"));
  ASSERT_EQ(status_of(up), "OK") << text_of(up);
  EXPECT_TRUE(has(up, "*r Certificate Staged: server certificate"));
  EXPECT_TRUE(txn_open(r.rw));
  auto staged = c.cmd("xCommand Certificate Show Staged");
  EXPECT_TRUE(has(staged, "Staged Server Subject: CN=san.test"));
  EXPECT_TRUE(has(staged, "Transaction Owner: uid "));
  EXPECT_TRUE(has(staged, "SubjectAltName: DNS:sip.example.test, IP:198.18.0.1"));
  EXPECT_EQ(json_of(c.cmd("xCommand Certificate Show Staged --json"))["Staged"]["Server"]["Subject"], "CN=san.test");
  EXPECT_EQ(r.plane->publisher().load(), before);  // live unchanged
  auto a = c.cmd("xCommand Certificate Abort");
  EXPECT_EQ(status_of(a), "OK");
  EXPECT_FALSE(txn_open(r.rw));
  EXPECT_EQ(r.plane->publisher().load(), before);
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Show"), "Server SHA256: " + fp_before));
  EXPECT_TRUE(has(c.cmd("xCommand Events Tail"), "Certificate Transaction Aborted"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Commit"), "ERROR: no certificate transaction is open"));

  ASSERT_EQ(status_of(c.cmd(upload("Server", "san"))), "OK");
  auto cm = c.cmd("xCommand Certificate Commit");
  ASSERT_EQ(status_of(cm), "OK") << text_of(cm);
  EXPECT_TRUE(has(cm, "*r Certificate Transaction: committed"));
  EXPECT_TRUE(has(cm, "*r CommitUs: "));
  EXPECT_NE(r.plane->publisher().load(), before);
  EXPECT_EQ(r.plane->publisher().load()->stores->server.leaf.subject_cn, "san.test");
  EXPECT_EQ(turnpike::testing::slurp(r.dir.p / "stores" / "server.pem"), pki_file("san-chain.pem"));
  EXPECT_TRUE(has(c.cmd("xCommand Events Tail Lines: 20"), "Certificate Store Commit"));
}

TEST(ControlSocket, ClientStoreRefusalAndServerAsClient) {
  Rig r;
  Client c(r.rw);
  // The spec's exact message; nothing staged, no transaction held.
  auto bad = c.cmd(upload("Client", "server"));
  EXPECT_EQ(status_of(bad), "ERROR: " + std::string(kMsgNoClientUsage));
  EXPECT_FALSE(txn_open(r.rw));
  // "Upload server certificate file as client certificate".
  auto ok = c.cmd(upload("Server", "server", " AsClient: Yes"));
  ASSERT_EQ(status_of(ok), "OK") << text_of(ok);
  EXPECT_TRUE(has(ok, "also as client certificate"));
  ASSERT_EQ(status_of(c.cmd("xCommand Certificate Commit")), "OK");
  const auto s = r.plane->stores().snapshot();
  EXPECT_EQ(s->client.leaf.sha256, s->server.leaf.sha256);
  EXPECT_EQ(s->client.leaf.subject_cn, "server.test");
  // Bad arguments.
  EXPECT_TRUE(has(c.cmd(upload("Client", "client", " AsClient: Yes")), "ERROR: AsClient: applies to Store: Server"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Upload Store: Server Certificate: relative.pem Key: /x"), "not an absolute path"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Upload Store: Server Certificate: /nonexistent.pem Key: /x"), "cannot read /nonexistent.pem"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Upload Store: Server"), "needs Store"));
  EXPECT_TRUE(has(c.cmd(upload("Server", "both", " Colour: Blue")), "unknown argument Colour:"));
  EXPECT_FALSE(txn_open(r.rw));
}

TEST(ControlSocket, TrustStoreChangesBumpTheEpoch) {
  Rig r;
  Client c(r.rw);
  const std::uint64_t e0 = r.plane->publisher().load()->trust_epoch;
  ASSERT_EQ(status_of(c.cmd("xCommand Certificate CRL Add Name: inter.crl File: " + pki("inter.crl"))), "OK");
  ASSERT_EQ(status_of(c.cmd("xCommand Certificate CA Add File: " + pki("other-root.pem"))), "OK");
  auto st = c.cmd("xCommand Certificate Show Staged Store: CRL");
  EXPECT_TRUE(has(st, "Staged CRL 1 Name: inter.crl"));
  ASSERT_EQ(status_of(c.cmd("xCommand Certificate Commit")), "OK");
  EXPECT_EQ(r.plane->publisher().load()->trust_epoch, e0 + 1);
  EXPECT_EQ(r.plane->cache().epoch(), e0 + 1);
  EXPECT_EQ(r.plane->stores().snapshot()->ca_facts.size(), 2u);
  ASSERT_EQ(status_of(c.cmd("xCommand Certificate CRL Remove Name: inter.crl")), "OK");
  ASSERT_EQ(status_of(c.cmd("xCommand Certificate CA Set File: " + pki("ca.pem"))), "OK");
  ASSERT_EQ(status_of(c.cmd("xCommand Certificate Commit")), "OK");
  EXPECT_EQ(r.plane->stores().snapshot()->crls.size(), 0u);
  EXPECT_EQ(r.plane->stores().snapshot()->ca_facts.size(), 1u);
  EXPECT_TRUE(has(c.cmd("xCommand Certificate CRL Remove"), "needs Name"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate CA Drop File: /x"), "CA Set|Add"));
  EXPECT_TRUE(has(c.cmd("xCommand Certificate Frobnicate"), "unknown command xCommand Certificate Frobnicate"));
}

TEST(ControlSocket, SecondTransactionIsRefusedNamingTheFirst) {
  Rig r;
  Client a(r.rw), b(r.rw);
  ASSERT_EQ(status_of(a.cmd(upload("Server", "san"))), "OK");
  for (const std::string& l : {upload("Server", "both"), std::string("xCommand Certificate Commit"),
                               std::string("xCommand Certificate Abort"), kMode + ": Off",
                               std::string("xCommand Reload")}) {
    auto rep = b.cmd(l);
    EXPECT_EQ(status_of(rep).rfind("ERROR: ", 0), 0u) << l;
    EXPECT_NE(status_of(rep).find("uid " + std::to_string(getuid()) + " pid " + std::to_string(getpid())),
              std::string::npos) << status_of(rep);
  }
  EXPECT_TRUE(has(b.cmd(upload("Server", "both")), "server certificate " + pki("san-chain.pem")));
  // Anyone may read the staged copy.
  EXPECT_TRUE(has(b.cmd("xCommand Certificate Show Staged"), "CN=san.test"));
  EXPECT_EQ(r.reloads.load(), 0);
  ASSERT_EQ(status_of(a.cmd("xCommand Certificate Commit")), "OK");
  EXPECT_EQ(status_of(b.cmd(upload("Server", "both"))), "OK");  // free again
}

// A client that dies mid-transaction leaves nothing staged or half-applied.
TEST(ControlSocket, ClientKilledMidTransactionAbortsIt) {
  Rig r;
  const auto* before = r.plane->publisher().load();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Client c(r.rw);
    auto rep = c.cmd(upload("Server", "san"));
    char ok = status_of(rep) == "OK" ? 'y' : 'n';
    [[maybe_unused]] ssize_t w = write(ready[1], &ok, 1);
    pause();
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  EXPECT_EQ(ok, 'y');
  EXPECT_TRUE(txn_open(r.rw));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  for (int i = 0; i < 400 && txn_open(r.rw); ++i) usleep(5000);
  EXPECT_FALSE(txn_open(r.rw));
  EXPECT_EQ(r.plane->publisher().load(), before);
  Client c(r.rw);
  EXPECT_TRUE(has(c.cmd("xCommand Events Tail"), "the client disconnected with the transaction open"));
  EXPECT_EQ(status_of(c.cmd(upload("Server", "both"))), "OK");  // nobody holds it
}

TEST(ControlSocket, ReadOnlySocketRefusesEveryChange) {
  Rig r;
  Client c(r.ro);
  ASSERT_GE(c.fd, 0);
  const auto* before = r.plane->publisher().load();
  for (const std::string& l :
       {kMode + ": Off", std::string("xConfiguration XCP TLS Certificate CVS EnableServerEkuUpload: On"), upload("Server", "san"),
        std::string("xCommand Certificate CA Set File: ") + pki("ca.pem"), std::string("xCommand Certificate Commit"),
        std::string("xCommand Certificate Abort"), std::string("xCommand Reload")}) {
    auto rep = c.cmd(l);
    EXPECT_EQ(status_of(rep).rfind("ERROR: read-only control socket", 0), 0u) << l << " -> " << status_of(rep);
  }
  EXPECT_EQ(r.plane->publisher().load(), before);
  EXPECT_FALSE(txn_open(r.rw));
  EXPECT_EQ(r.reloads.load(), 0);
  // Reads work.
  EXPECT_EQ(status_of(c.cmd("xStatus")), "OK");
  EXPECT_EQ(status_of(c.cmd("xConfiguration --json")), "OK");
  EXPECT_EQ(status_of(c.cmd("xCommand Certificate Show")), "OK");
  EXPECT_EQ(status_of(c.cmd("xCommand Audit")), "OK");
}

TEST(ControlSocket, AuditEventsReload) {
  Rig r;
  Client c(r.rw);
  auto a = c.cmd("xCommand Audit");
  ASSERT_EQ(status_of(a), "OK");
  EXPECT_GT(a.size(), 2u);
  auto aj = json_of(c.cmd("xCommand Audit Format: json"));
  EXPECT_TRUE(aj.contains("scenario"));
  auto ev = c.cmd("xCommand Events Tail Lines: 1");
  EXPECT_EQ(ev.size(), 2u);
  EXPECT_TRUE(json_of(c.cmd("xCommand Events Tail --json")).is_array());
  EXPECT_TRUE(has(c.cmd("xCommand Events Tail Lines: 0"), "ERROR: Lines:"));
  EXPECT_TRUE(has(c.cmd("xCommand Events Tail Lines: 99999999999"), "ERROR: Lines:"));
  EXPECT_TRUE(has(c.cmd("xCommand Events Head"), "ERROR: xCommand Events Tail"));
  EXPECT_EQ(status_of(c.cmd("xCommand Reload")), "OK");
  EXPECT_EQ(r.reloads.load(), 1);
  EXPECT_TRUE(has(c.cmd("xCommand Reload Now: Yes"), "ERROR: xCommand Reload takes no arguments"));
  EXPECT_EQ(r.reloads.load(), 1);
}

TEST(ControlSocket, MalformedUnknownAndHugeLinesLeaveTheConnectionUsable) {
  Rig r;
  Client c(r.rw);
  const auto* before = r.plane->publisher().load();
  EXPECT_TRUE(has(c.cmd("xFrobnicate"), "ERROR: unknown command xFrobnicate"));
  EXPECT_TRUE(has(c.cmd("xCommand"), "ERROR: xCommand needs a command"));
  EXPECT_TRUE(has(c.cmd("xCommand Nope"), "ERROR: unknown command xCommand Nope"));
  EXPECT_TRUE(has(c.cmd("xCommand A \"open"), "ERROR: malformed command"));
  EXPECT_TRUE(has(c.cmd(std::string("xStatus \x01\x02\xff")), "ERROR: malformed command"));
  // Empty lines are ignored (no reply), the next command is answered.
  c.send_raw("\n\r\n");
  EXPECT_EQ(status_of(c.cmd("xStatus Snapshot")), "OK");
  // 1 MiB without a newline, then the end of it: one error, then service.
  std::string huge(1 << 20, 'A');
  c.send_raw("xStatus " + huge);
  auto rep = c.reply();
  EXPECT_EQ(status_of(rep), "ERROR: line longer than 65536 bytes: ignored, nothing changed");
  c.send_raw(huge + "\n");
  EXPECT_EQ(status_of(c.cmd("xStatus Snapshot")), "OK");
  // A content line that looks like a status line is indented.
  Reply fake;
  fake.lines = {"OK", "ERROR: x", "a\nb"};
  EXPECT_EQ(fake.frame(), " OK\n ERROR: x\na?b\nOK\n");
  EXPECT_EQ(r.plane->publisher().load(), before);
}

TEST(ControlSocket, ConcurrentClients) {
  Rig r;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      Client c(r.rw);
      for (int i = 0; i < 50; ++i) {
        auto rep = c.cmd(i % 2 ? "xStatus --json" : "xConfiguration");
        if (status_of(rep) == "OK") ++ok;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 400);
}

TEST(ControlSocket, TooManyClientsAreToldAndClosed) {
  ControlOptions o;
  o.max_clients = 2;
  Rig r(o);
  Client a(r.rw), b(r.rw);
  EXPECT_EQ(status_of(a.cmd("xStatus Snapshot")), "OK");
  EXPECT_EQ(status_of(b.cmd("xStatus Snapshot")), "OK");
  Client c(r.rw);
  auto rep = c.reply();
  EXPECT_EQ(status_of(rep), "ERROR: too many control clients (2); try again later");
}

TEST(ControlSocket, HalfClosedClientGetsItsRepliesAndItsTransactionEnds) {
  Rig r;
  Client c(r.rw);
  c.send_raw(upload("Server", "san") + "\nxCommand Certificate Commit\nxStatus Snapshot");  // last line without LF
  ::shutdown(c.fd, SHUT_WR);
  EXPECT_EQ(status_of(c.reply()), "OK");
  EXPECT_EQ(status_of(c.reply()), "OK");
  EXPECT_EQ(status_of(c.reply()), "OK");
  EXPECT_EQ(r.plane->stores().snapshot()->server.leaf.subject_cn, "san.test");
}

TEST(ControlSocket, SocketFilesModeStaleAndLive) {
  TempDir d;
  Rig r;  // sockets under r.dir/run, created with their parent
  struct stat st{};
  ASSERT_EQ(stat(r.rw.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  // A second server on the same live path is refused.
  ControlServer other(*r.plane, {}, {.path = r.rw});
  EXPECT_NE(other.open().find("another process is listening"), std::string::npos);
  // A stale socket file (its server gone) is replaced; a regular file is not ours.
  const std::string stale = (d.p / "stale.sock").string();
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, stale.data(), stale.size());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);  // the file stays, nobody listens
  }
  {
    ControlServer s(*r.plane, {}, {.path = stale, .mode = 0600});
    EXPECT_EQ(s.open(), "");
    ASSERT_EQ(stat(stale.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  EXPECT_FALSE(std::filesystem::exists(stale));  // removed at stop
  const std::string regular = (d.p / "file").string();
  { std::ofstream(regular) << "x"; }
  ControlServer s2(*r.plane, {}, {.path = regular});
  EXPECT_NE(s2.open().find("is not a socket"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(regular));
  ControlServer s3(*r.plane, {}, {.path = (d.p / "x.sock").string(), .group = "no-such-group-tp"});
  EXPECT_NE(s3.open().find("no group named"), std::string::npos);
  ControlServer s4(*r.plane, {}, {.path = "/tmp/" + std::string(200, 'p')});
  EXPECT_NE(s4.open().find("too long"), std::string::npos);
}

namespace {
// connect() to `path` as user nobody in a forked child; its errno (0: connected).
int connect_as_nobody(const std::string& path) {
  const passwd* pw = getpwnam("nobody");
  if (!pw) return -1;
  int p[2];
  if (pipe(p) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    int e = 0;
    if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) e = 999;
    else {
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un a{};
      a.sun_family = AF_UNIX;
      std::memcpy(a.sun_path, path.data(), path.size());
      e = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
    }
    [[maybe_unused]] ssize_t w = write(p[1], &e, sizeof e);
    _exit(0);
  }
  int e = -1;
  if (read(p[0], &e, sizeof e) != sizeof e) e = -1;
  waitpid(pid, nullptr, 0);
  close(p[0]);
  close(p[1]);
  return e;
}
}  // namespace

TEST(ControlSocket, AUserOutsideTheGroupCannotConnect) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (setuid to nobody)";
  ControlOptions o;
  o.group = "root";  // nobody is not a member
  Rig r(o);
  // Only the socket's own mode may decide: the directories are open.
  chmod(r.dir.p.c_str(), 0755);
  chmod((r.dir.p / "run").c_str(), 0755);
  struct stat st{};
  ASSERT_EQ(stat(r.rw.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, 0u);
  EXPECT_EQ(connect_as_nobody(r.rw), EACCES);
  EXPECT_EQ(connect_as_nobody(r.ro), EACCES);
  // The same socket opened to others: nobody connects (the check above is
  // the socket's mode, not something else in the way).
  chmod(r.rw.c_str(), 0666);
  EXPECT_EQ(connect_as_nobody(r.rw), 0);
}

// Random bytes through the same sessions as the socket: never a crash or
// a change (the fuzz target fuzz_control_socket does this at length).
TEST(ControlSocket, RandomLinesChangeNothing) {
  Rig r({}, false);
  const int ro = r.srv->open_session(true, "fuzz");
  std::mt19937 rng(12345);
  const char* seeds[] = {"xConfiguration", "xStatus", "xCommand Certificate", "xCommand Events Tail Lines:", "help",
                         "Format: json", "\"", "Mode: ", "--json", ":"};
  const auto* before = r.plane->publisher().load();
  for (int i = 0; i < 3000; ++i) {
    std::string line;
    const int parts = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < parts; ++k) {
      if (rng() % 3) line += seeds[rng() % 10];
      else
        for (int b = 0, n = static_cast<int>(rng() % 8); b < n; ++b) line += static_cast<char>(rng() % 256);
      line += ' ';
    }
    const Reply rep = r.srv->execute(ro, line);
    const std::string f = rep.frame();
    ASSERT_TRUE(f.size() >= 3 && f.back() == '\n');
  }
  r.srv->close_session(ro);
  EXPECT_EQ(r.plane->publisher().load(), before);
}

// Issue 11: xStatus EkuWouldFail lists what the control loop recorded;
// xCommand Audit names the peer; Audit WhatIf compares a mode or another
// session's staged transaction and changes nothing.
TEST(ControlSocket, EkuWouldFailStatusAuditAndWhatIf) {
  Rig r({}, false);
  const int s = r.srv->open_session(false, "admin");
  const int ro = r.srv->open_session(true, "monitor");
  auto has = [](const Reply& rep, std::string_view needle) {
    for (const auto& l : rep.lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(has(r.srv->execute(ro, "xStatus EkuWouldFail"), "*s xStatus EkuWouldFail Peers: 0"));

  const CertFacts f = turnpike::testing::pki_facts("server");
  WouldFailSighting w;
  w.fp = f.sha256;
  w.subject = f.subject;
  w.issuer = f.issuer;
  w.src_ip = "198.18.0.2";
  w.src_port = 40001;
  w.dst_ip = "198.18.0.1";
  w.dst_port = 5061;
  w.time = 1767225600;
  EXPECT_TRUE(r.plane->would_fail().note(w));
  w.src_port = 40002;
  w.time += 5;
  EXPECT_FALSE(r.plane->would_fail().note(w));  // same fingerprint, same hour: no second event
  const Reply st = r.srv->execute(ro, "xStatus EkuWouldFail");
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peers: 1"));
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peer 1 Fingerprint: " + fingerprint_hex(f.sha256)));
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peer 1 Subject: CN=server.test"));
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peer 1 LastSource: 198.18.0.2:40002"));
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peer 1 LastSeen: 2026-01-01 00:00:05 UTC"));
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peer 1 Count: 2"));
  const Reply sj = r.srv->execute(ro, "xStatus EkuWouldFail --json");
  std::string js;
  for (const auto& l : sj.lines) js += l + "\n";
  auto j = nlohmann::json::parse(js);
  EXPECT_EQ(j["EkuWouldFail"]["Peer"]["1"]["Count"], 2);
  EXPECT_EQ(j["EkuWouldFail"]["Peer"]["1"]["Issuer"], f.issuer);

  // The audit (mode On here): the peer is refused now.
  EXPECT_TRUE(has(r.srv->execute(ro, "xCommand Audit"), "peer-serverauth-only-refused: Inbound peer CN=server.test"));
  // What-if: needs a mode or a transaction; Off accepts the peer, On refuses it.
  EXPECT_NE(r.srv->execute(ro, "xCommand Audit WhatIf").error, "");
  EXPECT_NE(r.srv->execute(ro, "xCommand Audit WhatIf Mode: Maybe").error, "");
  EXPECT_NE(r.srv->execute(ro, "xCommand Audit WhatIf Store: Client").error, "");
  EXPECT_TRUE(has(r.srv->execute(ro, "xCommand Audit WhatIf Mode: Off"), "Would fail: 0"));
  const Reply on = r.srv->execute(ro, "xCommand Audit WhatIf Mode: On");
  EXPECT_EQ(on.error, "");
  EXPECT_TRUE(has(on, "Would fail: 1"));
  EXPECT_TRUE(has(on, "[error] would-fail-peer: would fail: inbound peer CN=server.test"));

  // Issue 11 item 4: the same peer refused in mode On is its own row,
  // flagged, and named in the audit; mode Off would accept it.
  EXPECT_TRUE(has(r.srv->execute(ro, "xStatus EkuWouldFail"), "*s xStatus EkuWouldFail Peer 1 Refused: No"));
  w.refused = true;
  w.src_port = 40003;
  w.time += 5;
  EXPECT_FALSE(r.plane->would_fail().note(w));  // never an event of its own
  const Reply st2 = r.srv->execute(ro, "xStatus EkuWouldFail");
  EXPECT_TRUE(has(st2, "*s xStatus EkuWouldFail Peers: 2"));
  EXPECT_TRUE(has(st2, "*s xStatus EkuWouldFail RefusedHandshakes: 1"));
  EXPECT_TRUE(has(st2, "*s xStatus EkuWouldFail Peer 1 Refused: Yes"));
  EXPECT_TRUE(has(st2, "*s xStatus EkuWouldFail Peer 1 LastSource: 198.18.0.2:40003"));
  EXPECT_TRUE(has(st2, "*s xStatus EkuWouldFail Peer 2 Refused: No"));
  EXPECT_TRUE(has(r.srv->execute(ro, "xCommand Audit"),
                  "[error] peer-refused: Inbound peer CN=server.test"));
  EXPECT_TRUE(has(r.srv->execute(ro, "xCommand Audit"), "is refused now in mode On: serverAuth-only certificate"));
  EXPECT_TRUE(has(r.srv->execute(ro, "xCommand Audit WhatIf Mode: Off"), "Would fail: 0"));
  EXPECT_TRUE(has(r.srv->execute(ro, "xCommand Audit WhatIf Mode: On"), "Would fail: 2"));

  // Another session's staged transaction: the public server certificate
  // copied into the client store (scenario 3 -> 4), read from the monitor.
  const Reply up = r.srv->execute(s, "xCommand Certificate Upload Store: Server Certificate: " + pki("server-chain.pem") +
                                         " Key: " + pki("server.key") + " AsClient: Yes");
  ASSERT_EQ(up.error, "");
  const auto* before = r.plane->publisher().load();
  const Reply staged = r.srv->execute(ro, "xCommand Audit WhatIf");
  EXPECT_EQ(staged.error, "");
  EXPECT_TRUE(has(staged, "the staged transaction (admin"));
  EXPECT_TRUE(has(staged, "scenario 3 -> 4"));
  const Reply staged_off = r.srv->execute(ro, "xCommand Audit WhatIf Mode: Off --json");
  std::string sjs;
  for (const auto& l : staged_off.lines) sjs += l + "\n";
  auto wj = nlohmann::json::parse(sjs);
  EXPECT_EQ(wj["eku_mode"]["then"], "Off");
  EXPECT_EQ(wj["scenario"]["then"], "4");
  EXPECT_EQ(wj["would_fail"], 0);
  EXPECT_TRUE(r.srv->transaction_open());  // reading it changed nothing
  EXPECT_EQ(r.plane->publisher().load(), before);
  EXPECT_EQ(r.srv->execute(s, "xCommand Certificate Abort").error, "");
  r.srv->close_session(s);
  r.srv->close_session(ro);
}

// Issue 13 item 4: an IPv6 peer's source and listener are shown as
// "[addr]:port" (RFC 5952 §6), in xStatus and in the audit's peer text.
TEST(ControlSocket, EkuWouldFailIpv6PeerIsBracketed) {
  Rig r({}, false);
  const int ro = r.srv->open_session(true, "monitor");
  auto has = [](const Reply& rep, std::string_view needle) {
    for (const auto& l : rep.lines)
      if (l.find(needle) != std::string::npos) return true;
    return false;
  };
  const CertFacts f = turnpike::testing::pki_facts("server");
  WouldFailSighting w;
  w.fp = f.sha256;
  w.subject = f.subject;
  w.issuer = f.issuer;
  w.src_ip = "2001:db8::2";
  w.src_port = 40004;
  w.dst_ip = "2001:db8::1";
  w.dst_port = 5061;
  w.time = 1767225600;
  EXPECT_TRUE(r.plane->would_fail().note(w));
  const Reply st = r.srv->execute(ro, "xStatus EkuWouldFail");
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peer 1 LastSource: [2001:db8::2]:40004"));
  EXPECT_TRUE(has(st, "*s xStatus EkuWouldFail Peer 1 Listener: [2001:db8::1]:5061"));
  EXPECT_TRUE(has(r.srv->execute(ro, "xCommand Audit"), "last from [2001:db8::2]:40004 at"));
}
