// A change to the stores (server, client, trust, EKU mode), staged on a
// copy of the current snapshot, checked (docs/eku-semantics.md, "Uploading
// certificates"), then committed through the StoreManager or aborted. A
// refused step leaves the staged state untouched. Begun by
// StoreManager::begin() (store.hpp).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "turnpike/control/store.hpp"

namespace turnpike::control {

struct UploadOptions {
  std::string passphrase;     // for an encrypted private key
  bool also_as_client = false;  // server upload: copy into the client store too
  std::string source = "api";   // who changed it (events)
  int64_t now = 0;              // Unix seconds; 0 = the current time
};

class Transaction {
 public:
  StageResult stage_server(std::string_view cert, std::string_view key, const UploadOptions& o = {});
  StageResult stage_client(std::string_view cert, std::string_view key, const UploadOptions& o = {});
  StageResult set_ca_bundle(std::string_view pem);
  StageResult add_crl(std::string_view name, std::string_view content);
  StageResult remove_crl(std::string_view name);
  void set_eku_mode(EkuMode m);
  void set_source(std::string s) { source_ = std::move(s); }

  // Checks the whole staged state (chains against the staged trust store).
  StageResult validate() const;
  // Writes and publishes the staged state. Fails (changing nothing) if the
  // stores changed since begin() or the disk write fails.
  Result<std::shared_ptr<const StoreSnapshot>> commit();
  using BeforeWrite = control::BeforeWrite;  // store.hpp
  Result<std::shared_ptr<const StoreSnapshot>> commit(const BeforeWrite& before_write);
  void abort();
  bool dirty() const { return dirty_; }
  const StoreSnapshot& staged() const { return *staged_; }

 private:
  friend class StoreManager;
  Transaction(StoreManager* m, std::shared_ptr<const StoreSnapshot> base);
  StageResult stage(StoreKind kind, std::string_view cert, std::string_view key, const UploadOptions& o);
  StageResult refuse_trust(std::string msg);  // refusal + event

  StoreManager* mgr_;
  std::shared_ptr<const StoreSnapshot> base_;
  std::shared_ptr<StoreSnapshot> staged_;
  std::string source_ = "api";
  bool dirty_ = false;
  bool trust_changed_ = false;
  bool done_ = false;
};

}  // namespace turnpike::control
