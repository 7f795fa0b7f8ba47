#!/usr/bin/env bash
# Reserves 2 MiB hugepages for a NIC deployment (vdev rigs and the demo run
# with --no-huge and need none). usage: hugepages.sh [COUNT] (default 1024 = 2 GiB)
set -euo pipefail
count=${1:-1024}
[ "$(id -u)" -eq 0 ] || { echo "hugepages.sh: run as root" >&2; exit 1; }
echo "$count" > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
got=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
echo "reserved $got of $count 2 MiB hugepages; mounted on /dev/hugepages"
[ "$got" -ge "$count" ] || { echo "hugepages.sh: memory too fragmented for $count pages" >&2; exit 1; }
