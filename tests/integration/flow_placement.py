#!/usr/bin/env python3
"""Kernel TCP clients against an echo service, with the worker each flow
belongs to: N concurrent connections each send B random bytes, half-close and
read the echo until EOF (checked by SHA-256). For every connection the owner
worker is computed as turnpike computes it (Toeplitz with the symmetric key
0x6d5a over src, dst, sport, dport of the client's segments; hash % workers,
the redirection table of a port without RSS). Prints one JSON line:
ok, bytes, mismatch, errors, owners (connections per worker).
Bounded by --timeout seconds per read and per connect.

usage: flow_placement.py HOST PORT --conns N --bytes B --workers W [--timeout S]
"""
import argparse
import asyncio
import hashlib
import json
import random
import socket
import struct

KEY = bytes([0x6D, 0x5A] * 20)


def toeplitz(data: bytes) -> int:
    """Microsoft RSS Toeplitz hash of data with KEY."""
    key = int.from_bytes(KEY, "big")
    keybits = len(KEY) * 8
    h = 0
    for i, byte in enumerate(data):
        for b in range(8):
            if byte & (0x80 >> b):
                bit = i * 8 + b
                h ^= (key >> (keybits - 32 - bit)) & 0xFFFFFFFF
    return h


def owner(src, dst, sport, dport, workers):
    data = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return toeplitz(data) % workers


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
    asyncio.run(main())
