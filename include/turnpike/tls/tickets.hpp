// Session ticket keys (tickets.cpp; the ticket callback that uses them is
// Session::ticket_cb, also in tickets.cpp).
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace turnpike::tls {

// Session ticket keys, shared by every worker's server contexts (RFC 5077
// for TLS 1.2 tickets, RFC 8446 §4.6.1 for TLS 1.3 PSK tickets). The first
// key encrypts new tickets; the previous ones still decrypt, so tickets
// survive a rotation. Readers (handshakes, any thread) are lock-free: a
// seqlock over relaxed atomic words, nothing shared is written. Writers
// (rotate, load) run on the control thread.
//
// Ticket protection: ChaCha20 (RFC 8439) over the wolfSSL ticket plus 32
// bytes of turnpike binding, then HMAC-SHA256 over key name || IV ||
// length || ciphertext (encrypt-then-MAC). IV: 16 random bytes, the first
// 12 are the ChaCha20 nonce.
//
// Key file format (load / load_file): UTF-8 text, one key per line, each
// line the standard base64 (RFC 4648 §4, with padding) of exactly 80 bytes:
//   bytes  0..15  key name (sent in clear in every ticket; unique, not all
//                 zero bytes)
//   bytes 16..47  ChaCha20 encryption key
//   bytes 48..79  HMAC-SHA256 key
// The first key line encrypts new tickets; the following lines only decrypt
// (at most kMaxKeys lines). Blank lines and lines starting with '#' are
// ignored; spaces around a key are ignored. Errors name the line, e.g.
// "line 3: not 80 bytes of base64". Generate a line with
//   head -c 80 /dev/urandom | base64 -w0
// Every node sharing the file accepts every other node's tickets. A loaded
// file turns off automatic rotation: the operator rotates by putting a new
// line first and reloading on every node.
class TicketKeys {
 public:
  static constexpr std::size_t kNameBytes = 16;
  static constexpr std::size_t kSecretBytes = 32;
  static constexpr std::size_t kKeyBytes = kNameBytes + 2 * kSecretBytes;  // 80
  static constexpr std::size_t kMaxKeys = 8;

  struct Key {
    std::array<std::uint8_t, kNameBytes> name{};
    std::array<std::uint8_t, kSecretBytes> enc{};
    std::array<std::uint8_t, kSecretBytes> mac{};
  };

  // period_s: how long a generated key encrypts before rotate() replaces it;
  // keep: how many previous keys still decrypt (capped at kMaxKeys - 1).
  // Starts with one random key; its period starts at the first rotate().
  explicit TicketKeys(std::int64_t period_s = 12 * 3600, unsigned keep = 2);
  TicketKeys(const TicketKeys&) = delete;
  TicketKeys& operator=(const TicketKeys&) = delete;

  // Control thread. A new random key when the current one is older than
  // the period (a first call only stamps the current key with now); older
  // keys beyond `keep` are dropped. No-op while keys come from a file.
  // Returns true when it rotated.
  bool rotate(std::int64_t now);
  // Rotates unconditionally (also after a file load; the file's keys then
  // age out like generated ones).
  void rotate_now(std::int64_t now);
  // Replaces all keys with the file's (format above). On error nothing
  // changes and the error is returned ("line N: ..."); "" on success.
  std::string load(std::string_view text);
  std::string load_file(const std::string& path);
  bool from_file() const { return from_file_.load(std::memory_order_relaxed); }
  std::size_t size() const;

  // Handshake path, any thread, lock-free.
  bool current(Key& out) const;
  // 0: no key of that name; 1: the current key; 2: a previous key.
  int find(const std::uint8_t* name, Key& out) const;

 private:
  static constexpr std::size_t kWords = kKeyBytes / 8;  // 10
  void publish(const std::vector<Key>& keys);           // writer_ held
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::uint32_t> count_{0};
  std::array<std::array<std::atomic<std::uint64_t>, kWords>, kMaxKeys> words_{};
  mutable std::mutex writer_;
  std::vector<Key> keys_;  // writer's copy (writer_)
  std::int64_t born_ = -1;  // birth of the current generated key; -1: unstamped
  std::int64_t period_;
  unsigned keep_;
  std::atomic<bool> from_file_{false};
};

}  // namespace turnpike::tls
