// Store manager: persistence (generations + atomic `current` link), load,
// legacy migration, commit and events. Upload validation is in transaction.cpp.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "turnpike/control/store.hpp"
#include "turnpike/control/trust.hpp"

namespace turnpike::control {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kManifestMagic = "turnpike-store 1";
// Fixed names linked from the top of the store directory.
constexpr const char* kLinkedNames[] = {"server.pem", "privkey.pem", "client.pem", "clientprivkey.pem", "ca.pem"};

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

bool fsync_path(const fs::path& p, bool dir) {
  int fd = ::open(p.c_str(), (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

// Writes a whole file and fsyncs it (the caller fsyncs the directory).
std::string write_durable(const fs::path& p, std::string_view data, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return errno_text("open " + p.string());
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::string e = errno_text("write " + p.string());
      ::close(fd);
      return e;
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string e = errno_text("fsync " + p.string());
    ::close(fd);
    return e;
  }
  ::close(fd);
  return {};
}

std::optional<std::string> read_all(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string s;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return s;
}

std::string hex_sha256(std::string_view s) {
  return to_hex(sha256({reinterpret_cast<const uint8_t*>(s.data()), s.size()}));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "key = value" lines; '#' starts a comment line.
std::vector<std::pair<std::string, std::string>> parse_settings(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    std::string_view l = trim(line);
    if (l.empty() || l[0] == '#') continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(std::string(trim(l.substr(0, eq))), std::string(trim(l.substr(eq + 1))));
  }
  return out;
}

std::string gen_name(uint64_t g) {
  char b[32];
  std::snprintf(b, sizeof b, "gen-%06llu", static_cast<unsigned long long>(g));
  return b;
}

std::string serial_or_none(const StoredCert& c) { return c.present() ? c.leaf.serial_hex : "none"; }
std::string fp_or_none(const StoredCert& c) { return c.present() ? fingerprint_hex(c.leaf.sha256) : "none"; }

}  // namespace

std::string_view to_string(StoreKind k) { return k == StoreKind::Server ? "server" : "client"; }

bool StoreSnapshot::same_content(const StoreSnapshot& o) const {
  return eku_mode == o.eku_mode && server == o.server && client == o.client && ca_pem == o.ca_pem && crls == o.crls;
}

std::string StoreSnapshot::pem(std::string_view which) const {
  if (which == "server") return server.chain_pem;
  if (which == "client") return client.chain_pem;
  if (which == "ca") return ca_pem;
  return {};
}

std::string diagnostic_file_name(std::string_view kind, std::string_view host, int64_t t, std::string_view ext) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char ts[32];
  strftime(ts, sizeof ts, "%Y-%m-%d_%H_%M_%S", &tm);
  return std::string(kind) + "_" + std::string(host) + "_" + ts + "." + std::string(ext);
}

std::string write_pem_dumps(const StoreSnapshot& s, const fs::path& outdir, std::string_view host, int64_t t) {
  for (const char* kind : {"ca", "client", "server"}) {
    fs::path p = outdir / diagnostic_file_name(kind, host, t, "pem");
    if (std::string e = write_durable(p, s.pem(kind), 0644); !e.empty()) return e;
  }
  return {};
}

Result<StoredCert> parse_stored_cert(std::string_view chain_pem, std::string_view key_pem) {
  using R = Result<StoredCert>;
  StoredCert c;
  auto ders = pem_certs_to_der(chain_pem);
  if (!ders) return R::fail(ders.error);
  auto facts = extract_facts((*ders)[0]);
  if (!facts) return R::fail(facts.error);
  KeyLoad k = load_private_key(key_pem);
  if (!k.key) return R::fail(k.message);
  if (!key_matches_cert(*k.key, (*ders)[0])) return R::fail("the private key does not match the certificate");
  c.chain_pem = std::string(chain_pem);
  c.key_pem = std::string(key_pem);
  c.chain_der = std::move(*ders);
  c.leaf = std::move(*facts);
  return R{std::move(c), {}};
}

// ---------------------------------------------------------------------------
StoreManager::StoreManager(Options o) : opts_(std::move(o)) { ensure_wolfssl(); }

std::shared_ptr<const StoreSnapshot> StoreManager::snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return current_;
}

Transaction StoreManager::begin() { return Transaction(this, snapshot()); }

std::vector<std::string> StoreManager::recent_events() const {
  std::lock_guard<std::mutex> l(mu_);
  return events_;
}

void StoreManager::emit(const EventLine& e) {
  std::string line = format_event(e);
  if (opts_.events) opts_.events->submit(e.kind, {}, line);
  if (opts_.on_event) opts_.on_event(line);
  if (events_.size() >= 256) events_.erase(events_.begin());
  events_.push_back(std::move(line));
}

std::string StoreManager::write_generation(const StoreSnapshot& s) {
  const fs::path& dir = opts_.dir;
  const std::string name = gen_name(s.generation);
  const fs::path tmp = dir / (name + ".tmp");
  const fs::path final_dir = dir / name;
  std::error_code ec;
  if (fs::read_symlink(dir / "current", ec) == name) return "generation " + name + " is current (store tampered?)";
  fs::remove_all(tmp, ec);
  fs::remove_all(final_dir, ec);  // leftover of a crashed commit: never `current`
  if (!fs::create_directory(tmp, ec)) return "mkdir " + tmp.string() + ": " + ec.message();

  std::vector<std::pair<std::string, const std::string*>> files;
  std::string settings = std::string("eku_mode = ") + (s.eku_mode == EkuMode::On ? "on" : "off") + "\n";
  if (s.server.present()) {
    files.emplace_back("server.pem", &s.server.chain_pem);
    files.emplace_back("privkey.pem", &s.server.key_pem);
  }
  if (s.client.present()) {
    files.emplace_back("client.pem", &s.client.chain_pem);
    files.emplace_back("clientprivkey.pem", &s.client.key_pem);
  }
  if (!s.ca_pem.empty()) files.emplace_back("ca.pem", &s.ca_pem);
  for (const auto& [n, data] : s.crls) files.emplace_back(n, &data);
  files.emplace_back("settings.conf", &settings);

  std::string manifest = std::string(kManifestMagic) + "\ngeneration " + std::to_string(s.generation) +
                         "\ntrust_epoch " + std::to_string(s.trust_epoch) + "\n";
  for (const auto& [n, data] : files) {
    bool secret = n.find("privkey") != std::string::npos;
    if (std::string e = write_durable(tmp / n, *data, secret ? 0600 : 0644); !e.empty()) return e;
    manifest += "file " + n + " " + hex_sha256(*data) + "\n";
  }
  // The manifest is written last: a generation without one is incomplete.
  if (std::string e = write_durable(tmp / "MANIFEST", manifest, 0644); !e.empty()) return e;
  if (!fsync_path(tmp, true)) return errno_text("fsync " + tmp.string());
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) return errno_text("rename " + tmp.string());
  if (!fsync_path(dir, true)) return errno_text("fsync " + dir.string());

  // The commit point: one rename(2) of a symlink replaces `current`.
  const fs::path link_tmp = dir / "current.tmp";
  ::unlink(link_tmp.c_str());
  if (::symlink(name.c_str(), link_tmp.c_str()) != 0) return errno_text("symlink " + link_tmp.string());
  if (::rename(link_tmp.c_str(), (dir / "current").c_str()) != 0) return errno_text("rename current");
  if (!fsync_path(dir, true)) return errno_text("fsync " + dir.string());
  ensure_links();
  cleanup_generations(name);
  return {};
}

Result<StoreSnapshot> StoreManager::read_generation(const fs::path& gen) const {
  using R = Result<StoreSnapshot>;
  auto manifest = read_all(gen / "MANIFEST");
  if (!manifest) return R::fail("store generation " + gen.string() + " has no MANIFEST");
  StoreSnapshot s;
  std::map<std::string, std::string> files;
  std::istringstream in(*manifest);
  std::string line;
  if (!std::getline(in, line) || line != kManifestMagic) return R::fail("bad MANIFEST in " + gen.string());
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string word;
    l >> word;
    if (word == "generation") {
      l >> s.generation;
    } else if (word == "trust_epoch") {
      l >> s.trust_epoch;
    } else if (word == "file") {
      std::string name, hash;
      l >> name >> hash;
      auto data = read_all(gen / name);
      if (!data) return R::fail("missing " + name + " in " + gen.string());
      if (hex_sha256(*data) != hash) return R::fail("checksum mismatch for " + name + " in " + gen.string());
      files[name] = std::move(*data);
    }
  }
  for (const auto& [k, v] : parse_settings(files["settings.conf"]))
    if (k == "eku_mode") parse_eku_mode(v, s.eku_mode);
  if (files.count("server.pem")) {
    auto c = parse_stored_cert(files["server.pem"], files["privkey.pem"]);
    if (!c) return R::fail("server store: " + c.error);
    s.server = std::move(*c);
  }
  if (files.count("client.pem")) {
    auto c = parse_stored_cert(files["client.pem"], files["clientprivkey.pem"]);
    if (!c) return R::fail("client store: " + c.error);
    s.client = std::move(*c);
  }
  if (files.count("ca.pem")) {
    s.ca_pem = files["ca.pem"];
    auto ders = pem_certs_to_der(s.ca_pem);
    if (!ders) return R::fail("ca.pem: " + ders.error);
    for (auto& d : *ders) {
      auto f = extract_facts(d);
      if (!f) return R::fail("ca.pem: " + f.error);
      s.ca_facts.push_back(std::move(*f));
    }
    s.ca_der = std::move(*ders);
  }
  for (auto& [n, data] : files)
    if (n.size() > 4 && n.compare(n.size() - 4, 4, ".crl") == 0) s.crls[n] = data;
  return R{std::move(s), {}};
}

void StoreManager::ensure_links() {
  // Top-level names point through `current`, so they never need rewriting
  // after a commit. Replacing a legacy regular file is one rename(2).
  for (const char* n : kLinkedNames) {
    fs::path p = opts_.dir / n;
    std::string target = std::string("current/") + n;
    std::error_code ec;
    auto st = fs::symlink_status(p, ec);
    if (fs::is_symlink(st) && fs::read_symlink(p, ec) == target) continue;
    if (fs::is_regular_file(st) && read_all(p) != read_all(opts_.dir / target)) {
      // A file put here by hand (not a leftover of our migration): keep it
      // aside instead of silently replacing it, and say so.
      fs::path aside = opts_.dir / (std::string(n) + ".ignored");
      ::rename(p.c_str(), aside.c_str());
      emit({kEventFileIgnored,
            {{"File", n}, {"Reason", "file changed outside turnpike; kept as " + aside.filename().string()},
             {"Source", "filesystem"}}});
    }
    fs::path tmp = opts_.dir / (std::string(n) + ".link.tmp");
    ::unlink(tmp.c_str());
    if (::symlink(target.c_str(), tmp.c_str()) == 0) ::rename(tmp.c_str(), p.c_str());
  }
  fsync_path(opts_.dir, true);
}

void StoreManager::cleanup_generations(const std::string& keep) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(opts_.dir, ec)) {
    std::string n = e.path().filename().string();
    if (n.rfind("gen-", 0) == 0 && n != keep) fs::remove_all(e.path(), ec);
  }
  ::unlink((opts_.dir / "current.tmp").c_str());
}

std::string StoreManager::migrate_legacy() {
  const fs::path& dir = opts_.dir;
  StoreSnapshot s;
  s.generation = 1;
  auto server = read_all(dir / "server.pem");
  auto key = read_all(dir / "privkey.pem");
  bool legacy = server && key && !fs::exists(dir / "client.pem");
  if (server && key) {
    auto c = parse_stored_cert(*server, *key);
    if (!c) return "legacy server store: " + c.error;
    s.server = std::move(*c);
  }
  if (auto cc = read_all(dir / "client.pem")) {
    auto ck = read_all(dir / "clientprivkey.pem");
    auto c = parse_stored_cert(*cc, ck ? *ck : std::string());
    if (!c) return "client store: " + c.error;
    s.client = std::move(*c);
  } else if (legacy) {
    s.client = s.server;  // single store: both roles present the same certificate
  }
  if (auto ca = read_all(dir / "ca.pem")) {
    s.ca_pem = *ca;
    if (auto d = pem_certs_to_der(s.ca_pem)) {
      s.ca_der = std::move(*d);
      for (auto& der : s.ca_der)
        if (auto f = extract_facts(der)) s.ca_facts.push_back(std::move(*f));
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (e.is_regular_file() && n.size() > 4 && n.compare(n.size() - 4, 4, ".crl") == 0)
      if (auto d = read_all(e.path())) s.crls[n] = *d;
  }
  bool deprecated = false;
  if (auto st = read_all(dir / "settings.conf")) {
    for (const auto& [k, v] : parse_settings(*st)) {
      if (k == "eku_mode" || k == kEkuModeSetting) parse_eku_mode(v, s.eku_mode);
      if (k == kLegacyEkuUploadSetting) deprecated = true;
    }
  }
  if (std::string e = write_generation(s); !e.empty()) return e;
  current_ = std::make_shared<const StoreSnapshot>(std::move(s));
  if (legacy) {
    emit({kEventMigration,
          {{"From", "single store"},
           {"Detail", "copied server.pem/privkey.pem to client.pem/clientprivkey.pem"},
           {"Serial", serial_or_none(current_->server)},
           {"Fingerprint", fp_or_none(current_->server)}}});
  }
  if (deprecated)
    emit({kEventDeprecatedSetting, {{"Setting", std::string(kLegacyEkuUploadSetting)}, {"Detail", "deprecated and ignored"}}});
  return {};
}

std::string StoreManager::load() {
  std::lock_guard<std::mutex> l(mu_);
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  if (ec) return "cannot create " + opts_.dir.string() + ": " + ec.message();
  fs::path cur = opts_.dir / "current";
  if (fs::is_symlink(fs::symlink_status(cur, ec))) {
    auto s = read_generation(cur);
    if (!s) return s.error;
    current_ = std::make_shared<const StoreSnapshot>(std::move(*s));
    ensure_links();  // finishes a migration interrupted after its commit
    cleanup_generations(fs::read_symlink(cur, ec).string());
    return {};
  }
  // First start: migrate whatever is there (a legacy single store, loose
  // files) or start empty.
  return migrate_legacy();
}

StageResult StoreManager::apply_setting(std::string_view key, std::string_view value, std::string_view source) {
  StageResult r;
  if (key == kLegacyEkuUploadSetting) {
    std::lock_guard<std::mutex> l(mu_);
    emit({kEventDeprecatedSetting,
          {{"Setting", std::string(key)}, {"Value", std::string(value)}, {"Detail", "deprecated and ignored"},
           {"Source", std::string(source)}}});
    r.warnings.push_back(std::string(key) + " is deprecated and ignored");
    return r;
  }
  if (key == kEkuModeSetting || key == "eku_mode") {
    EkuMode m;
    if (!parse_eku_mode(value, m)) return {false, "invalid value for " + std::string(key) + ": expected On or Off", {}};
    Transaction t = begin();
    t.set_source(std::string(source));
    t.set_eku_mode(m);
    auto c = t.commit();
    if (!c) return {false, c.error, {}};
    return r;
  }
  return {false, "unknown setting " + std::string(key), {}};
}

Result<std::shared_ptr<const StoreSnapshot>> StoreManager::commit(const Transaction& t, const BeforeWrite& hook) {
  using R = Result<std::shared_ptr<const StoreSnapshot>>;
  std::lock_guard<std::mutex> l(mu_);
  if (!current_) return R::fail("stores not loaded");
  if (current_->generation != t.base_->generation)
    return R::fail("conflict: the stores changed since this transaction began");
  if (!t.dirty_) return R{current_, {}};
  auto next = std::make_shared<StoreSnapshot>(*t.staged_);
  next->generation = current_->generation + 1;
  next->trust_epoch = current_->trust_epoch + (t.trust_changed_ ? 1 : 0);
  if (hook)
    if (std::string e = hook(next); !e.empty()) return R::fail("commit refused, nothing changed: " + e);
  if (std::string e = write_generation(*next); !e.empty()) return R::fail("commit failed, nothing changed: " + e);
  std::shared_ptr<const StoreSnapshot> old = current_;
  current_ = next;

  auto store_event = [&](std::string_view store, const StoredCert& a, const StoredCert& b) {
    if (a == b) return;
    emit({kEventStoreCommit,
          {{"Store", std::string(store)},
           {"Old-serial", serial_or_none(a)},
           {"Old-fingerprint", fp_or_none(a)},
           {"New-serial", serial_or_none(b)},
           {"New-fingerprint", fp_or_none(b)},
           {"Generation", std::to_string(next->generation)},
           {"Source", t.source_}}});
  };
  store_event("server", old->server, next->server);
  store_event("client", old->client, next->client);
  if (t.trust_changed_)
    emit({kEventStoreCommit,
          {{"Store", "trust"},
           {"CA-count", std::to_string(next->ca_der.size())},
           {"CRL-count", std::to_string(next->crls.size())},
           {"Trust-epoch", std::to_string(next->trust_epoch)},
           {"Generation", std::to_string(next->generation)},
           {"Source", t.source_}}});
  if (old->eku_mode != next->eku_mode)
    emit({kEventModeChange,
          {{"Setting", std::string(kEkuModeSetting)},
           {"Old", std::string(to_string(old->eku_mode))},
           {"New", std::string(to_string(next->eku_mode))},
           {"Source", t.source_}}});
  return R{current_, {}};
}

}  // namespace turnpike::control
