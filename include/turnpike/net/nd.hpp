// IPv6 Neighbor Discovery (RFC 4861) messages, the per-port IPv6 addresses
// with their Duplicate Address Detection state (RFC 4862 §5.4), and the
// port's options. Wire code works on plain buffers (tests, fuzzing); the
// NetWorker (stack.hpp) sends and receives.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "turnpike/net/ipv6.hpp"
#include "turnpike/net/neighbor.hpp"
#include "turnpike/net/wire.hpp"

namespace turnpike::net {

// RFC 4861 §4.3 (NS) and §4.4 (NA): 4-byte ICMPv6 header, 4 bytes of
// reserved/flags, the 16-byte target; then options (§4.6).
inline constexpr std::size_t kNdMsgLen = 24;
inline constexpr std::size_t kNdLlaOptLen = 8;  // Ethernet link-layer address option (RFC 2464 §6)
inline constexpr std::uint8_t kNdOptSourceLla = 1;
inline constexpr std::uint8_t kNdOptTargetLla = 2;
inline constexpr std::uint8_t kNdHopLimit = 255;  // §7.1: proves the sender is on the link
inline constexpr std::uint32_t kNaRouter = 0x80000000u;
inline constexpr std::uint32_t kNaSolicited = 0x40000000u;
inline constexpr std::uint32_t kNaOverride = 0x20000000u;

struct NdMsg {
  std::uint8_t type = 0;    // kIcmpv6NeighborSolicit or kIcmpv6NeighborAdvert
  std::uint32_t flags = 0;  // NA: R, S, O
  Ipv6Addr target;
  bool has_lla = false;  // source (NS) or target (NA) link-layer address option
  MacAddr lla;
};

enum class NdParse {
  Ok,
  HopLimit,   // IP hop limit is not 255
  BadCode,    // ICMP code is not 0
  Short,      // message shorter than 24 bytes
  BadTarget,  // target is multicast
  BadOption,  // option of length 0 or running past the message
  BadSource,  // NS from :: with a source LLA or not to a solicited-node group; NA from ::
  SolicitedToMulticast,  // NA with S set sent to a multicast group
  Fragmented,            // carried a Fragment header (RFC 6980 §5)
};
// RFC 4861 §7.1.1 / §7.1.2 validity of an NS or NA whose ICMPv6 checksum
// the caller has verified: `icmp`/`len` is the ICMPv6 message, `ip` its
// parsed IPv6 header. Unknown options are skipped (§4.6); a link-layer
// option of another length than 8 bytes is not Ethernet's and is ignored.
NdParse parse_nd(const Ipv6Hdr& ip, const std::uint8_t* icmp, std::size_t len, NdMsg& out) noexcept;

// Writes an IPv6 header (hop limit 255) and an NS or NA with an optional
// link-layer address option (source for NS, target for NA) and its
// checksum at `p`; returns the bytes written (40 + 24 [+ 8]).
std::size_t write_nd(std::uint8_t* p, std::uint8_t type, std::uint32_t flags, const Ipv6Addr& src,
                     const Ipv6Addr& dst, const Ipv6Addr& target, const MacAddr* lla) noexcept;
inline constexpr std::size_t kNdFrameMax = kEthHdrLen + kIpv6HdrLen + kNdMsgLen + kNdLlaOptLen;

// Multicast Listener Discovery: a host reports the groups it listens to so
// that MLD-snooping switches forward them (RFC 4861 §7.2.1 asks nodes to
// join their solicited-node groups; RFC 4862 §5.4.2 before DAD). Reports
// go with hop limit 1 and a Router Alert, from our link-local address or
// :: while it is tentative (RFC 3810 §5.2.13).
inline constexpr std::uint8_t kMldModeIsExclude = 2;   // RFC 3810 §5.2.12: current state, "listening"
inline constexpr std::uint8_t kMldChangeToExclude = 4; // state change: joined
inline constexpr std::size_t kMldV1Len = 24;           // RFC 2710 §3
inline constexpr std::size_t kMldV2QueryMin = 28;      // RFC 3810 §5.1
inline constexpr std::size_t kMldMaxGroups = 4;
// ff02::16, all MLDv2-capable routers (RFC 3810 §5.2.14).
inline Ipv6Addr ipv6_all_mldv2_routers() noexcept { return Ipv6Addr::from_words(0xff02000000000000ull, 0x16); }

// MLDv2 report of `n` (<= kMldMaxGroups) groups, each a record of type
// `record` without sources, to ff02::16: IPv6 header, Hop-by-Hop with
// Router Alert, ICMPv6 143. Returns the bytes written.
std::size_t write_mld_report(std::uint8_t* p, const Ipv6Addr& src, const Ipv6Addr* groups, unsigned n,
                             std::uint8_t record) noexcept;
// MLDv1 report of one group, sent to the group (RFC 2710 §3, §4).
std::size_t write_mld_v1_report(std::uint8_t* p, const Ipv6Addr& src, const Ipv6Addr& group) noexcept;
inline constexpr std::size_t kMldFrameMax = kEthHdrLen + kIpv6HdrLen + 8 + 8 + kMldMaxGroups * 20;

struct MldQuery {
  Ipv6Addr group;  // :: for a general query
  bool v2 = false;
};
// RFC 3810 §6.2 (and RFC 2710 §5): a query counts only from a link-local
// source, with hop limit 1 and a Router Alert; v1 is exactly 24 bytes.
bool parse_mld_query(const Ipv6Hdr& ip, const std::uint8_t* icmp, std::size_t len, MldQuery& out) noexcept;

inline constexpr unsigned kMaxDadTransmits = 10;

// IPv6 options of one port (the net module's; the config's [[ports]] keys
// map onto them). The link-local address always exists, from the MAC.
struct Ipv6Options {
  Ipv6Addr address;             // global unicast address; :: = link-local only
  std::uint8_t prefix = 64;     // on-link prefix length of `address`
  Ipv6Addr gateway;             // default router, usually its link-local address; :: = none
  unsigned dad_transmits = 1;   // RFC 4862 DupAddrDetectTransmits; 0 = no DAD; at most kMaxDadTransmits
  std::uint32_t neigh_capacity = 1024;
  std::uint64_t neigh_timeout = 0;  // same unit as `now` (TSC cycles in the data plane)
};

// One port's IPv6 state, shared by all its workers: our addresses, their
// DAD states (any worker may find a duplicate; one runs DAD) and the
// neighbour cache. Addresses and options are fixed after construction.
class Ipv6Port {
 public:
  enum class State : std::uint8_t { Tentative, Preferred, Duplicate };
  static constexpr unsigned kLinkLocal = 0, kGlobal = 1;

  Ipv6Port(const MacAddr& mac, const Ipv6Options& o);

  unsigned count() const noexcept { return count_; }
  const Ipv6Addr& addr(unsigned i) const noexcept { return addr_[i]; }
  State state(unsigned i) const noexcept { return static_cast<State>(state_[i].load(std::memory_order_acquire)); }
  bool usable(unsigned i) const noexcept { return state(i) == State::Preferred; }
  // Index of our address `a`, or -1.
  int find(const Ipv6Addr& a) const noexcept;
  // Tentative -> Duplicate; true if this call made the change. A duplicate
  // link-local address (derived from the MAC) disables IPv6 on the port:
  // every address becomes Duplicate (RFC 4862 §5.4.5).
  bool mark_duplicate(unsigned i) noexcept;
  // Tentative -> Preferred (DAD passed); a Duplicate stays so.
  void mark_preferred(unsigned i) noexcept;

  // Groups we listen to: all-nodes and the solicited-node group of each of
  // our addresses, tentative ones included (DAD needs them).
  bool joined(const Ipv6Addr& group) const noexcept;
  bool accepts_mac(const MacAddr& m) const noexcept;
  // The groups to report with MLD: our solicited-node groups, each once
  // (all-nodes is never reported, RFC 3810 §6). Returns how many.
  unsigned report_groups(Ipv6Addr (&out)[kMldMaxGroups]) const noexcept;
  // Link-local destinations and those in our global prefix are on-link.
  bool on_link(const Ipv6Addr& a) const noexcept;
  // Our address to send to `dst` from: the link-local one for link-local
  // and link-scope multicast destinations or without a global address;
  // nullptr while that address is not usable (tentative or duplicate).
  const Ipv6Addr* source_for(const Ipv6Addr& dst) const noexcept;

  const Ipv6Options& options() const noexcept { return opt_; }
  Neighbor6Table& neigh() noexcept { return neigh_; }
  const Neighbor6Table& neigh() const noexcept { return neigh_; }

 private:
  Ipv6Options opt_;
  Ipv6Addr addr_[2];
  Ipv6Addr solicited_[2];
  std::atomic<std::uint8_t> state_[2] = {};
  unsigned count_ = 1;
  Neighbor6Table neigh_;
};

}  // namespace turnpike::net
