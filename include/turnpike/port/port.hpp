// EAL start-up and port set-up: one RX and one TX queue per worker, RSS with
// a symmetric Toeplitz key where the PMD supports it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "turnpike/config.hpp"
#include "turnpike/net/wire.hpp"

struct rte_mempool;

namespace turnpike::port {

// argv for rte_eal_init built from the config: EAL args, file prefix, lcore
// map (main lcore 0 on the first allowed CPU, workers on the others) and one
// --vdev / -a per port.
std::vector<std::string> eal_argv(const Config& c, const std::string& prog, const std::vector<unsigned>& allowed_cpus);

// Name under which DPDK registers the port: the vdev name before the first
// comma, or the PCI address.
std::string dpdk_port_name(const std::string& device);

// Symmetric Toeplitz key (0x6d5a repeated): hash(a,b) == hash(b,a), so both
// directions of a flow land on the same queue.
std::vector<std::uint8_t> symmetric_rss_key(std::size_t len);

struct PortInfo {
  std::uint16_t port_id = 0;
  std::string name, driver;
  net::MacAddr mac;
  bool rss = false;        // symmetric Toeplitz configured
  std::string rss_note;    // why not, when not
  std::uint16_t reta_size = 0;  // redirection table entries (programmed i -> i % queues)
  bool tx_csum_offload = false; // the NIC fills IPv4 and TCP checksums
  bool rx_csum_offload = false; // the NIC checks them and flags the mbuf
  bool link_up = false;
  std::uint32_t link_speed_mbps = 0;
  std::uint16_t queues = 0;
};

// Configures and starts the port; throws std::runtime_error with the reason.
PortInfo setup_port(const PortConfig& pc, std::uint16_t queues, rte_mempool* pool);
void stop_port(std::uint16_t port_id);

}  // namespace turnpike::port
