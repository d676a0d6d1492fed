#!/usr/bin/env python3
"""N requests of one scenario, one at a time, for counting a server's cost per request
(benches/http/count-pw.sh): instructions under callgrind, system calls under strace.

  pw_client.py PORT N PATH [close]

Keep-alive (the default): requests follow each other on one connection; when the server
closes it (MaxKeepAliveRequests), the next request opens a new one, as wrk does.
`close`: each request on a new connection with `Connection: close`, the server's close
awaited before the next one (wrk's scenario b).
Exits non-zero on any answer but 200. Prints one line: the TCP segments with data the
server sent per response (TCP_INFO's tcpi_data_segs_in on the client's sockets, Linux),
all the segments it sent per response (tcpi_segs_in: handshake, acknowledgements and FIN
included), and the connections used.
"""
import socket
import struct
import sys

# struct tcp_info: tcpi_segs_in and tcpi_data_segs_in are the u32 at bytes 140 and 152
# (Linux 4.6 and later).
SEGS_IN, DATA_SEGS_IN = 140, 152


def segs_in(sock):
    """(all segments, segments with data) received on sock."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 160)
    if len(info) < DATA_SEGS_IN + 4:
        return 0, 0
    return struct.unpack_from("I", info, SEGS_IN)[0], struct.unpack_from("I", info, DATA_SEGS_IN)[0]


def read_answer(sock, buf):
    """(status, bytes after the answer, whether the server announced a close);
    None when the connection closed before an answer began."""
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        if not more:
            if buf:
                raise SystemExit("the server closed the connection within an answer")
            return None
        buf += more
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, v in (l.split(b":", 1) for l in lines[1:])}
    closing = fields.get(b"connection", b"").lower() == b"close"
    if b"content-length" not in fields:
        raise SystemExit(f"answer {status} without a Content-Length")
    need = int(fields[b"content-length"])
    while len(buf) < need:
        more = sock.recv(65536)
        if not more:
            raise SystemExit("the server closed the connection within a body")
        buf += more
    return status, buf[need:], closing


def drain_to_close(sock, rest):
    while rest or sock.recv(65536):
        rest = b""


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    close = len(sys.argv) > 4 and sys.argv[4] == "close"
    extra = "Connection: close\r\n" if close else ""
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: pw_client\r\n"
           f"Accept: */*\r\n{extra}\r\n").encode()
    segs = data = conns = done = 0
    sock, buf = None, b""
    while done < n:
        if sock is None:
            sock, buf = socket.create_connection(("127.0.0.1", port)), b""
            conns += 1
        sock.sendall(req)
        got = read_answer(sock, buf)
        if got is None:  # closed after the previous answer: once more on a new one
            a, d = segs_in(sock)
            segs, data = segs + a, data + d
            sock.close()
            sock = None
            continue
        status, buf, closing = got
        if status != 200:
            raise SystemExit(f"request {done + 1}: status {status}")
        done += 1
        if close or closing:
            drain_to_close(sock, buf)
            a, d = segs_in(sock)
            segs, data = segs + a, data + d
            sock.close()
            sock = None
    if sock is not None:
        a, d = segs_in(sock)
        segs, data = segs + a, data + d
        sock.close()
    print(f"{data / n:.2f} segments with data per response, {segs / n:.2f} in all, {conns} connections")


if __name__ == "__main__":
    main()
