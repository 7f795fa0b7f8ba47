// TCP header and options: explicit parse/build on byte buffers (RFC 9293 §3.1).
// Parsing never trusts the wire: every length is checked against the buffer,
// malformed options are skipped or ignored, never read past the header.
#pragma once
#include <cstddef>
#include <cstdint>

#include "turnpike/tcp/addr.hpp"
#include "turnpike/tcp/seq.hpp"

namespace turnpike::tcp {

namespace flag {
inline constexpr std::uint8_t fin = 0x01;
inline constexpr std::uint8_t syn = 0x02;
inline constexpr std::uint8_t rst = 0x04;
inline constexpr std::uint8_t psh = 0x08;
inline constexpr std::uint8_t ack = 0x10;
inline constexpr std::uint8_t urg = 0x20;
inline constexpr std::uint8_t ece = 0x40;
inline constexpr std::uint8_t cwr = 0x80;
}  // namespace flag

inline constexpr std::size_t kHeaderMin = 20;
inline constexpr std::size_t kHeaderMax = 60;
inline constexpr unsigned kMaxSackBlocks = 4;

struct SackBlock {
  Seq left;   // first sequence number of the block
  Seq right;  // sequence number just after the block
};

// Options found in a segment. A field is valid only when its has_ flag is set.
struct Options {
  bool has_mss = false;
  bool has_wscale = false;
  bool sack_permitted = false;
  bool has_ts = false;
  bool malformed = false;  // something was skipped; informative only
  std::uint16_t mss = 0;
  std::uint8_t wscale = 0;  // as received (clamping to 14 is the caller's job, RFC 7323 §2.3)
  std::uint8_t sack_count = 0;
  std::uint32_t ts_val = 0;
  std::uint32_t ts_ecr = 0;
  SackBlock sack[kMaxSackBlocks];
};

// A parsed header. `payload` points into the caller's buffer.
struct Header {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  Seq seq;
  Seq ack;
  std::uint8_t data_offset = 0;  // bytes
  std::uint8_t flags = 0;
  std::uint16_t window = 0;  // unscaled, as on the wire
  std::uint16_t checksum = 0;
  std::uint16_t urgent = 0;
  const std::uint8_t* payload = nullptr;
  std::size_t payload_len = 0;
  Options opt;

  bool has(std::uint8_t f) const noexcept { return (flags & f) != 0; }
};

enum class ParseError { ok, too_short, bad_offset };

// Parses header + options of `len` bytes at `p`. Options are parsed per
// RFC 9293 §3.2 (kind/length), RFC 7323 (WS, TS), RFC 2018 (SACK).
ParseError parse_header(const std::uint8_t* p, std::size_t len, Header& out) noexcept;

// Parses the option bytes alone (exposed for tests and fuzzing). `syn` tells
// whether SYN-only options (MSS, WS, SACK-permitted) are honoured.
void parse_options(const std::uint8_t* p, std::size_t len, bool syn, Options& out) noexcept;

// What to put into an outgoing segment.
struct OptionsOut {
  bool mss = false;
  bool wscale = false;
  bool sack_permitted = false;
  bool ts = false;
  std::uint16_t mss_value = 0;
  std::uint8_t wscale_value = 0;
  std::uint8_t sack_count = 0;
  std::uint32_t ts_val = 0;
  std::uint32_t ts_ecr = 0;
  SackBlock sack[kMaxSackBlocks];
};

// Option bytes `build_options` will write (multiple of 4, at most 40).
std::size_t options_size(const OptionsOut& o) noexcept;
// Writes options (NOP padded, 32-bit aligned) and returns their length.
std::size_t build_options(std::uint8_t* p, const OptionsOut& o) noexcept;

struct HeaderOut {
  std::uint16_t src_port = 0;
  std::uint16_t dst_port = 0;
  Seq seq;
  Seq ack;
  std::uint8_t flags = 0;
  std::uint16_t window = 0;
};

// Writes a 20-byte header plus options at `p` (checksum zero); returns the
// header length. The buffer must hold kHeaderMax bytes.
std::size_t build_header(std::uint8_t* p, const HeaderOut& h, const OptionsOut& o) noexcept;

// TCP checksum over header + payload with the IPv4 pseudo header (RFC 9293
// §3.1); addresses in host order. Returns the value to store (host order).
std::uint16_t tcp_checksum(std::uint32_t src, std::uint32_t dst, const std::uint8_t* seg,
                           std::size_t len) noexcept;
// True when the checksum field of `seg` is correct.
bool tcp_checksum_ok(std::uint32_t src, std::uint32_t dst, const std::uint8_t* seg,
                     std::size_t len) noexcept;
// Pseudo-header sum to leave in the checksum field for TX checksum offload.
std::uint16_t tcp_pseudo_checksum(std::uint32_t src, std::uint32_t dst, std::size_t len) noexcept;
// The same for either family: IPv4-mapped addresses take the IPv4 pseudo
// header, others the IPv6 one (RFC 8200 §8.1: addresses, 32-bit length,
// next header 6).
std::uint16_t tcp_checksum(const Addr& src, const Addr& dst, const std::uint8_t* seg, std::size_t len) noexcept;
bool tcp_checksum_ok(const Addr& src, const Addr& dst, const std::uint8_t* seg, std::size_t len) noexcept;
std::uint16_t tcp_pseudo_checksum(const Addr& src, const Addr& dst, std::size_t len) noexcept;

}  // namespace turnpike::tcp
