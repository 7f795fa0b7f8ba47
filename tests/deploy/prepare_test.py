"""deploy/turnpike-prepare in --dry-run against fake /sys and /proc trees.

What is checked: which ports it takes (PCI only, vdevs left alone), the
refusal to take the interface that carries the default route (IPv4, IPv6,
through a bond or a VLAN), the hugepage arithmetic (pages from bytes,
raising a reservation only by what is missing, per NUMA node, none with
--no-huge), stop giving ports back to the recorded driver, and clear errors.
Nothing on this machine is touched: every path is under a temporary root.
usage: prepare_test.py PATH/TO/turnpike-prepare
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

PREPARE = os.path.abspath(sys.argv.pop(1)) if len(sys.argv) > 1 else None

ROUTE_HDR = "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def ipv4_route(iface, dest="00000000", mask="00000000"):
    return f"{iface}\t{dest}\t0100A8C0\t0003\t0\t0\t0\t{mask}\t0\t0\t0\n"


def ipv6_route(iface, dest="0" * 32, plen="00"):
    return f"{dest} {plen} {'0' * 32} 00 {'0' * 32} 00000400 00000001 00000000 00000003 {iface}\n"


class Host:
    """A fake root: PCI devices, interfaces, routes, hugepages, a fake turnpike."""

    def __init__(self, tmp, numa_nodes=None, page_kb=2048):
        self.root = os.path.join(tmp, "root")
        self.state = os.path.join(tmp, "state")
        self.tmp = tmp
        self.page_kb = page_kb
        self.numa_nodes = numa_nodes
        self.write("/proc/meminfo", f"MemTotal: 8000000 kB\nHugepagesize:       {page_kb} kB\n")
        self.write("/proc/net/route", ROUTE_HDR)
        self.write("/proc/net/ipv6_route", "")
        self.write("/proc/mounts", "sysfs /sys sysfs rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw 0 0\n")
        os.makedirs(self.p("/sys/kernel/iommu_groups/7"))
        os.makedirs(self.p("/sys/bus/pci/drivers/vfio-pci"))
        if numa_nodes is None:
            self.hugepages(None, 0, 0)
        else:
            for n in numa_nodes:
                self.hugepages(n, 0, 0)
        self.need(0)
        self.config([])

    def p(self, path):
        return self.root + path

    def write(self, path, text):
        os.makedirs(os.path.dirname(self.p(path)), exist_ok=True)
        with open(self.p(path), "w") as f:
            f.write(text)

    def hugepages(self, node, nr, free):
        d = (f"/sys/kernel/mm/hugepages/hugepages-{self.page_kb}kB" if node is None else
             f"/sys/devices/system/node/node{node}/hugepages/hugepages-{self.page_kb}kB")
        self.write(d + "/nr_hugepages", f"{nr}\n")
        self.write(d + "/free_hugepages", f"{free}\n")

    def nic(self, addr, driver, netdev=None, node=-1):
        d = f"/sys/bus/pci/devices/{addr}"
        os.makedirs(self.p(d), exist_ok=True)
        self.write(d + "/numa_node", f"{node}\n")
        if driver:
            os.makedirs(self.p(f"/sys/bus/pci/drivers/{driver}"), exist_ok=True)
            os.symlink(f"../../../bus/pci/drivers/{driver}", self.p(d + "/driver"))
        if netdev:
            os.makedirs(self.p(f"{d}/net/{netdev}"))
            os.makedirs(self.p(f"/sys/class/net/{netdev}"), exist_ok=True)

    def stack(self, lower, upper, kind):
        """`upper` sits on `lower`: kind "master" (bond, bridge) or "upper" (VLAN)."""
        os.makedirs(self.p(f"/sys/class/net/{upper}"), exist_ok=True)
        link = "master" if kind == "master" else f"upper_{upper}"
        os.symlink(f"../{upper}", self.p(f"/sys/class/net/{lower}/{link}"))

    def route4(self, *lines):
        self.write("/proc/net/route", ROUTE_HDR + "".join(lines))

    def route6(self, *lines):
        self.write("/proc/net/ipv6_route", "".join(lines))

    def need(self, nbytes, fail=False):
        """The fake turnpike --check-config: prints the sizing line (or fails)."""
        self.turnpike = os.path.join(self.tmp, "turnpike")
        with open(self.turnpike, "w") as f:
            if fail:
                f.write("#!/bin/sh\necho 'turnpike.toml:3: workers.count: bad' >&2\nexit 2\n")
            else:
                f.write(f"#!/bin/sh\necho 'workers=1'\necho '  hugepages_needed_bytes={nbytes}'\n")
        os.chmod(self.turnpike, 0o755)

    def config(self, devices, raw=None):
        self.conf = os.path.join(self.tmp, "turnpike.toml")
        with open(self.conf, "w") as f:
            if raw is not None:
                f.write(raw)
            for i, dev in enumerate(devices):
                f.write(f'[[ports]]\nname = "p{i}"\ndevice = "{dev}"\nipv4 = "198.18.0.{i + 1}/24"\n')

    def run(self, *args):
        env = dict(os.environ, TURNPIKE_PREPARE_ROOT=self.root, TURNPIKE_PREPARE_STATE=self.state,
                   TURNPIKE_BIN=self.turnpike)
        r = subprocess.run([PREPARE, *args], capture_output=True, text=True, env=env, timeout=30)
        return r.returncode, r.stdout, r.stderr

    def start(self):
        return self.run("start", "--config", self.conf, "--dry-run")


class Prepare(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def host(self, **kw):
        return Host(self.tmp, **kw)

    # --- ports ---------------------------------------------------------------
    def test_binds_pci_port_and_leaves_vdevs(self):
        h = self.host()
        h.nic("0000:03:00.0", "ixgbe", "enp3s0f0")
        h.route4(ipv4_route("eth0"))
        h.config(["net_af_packet0,iface=eth1", "03:00.0,rxq_cqe_comp_en=1"])
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("port p0: net_af_packet0 is not a PCI address: left alone", out)
        self.assertIn("port p1: 0000:03:00.0 (ixgbe, enp3s0f0) -> vfio-pci", out)
        self.assertIn("would run: modprobe vfio-pci", out)
        self.assertIn("would run: dpdk-devbind.py --bind=vfio-pci 0000:03:00.0", out)
        self.assertNotIn("af_packet", out.split("left alone", 1)[1])
        self.assertFalse(os.path.exists(h.state), "dry run wrote state")

    def test_vdevs_only_touch_nothing(self):
        h = self.host()
        h.config(["net_tap0,iface=tp0", "net_af_packet0,iface=eth1"])
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertNotIn("would run", out)

    def test_already_bound_port_is_not_rebound(self):
        h = self.host()
        h.nic("0000:03:00.1", "vfio-pci")
        h.config(["0000:03:00.1"])
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("0000:03:00.1 already bound to vfio-pci", out)
        self.assertNotIn("dpdk-devbind", out)

    def test_refuses_default_route_interface_ipv4(self):
        h = self.host()
        h.nic("0000:03:00.0", "ixgbe", "enp3s0f0")
        h.nic("0000:03:00.1", "ixgbe", "enp3s0f1")
        h.route4(ipv4_route("enp3s0f0", "0012C6", "00FFFFFF"), ipv4_route("enp3s0f1"))
        h.config(["0000:03:00.0", "0000:03:00.1"])
        rc, out, err = h.start()
        self.assertEqual(rc, 1)
        self.assertIn("enp3s0f1, which carries the default route", err)
        # Refused before anything is done, also for the port that was fine.
        self.assertNotIn("would run", out)

    def test_a_non_default_route_is_no_reason_to_refuse(self):
        h = self.host()
        h.nic("0000:03:00.0", "ixgbe", "enp3s0f0")
        h.route4(ipv4_route("enp3s0f0", "0012C6", "00FFFFFF"), ipv4_route("eth0"))
        h.config(["0000:03:00.0"])
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("--bind=vfio-pci 0000:03:00.0", out)

    def test_refuses_default_route_interface_ipv6(self):
        h = self.host()
        h.nic("0000:03:00.0", "i40e", "ens1f0")
        # The unreachable default on lo that every Linux host has is not a route out.
        h.route6(ipv6_route("lo"), ipv6_route("ens1f0", "20010db8" + "0" * 24, "40"), ipv6_route("ens1f0"))
        h.config(["0000:03:00.0"])
        rc, out, err = h.start()
        self.assertEqual(rc, 1)
        self.assertIn("ens1f0, which carries the default route", err)

    def test_ipv6_default_on_lo_only_is_not_a_refusal(self):
        h = self.host()
        h.nic("0000:03:00.0", "i40e", "ens1f0")
        h.route6(ipv6_route("lo"))
        h.config(["0000:03:00.0"])
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)

    def test_refuses_port_under_bond_or_vlan_with_default_route(self):
        for kind, upper in (("master", "bond0"), ("upper", "enp3s0f0.100")):
            with self.subTest(kind=kind):
                tmp = tempfile.mkdtemp(dir=self.tmp)
                h = Host(tmp)
                h.nic("0000:03:00.0", "ixgbe", "enp3s0f0")
                h.stack("enp3s0f0", upper, kind)
                h.route4(ipv4_route(upper))
                h.config(["0000:03:00.0"])
                rc, out, err = h.start()
                self.assertEqual(rc, 1)
                self.assertIn(f"carries the default route (via {upper})", err)

    def test_missing_pci_device_is_refused(self):
        h = self.host()
        h.config(["0000:81:00.0"])
        rc, out, err = h.start()
        self.assertEqual(rc, 1)
        self.assertIn("0000:81:00.0: no such PCI device", err)

    # --- hugepages -----------------------------------------------------------
    def test_no_huge_reserves_nothing(self):
        h = self.host()
        h.need(0)
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("hugepages: none needed", out)
        self.assertNotIn("dpdk-hugepages", out)

    def test_raises_reservation_by_the_shortfall(self):
        h = self.host()
        # 301 MiB -> 151 pages of 2 MiB (rounded up); 10 of 40 free: 141 more.
        h.hugepages(None, 40, 10)
        h.need(301 * 1024 * 1024)
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("151 x 2048 kB needed, 10 free of 40: reserving 181", out)
        self.assertIn(f"would run: dpdk-hugepages.py --pagesize 2048K --reserve {181 * 2048}K\n", out)
        self.assertNotIn("--mount", out)  # /proc/mounts has hugetlbfs

    def test_enough_free_pages_change_nothing(self):
        h = self.host()
        h.hugepages(None, 512, 300)
        h.need(300 * 2 * 1024 * 1024)
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("has 300 free 2048 kB pages, 300 needed", out)
        self.assertNotIn("dpdk-hugepages", out)

    def test_numa_node_of_the_port_and_mount(self):
        h = self.host(numa_nodes=[0, 1])
        h.write("/proc/mounts", "sysfs /sys sysfs rw 0 0\n")
        h.hugepages(0, 100, 100)
        h.hugepages(1, 0, 0)
        h.nic("0000:81:00.0", "ice", "ens7f0", node=1)
        h.config(["0000:81:00.0"])
        h.need(1024 * 1024 * 1024)
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("hugepages: node 1: 512 x 2048 kB needed, 0 free of 0: reserving 512", out)
        self.assertIn(f"--reserve {512 * 2048}K --node 1", out)
        self.assertNotIn("--node 0", out)
        self.assertIn("would run: dpdk-hugepages.py --mount", out)

    def test_1g_pages(self):
        h = self.host(page_kb=1048576)
        h.hugepages(None, 2, 1)
        h.need(3 * 1024 ** 3 + 1)  # 4 pages
        rc, out, err = h.start()
        self.assertEqual(rc, 0, err)
        self.assertIn("4 x 1048576 kB needed, 1 free of 2: reserving 5", out)

    # --- errors and stop --------------------------------------------------------
    def test_check_config_failure_is_a_config_error(self):
        h = self.host()
        h.need(0, fail=True)
        rc, out, err = h.start()
        self.assertEqual(rc, 2)
        self.assertIn("workers.count: bad", err)

    def test_bad_toml_and_missing_file(self):
        h = self.host()
        h.config([], raw="[[ports]]\nname = \n")
        rc, _, err = h.start()
        self.assertEqual(rc, 2)
        self.assertIn("turnpike.toml", err)
        rc, _, err = h.run("start", "--config", os.path.join(self.tmp, "nope.toml"), "--dry-run")
        self.assertEqual(rc, 2)
        self.assertIn("nope.toml", err)

    def test_stop_gives_ports_back(self):
        h = self.host()
        os.makedirs(h.state)
        with open(os.path.join(h.state, "ports.json"), "w") as f:
            json.dump({"0000:03:00.0": "ixgbe", "0000:04:00.0": None}, f)
        rc, out, err = h.run("stop", "--dry-run")
        self.assertEqual(rc, 0, err)
        self.assertIn("would run: dpdk-devbind.py --bind=ixgbe 0000:03:00.0", out)
        self.assertIn("would run: dpdk-devbind.py -u 0000:04:00.0", out)
        self.assertTrue(os.path.exists(os.path.join(h.state, "ports.json")), "dry run removed state")

    def test_stop_without_state_does_nothing(self):
        rc, out, err = self.host().run("stop", "--dry-run")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "")

    def test_usage(self):
        h = self.host()
        self.assertEqual(h.run("frobnicate")[0], 2)
        self.assertEqual(h.run("start", "--bogus")[0], 2)
        rc, out, _ = h.run("--help")
        self.assertEqual(rc, 0)
        self.assertIn("SYNOPSIS", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
