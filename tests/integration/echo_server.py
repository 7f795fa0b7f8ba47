#!/usr/bin/env python3
"""Kernel TCP echo server (RFC 862) for rig tests: echoes until the peer
half-closes, then closes. usage: echo_server.py HOST PORT [SECONDS]"""
import asyncio
import sys


async def handle(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(host, port, seconds):
    server = await asyncio.start_server(handle, host, port, backlog=1024)
    async with server:
        await asyncio.sleep(seconds)  # bounded: the test harness also kills it


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 600))
