// A minimal pcapng writer (draft-ietf-opsawg-pcapng): one Section Header,
// one Interface Description per port (Ethernet, nanosecond timestamps),
// Enhanced Packet Blocks with the direction flag, and an Interface
// Statistics block that records what the capture bound dropped.
//
// Why not rte_pcapng (DPDK 22.11): rte_pcapng_copy() makes an mbuf copy per
// packet from a mempool on the capturing thread and rte_pcapng_write_packets()
// wants those mbufs on the writer; our workers copy into flat preallocated
// bytes instead (no mempool pressure on the fast path), and this writer runs
// without an EAL, so its output is unit-tested. The format is small.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "turnpike/diag/capture.hpp"

namespace turnpike::diag {

class PcapngWriter {
 public:
  // Appends to `out` (little-endian blocks; the byte-order magic says so).
  PcapngWriter(std::string& out, std::string_view application);
  // Returns the interface id of the new IDB (LINKTYPE_ETHERNET).
  std::uint32_t add_interface(std::string_view name, std::string_view description, std::uint32_t snaplen);
  void packet(std::uint32_t interface, std::uint64_t ts_ns, std::span<const std::uint8_t> data,
              std::uint32_t orig_len, Dir dir);
  // isb_starttime/endtime, isb_ifrecv (frames seen), isb_osdrop (frames the
  // capture bound dropped) and a comment saying why.
  void statistics(std::uint32_t interface, std::uint64_t start_ns, std::uint64_t end_ns, std::uint64_t seen,
                  std::uint64_t dropped, std::string_view comment);

 private:
  std::string& out_;
  std::uint32_t interfaces_ = 0;
};

}  // namespace turnpike::diag
