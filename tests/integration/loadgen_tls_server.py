#!/usr/bin/env python3
"""A kernel TLS SIP server for turnpike-loadgen tests (Python ssl, OpenSSL).

usage: loadgen_tls_server.py IP PORT CHAIN KEY CLIENT_CA STATS_FILE [CORRUPT_EVERY]

Answers every request with 200 OK (Via, From, To, Call-ID and CSeq copied,
RFC 3261 8.2.6.2) and every RFC 5626 double-CRLF ping with one CRLF.
Client certificates are optional but verified against CLIENT_CA when sent:
OpenSSL checks the purpose (a serverAuth-only leaf is refused, no EKU is
accepted), dates and issuer, the table of EKU mode On. Session tickets are
issued (TLS 1.2 and 1.3). On SIGTERM it writes its counters as JSON.
With CORRUPT_EVERY=N, every Nth answer carries a wrong CSeq number (the
loadgen must catch each one).
"""
import json
import signal
import socket
import ssl
import sys
import threading

ip, port, chain, key, client_ca, stats_file = sys.argv[1:7]
corrupt_every = int(sys.argv[7]) if len(sys.argv) > 7 else 0
stats = {"accepted": 0, "handshake_failed": 0, "answered": 0, "pongs": 0, "corrupted": 0}
answers = 0
lock = threading.Lock()


def bump(k):
    with lock:
        stats[k] += 1


def headers(head, corrupt):
    out = []
    for line in head.split(b"\r\n")[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name == b"cseq" and corrupt:
            num, _, method = line.split(b":", 1)[1].strip().partition(b" ")
            line = b"CSeq: " + str(int(num) + 1).encode() + b" " + method
        if name in (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq"):
            out.append(line)
    return out


def next_corrupt():
    global answers
    with lock:
        answers += 1
        c = corrupt_every > 0 and answers % corrupt_every == 0
        if c:
            stats["corrupted"] += 1
        return c


def serve(conn):
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            while True:
                if buf.startswith(b"\r\n\r\n"):
                    conn.sendall(b"\r\n")
                    bump("pongs")
                    buf = buf[4:]
                    continue
                if buf.startswith(b"\r\n") and len(buf) >= 2 and not buf.startswith(b"\r\n\r"):
                    buf = buf[2:]
                    continue
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = buf[:end]
                clen = 0
                for line in head.split(b"\r\n")[1:]:
                    n, _, v = line.partition(b":")
                    if n.strip().lower() in (b"content-length", b"l"):
                        clen = int(v.strip())
                if len(buf) < end + 4 + clen:
                    break
                buf = buf[end + 4 + clen:]
                if head.startswith(b"ACK "):
                    continue  # never answered (RFC 3261 section 17)
                resp = b"SIP/2.0 200 OK\r\n" + b"\r\n".join(headers(head, next_corrupt())) + b"\r\nContent-Length: 0\r\n\r\n"
                conn.sendall(resp)
                bump("answered")
    except (OSError, ssl.SSLError, ValueError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(chain, key)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, int(port)))
    ls.listen(512)

    def stop(*_):
        with lock:
            with open(stats_file, "w") as f:
                json.dump(stats, f)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while True:
        raw, _ = ls.accept()
        raw.settimeout(10)
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            bump("handshake_failed")
            raw.close()
            continue
        bump("accepted")
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
