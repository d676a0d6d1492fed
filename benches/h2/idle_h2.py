#!/usr/bin/env python3
"""Hold N idle HTTP/2 connections over TLS (ALPN h2) to 127.0.0.1:PORT.

Each connection sends the client preface, an empty SETTINGS and one
`GET /hello`, reads until the response's HEADERS frame has come, then stays
open doing nothing. Prints "open N" once all are idle, then waits until
stdin closes (or HOLD seconds pass) and closes them all. Loopback only;
stdlib only.

usage: idle_h2.py PORT N [HOLD]
"""
import select
import socket
import ssl
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
# GET /hello for 127.0.0.1, HPACK without the dynamic table.
BLOCK = bytes([0x82, 0x87, 0x04, 6]) + b"/hello" + bytes([0x01, 9]) + b"127.0.0.1"
HEADERS = bytes([0, 0, len(BLOCK), 1, 0x5, 0, 0, 0, 1]) + BLOCK


def frames(buf):
    """(type, stream) of each whole frame in buf."""
    at = 0
    while len(buf) >= at + 9:
        n = int.from_bytes(buf[at:at + 3], "big")
        if len(buf) < at + 9 + n:
            break
        yield buf[at + 3], int.from_bytes(buf[at + 5:at + 9], "big") & 0x7FFFFFFF
        at += 9 + n


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 600.0
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    conns = []
    failed = 0
    for _ in range(count):
        try:
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            if s.selected_alpn_protocol() != "h2":
                failed += 1
                s.close()
                continue
            s.sendall(PREFACE + HEADERS)
            buf = b""
            deadline = time.time() + 10
            while not any(t == 1 and sid == 1 for t, sid in frames(buf)):
                if time.time() > deadline:
                    raise TimeoutError("no response")
                chunk = s.recv(16384)
                if not chunk:
                    raise ConnectionError("closed")
                buf += chunk
            conns.append(s)
        except (OSError, TimeoutError, ConnectionError):
            failed += 1
    print(f"open {len(conns)} failed {failed}", flush=True)
    select.select([sys.stdin], [], [], hold)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
