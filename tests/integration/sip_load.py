#!/usr/bin/env python3
"""Many concurrent SIP-over-TLS connections with checked answers (asyncio).

backend HOST PORT STATSFILE
    plain-TCP SIP server: reads an optional PROXY v2 header, answers every
    request with 200 OK copying Via/From/To/Call-ID/CSeq, echoing the body
    and adding "X-Proxy-Src: ip:port" (the PROXY v2 source, "-" without
    one). Writes its counters to STATSFILE as JSON twice a second.
client HOST PORT CA CERT KEY CONNS MSGS [--handshakes N] [--timeout S]
    opens CONNS TLS connections (mutual TLS: CERT/KEY are a clientAuth leaf),
    holds them all open at once, then sends MSGS requests on each (unique
    Call-ID, CSeq, Via branch; random bodies up to 3000 bytes), checks every
    answer against its request (status, Via with branch, Call-ID, CSeq, body,
    X-Proxy-Src == own address) and prints a JSON summary.
"""
import asyncio
import json
import os
import random
import ssl
import struct
import sys
import time

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


async def read_message(reader):
    """One SIP message (head, body) or None at EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    n = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            n = int(value)
    body = await reader.readexactly(n) if n else b""
    return head, body


def headers(head):
    out = {}
    for line in head.split(b"\r\n")[1:]:
        if not line:
            continue
        name, _, value = line.partition(b":")
        out.setdefault(name.strip().lower().decode(), []).append(value.strip().decode())
    return out


# ---------------------------------------------------------------- backend

def backend(host, port, statsfile):
    stats = {"connections": 0, "open": 0, "max_open": 0, "proxy_v2": 0, "requests": 0, "bad": 0}

    async def serve(reader, writer):
        stats["connections"] += 1
        stats["open"] += 1
        stats["max_open"] = max(stats["max_open"], stats["open"])
        src = "-"
        try:
            first = await reader.readexactly(16)
            if first[:12] == SIG[:12]:
                n = struct.unpack("!H", first[14:16])[0]
                body = await reader.readexactly(n)
                # PROXY protocol v2 (haproxy proxy-protocol.txt 2.2), TCP over IPv4: src, dst, sport, dport.
                # LOCAL (a health check, no address): nothing to read.
                if first[12] & 0x0f == 1 and n >= 12:
                    src = "%d.%d.%d.%d:%d" % (*body[0:4], struct.unpack("!H", body[8:10])[0])
                stats["proxy_v2"] += 1
                rest = b""
            else:
                rest = first
            reader = _Prefixed(rest, reader)
            while True:
                m = await read_message(reader)
                if m is None:
                    break
                head, body = m
                h = headers(head)
                keep = [line for line in head.split(b"\r\n")[1:] if line.split(b":")[0].strip().lower() in
                        (b"via", b"from", b"to", b"call-id", b"cseq")]
                if not head.split(b" ", 1)[0].isalpha() or "call-id" not in h:
                    stats["bad"] += 1
                stats["requests"] += 1
                writer.write(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) +
                             f"\r\nX-Proxy-Src: {src}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            stats["open"] -= 1
            writer.close()

    async def dump():
        while True:
            with open(statsfile + ".tmp", "w") as f:
                json.dump(stats, f)
            os.replace(statsfile + ".tmp", statsfile)
            await asyncio.sleep(0.5)

    async def main():
        srv = await asyncio.start_server(serve, host, int(port), backlog=2048, limit=1 << 20)
        asyncio.get_running_loop().create_task(dump())
        async with srv:
            await srv.serve_forever()

    asyncio.run(main())


class _Prefixed:
    """A StreamReader with some bytes already read put back in front."""

    def __init__(self, prefix, reader):
        self.buf = prefix
        self.reader = reader

    async def readuntil(self, sep):
        while sep not in self.buf:
            d = await self.reader.read(65536)
            if not d:
                raise asyncio.IncompleteReadError(self.buf, None)
            self.buf += d
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    async def readexactly(self, n):
        while len(self.buf) < n:
            d = await self.reader.read(65536)
            if not d:
                raise asyncio.IncompleteReadError(self.buf, n)
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


# ---------------------------------------------------------------- client

def client(host, port, ca, cert, key, conns, msgs, handshakes=64, timeout=120):
    conns, msgs = int(conns), int(msgs)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(cert, key)
    rnd = random.Random(1)
    res = {"connections": conns, "messages_per_connection": msgs, "connected": 0, "max_open": 0,
           "handshake_errors": 0, "answers_ok": 0, "answers_bad": 0, "missing": 0, "errors": {},
           "bad_examples": [], "body_bytes": 0}
    gate = asyncio.Semaphore(handshakes)  # handshakes in flight at once
    all_open = None
    open_now = 0

    def err(e):
        k = type(e).__name__
        res["errors"][k] = res["errors"].get(k, 0) + 1

    async def one(i):
        nonlocal open_now
        try:
            async with gate:
                reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx,
                                                               server_hostname="both.test", limit=1 << 20)
        except (OSError, ssl.SSLError, asyncio.TimeoutError) as e:
            res["handshake_errors"] += 1
            err(e)
            res["missing"] += msgs
            done()
            return
        res["connected"] += 1
        open_now += 1
        res["max_open"] = max(res["max_open"], open_now)
        done()
        await all_open.wait()  # every connection is up before any request
        ip, lport = writer.get_extra_info("sockname")[:2]
        local = f"{ip}:{lport}"
        got = 0
        try:
            for n in range(1, msgs + 1):
                call_id = f"ld-{i}-{n}-{rnd.getrandbits(32):08x}"
                branch = f"z9hG4bK-{i}-{n}-{rnd.getrandbits(32):08x}"
                cseq = f"{n} {'OPTIONS' if n % 2 else 'MESSAGE'}"
                body = bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(rnd.randrange(0, 3000))) \
                    if n % 2 == 0 else b""
                req = (f"{cseq.split()[1]} sip:u{i}@edge.test SIP/2.0\r\n"
                       f"Via: SIP/2.0/TLS {local};branch={branch};rport\r\nMax-Forwards: 70\r\n"
                       f"To: <sip:u{i}@edge.test>\r\nFrom: <sip:load@test>;tag={i}\r\n"
                       f"Call-ID: {call_id}\r\nCSeq: {cseq}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
                writer.write(req)
                await writer.drain()
                m = await read_message(reader)
                if m is None:
                    break
                got += 1
                head, rbody = m
                h = headers(head)
                ok = (head.startswith(b"SIP/2.0 200 ") and h.get("call-id") == [call_id] and h.get("cseq") == [cseq]
                      and len(h.get("via", [])) == 1 and f"branch={branch}" in h["via"][0]
                      and h.get("x-proxy-src") == [local] and rbody == body)
                if ok:
                    res["answers_ok"] += 1
                    res["body_bytes"] += len(body)
                else:
                    res["answers_bad"] += 1
                    if len(res["bad_examples"]) < 3:
                        res["bad_examples"].append({"sent_call_id": call_id, "got": head.decode(errors="replace")})
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError) as e:
            err(e)
        res["missing"] += msgs - got
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass
        open_now -= 1

    pending = conns

    def done():
        nonlocal pending
        pending -= 1
        if pending == 0:
            res["connect_s"] = round(time.monotonic() - t0, 2)
            all_open.set()

    async def main():
        nonlocal all_open
        all_open = asyncio.Event()
        try:
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(conns))), timeout)
        except asyncio.TimeoutError:
            res["timed_out"] = True

    t0 = time.monotonic()
    asyncio.run(main())
    res["duration_s"] = round(time.monotonic() - t0, 2)
    res["messages"] = conns * msgs
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    if sys.argv[1] == "backend":
        backend(*sys.argv[2:5])
    elif sys.argv[1] == "client":
        args = sys.argv[2:]
        opts = {}
        while args and args[-2].startswith("--"):
            opts[args[-2][2:]] = float(args[-1]) if args[-2] == "--timeout" else int(args[-1])
            args = args[:-2]
        r = client(*args, **opts)
        sys.exit(0 if r["answers_ok"] == r["messages"] else 1)
    else:
        sys.exit(__doc__)
