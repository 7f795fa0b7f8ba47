#include "turnpike/control/plane.hpp"

namespace turnpike::control {

namespace {
constexpr std::string_view kEventPublished = "Dataplane Snapshot Published";
constexpr std::string_view kEventRefused = "Configuration Change Refused";
}  // namespace

Plane::Plane(Options o, TlsSettings s, Grace& g) : opts_(std::move(o)), settings_(std::move(s)), pub_(g) {
  StoreManager::Options so;
  so.dir = opts_.stores_dir;
  so.events = opts_.events;
  so.on_event = opts_.on_event;
  stores_ = std::make_unique<StoreManager>(so);
  cache_ = std::make_unique<VerdictCache>(opts_.verdict_cache_entries);
}

Plane::~Plane() = default;

std::shared_ptr<tls::TicketKeys> Plane::tickets() const {
  auto cur = pub_.current_shared();
  return cur ? cur->tickets : nullptr;
}

void Plane::emit(const EventLine& e) { stores_->event(e); }

std::string Plane::start() {
  if (std::string err = stores_->load(); !err.empty()) return err;
  if (!opts_.eku_mode.empty()) {
    // "SIP TLS Certificate ExtendedKeyUsage Checking Mode" from the config.
    auto r = stores_->apply_setting("eku_mode", opts_.eku_mode, "config");
    if (!r.ok) return r.error;
  }
  Change c;
  c.source = "start-up";
  ApplyResult r = apply(c);
  return r.ok ? std::string{} : r.error;
}

ApplyResult Plane::apply(const Change& c) {
  std::lock_guard<std::mutex> g(apply_mu_);
  const auto t0 = std::chrono::steady_clock::now();
  const TlsSettings& settings = c.settings ? *c.settings : settings_;
  auto refuse = [&](std::string why) {
    ApplyResult r;
    r.ok = false;
    r.error = std::move(why);
    emit({kEventRefused, {{"Detail", r.error}, {"Source", c.source}}, 2});
    return r;
  };
  if (c.reread_stores)
    if (std::string e = stores_->load(); !e.empty()) return refuse("stores: " + e);
  auto next = std::make_unique<DataplaneSnapshot>();
  const auto tickets_now = tickets();
  if (c.stores && c.stores->dirty()) {
    // Build from the staged stores before anything is written: a store the
    // data plane cannot use never reaches the disk.
    c.stores->set_source(c.source);
    auto committed = c.stores->commit([&](const std::shared_ptr<const StoreSnapshot>& staged) {
      return build_snapshot(settings, staged, *stores_, cache_.get(), tickets_now, *next);
    });
    if (!committed) return refuse(committed.error);
  } else {
    if (c.stores) c.stores->abort();  // nothing staged
    if (std::string e = build_snapshot(settings, stores_->snapshot(), *stores_, cache_.get(), tickets_now, *next);
        !e.empty())
      return refuse(e);
  }
  if (c.settings) settings_ = *c.settings;
  return publish_built(std::move(next), t0);
}

ApplyResult Plane::publish_built(std::unique_ptr<DataplaneSnapshot> next, std::chrono::steady_clock::time_point t0) {
  ApplyResult r;
  next->generation = next_generation_++;
  next->built = std::chrono::steady_clock::now();
  r.generation = next->generation;
  r.build_time = std::chrono::duration_cast<std::chrono::microseconds>(next->built - t0);
  r.warnings = next->notes;
  // Entries of older epochs become stale in the cache (victims first).
  cache_->advance_epoch(next->trust_epoch);
  const std::uint64_t store_gen = next->store_generation, epoch = next->trust_epoch;
  pub_.publish(std::move(next));
  emit({kEventPublished,
        {{"Generation", std::to_string(r.generation)},
         {"Store-generation", std::to_string(store_gen)},
         {"Trust-epoch", std::to_string(epoch)},
         {"Build-us", std::to_string(r.build_time.count())}},
        3});
  return r;
}

void Plane::tick(std::int64_t unix_now) {
  // Ticket keys age on the control thread; handshakes read them lock-free.
  if (auto t = tickets()) t->rotate(unix_now);
  pub_.reclaim();
  // The published stores: a committed renewal silences its warnings.
  if (auto cur = pub_.current_shared(); cur && cur->stores)
    for (auto& e : expiry_.check(*cur->stores, unix_now)) emit(e);
}

}  // namespace turnpike::control
