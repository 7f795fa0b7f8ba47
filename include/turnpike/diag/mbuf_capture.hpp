// The worker's side of the capture: copies a burst of mbufs (every segment,
// up to the snap length) into its CaptureBuffer. Called only while a
// capture runs; the caller's one branch on the buffer pointer is all the
// fast path pays otherwise.
#pragma once
#include <rte_mbuf.h>

#include <cstring>

#include "turnpike/diag/capture.hpp"

namespace turnpike::diag {

inline void capture_burst(CaptureBuffer& cap, std::uint16_t port, Dir dir, rte_mbuf* const* pkts, std::uint16_t n,
                          std::uint64_t tsc) noexcept {
  for (std::uint16_t i = 0; i < n; ++i) {
    const rte_mbuf* m = pkts[i];
    std::uint32_t caplen = 0;
    std::uint8_t* dst = cap.reserve(port, dir, tsc, rte_pktmbuf_pkt_len(m), caplen);
    if (!dst) continue;  // counted by reserve()
    std::uint32_t off = 0;
    for (const rte_mbuf* s = m; s && off < caplen; s = s->next) {
      const std::uint32_t k = std::min<std::uint32_t>(s->data_len, caplen - off);
      std::memcpy(dst + off, rte_pktmbuf_mtod(s, const std::uint8_t*), k);
      off += k;
    }
  }
}

}  // namespace turnpike::diag
