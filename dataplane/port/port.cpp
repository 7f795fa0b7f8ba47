#include "turnpike/port/port.hpp"

#include <rte_ethdev.h>
#include <rte_mempool.h>

#include <stdexcept>

#include "turnpike/log.hpp"

namespace turnpike::port {

std::string dpdk_port_name(const std::string& device) { return device.substr(0, device.find(',')); }

std::vector<std::uint8_t> symmetric_rss_key(std::size_t len) {
  std::vector<std::uint8_t> k(len);
  for (std::size_t i = 0; i < len; ++i) k[i] = (i & 1) ? 0x5a : 0x6d;
  return k;
}

std::vector<std::string> eal_argv(const Config& c, const std::string& prog, const std::vector<unsigned>& cpus) {
  std::vector<std::string> a{prog};
  bool need_pci = false;
  for (auto& p : c.ports) need_pci |= !p.is_vdev();
  for (auto& x : c.eal_args)
    if (!(need_pci && x == "--no-pci")) a.push_back(x);
  a.push_back("--file-prefix=" + c.file_prefix);
  a.push_back("--log-level=" + std::string(c.log_level == "debug" ? "8" : "5"));
  bool has_lcores = false;
  for (auto& x : c.eal_args) has_lcores |= x.rfind("--lcores", 0) == 0 || x == "-l" || x == "-c";
  if (!has_lcores && !cpus.empty()) {
    // lcore 0 (control) on the first CPU; workers on the configured CPUs or
    // spread over the rest. Two lcores may share a CPU on small machines.
    std::string m = "--lcores=0@" + std::to_string(cpus[0]);
    for (unsigned w = 0; w < c.workers; ++w) {
      const unsigned cpu = !c.worker_cpus.empty() ? c.worker_cpus[w]
                           : cpus.size() > 1      ? cpus[1 + w % (cpus.size() - 1)]
                                                  : cpus[0];
      m += "," + std::to_string(w + 1) + "@" + std::to_string(cpu);
    }
    a.push_back(m);
  }
  for (auto& p : c.ports) {
    if (p.is_vdev()) a.push_back("--vdev=" + p.device);
    else a.push_back("--allow=" + p.device);
  }
  return a;
}

PortInfo setup_port(const PortConfig& pc, std::uint16_t queues, rte_mempool* pool) {
  PortInfo info;
  info.name = pc.name;
  info.queues = queues;
  if (rte_eth_dev_get_port_by_name(dpdk_port_name(pc.device).c_str(), &info.port_id) != 0)
    throw std::runtime_error("port " + pc.name + ": device \"" + pc.device + "\" did not probe (check the vdev/PCI string)");
  rte_eth_dev_info di;
  if (int rc = rte_eth_dev_info_get(info.port_id, &di); rc != 0)
    throw std::runtime_error("port " + pc.name + ": dev_info_get: " + rte_strerror(-rc));
  info.driver = di.driver_name ? di.driver_name : "?";
  if (di.max_rx_queues < queues || di.max_tx_queues < queues)
    throw std::runtime_error("port " + pc.name + ": " + info.driver + " offers " + std::to_string(di.max_rx_queues) +
                             " RX queues, " + std::to_string(queues) +
                             " workers need one each (af_packet: add qpairs=N to the vdev string)");
  rte_eth_conf conf{};
  std::vector<std::uint8_t> key;
  const std::uint64_t want_hf = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP | RTE_ETH_RSS_NONFRAG_IPV4_UDP;
  if (queues > 1) {
    const std::uint64_t hf = di.flow_type_rss_offloads & want_hf;
    if (hf && di.hash_key_size) {
      key = symmetric_rss_key(di.hash_key_size);
      conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
      conf.rx_adv_conf.rss_conf.rss_key = key.data();
      conf.rx_adv_conf.rss_conf.rss_key_len = static_cast<std::uint8_t>(key.size());
      conf.rx_adv_conf.rss_conf.rss_hf = hf;
      info.rss = true;
    } else {
      // af_packet spreads by the kernel's fanout hash; flows may reach any worker.
      info.rss_note = "unavailable on " + info.driver + " (PMD's own spreading)";
    }
  } else {
    info.rss_note = "single queue";
  }
  conf.rxmode.mtu = pc.mtu;
  // Checksum offloads where the port has them; software otherwise.
  constexpr std::uint64_t kTxCsum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
  constexpr std::uint64_t kRxCsum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
  if ((di.tx_offload_capa & kTxCsum) == kTxCsum) {
    conf.txmode.offloads |= kTxCsum;
    info.tx_csum_offload = true;
  }
  if ((di.rx_offload_capa & kRxCsum) == kRxCsum) {
    conf.rxmode.offloads |= kRxCsum;
    info.rx_csum_offload = true;
  }
  if (int rc = rte_eth_dev_configure(info.port_id, queues, queues, &conf); rc != 0)
    throw std::runtime_error("port " + pc.name + ": configure: " + rte_strerror(-rc));
  std::uint16_t rxd = pc.rx_desc, txd = pc.tx_desc;
  rte_eth_dev_adjust_nb_rx_tx_desc(info.port_id, &rxd, &txd);
  const int socket = rte_eth_dev_socket_id(info.port_id);
  for (std::uint16_t q = 0; q < queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(info.port_id, q, rxd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr, pool); rc)
      throw std::runtime_error("port " + pc.name + ": rx queue " + std::to_string(q) + ": " + rte_strerror(-rc));
    if (int rc = rte_eth_tx_queue_setup(info.port_id, q, txd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr); rc)
      throw std::runtime_error("port " + pc.name + ": tx queue " + std::to_string(q) + ": " + rte_strerror(-rc));
  }
  rte_ether_addr mac;
  rte_eth_macaddr_get(info.port_id, &mac);
  for (int i = 0; i < 6; ++i) info.mac.b[i] = mac.addr_bytes[i];
  if (int rc = rte_eth_dev_start(info.port_id); rc != 0)
    throw std::runtime_error("port " + pc.name + ": start: " + rte_strerror(-rc));
  // Promiscuous off unless asked: we filter by MAC in software too.
  if (pc.promiscuous) rte_eth_promiscuous_enable(info.port_id);
  else rte_eth_promiscuous_disable(info.port_id);
  if (info.rss) {
    // Verify what the PMD actually took: some accept the conf and ignore the key.
    std::vector<std::uint8_t> got(di.hash_key_size);
    rte_eth_rss_conf rc{};
    rc.rss_key = got.data();
    rc.rss_key_len = static_cast<std::uint8_t>(got.size());
    if (rte_eth_dev_rss_hash_conf_get(info.port_id, &rc) != 0 || got != key) {
      info.rss = false;
      info.rss_note = info.driver + " did not keep the symmetric RSS key";
    }
  }
  if (info.rss && di.reta_size) {
    // Program the redirection table explicitly (entry i -> queue i % queues)
    // so software can compute a flow's queue exactly (TcpGlue::owner_of).
    std::vector<rte_eth_rss_reta_entry64> reta(di.reta_size / RTE_ETH_RETA_GROUP_SIZE);
    for (std::uint16_t i = 0; i < di.reta_size; ++i) {
      auto& g = reta[i / RTE_ETH_RETA_GROUP_SIZE];
      g.mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
      g.reta[i % RTE_ETH_RETA_GROUP_SIZE] = static_cast<std::uint16_t>(i % queues);
    }
    if (rte_eth_dev_rss_reta_update(info.port_id, reta.data(), di.reta_size) == 0) {
      info.reta_size = di.reta_size;
    } else {
      info.rss = false;
      info.rss_note = info.driver + " refused the redirection table";
    }
  }
  rte_eth_link link{};
  rte_eth_link_get_nowait(info.port_id, &link);
  info.link_up = link.link_status == RTE_ETH_LINK_UP;
  info.link_speed_mbps = link.link_speed;
  return info;
}

void stop_port(std::uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace turnpike::port
