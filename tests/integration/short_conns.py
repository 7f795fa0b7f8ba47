#!/usr/bin/env python3
"""Short-connection load for short_conns.sh (issue 15 item 4).

flood HOST PORT COUNT SECONDS CONCURRENCY
    COUNT plain-TCP connections to a TLS port, at most CONCURRENCY at once,
    each sending what a misconfigured phone or a scanner sends (a plain SIP
    OPTIONS, an HTTP request, or 64 bytes of 0xff), then waiting for the
    server to close. Stops after SECONDS whatever the count. Prints JSON:
    done, closed_by_server, refused, timeouts, errors, seconds, rate.
mtls HOST PORT SRC_IP CA CERT KEY COUNT
    COUNT sequential mutual-TLS handshakes from SRC_IP, one OPTIONS each.
    Prints JSON: ok, failed, reasons, p50_ms, p99_ms.
"""
import asyncio
import json
import socket
import ssl
import sys
import time

PAYLOADS = [
    b"OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TCP 198.18.0.9;branch=z9hG4bK-x\r\n"
    b"Call-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: edge.test\r\n\r\n",
    b"\xff" * 64,
]


def flood(host, port, count, seconds, concurrency):
    st = {"done": 0, "closed_by_server": 0, "refused": 0, "timeouts": 0, "errors": 0}
    deadline = time.monotonic() + seconds
    nxt = [0]

    async def worker():
        while nxt[0] < count and time.monotonic() < deadline:
            i = nxt[0]
            nxt[0] += 1
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            except ConnectionRefusedError:
                st["refused"] += 1
                continue
            except asyncio.TimeoutError:
                st["timeouts"] += 1
                continue
            except OSError:
                st["errors"] += 1
                continue
            try:
                w.write(PAYLOADS[i % len(PAYLOADS)])
                # The server refuses at once: EOF (or a reset) well before 5 s.
                while await asyncio.wait_for(r.read(4096), 5):
                    pass
                st["closed_by_server"] += 1
            except (ConnectionResetError, BrokenPipeError):
                st["closed_by_server"] += 1
            except asyncio.TimeoutError:
                st["timeouts"] += 1
            except OSError:
                st["errors"] += 1
            finally:
                w.close()
                try:
                    await w.wait_closed()
                except OSError:
                    pass
            st["done"] += 1

    async def main():
        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        st["seconds"] = round(time.monotonic() - t0, 2)
        st["rate"] = round(st["done"] / max(st["seconds"], 0.001))

    asyncio.run(main())
    print(json.dumps(st))


def mtls(host, port, src, ca, cert, key, count):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(cert, key)
    ok, reasons, lat = 0, {}, []
    for i in range(count):
        t0 = time.monotonic()
        try:
            raw = socket.create_connection((host, port), timeout=5, source_address=(src, 0))
            with ctx.wrap_socket(raw, server_hostname="both.test") as s:
                lp = s.getsockname()[1]
                s.sendall((f"OPTIONS sip:edge.test SIP/2.0\r\nVia: SIP/2.0/TLS {src}:{lp};branch=z9hG4bK-m{i}\r\n"
                           f"To: <sip:edge.test>\r\nFrom: <sip:m@test>;tag={i}\r\nCall-ID: m{i}\r\n"
                           f"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").encode())
                buf = b""
                while b"\r\n\r\n" not in buf:
                    d = s.recv(4096)
                    if not d:
                        break
                    buf += d
                line = buf.split(b"\r\n", 1)[0].decode(errors="replace")
                if line == "SIP/2.0 200 OK" and f"Call-ID: m{i}".encode() in buf:
                    ok += 1
                    lat.append((time.monotonic() - t0) * 1000)
                else:
                    reasons[line or "closed"] = reasons.get(line or "closed", 0) + 1
        except (OSError, ssl.SSLError) as e:
            k = type(e).__name__
            reasons[k] = reasons.get(k, 0) + 1
    lat.sort()
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    print(json.dumps({"ok": ok, "failed": count - ok, "reasons": reasons, "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))


if __name__ == "__main__":
    if sys.argv[1] == "flood":
        flood(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]))
    elif sys.argv[1] == "mtls":
        mtls(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], int(sys.argv[8]))
    else:
        sys.exit(__doc__)
