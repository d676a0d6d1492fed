#!/usr/bin/env python3
"""GET /hello N times on one keep-alive connection, one request at a time, each answer
read whole (Content-Length or chunked); exits non-zero on any answer but 200.
With `close`, each request goes on a new connection with `Connection: close` (wrk's
scenario b), and the server's close is awaited before the next one.
For counting a server's per-request cost (callgrind, strace -c): run it with two N and
divide the difference of the totals by the difference of N.

  hello_client.py PORT N [PATH [close]]
"""
import socket
import sys


def read_answer(sock, buf):
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        if not more:
            raise SystemExit("the server closed the connection before an answer")
        buf += more
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, v in (l.split(b":", 1) for l in lines[1:])}
    if b"content-length" in fields:
        need = int(fields[b"content-length"])
        while len(buf) < need:
            buf += sock.recv(65536)
        return status, buf[need:]
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        while not (b"\r\n0\r\n\r\n" in buf or buf.startswith(b"0\r\n\r\n")):
            buf += sock.recv(65536)
        end = buf.index(b"0\r\n\r\n") + 5
        return status, buf[end:]
    raise SystemExit(f"answer {status} without a length")


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    path = sys.argv[3] if len(sys.argv) > 3 else "/hello"
    close = len(sys.argv) > 4 and sys.argv[4] == "close"
    extra = "Connection: close\r\n" if close else ""
    req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: hello_client\r\nAccept: */*\r\n{extra}\r\n".encode()
    if close:
        for i in range(n):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.sendall(req)
                status, rest = read_answer(sock, b"")
                while rest or sock.recv(65536):  # until the server closes
                    rest = b""
            if status != 200:
                raise SystemExit(f"request {i + 1}: status {status}")
        return
    sock = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for i in range(n):
        sock.sendall(req)
        status, buf = read_answer(sock, buf)
        if status != 200:
            raise SystemExit(f"request {i + 1}: status {status}")
    sock.close()


if __name__ == "__main__":
    main()
