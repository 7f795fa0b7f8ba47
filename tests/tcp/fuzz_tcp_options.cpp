// libFuzzer target: header and option parsing alone, plus a build/parse
// round trip of whatever was understood.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "turnpike/tcp/header.hpp"

using namespace turnpike::tcp;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Header h;
  if (parse_header(data, size, h) != ParseError::ok) return 0;
  if (h.data_offset > size || h.payload + h.payload_len != data + size) __builtin_trap();
  if (h.opt.sack_count > kMaxSackBlocks) __builtin_trap();
  OptionsOut o;
  o.mss = h.opt.has_mss;
  o.mss_value = h.opt.mss;
  o.wscale = h.opt.has_wscale;
  o.wscale_value = h.opt.wscale;
  o.sack_permitted = h.opt.sack_permitted;
  o.ts = h.opt.has_ts;
  o.ts_val = h.opt.ts_val;
  o.ts_ecr = h.opt.ts_ecr;
  o.sack_count = static_cast<std::uint8_t>(h.opt.sack_count > 2 ? 2 : h.opt.sack_count);  // fits with all others
  std::memcpy(o.sack, h.opt.sack, sizeof o.sack);
  if (options_size(o) > 40) return 0;
  std::uint8_t buf[kHeaderMax];
  const std::size_t n = build_header(buf, HeaderOut{.flags = h.flags}, o);
  Header back;
  if (parse_header(buf, n, back) != ParseError::ok) __builtin_trap();
  const bool syn = h.flags & flag::syn;
  if (syn && (back.opt.has_mss != o.mss || back.opt.mss != (o.mss ? o.mss_value : 0))) __builtin_trap();
  if (back.opt.has_ts != o.ts || back.opt.ts_val != o.ts_val) __builtin_trap();
  if (back.opt.sack_count != o.sack_count) __builtin_trap();
  return 0;
}
