#!/usr/bin/env python3
"""Kernel TCP clients against an echo service, with the worker each flow
belongs to: N concurrent connections each send B random bytes, half-close and
read the echo until EOF (checked by SHA-256). For every connection the owner
worker is computed as turnpike computes it (Toeplitz with the symmetric key
0x6d5a over src, dst, sport, dport of the client's segments: 12 bytes for
IPv4, 36 for IPv6 -- the 16-byte addresses then the ports, Microsoft's RSS
input for TCP over IPv6 as tcp/rss.cpp hash_v6_tcp; hash % workers, the
redirection table of a port without RSS). HOST may be an IPv6 address.
Prints one JSON line: ok, bytes, mismatch, errors, owners (connections per
worker). Bounded by --timeout seconds per read and per connect.
--selftest checks the hash against Microsoft's published vectors and exits.

usage: flow_placement.py HOST PORT --conns N --bytes B --workers W [--timeout S]
       flow_placement.py --selftest
"""
import argparse
import asyncio
import hashlib
import json
import random
import socket
import struct
import sys

KEY = bytes([0x6D, 0x5A] * 20)

# Microsoft "Verifying the RSS hash calculation": its key and, per family,
# (src, dst, sport, dport, hash with TCP ports).
MS_KEY = bytes.fromhex("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")
MS_VECTORS = [
    ("66.9.149.187", "161.142.100.80", 2794, 1766, 0x51CCC178),
    ("199.92.111.2", "65.69.140.83", 14230, 4739, 0xC626B0EA),
    ("3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 2794, 1766, 0x40207D3D),
    ("3ffe:501:8::260:97ff:fe40:efab", "ff02::1", 14230, 4739, 0xDDE51BBF),
    ("3ffe:1900:4545:3:200:f8ff:fe21:67cf", "fe80::200:f8ff:fe21:67cf", 44251, 38024, 0x02D1FEEF),
]


def toeplitz(data: bytes, key_bytes: bytes = KEY) -> int:
    """Microsoft RSS Toeplitz hash of data with key_bytes (32 bits longer than data at least)."""
    assert len(key_bytes) * 8 >= len(data) * 8 + 32
    key = int.from_bytes(key_bytes, "big")
    keybits = len(key_bytes) * 8
    h = 0
    for i, byte in enumerate(data):
        for b in range(8):
            if byte & (0x80 >> b):
                bit = i * 8 + b
                h ^= (key >> (keybits - 32 - bit)) & 0xFFFFFFFF
    return h


def addr_bytes(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)


def tcp_hash(src, dst, sport, dport, key=KEY):
    """The RSS input for TCP: addresses (4 or 16 bytes each) then ports."""
    return toeplitz(addr_bytes(src) + addr_bytes(dst) + struct.pack("!HH", sport, dport), key)


def owner(src, dst, sport, dport, workers):
    return tcp_hash(src, dst, sport, dport) % workers


def selftest():
    bad = [v for v in MS_VECTORS if tcp_hash(v[0], v[1], v[2], v[3], MS_KEY) != v[4]]
    # The symmetric key: both directions of a flow hash alike, IPv6 too.
    a, b = "2001:db8:215::2", "2001:db8:215::1"
    sym = all(tcp_hash(a, b, p, 7) == tcp_hash(b, a, 7, p) for p in range(40000, 40100))
    print(json.dumps({"vectors": len(MS_VECTORS), "bad": [v[:2] for v in bad], "symmetric": sym}))
    return 0 if not bad and sym else 1


async def one(host, port, payload, workers, out, timeout):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except Exception as e:  # noqa: BLE001 - counted by kind
        out["errors"][type(e).__name__] = out["errors"].get(type(e).__name__, 0) + 1
        return
    src, sport = writer.get_extra_info("sockname")[:2]

    async def send():
        view = memoryview(payload)
        for off in range(0, len(view), 65536):
            writer.write(view[off:off + 65536])
            await writer.drain()
        writer.write_eof()

    h = hashlib.sha256()
    got = 0
    sender = asyncio.ensure_future(send())
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            h.update(chunk)
            got += len(chunk)
        await sender
    except Exception as e:  # noqa: BLE001
        out["errors"][type(e).__name__] = out["errors"].get(type(e).__name__, 0) + 1
        sender.cancel()
        writer.close()
        return
    writer.close()
    out["bytes"] += got
    if got == len(payload) and h.digest() == hashlib.sha256(payload).digest():
        out["ok"] += 1
        out["owners"][owner(src, host, sport, port, workers)] += 1
    else:
        out["mismatch"] += 1


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--bytes", type=int, default=262144)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args()
    rnd = random.Random(12)
    payload = bytes(rnd.getrandbits(8) for _ in range(a.bytes))
    out = {"ok": 0, "bytes": 0, "mismatch": 0, "errors": {}, "owners": [0] * a.workers}
    await asyncio.gather(*(one(a.host, a.port, payload, a.workers, out, a.timeout) for _ in range(a.conns)))
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1:] == ["--selftest"]:
        sys.exit(selftest())
    asyncio.run(main())
