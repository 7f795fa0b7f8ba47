// NSS key log (SSLKEYLOGFILE format) for the diagnostics snapshot's
// decrypted view: workers append lines for the sessions of one listener
// while a snapshot with KeyLog: On runs; the control thread reads them
// after the window (and a grace period) into keylog_<host>_<time>.txt.
//
// One process-wide buffer that is never freed: a session armed during a
// window may finish its handshake after it, and must never write into
// freed memory (its line is then dropped: the log is inactive).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace turnpike::tls {

class KeyLog {
 public:
  static constexpr std::size_t kCapacity = 1 << 20;
  static KeyLog& instance();

  // Control thread.
  void begin();               // clears the buffer, then activates (release)
  void end();                 // deactivates; read after a grace period
  std::string contents() const;  // the lines written (complete lines only)
  std::uint64_t lines() const { return lines_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  // Workers: never block, never allocate. "LABEL <client_random hex> <secret hex>\n".
  void append(std::string_view label, std::span<const std::uint8_t> client_random,
              std::span<const std::uint8_t> secret) noexcept;

 private:
  KeyLog();
  std::unique_ptr<char[]> buf_;
  // acquire on the worker's check pairs with begin()'s release: the cleared
  // buffer is visible before the first line is written into it.
  std::atomic<bool> active_{false};
  std::atomic<std::size_t> used_{0};  // bytes reserved (fetch_add: many writers)
  std::atomic<std::uint64_t> lines_{0}, dropped_{0};
};

}  // namespace turnpike::tls
