#!/usr/bin/env python3
"""SIP-over-TLS test client for sip_kamailio.sh and sip_badinput.sh.

usage: sip_client.py HOST PORT CA CERT KEY MODE [ARG]
Prints one JSON object describing what happened. MODEs:
  register     REGISTER alice, OPTIONS to her AOR, OPTIONS to the domain on one
               connection; each reply's status, X-Seen-Source, X-Location,
               Contact, and whether Call-ID/CSeq/Via branch match the request
  options      one OPTIONS; the status line
  split1 MS    TLS handshake through ssl.MemoryBIO, every byte the client
               writes during the handshake in its own send() (TCP_NODELAY,
               MS ms apart), then one OPTIONS
  trickle MS   the ClientHello one byte every MS ms; reports when the server
               closed and how much of it had been sent
  truncated FIN|RST  a TLS record header announcing more than follows, then
               FIN (shutdown) or RST (SO_LINGER 0); reports the server's reaction
  http         an HTTP request instead of a ClientHello
  badhello     a TLS handshake record whose ClientHello body is noise
  bigheader N  a request whose header section is N bytes
  biglength N  a request announcing Content-Length N (body not sent)
usage: sip_client.py pv2probe HOST PORT SRC_IP SRC_PORT
  plain TCP straight to a backend: a PROXY v2 header claiming SRC_IP:SRC_PORT,
  then one OPTIONS; prints the status and X-Seen-Source of the answer
"""
import json
import socket
import ssl
import struct
import sys
import time


def tls_context(ca, cert, key):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    ctx.load_cert_chain(cert, key)
    return ctx


def request(method, ruri, call_id, cseq, branch, local, extra="", body=b""):
    head = (f"{method} {ruri} SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS {local};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:alice@edge.test>\r\nFrom: <sip:alice@edge.test>;tag=t{call_id}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{extra}Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


class Reader:
    """Reads SIP messages (head + Content-Length body) from a recv function."""

    def __init__(self, recv):
        self.recv = recv
        self.buf = b""

    def message(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.recv()
            if not d:
                return None
            self.buf += d
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() in (b"content-length", b"l"):
                n = int(value)
        while len(rest) < n:
            d = self.recv()
            if not d:
                return None
            rest += d
        self.buf = rest[n:]
        return head.decode(errors="replace") + "\r\n\r\n" + rest[:n].decode(errors="replace")


def header(msg, name):
    for line in msg.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def status(msg):
    return msg.split("\r\n", 1)[0] if msg else None


def mode_register(host, port, ca, cert, key):
    s = tls_context(ca, cert, key).wrap_socket(socket.create_connection((host, port), timeout=10),
                                                server_hostname="both.test")
    ip, lport = s.getsockname()
    local = f"{ip}:{lport}"
    rd = Reader(lambda: s.recv(65536))
    out = {"local": local, "replies": []}
    steps = [("REGISTER", "sip:edge.test", f"Contact: <sip:alice@{local};transport=tls>\r\nExpires: 300\r\n"),
             ("OPTIONS", "sip:alice@edge.test", ""),
             ("OPTIONS", "sip:edge.test", "")]
    for i, (method, ruri, extra) in enumerate(steps, 1):
        call_id, branch = f"kam-{lport}-{i}", f"z9hG4bK-{lport}-{i}"
        s.sendall(request(method, ruri, call_id, i, branch, local, extra))
        m = rd.message()
        out["replies"].append({
            "method": method, "ruri": ruri, "status": status(m),
            "seen": header(m, "X-Seen-Source") if m else None,
            "location": header(m, "X-Location") if m else None,
            "tls": header(m, "X-Seen-TLS") if m else None,
            "contact": header(m, "Contact") or header(m, "m") if m else None,
            "matches": bool(m) and header(m, "Call-ID") == call_id and header(m, "CSeq") == f"{i} {method}"
                       and f"branch={branch}" in (header(m, "Via") or ""),
        })
    s.close()
    return out


def mode_options(host, port, ca, cert, key):
    s = tls_context(ca, cert, key).wrap_socket(socket.create_connection((host, port), timeout=10),
                                                server_hostname="both.test")
    ip, lport = s.getsockname()
    s.sendall(request("OPTIONS", "sip:edge.test", f"o-{lport}", 1, f"z9hG4bK-o{lport}", f"{ip}:{lport}"))
    m = Reader(lambda: s.recv(65536)).message()
    return {"status": status(m)}


def memory_bio_handshake(host, port, ca, cert, key, delay_s):
    """Handshake through MemoryBIOs, one byte per send(); returns the pieces and counts."""
    inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context(ca, cert, key).wrap_bio(inc, outb, server_hostname="both.test")
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sends = sent = 0

    def flush():
        nonlocal sends, sent
        data = outb.read()
        for i in range(len(data)):
            sock.send(data[i:i + 1])
            sends += 1
            sent += 1
            if delay_s:
                time.sleep(delay_s)

    while True:
        try:
            obj.do_handshake()
            flush()
            break
        except ssl.SSLWantReadError:
            flush()
            d = sock.recv(65536)
            if not d:
                raise ConnectionError("EOF during handshake")
            inc.write(d)
    return sock, obj, inc, outb, sends, sent


def mode_split1(host, port, ca, cert, key, ms):
    t0 = time.monotonic()
    sock, obj, inc, outb, sends, sent = memory_bio_handshake(host, port, ca, cert, key, float(ms) / 1000)
    hs_s = time.monotonic() - t0
    ip, lport = sock.getsockname()
    obj.write(request("OPTIONS", "sip:edge.test", f"s-{lport}", 1, f"z9hG4bK-s{lport}", f"{ip}:{lport}"))
    sock.sendall(outb.read())

    def recv():
        while True:
            try:
                return obj.read(65536)
            except ssl.SSLWantReadError:
                d = sock.recv(65536)
                if not d:
                    return b""
                inc.write(d)
    m = Reader(recv).message()
    return {"local_port": lport, "handshake": "ok", "version": obj.version(), "sends": sends, "bytes": sent,
            "handshake_s": round(hs_s, 2), "status": status(m)}


def client_hello(ca, cert, key):
    inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls_context(ca, cert, key).wrap_bio(inc, outb, server_hostname="both.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outb.read()


def wait_close(sock, limit_s):
    """Reads until EOF/reset or limit; returns (how, seconds, bytes received)."""
    t0 = time.monotonic()
    got = b""
    sock.settimeout(0.2)
    while time.monotonic() - t0 < limit_s:
        try:
            d = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return "reset", time.monotonic() - t0, got
        if not d:
            return "eof", time.monotonic() - t0, got
        got += d
    return "open", time.monotonic() - t0, got


def mode_trickle(host, port, ca, cert, key, ms):
    hello = client_hello(ca, cert, key)
    sock = socket.create_connection((host, port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lport = sock.getsockname()[1]
    sock.settimeout(0)
    t0 = time.monotonic()
    sent, how, got = 0, "open", b""
    while sent < len(hello) and time.monotonic() - t0 < 30:
        try:
            sock.send(hello[sent:sent + 1])
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            how = "reset"
            break
        time.sleep(float(ms) / 1000)
        try:
            d = sock.recv(65536)
            if not d:
                how = "eof"
                break
            got += d
        except BlockingIOError:
            pass
        except ConnectionResetError:
            how = "reset"
            break
    closed_s = time.monotonic() - t0
    if how == "open":
        how, extra_s, more = wait_close(sock, 5)
        closed_s += extra_s
        got += more
    return {"local_port": lport, "closed": how, "after_s": round(closed_s, 2), "sent": sent, "hello_len": len(hello),
            "alert": got[:1] == b"\x15"}


def mode_truncated(host, port, ca, cert, key, how):
    hello = client_hello(ca, cert, key)
    sock = socket.create_connection((host, port), timeout=10)
    lport = sock.getsockname()[1]
    # The record header announces the whole ClientHello; only part follows.
    sock.sendall(hello[:5 + (len(hello) - 5) // 3])
    time.sleep(0.3)
    if how == "RST":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        return {"local_port": lport, "sent": 5 + (len(hello) - 5) // 3, "record_len": len(hello) - 5,
                "closed": "client-rst"}
    sock.shutdown(socket.SHUT_WR)
    res, secs, got = wait_close(sock, 5)
    return {"local_port": lport, "sent": 5 + (len(hello) - 5) // 3, "record_len": len(hello) - 5, "closed": res,
            "after_s": round(secs, 2), "alert": got[:1] == b"\x15"}


def mode_raw(host, port, kind):
    sock = socket.create_connection((host, port), timeout=10)
    lport = sock.getsockname()[1]
    if kind == "http":
        sock.sendall(b"GET / HTTP/1.1\r\nHost: edge.test\r\nUser-Agent: probe\r\n\r\n")
    else:
        # A well-formed handshake record (RFC 8446 5.1) holding a ClientHello
        # header (type 1, length 60) followed by noise instead of its fields.
        noise = bytes((i * 73 + 41) % 256 for i in range(60))
        sock.sendall(b"\x16\x03\x01\x00\x40\x01\x00\x00\x3c" + noise)
    res, secs, got = wait_close(sock, 5)
    return {"local_port": lport, "closed": res, "after_s": round(secs, 2), "reply_is_alert": got[:1] == b"\x15",
            "reply_is_http": got.startswith(b"HTTP")}


def mode_big(host, port, ca, cert, key, kind, n):
    s = tls_context(ca, cert, key).wrap_socket(socket.create_connection((host, port), timeout=10),
                                                server_hostname="both.test")
    ip, lport = s.getsockname()
    local = f"{ip}:{lport}"
    if kind == "bigheader":
        base = request("OPTIONS", "sip:edge.test", f"h-{lport}", 1, f"z9hG4bK-h{lport}", local)
        # Pad with "X-Pad-NNNNN: ppp\r\n" lines so the head is exactly n bytes:
        # k-1 lines of 100 bytes and a last one of 100..199.
        total = n - len(base)
        k = total // 100
        sizes = [100] * (k - 1) + [total - 100 * (k - 1)]
        lines = "".join(f"X-Pad-{i:05d}: {'p' * (size - 15)}\r\n" for i, size in enumerate(sizes))
        msg = request("OPTIONS", "sip:edge.test", f"h-{lport}", 1, f"z9hG4bK-h{lport}", local, extra=lines)
    else:
        msg = request("OPTIONS", "sip:edge.test", f"b-{lport}", 1, f"z9hG4bK-b{lport}", local)
        msg = msg.replace(b"Content-Length: 0", f"Content-Length: {n}".encode())
    try:
        s.sendall(msg)
    except OSError:
        pass  # the answer may come (and the connection close) before all is sent
    try:
        m = Reader(lambda: s.recv(65536)).message()
    except OSError as e:
        m = None
        err = type(e).__name__
    else:
        err = None
    res, _, _ = wait_close(s, 3) if m else ("?", 0, b"")
    return {"local_port": lport, "sent": len(msg), "head_len": msg.find(b"\r\n\r\n") + 4, "status": status(m),
            "call_id_echoed": bool(m) and header(m, "Call-ID") == f"{'h' if kind == 'bigheader' else 'b'}-{lport}",
            "closed_after": res, "error": err}


def mode_pv2probe(host, port, src_ip, src_port):
    s = socket.create_connection((host, port), timeout=10)
    lip, lport = s.getsockname()
    # PROXY v2 (haproxy proxy-protocol.txt 2.2): PROXY command, TCP over IPv4,
    # addresses and ports in network byte order.
    body = socket.inet_aton(src_ip) + socket.inet_aton(host) + struct.pack("!HH", src_port, port)
    s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + struct.pack("!H", len(body)) + body +
              request("OPTIONS", "sip:edge.test", f"p-{lport}", 1, f"z9hG4bK-p{lport}", f"{lip}:{lport}"))
    m = Reader(lambda: s.recv(65536)).message()
    return {"status": status(m), "seen": header(m, "X-Seen-Source") if m else None}


def main():
    if sys.argv[1] == "pv2probe":
        print(json.dumps(mode_pv2probe(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))))
        return
    host, port = sys.argv[1], int(sys.argv[2])
    ca, cert, key, mode = sys.argv[3:7]
    arg = sys.argv[7] if len(sys.argv) > 7 else None
    try:
        if mode == "register":
            out = mode_register(host, port, ca, cert, key)
        elif mode == "options":
            out = mode_options(host, port, ca, cert, key)
        elif mode == "split1":
            out = mode_split1(host, port, ca, cert, key, arg or "1")
        elif mode == "trickle":
            out = mode_trickle(host, port, ca, cert, key, arg or "100")
        elif mode == "truncated":
            out = mode_truncated(host, port, ca, cert, key, arg or "FIN")
        elif mode in ("http", "badhello"):
            out = mode_raw(host, port, mode)
        elif mode in ("bigheader", "biglength"):
            out = mode_big(host, port, ca, cert, key, mode, int(arg))
        else:
            raise SystemExit(f"unknown mode {mode}")
    except (ssl.SSLError, OSError) as e:
        out = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
