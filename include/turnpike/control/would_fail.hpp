// "Would fail" peers (issue 11 item 3): in EKU mode Off, inbound handshakes
// accepted only because the mode is Off (mode On would refuse them with
// "unsupported certificate purpose"). Workers report each one through their
// event ring (no allocation: the record is encoded into the ring's source
// field); the control thread keeps a bounded table of the peers and lets
// one event per fingerprint per hour through.
// Item 4: in mode On, an inbound peer refused for purpose ("unsupported
// certificate purpose") is reported the same way, flagged refused, so the
// audit can name it; no event is written for it (the refusal's own
// Inbound TLS Negotiation Error line already is).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "turnpike/control/certs.hpp"

namespace turnpike::control {

inline constexpr std::string_view kEventInboundEkuWouldFail = "Inbound TLS EKU Check Would Fail";
// Not an event: a worker's first verification of a remote server's
// certificate (egress, TLS backends), for the audit. Never written.
inline constexpr std::string_view kRecordRemoteCertificate = "Remote TLS Certificate Seen";

// One would-fail handshake (or one remote's certificate), as a worker saw
// it. Views: the caller's strings (encode) or the record's bytes (decode).
// For a remote, src is this edge and dst the remote.
struct WouldFailSighting {
  Fingerprint fp{};
  bool fp_partial = false;  // resumed session: only the first 16 bytes are known
  std::string_view subject, issuer;  // empty on a resumed session
  bool eku_present = false;  // the leaf's EKU (EkuBit), when known
  uint8_t eku = 0;
  std::string_view src_ip, dst_ip;
  uint16_t src_port = 0, dst_port = 0;
  int64_t time = 0;  // Unix seconds
  bool refused = false;  // mode On refused it (item 4); else accepted in mode Off
};

// Subject and issuer are cut to this many bytes in the record so that it
// always fits an EventRing cell beside the event line.
inline constexpr std::size_t kSightingNameMax = 256;
// Writes the record into buf (no allocation); returns its length, 0 if cap
// is too small.
std::size_t encode_sighting(const WouldFailSighting& s, char* buf, std::size_t cap);
// false when rec is not a record encode_sighting wrote.
bool decode_sighting(std::string_view rec, WouldFailSighting& out);

struct WouldFailPeer {
  Fingerprint fp{};
  bool fp_partial = false;
  std::string subject, issuer;
  bool eku_present = false;
  uint8_t eku = 0;
  std::string last_src_ip;
  uint16_t last_src_port = 0;
  std::string last_dst;  // the listener, "ip:port"
  int64_t first_seen = 0, last_seen = 0, last_logged = 0;
  uint64_t count = 0;
  bool refused = false;  // refused in mode On; kept apart from its mode Off sightings
};

// "AB:CD:..." or, for a partial fingerprint, its 16 bytes then ":..."
std::string peer_fingerprint_text(const WouldFailPeer& p);

// Bounded: at capacity the peer seen least recently is dropped (counted).
// Thread-safe (one mutex): fed and read by the control thread, read by
// whoever dumps status.
class WouldFailTable {
 public:
  explicit WouldFailTable(std::size_t capacity = 1024, int64_t log_interval_s = 3600);
  // Records a sighting; true when its event should be written: the first
  // sighting of the fingerprint, or log_interval since the last written.
  // A partial fingerprint joins the full one it is a prefix of. A refused
  // sighting joins only refused ones and never asks for an event.
  bool note(const WouldFailSighting& s);
  std::vector<WouldFailPeer> peers() const;  // most recently seen first
  uint64_t sightings() const;  // would-fail (accepted) handshakes
  uint64_t refused_sightings() const;  // refused handshakes (mode On)
  uint64_t suppressed() const;  // sightings whose event was not written
  uint64_t evicted() const;
  std::size_t capacity() const { return capacity_; }
  void clear();

 private:
  mutable std::mutex mu_;
  std::vector<WouldFailPeer> peers_;
  std::size_t capacity_;
  int64_t interval_;
  uint64_t sightings_ = 0, refused_ = 0, suppressed_ = 0, evicted_ = 0;
};

}  // namespace turnpike::control
