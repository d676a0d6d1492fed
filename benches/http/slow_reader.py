#!/usr/bin/env python3
"""Slow readers of a large file (benches/http/bigbody.sh slow): CONNS connections, each
with a small receive buffer (16 KiB) reading 4 KiB at a time, ask N times each for PATH on
one keep-alive connection; every response's length is checked. Ends by itself (each read
waits at most 30 s).

  slow_reader.py PORT CONNS N PATH
"""
import socket
import sys
import threading

port, conns, n, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
failed = []


def one():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    try:
        for _ in range(n):
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            buf = b""
            while b"\r\n\r\n" not in buf:
                got = s.recv(4096)
                if not got:
                    raise EOFError("closed before a response head")
                buf += got
            head, body = buf.split(b"\r\n\r\n", 1)
            lengths = [l.split(b":", 1)[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if not head.startswith(b"HTTP/1.1 200 ") or not lengths:
                raise ValueError(f"not a 200 with a length: {head[:200]!r}")
            left = int(lengths[0]) - len(body)
            while left > 0:
                k = len(s.recv(min(left, 4096)))
                if k == 0:
                    raise EOFError(f"closed with {left} bytes of the body to come")
                left -= k
    except Exception as e:  # reported below, the run fails
        failed.append(repr(e))
    finally:
        s.close()


threads = [threading.Thread(target=one) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failed:
    sys.exit(f"{len(failed)} of {conns} slow readers failed: {failed[:3]}")
