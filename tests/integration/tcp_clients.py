#!/usr/bin/env python3
"""Kernel TCP clients against an echo service: N concurrent connections each
send B random bytes, half-close, and read the echo until EOF; every echo is
checked by SHA-256. Prints one JSON line. Bounded by --timeout seconds.

usage: tcp_clients.py HOST PORT --conns N --bytes B [--timeout S] [--seed K]
"""
import argparse
import asyncio
import hashlib
import json
import random
import time


async def one(host, port, payload, stats, timeout):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except Exception as e:  # noqa: BLE001 - every failure is counted by kind
        stats["connect_errors"][type(e).__name__] = stats["connect_errors"].get(type(e).__name__, 0) + 1
        return

    async def send():
        view = memoryview(payload)
        for off in range(0, len(view), 65536):
            writer.write(view[off:off + 65536])
            await writer.drain()
        writer.write_eof()  # half-close: the echo service answers with its FIN

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
        if got == len(payload) and h.digest() == hashlib.sha256(payload).digest():
            stats["ok"] += 1
        else:
            stats["mismatch"] += 1
            stats["bad_bytes"] += abs(len(payload) - got)
    except Exception as e:  # noqa: BLE001
        stats["errors"][type(e).__name__] = stats["errors"].get(type(e).__name__, 0) + 1
        sender.cancel()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:  # noqa: BLE001
            pass
    stats["bytes"] += got


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--bytes", type=int, default=1 << 20)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    stats = {"ok": 0, "mismatch": 0, "bad_bytes": 0, "bytes": 0, "errors": {}, "connect_errors": {}}
    t0 = time.time()
    payloads = [rnd.randbytes(a.bytes) for _ in range(a.conns)]
    try:
        await asyncio.wait_for(asyncio.gather(*(one(a.host, a.port, p, stats, a.timeout) for p in payloads)),
                               a.timeout * 3)
    except asyncio.TimeoutError:
        stats["errors"]["overall_timeout"] = 1
    dt = time.time() - t0
    stats.update(conns=a.conns, seconds=round(dt, 2), mb_per_s_each_way=round(stats["bytes"] / dt / 1e6, 2))
    print(json.dumps(stats))


if __name__ == "__main__":
    asyncio.run(main())
