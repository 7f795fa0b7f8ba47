#include "turnpike/diag/pcapng.hpp"

namespace turnpike::diag {

namespace {

constexpr std::uint32_t kSHB = 0x0A0D0D0A, kIDB = 1, kISB = 5, kEPB = 6;
constexpr std::uint16_t kLinktypeEthernet = 1;

void put16(std::string& o, std::uint16_t v) {
  o.push_back(static_cast<char>(v & 0xff));
  o.push_back(static_cast<char>(v >> 8));
}
void put32(std::string& o, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) o.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put64(std::string& o, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) o.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void pad4(std::string& o, std::size_t from) {
  while ((o.size() - from) % 4) o.push_back('\0');
}
// Option: code, length, value padded to 32 bits (pcapng §3.5).
void option(std::string& o, std::uint16_t code, std::string_view v) {
  put16(o, code);
  put16(o, static_cast<std::uint16_t>(v.size()));
  const std::size_t at = o.size();
  o.append(v);
  pad4(o, at);
}
void option64(std::string& o, std::uint16_t code, std::uint64_t v) {
  put16(o, code);
  put16(o, 8);
  put64(o, v);
}
void end_options(std::string& o) { put32(o, 0); }

// Block: type, total length (patched), body, total length again.
std::size_t begin_block(std::string& o, std::uint32_t type) {
  const std::size_t at = o.size();
  put32(o, type);
  put32(o, 0);
  return at;
}
void end_block(std::string& o, std::size_t at) {
  const auto len = static_cast<std::uint32_t>(o.size() - at + 4);
  for (int i = 0; i < 4; ++i) o[at + 4 + static_cast<std::size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xff);
  put32(o, len);
}

}  // namespace

PcapngWriter::PcapngWriter(std::string& out, std::string_view application) : out_(out) {
  const std::size_t b = begin_block(out_, kSHB);
  put32(out_, 0x1A2B3C4D);  // byte-order magic
  put16(out_, 1);           // major
  put16(out_, 0);           // minor
  put64(out_, ~std::uint64_t(0));  // section length: not given
  option(out_, 4, application);    // shb_userappl
  end_options(out_);
  end_block(out_, b);
}

std::uint32_t PcapngWriter::add_interface(std::string_view name, std::string_view description,
                                          std::uint32_t snaplen) {
  const std::size_t b = begin_block(out_, kIDB);
  put16(out_, kLinktypeEthernet);
  put16(out_, 0);
  put32(out_, snaplen);
  option(out_, 2, name);  // if_name
  if (!description.empty()) option(out_, 3, description);  // if_description
  option(out_, 9, std::string_view("\x09", 1));  // if_tsresol: 10^-9 s
  end_options(out_);
  end_block(out_, b);
  return interfaces_++;
}

void PcapngWriter::packet(std::uint32_t interface, std::uint64_t ts_ns, std::span<const std::uint8_t> data,
                          std::uint32_t orig_len, Dir dir) {
  const std::size_t b = begin_block(out_, kEPB);
  put32(out_, interface);
  put32(out_, static_cast<std::uint32_t>(ts_ns >> 32));
  put32(out_, static_cast<std::uint32_t>(ts_ns));
  put32(out_, static_cast<std::uint32_t>(data.size()));
  put32(out_, orig_len);
  const std::size_t at = out_.size();
  out_.append(reinterpret_cast<const char*>(data.data()), data.size());
  pad4(out_, at);
  put16(out_, 2);  // epb_flags: bits 0-1 are the direction
  put16(out_, 4);
  put32(out_, static_cast<std::uint32_t>(dir));
  end_options(out_);
  end_block(out_, b);
}

void PcapngWriter::statistics(std::uint32_t interface, std::uint64_t start_ns, std::uint64_t end_ns,
                              std::uint64_t seen, std::uint64_t dropped, std::string_view comment) {
  const std::size_t b = begin_block(out_, kISB);
  put32(out_, interface);
  put32(out_, static_cast<std::uint32_t>(end_ns >> 32));
  put32(out_, static_cast<std::uint32_t>(end_ns));
  if (!comment.empty()) option(out_, 1, comment);  // opt_comment
  // Timestamps in ISB options are two 32-bit halves, like the block's.
  auto ts_option = [this](std::uint16_t code, std::uint64_t ns) {
    put16(out_, code);
    put16(out_, 8);
    put32(out_, static_cast<std::uint32_t>(ns >> 32));
    put32(out_, static_cast<std::uint32_t>(ns));
  };
  ts_option(2, start_ns);           // isb_starttime
  ts_option(3, end_ns);             // isb_endtime
  option64(out_, 4, seen);          // isb_ifrecv
  option64(out_, 7, dropped);       // isb_osdrop: dropped by the capture bound
  end_options(out_);
  end_block(out_, b);
}

}  // namespace turnpike::diag
