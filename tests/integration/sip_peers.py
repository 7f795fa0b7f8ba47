#!/usr/bin/env python3
"""SIP test peers for the namespace rig.

backend HOST PORT LOGFILE   plain-TCP SIP server: answers every request with
                            200 OK (Via/From/To/Call-ID/CSeq copied), logs a
                            PROXY v2 source address if one arrives. Runs
                            until killed.
tlsbackend HOST PORT LOGFILE CHAIN KEY CA
                            the same over TLS (after an optional PROXY v2
                            header): requires a client certificate verified
                            against CA with OpenSSL's SSL-client purpose
                            (clientAuth), logs "tls-ok cn=..." or
                            "tls-refused <reason>", and adds
                            "X-TLS-Client: <cn>" and "X-TLS-Client-SHA256:
                            <fingerprint>" to its answers.
client HOST PORT CA CERT KEY MODE   TLS client (Python ssl); MODE is one of
                            options | keepalive | oversize | badlength | many:N
                            and prints what came back.
plainclient HOST PORT MODE  the same modes over plain TCP (egress tests).
"""
import hashlib
import socket
import ssl
import struct
import sys
import threading

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def request(method="OPTIONS", call_id="c1", body=b"", extra=""):
    head = (f"{method} sip:edge.test SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 198.18.0.9:5061;branch=z9hG4bK-{call_id}\r\n"
            f"Max-Forwards: 70\r\nTo: <sip:edge.test>\r\nFrom: <sip:probe@test>;tag=1\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 {method}\r\n{extra}Content-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def read_message(f):
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        b = f.read(1)
        if not b:
            return head
        head += b
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:") or line.lower().startswith(b"l:"):
            length = int(line.split(b":", 1)[1])
    return head + (f.read(length) if length else b"")


def recv_exact(c, n):
    data = b""
    while len(data) < n:
        b = c.recv(n - len(data))
        if not b:
            break
        data += b
    return data


def backend(host, port, logfile, chain=None, key=None, ca=None):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, int(port)))
    srv.listen(512)
    log = open(logfile, "a", buffering=1)
    ctx = None
    if chain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain, key)
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED

    def serve(c):
        try:
            serve_one(c)
        except OSError as e:  # a peer that resets or goes silent ends only its own thread
            log.write(f"connection error {e}\n")

    def serve_one(c):
        c.settimeout(30)
        first = c.recv(16, socket.MSG_PEEK)
        if first.startswith(SIG[:len(first)]) and first:
            hdr = recv_exact(c, 16)
            n = struct.unpack("!H", hdr[14:16])[0]
            body = recv_exact(c, n)
            if len(hdr) == 16 and hdr[12] & 0x0f == 0:
                pass  # LOCAL: the proxy's own connection (a health check), no addresses
            elif hdr[13] >> 4 == 2 and len(body) >= 36:  # AF_INET6: 16 + 16 + 2 + 2 bytes
                src = socket.inet_ntop(socket.AF_INET6, body[0:16])
                sport = struct.unpack("!H", body[32:34])[0]
                log.write(f"proxy-v2 src=[{src}]:{sport} len={n}\n")
            elif len(body) >= 12:
                src = socket.inet_ntoa(body[0:4])
                sport = struct.unpack("!H", body[8:10])[0]
                log.write(f"proxy-v2 src={src}:{sport} len={n}\n")
            else:
                log.write(f"proxy-v2 malformed len={n}\n")
        if not c.recv(1, socket.MSG_PEEK):
            c.close()  # connected and closed politely (a health check): nothing to log
            return
        extra = b""
        if ctx:
            try:
                c = ctx.wrap_socket(c, server_side=True)
            except (ssl.SSLError, OSError) as e:
                log.write(f"tls-refused {e}\n")
                c.close()
                return
            cn = dict(x[0] for x in c.getpeercert()["subject"]).get("commonName", "")
            fp = hashlib.sha256(c.getpeercert(binary_form=True)).hexdigest().upper()
            log.write(f"tls-ok cn={cn} sha256={fp} reused={c.session_reused}\n")
            extra = f"\r\nX-TLS-Client: {cn}\r\nX-TLS-Client-SHA256: {fp}".encode()
        f = c.makefile("rb")
        while True:
            m = read_message(f)
            if not m.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in m:
                break
            lines = m.split(b"\r\n")
            keep = [l for l in lines[1:] if l.split(b":")[0].strip().lower() in
                    (b"via", b"from", b"to", b"call-id", b"cseq")]
            log.write("request " + lines[0].decode(errors="replace") + "\n")
            c.sendall(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + extra + b"\r\nContent-Length: 0\r\n\r\n")
        c.close()

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def client(host, port, ca, cert, key, mode):
    if ca is None:
        s = socket.create_connection((host, int(port)), timeout=10)
    else:
        ctx = ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        ctx.load_cert_chain(cert, key)
        s = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10), server_hostname="both.test")
    f = s.makefile("rb")
    try:
        if mode == "show":
            s.sendall(request())
            print(read_message(f).decode(errors="replace"))
        if mode == "options":
            s.sendall(request())
            print(read_message(f).split(b"\r\n")[0].decode())
        elif mode == "keepalive":
            s.sendall(b"\r\n\r\n")
            pong = f.read(2)
            s.sendall(request(call_id="after-ping"))
            print("pong" if pong == b"\r\n" else f"no pong {pong!r}", read_message(f).split(b"\r\n")[0].decode())
        elif mode == "oversize":
            s.sendall(request(body=b"x" * 70000))
            print(read_message(f).split(b"\r\n")[0].decode())
        elif mode == "badlength":
            s.sendall(request(extra="").replace(b"Content-Length: 0", b"Content-Length: abc"))
            print(read_message(f).split(b"\r\n")[0].decode())
        elif mode.startswith("many:"):
            n = int(mode.split(":")[1])
            ok = 0
            for i in range(n):
                s.sendall(request(call_id=f"m{i}"))
                m = read_message(f)
                ok += m.startswith(b"SIP/2.0 200") and f"Call-ID: m{i}".encode() in m
            print(f"{ok}/{n}")
    except (ssl.SSLError, OSError) as e:
        print("error", type(e).__name__, e)


if __name__ == "__main__":
    if sys.argv[1] == "backend":
        backend(*sys.argv[2:5])
    elif sys.argv[1] == "tlsbackend":
        backend(*sys.argv[2:8])
    elif sys.argv[1] == "plainclient":
        client(sys.argv[2], sys.argv[3], None, None, None, sys.argv[4])
    else:
        client(*sys.argv[2:8])
