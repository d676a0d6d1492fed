#!/usr/bin/env bash
# Instructions per HTTP/2 stream under event (issue 17), counted by
# callgrind, so the figure repeats on a shared, noisy machine where
# requests/s do not. mpmd (event, one child) runs under
# `valgrind --tool=callgrind --trace-children=yes`; h2load sends N streams
# on one connection by prior knowledge (`-c 1 -m 10`) to PATH; the
# instructions of every process of the server (master and child, all
# threads) are summed. Two runs, of N1 and N2 streams, each on a fresh
# server: (Ir(N2) - Ir(N1)) / (N2 - N1) is the cost of one stream, the
# start and stop cancelled out.
#
# Run from the repository root (any user) after building mpmd; compare two
# builds by naming each:
#   MPMD=target/release/mpmd benches/h2/callgrind.sh
#   MPMD=/path/to/other/mpmd benches/h2/callgrind.sh
# env: N1=500 N2=2500 PATH_=/hello THREADS=4 BENCH_OUT=/tmp/mpm-bench
#   TLS=1: over TLS (ALPN h2, a self-signed certificate made by openssl)
#   rather than h2c, so a stream's records, encryption and buffers count.
# Writes under $BENCH_OUT/h2-callgrind: the configuration, callgrind's
# outputs per run and process, and the result line (also printed).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MPMD=${MPMD:-$ROOT/target/release/mpmd}
N1=${N1:-500}
N2=${N2:-2500}
URLPATH=${PATH_:-/hello}
THREADS=${THREADS:-4}
OUT=${BENCH_OUT:-/tmp/mpm-bench}/h2-callgrind
for tool in valgrind h2load curl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "missing: $tool (apt-get install valgrind nghttp2-client curl)" >&2
        exit 1
    }
done
[ -x "$MPMD" ] || { echo "build mpmd first (cargo build --release -p mpmd), or set MPMD" >&2; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT/www"
printf 'hello\n' > "$OUT/www/hello"
head -c 4096 /dev/zero | tr '\0' x > "$OUT/www/4k"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$OUT/mpmd.conf" <<EOF
LoadModule mpm_event_module modules/mod_mpm_event.so
StartServers 1
ServerLimit 1
ThreadsPerChild $THREADS
ThreadLimit $THREADS
MaxRequestWorkers $THREADS
MinSpareThreads 1
MaxSpareThreads $THREADS
Listen 127.0.0.1:$PORT
ServerName localhost
DocumentRoot $OUT/www
PidFile $OUT/mpmd.pid
ErrorLog $OUT/error.log
Protocols h2c http/1.1
KeepAliveTimeout 60
EOF
SCHEME=http
CURL_H2=--http2-prior-knowledge
if [ "${TLS:-0}" = 1 ]; then
    command -v openssl >/dev/null 2>&1 || { echo "missing: openssl (apt-get install openssl)" >&2; exit 1; }
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=localhost -keyout "$OUT/key.pem" -out "$OUT/cert.pem" 2>/dev/null
    sed -i "s|^Listen .*|Listen 127.0.0.1:$PORT https|; s|^Protocols .*|Protocols h2 http/1.1|" "$OUT/mpmd.conf"
    printf 'SSLEngine on\nSSLCertificateFile %s\nSSLCertificateKeyFile %s\n' \
        "$OUT/cert.pem" "$OUT/key.pem" >> "$OUT/mpmd.conf"
    SCHEME=https
    CURL_H2="--http2 -k"
fi

server=""
stop_server() {
    if [ -n "$server" ] && kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" 2>/dev/null || true
        # callgrind writes its outputs as the processes end.
        for _ in $(seq 600); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server" 2>/dev/null || true
    fi
    server=""
}
trap stop_server EXIT

# Instructions of all the server's processes for one run of $1 streams.
run() {
    local n=$1 dir="$OUT/run-$1"
    mkdir -p "$dir"
    # The child serves (and writes its counts) as an unprivileged user when
    # started as root.
    chmod 0777 "$dir"
    valgrind --tool=callgrind --trace-children=yes \
        --callgrind-out-file="$dir/callgrind.out.%p" \
        "$MPMD" -f "$OUT/mpmd.conf" 2>"$dir/valgrind.log" &
    server=$!
    for _ in $(seq 600); do
        curl -s $CURL_H2 -o /dev/null "$SCHEME://127.0.0.1:$PORT$URLPATH" && break
        sleep 0.1
    done
    h2load -n "$n" -c 1 -m 10 "$SCHEME://127.0.0.1:$PORT$URLPATH" > "$dir/h2load.txt"
    grep -q "succeeded, 0 failed\|$n succeeded" "$dir/h2load.txt" || {
        echo "h2load did not complete every request; see $dir/h2load.txt" >&2
        exit 1
    }
    stop_server
    cat "$dir"/callgrind.out.* | awk '/^summary:/ { s += $2 } END { print s }'
}

a=$(run "$N1")
b=$(run "$N2")
per=$(( (b - a) / (N2 - N1) ))
line="$(basename "$MPMD") $SCHEME $URLPATH: $per instructions per stream (Ir $N1 streams: $a, $N2 streams: $b)"
echo "$line" | tee "$OUT/result.txt"
