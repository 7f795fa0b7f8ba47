#!/usr/bin/env python3
"""Sends malformed IPv6 / ICMPv6 / ND frames at turnpike from the peer namespace.

usage: frames6.py IFACE DST_MAC DST_IP SRC_IP COUNT
Each category is sent COUNT times; prints "category count" per line. The
ICMPv6 checksums are right unless the category is about them, so every
frame reaches the check it is meant for."""
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


def main():
    iface, dmac, dip, sip, count = sys.argv[1:6]
    count = int(count)
    dmac = bytes.fromhex(dmac.replace(":", ""))
    smac = bytes([2, 0, 0, 0x77, 0, 6])
    dip = socket.inet_pton(socket.AF_INET6, dip)
    sip = socket.inet_pton(socket.AF_INET6, sip)

    def icmp6(msg, good=True):
        ph = sip + dip + struct.pack("!I3xB", len(msg), 58)
        c = csum(ph + msg[:2] + b"\0\0" + msg[4:]) ^ (0 if good else 0x1111)
        return msg[:2] + struct.pack("!H", c) + msg[4:]

    def ip6(nh, payload, hop=64, plen=None):
        return struct.pack("!IHBB", 0x60000000, len(payload) if plen is None else plen, nh, hop) + sip + dip + payload

    def frame(nh, payload, **kw):
        return dmac + smac + struct.pack("!H", 0x86DD) + ip6(nh, payload, **kw)

    echo = icmp6(struct.pack("!BBHHH", 128, 0, 0, 9, 1) + bytes(range(24)))
    # NS for turnpike's own address with our link-layer address.
    ns = lambda opt=bytes([1, 1]) + smac: icmp6(struct.pack("!BBHI", 135, 0, 0, 0) + dip + opt)
    dest = lambda nxt: bytes([nxt, 0, 1, 4, 0, 0, 0, 0])
    cats = {
        "nd_hop_limit": lambda: frame(58, ns(), hop=64),
        "nd_bad_option": lambda: frame(58, ns(bytes([1, 0]) + smac), hop=255),
        "icmp6_checksum": lambda: frame(58, icmp6(echo, good=False)),
        "ipv6_short": lambda: dmac + smac + struct.pack("!H", 0x86DD) + ip6(58, echo)[:30],
        "ipv6_payload_len": lambda: frame(58, echo, plen=400),
        "ipv6_ext_chain": lambda: frame(60, b"".join(dest(60) for _ in range(8)) + dest(58) + echo),
        "ipv6_ext_truncated": lambda: frame(60, bytes([58, 4, 1, 4, 0, 0, 0, 0]) + echo[:8]),
        "ipv6_fragment": lambda: frame(44, bytes([58, 0, 0, 1, 0, 0, 0, 5]) + echo),
        "ipv6_routing": lambda: frame(43, bytes([58, 0, 0, 1, 0, 0, 0, 0]) + echo),
    }
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for name, make in cats.items():
        for _ in range(count):
            f = make()
            s.send(f)
        print(name, count)


if __name__ == "__main__":
    main()
