// Software Toeplitz hash (Microsoft RSS specification) so a worker can pick,
// for its own active opens, a local port whose reply the NIC steers back to
// the worker's own RX queue (issue 4 item 7, docs/architecture.md "Process and
// cores"). DPDK-free; the packet plane checks the NIC's real key and RETA at
// start and passes them in.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "turnpike/tcp/addr.hpp"

namespace turnpike::tcp {

// 0x6d5a repeated: the symmetric key (Woo & Park), hash(a->b) == hash(b->a).
inline constexpr std::uint8_t kSymmetricRssKey[40] = {
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a};

class Toeplitz {
 public:
  explicit Toeplitz(std::span<const std::uint8_t> key);
  std::uint32_t hash(const std::uint8_t* in, std::size_t len) const noexcept;
  // The IPv4/TCP input of a received packet: src, dst, sport, dport (host order in).
  std::uint32_t hash_v4_tcp(std::uint32_t src, std::uint32_t dst, std::uint16_t sport,
                            std::uint16_t dport) const noexcept;
  // The IPv6/TCP input (RSS hash type NONFRAG_IPV6_TCP): 16-byte source and
  // destination, then the ports, 36 bytes; needs a 40-byte key.
  std::uint32_t hash_v6_tcp(const net::Ipv6Addr& src, const net::Ipv6Addr& dst, std::uint16_t sport,
                            std::uint16_t dport) const noexcept;
  // Either family: IPv4-mapped pairs hash as IPv4.
  std::uint32_t hash_tcp(const Addr& src, const Addr& dst, std::uint16_t sport, std::uint16_t dport) const noexcept {
    return src.is_v4() && dst.is_v4() ? hash_v4_tcp(src.v4(), dst.v4(), sport, dport)
                                      : hash_v6_tcp(src.v6(), dst.v6(), sport, dport);
  }

 private:
  std::vector<std::uint8_t> key_;
};

// Which RX queue a reply lands on, given the NIC's RETA.
class RssSteering {
 public:
  RssSteering(std::span<const std::uint8_t> key, std::vector<std::uint16_t> reta, std::uint16_t my_queue)
      : t_(key), reta_(std::move(reta)), queue_(my_queue) {}
  std::uint16_t queue_for_reply(const Addr& laddr, std::uint16_t lport, const Addr& raddr,
                                std::uint16_t rport) const noexcept {
    const std::uint32_t h = t_.hash_tcp(raddr, laddr, rport, lport);
    return reta_.empty() ? 0 : reta_[h % reta_.size()];
  }
  // Matches Config::port_ok: true when the peer's reply reaches this worker.
  static bool port_ok(void* self, const Addr& laddr, std::uint16_t lport, const Addr& raddr,
                      std::uint16_t rport) noexcept {
    const auto* s = static_cast<const RssSteering*>(self);
    return s->queue_for_reply(laddr, lport, raddr, rport) == s->queue_;
  }

 private:
  Toeplitz t_;
  std::vector<std::uint16_t> reta_;
  std::uint16_t queue_;
};

}  // namespace turnpike::tcp
