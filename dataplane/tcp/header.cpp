#include "turnpike/tcp/header.hpp"

#include "turnpike/net/byteorder.hpp"
#include "turnpike/net/checksum.hpp"

namespace turnpike::tcp {

using net::load_be16;
using net::load_be32;
using net::store_be16;
using net::store_be32;

namespace {
enum : std::uint8_t {
  kEol = 0,
  kNop = 1,
  kMss = 2,      // RFC 9293 §3.2
  kWscale = 3,   // RFC 7323 §2.2
  kSackPerm = 4, // RFC 2018 §2
  kSack = 5,     // RFC 2018 §3
  kTs = 8,       // RFC 7323 §3.2
};
}  // namespace

void parse_options(const std::uint8_t* p, std::size_t len, bool syn, Options& o) noexcept {
  std::size_t i = 0;
  while (i < len) {
    const std::uint8_t kind = p[i];
    if (kind == kEol) break;  // RFC 9293 §3.2: end of option list
    if (kind == kNop) {
      ++i;
      continue;
    }
    // Every other option has a length byte covering kind and length; one that
    // is short or runs past the header poisons the rest of the list.
    if (i + 1 >= len) {
      o.malformed = true;
      break;
    }
    const std::uint8_t olen = p[i + 1];
    if (olen < 2 || olen > len - i) {
      o.malformed = true;
      break;
    }
    const std::uint8_t* v = p + i + 2;
    switch (kind) {
      case kMss:
        // RFC 9293 §3.7.1: only in SYN segments; wrong length is ignored.
        if (olen != 4 || !syn) {
          o.malformed |= olen != 4;
        } else if (!o.has_mss) {
          o.has_mss = true;
          o.mss = load_be16(v);
        }
        break;
      case kWscale:
        // RFC 7323 §2.2: only in SYN; the shift is clamped by the user (§2.3).
        if (olen != 3 || !syn) {
          o.malformed |= olen != 3;
        } else if (!o.has_wscale) {
          o.has_wscale = true;
          o.wscale = v[0];
        }
        break;
      case kSackPerm:
        // RFC 2018 §2: only in SYN.
        if (olen != 2 || !syn)
          o.malformed |= olen != 2;
        else
          o.sack_permitted = true;
        break;
      case kSack: {
        // RFC 2018 §3: length 2 + 8n; at most 4 blocks fit in 40 bytes.
        const unsigned n = (olen - 2u) / 8u;
        if ((olen - 2u) % 8u != 0 || n == 0 || n > kMaxSackBlocks || o.sack_count != 0) {
          o.malformed = true;
          break;
        }
        for (unsigned b = 0; b < n; ++b) {
          o.sack[b].left = Seq(load_be32(v + 8 * b));
          o.sack[b].right = Seq(load_be32(v + 8 * b + 4));
        }
        o.sack_count = static_cast<std::uint8_t>(n);
        break;
      }
      case kTs:
        // RFC 7323 §3.2: length 10.
        if (olen != 10) {
          o.malformed = true;
        } else if (!o.has_ts) {
          o.has_ts = true;
          o.ts_val = load_be32(v);
          o.ts_ecr = load_be32(v + 4);
        }
        break;
      default:
        break;  // unknown options are skipped by length (RFC 9293 §3.2)
    }
    i += olen;
  }
}

ParseError parse_header(const std::uint8_t* p, std::size_t len, Header& h) noexcept {
  if (len < kHeaderMin) return ParseError::too_short;
  const std::size_t off = static_cast<std::size_t>(p[12] >> 4) * 4;
  if (off < kHeaderMin || off > len) return ParseError::bad_offset;
  h.src_port = load_be16(p);
  h.dst_port = load_be16(p + 2);
  h.seq = Seq(load_be32(p + 4));
  h.ack = Seq(load_be32(p + 8));
  h.data_offset = static_cast<std::uint8_t>(off);
  h.flags = p[13];
  h.window = load_be16(p + 14);
  h.checksum = load_be16(p + 16);
  h.urgent = load_be16(p + 18);
  h.payload = p + off;
  h.payload_len = len - off;
  h.opt = Options{};
  parse_options(p + kHeaderMin, off - kHeaderMin, (h.flags & flag::syn) != 0, h.opt);
  return ParseError::ok;
}

std::size_t options_size(const OptionsOut& o) noexcept {
  std::size_t n = 0;
  if (o.mss) n += 4;
  if (o.wscale) n += 4;  // NOP + 3
  if (o.ts) n += 12;     // NOP NOP + 10, or SACK-permitted + 10
  else if (o.sack_permitted) n += 4;
  if (o.sack_count) n += 4 + 8u * o.sack_count;  // NOP NOP + 2 + 8n
  return n;
}

std::size_t build_options(std::uint8_t* p, const OptionsOut& o) noexcept {
  std::uint8_t* w = p;
  if (o.mss) {
    w[0] = kMss;
    w[1] = 4;
    store_be16(w + 2, o.mss_value);
    w += 4;
  }
  if (o.sack_permitted && o.ts) {
    // The layout Linux uses: SACK-permitted fills the two bytes before TS.
    w[0] = kSackPerm;
    w[1] = 2;
    w += 2;
  } else if (o.sack_permitted) {
    w[0] = kNop;
    w[1] = kNop;
    w[2] = kSackPerm;
    w[3] = 2;
    w += 4;
  }
  if (o.ts) {
    if (!o.sack_permitted) {
      w[0] = kNop;
      w[1] = kNop;
      w += 2;
    }
    w[0] = kTs;
    w[1] = 10;
    store_be32(w + 2, o.ts_val);
    store_be32(w + 6, o.ts_ecr);
    w += 10;
  }
  if (o.wscale) {
    w[0] = kNop;
    w[1] = kWscale;
    w[2] = 3;
    w[3] = o.wscale_value;
    w += 4;
  }
  unsigned n = o.sack_count > kMaxSackBlocks ? kMaxSackBlocks : o.sack_count;
  // Callers keep SACK blocks within the 40-byte option space.
  if (n) {
    w[0] = kNop;
    w[1] = kNop;
    w[2] = kSack;
    w[3] = static_cast<std::uint8_t>(2 + 8 * n);
    w += 4;
    for (unsigned b = 0; b < n; ++b) {
      store_be32(w, o.sack[b].left.raw());
      store_be32(w + 4, o.sack[b].right.raw());
      w += 8;
    }
  }
  return static_cast<std::size_t>(w - p);
}

std::size_t build_header(std::uint8_t* p, const HeaderOut& h, const OptionsOut& o) noexcept {
  const std::size_t olen = build_options(p + kHeaderMin, o);
  const std::size_t hlen = kHeaderMin + olen;
  store_be16(p, h.src_port);
  store_be16(p + 2, h.dst_port);
  store_be32(p + 4, h.seq.raw());
  store_be32(p + 8, h.ack.raw());
  p[12] = static_cast<std::uint8_t>((hlen / 4) << 4);
  p[13] = h.flags;
  store_be16(p + 14, h.window);
  store_be16(p + 16, 0);
  store_be16(p + 18, 0);
  return hlen;
}

std::uint16_t tcp_checksum(std::uint32_t src, std::uint32_t dst, const std::uint8_t* seg,
                           std::size_t len) noexcept {
  const std::uint32_t ph = net::pseudo_header_sum(src, dst, 6, static_cast<std::uint16_t>(len));
  return net::csum_fold(net::csum_partial(seg, len, ph));
}

bool tcp_checksum_ok(std::uint32_t src, std::uint32_t dst, const std::uint8_t* seg,
                     std::size_t len) noexcept {
  if (len > 0xffff) return false;
  return tcp_checksum(src, dst, seg, len) == 0;
}

std::uint16_t tcp_pseudo_checksum(std::uint32_t src, std::uint32_t dst, std::size_t len) noexcept {
  std::uint32_t s = net::pseudo_header_sum(src, dst, 6, static_cast<std::uint16_t>(len));
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

namespace {
// RFC 8200 §8.1 pseudo-header sum, not folded: both addresses, the 32-bit
// upper-layer length and the next header value.
std::uint32_t pseudo6(const Addr& src, const Addr& dst, std::size_t len) noexcept {
  std::uint64_t s = 0;
  for (unsigned i = 0; i < 16; i += 2) s += (std::uint32_t{src.b[i]} << 8) | src.b[i + 1];
  for (unsigned i = 0; i < 16; i += 2) s += (std::uint32_t{dst.b[i]} << 8) | dst.b[i + 1];
  s += (len >> 16) & 0xffff;
  s += len & 0xffff;
  s += net::kIpProtoTcp;
  while (s >> 32) s = (s & 0xffffffffu) + (s >> 32);
  return static_cast<std::uint32_t>(s);
}
}  // namespace

std::uint16_t tcp_checksum(const Addr& src, const Addr& dst, const std::uint8_t* seg, std::size_t len) noexcept {
  if (src.is_v4() && dst.is_v4()) return tcp_checksum(src.v4(), dst.v4(), seg, len);
  std::uint32_t ph = pseudo6(src, dst, len);
  while (ph >> 16) ph = (ph & 0xffff) + (ph >> 16);
  return net::csum_fold(net::csum_partial(seg, len, ph));
}

bool tcp_checksum_ok(const Addr& src, const Addr& dst, const std::uint8_t* seg, std::size_t len) noexcept {
  if (len > 0xffff) return false;  // no jumbograms (RFC 2675) on our links
  return tcp_checksum(src, dst, seg, len) == 0;
}

std::uint16_t tcp_pseudo_checksum(const Addr& src, const Addr& dst, std::size_t len) noexcept {
  if (src.is_v4() && dst.is_v4()) return tcp_pseudo_checksum(src.v4(), dst.v4(), len);
  std::uint32_t s = pseudo6(src, dst, len);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<std::uint16_t>(s);
}

}  // namespace turnpike::tcp
