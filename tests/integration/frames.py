#!/usr/bin/env python3
"""Sends malformed and unwanted frames at turnpike from the peer namespace.

usage: frames.py IFACE DST_MAC DST_IP SRC_IP COUNT SEED
Prints one line per category with how many frames were sent. Frames are at
least 14 bytes (the kernel refuses shorter ones on an Ethernet device)."""
import random
import socket
import struct
import sys


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip_hdr(src, dst, proto, payload_len, frag=0x4000, ihl=5, ttl=64, good=True):
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + payload_len, 1, frag, ttl, proto, 0, src, dst)
    h += b"\x01" * (ihl * 4 - 20)
    c = csum(h)
    if not good:
        c ^= 0x5A5A
    return h[:10] + struct.pack("!H", c) + h[12:]


def main():
    iface, dmac, dip, sip, count, seed = sys.argv[1:7]
    count, rnd = int(count), random.Random(int(seed))
    dmac = bytes.fromhex(dmac.replace(":", ""))
    smac = bytes([2, 0, 0, 0x77, 0, 1])
    dip, sip = socket.inet_aton(dip), socket.inet_aton(sip)
    eth = lambda t, dst=dmac: dst + smac + struct.pack("!H", t)
    icmp = lambda typ=8, good=True, n=32: (lambda body: body[:2] + struct.pack("!H", csum(body) ^ (0 if good else 1)) + body[4:])(
        struct.pack("!BBHHH", typ, 0, 0, 7, 1) + bytes(rnd.randrange(256) for _ in range(n)))

    cats = {
        "random_payload": lambda: eth(rnd.randrange(65536)) + rnd.randbytes(rnd.randrange(0, 200)),
        "ipv4_garbage": lambda: eth(0x0800) + rnd.randbytes(rnd.randrange(0, 80)),
        "ipv4_bad_checksum": lambda: eth(0x0800) + ip_hdr(sip, dip, 1, 40, good=False) + icmp(),
        "ipv4_truncated": lambda: eth(0x0800) + ip_hdr(sip, dip, 1, 400) + icmp(),
        "ipv4_bad_version": lambda: eth(0x0800) + bytes([0x65]) + ip_hdr(sip, dip, 1, 40)[1:] + icmp(),
        "ipv4_bad_ihl": lambda: eth(0x0800) + bytes([0x43]) + ip_hdr(sip, dip, 1, 40)[1:] + icmp(),
        "ipv4_fragment": lambda: eth(0x0800) + ip_hdr(sip, dip, 1, 40, frag=0x2000) + icmp(),
        "ipv4_other_dst": lambda: eth(0x0800) + ip_hdr(sip, b"\xc6\x12\xfe\x09", 1, 40) + icmp(),
        "icmp_bad_checksum": lambda: eth(0x0800) + ip_hdr(sip, dip, 1, 40) + icmp(good=False),
        "icmp_not_echo": lambda: eth(0x0800) + ip_hdr(sip, dip, 1, 40) + icmp(typ=13),
        "udp_no_service": lambda: eth(0x0800) + ip_hdr(sip, dip, 17, 16) + rnd.randbytes(16),
        "arp_truncated": lambda: eth(0x0806) + rnd.randbytes(rnd.randrange(0, 28)),
        "arp_bad_hw": lambda: eth(0x0806) + struct.pack("!HHBBH", 6, 0x0800, 6, 4, 1) + rnd.randbytes(20),
        "arp_bad_op": lambda: eth(0x0806) + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 9) + smac + sip + bytes(6) + dip,
        "other_mac": lambda: eth(0x0800, bytes([2, 9, 9, 9, 9, 9])) + ip_hdr(sip, dip, 1, 40) + icmp(),
        "multicast_mac": lambda: eth(0x0800, bytes([1, 0, 0x5E, 0, 0, 1])) + ip_hdr(sip, dip, 1, 40) + icmp(),
        "vlan": lambda: eth(0x8100) + rnd.randbytes(40),
    }
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    names = list(cats)
    sent = {n: 0 for n in names}
    for i in range(count):
        n = names[i % len(names)]
        f = cats[n]()
        while True:
            try:
                s.send(f)
                break
            except BlockingIOError:
                continue
        sent[n] += 1
    for n in names:
        print(f"{n} {sent[n]}")


if __name__ == "__main__":
    main()
