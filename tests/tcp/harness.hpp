// Test plumbing: a sink that records segments, and a segment builder that
// plays the remote peer on a fake wire.
#pragma once
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "turnpike/net/byteorder.hpp"
#include "turnpike/tcp/header.hpp"
#include "turnpike/tcp/stack.hpp"

namespace tcptest {

using namespace turnpike::tcp;

struct Captured {
  Addr src, dst;
  std::vector<std::uint8_t> bytes;
  Header h() const {
    Header x;
    parse_header(bytes.data(), bytes.size(), x);
    return x;
  }
};

class VecSink : public SegmentSink {
 public:
  std::uint8_t* alloc(std::size_t max_len, void** handle) override {
    if (fail_alloc) return nullptr;
    pending_.emplace_back();
    pending_.back().bytes.resize(max_len);
    *handle = &pending_.back();
    return pending_.back().bytes.data();
  }
  void send(void* handle, const Addr& src, const Addr& dst, std::size_t len) override {
    auto* c = static_cast<Captured*>(handle);
    c->src = src;
    c->dst = dst;
    c->bytes.resize(len);
    out.push_back(std::move(*c));
    pending_.pop_back();
  }
  std::deque<Captured> out;
  bool fail_alloc = false;

 private:
  std::deque<Captured> pending_;
};

struct SegSpec {
  std::uint16_t sport = 0, dport = 0;
  Seq seq, ack;
  std::uint8_t flags = 0;
  std::uint16_t window = 65535;
  std::string data;
  OptionsOut opt;
};

inline std::vector<std::uint8_t> make_segment(const Addr& src, const Addr& dst, const SegSpec& s) {
  std::vector<std::uint8_t> b(kHeaderMax + s.data.size());
  const std::size_t h = build_header(
      b.data(), HeaderOut{.src_port = s.sport, .dst_port = s.dport, .seq = s.seq, .ack = s.ack,
                          .flags = s.flags, .window = s.window},
      s.opt);
  std::memcpy(b.data() + h, s.data.data(), s.data.size());
  b.resize(h + s.data.size());
  turnpike::net::store_be16(b.data() + 16, tcp_checksum(src, dst, b.data(), b.size()));
  return b;
}

}  // namespace tcptest
