#!/usr/bin/env bash
# HTTP/2 benchmark (issue 17): h2load -n N -c 10 -m 10 on /hello and on the
# 4 KiB file over TLS (h2 by ALPN), against mpmd (event), nginx (HTTP/2 on
# its TLS port) and Apache event + mod_http2, all on the same certificate
# and document root as ../shared/bench (its setup-www.sh / setup-tls.sh);
# servers pinned to CPU 0, h2load to CPU 1, rounds interleaved (each round
# runs every target in turn). Then the memory of IDLE idle HTTP/2
# connections (each after one request) on each server: PSS of all its
# processes with them open, less before, per connection.
#
# Run from the repository root, as root, after `cargo build --release -p
# mpmd`:   benches/h2/run.sh      (env: N=200000 ROUNDS=3 IDLE=10000
# BENCH=../shared/bench MPMD=target/release/mpmd BENCH_OUT=/tmp/mpm-bench
# TARGETS="mpmd nginx apache" PARTS="load idle" PORT_BASE=27110)
# Writes under $BENCH_OUT/h2: configs, logs, h2load outputs, results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=${BENCH:-$ROOT/../shared/bench}
[ -d "$B" ] || B=/work/shared/bench
MPMD=${MPMD:-$ROOT/target/release/mpmd}
N=${N:-200000}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-10000}
OUT=${BENCH_OUT:-/tmp/mpm-bench}/h2
WWW=$("$B/peers/setup-www.sh")
TLS=$("$B/peers/setup-tls.sh")
mkdir -p "$OUT"/{mpmd,nginx/logs,nginx/tmp,apache/run,apache/logs,raw}
# Room for IDLE connections on each side (the client and each server are
# separate processes): the hard limit, at most 65536.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=65536
ulimit -n $((hard < 65536 ? hard : 65536))

for tool in h2load nginx apache2 curl python3 taskset; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || {
        echo "missing: $tool (apt-get install nghttp2-client nginx apache2)" >&2
        exit 1
    }
done
[ -x "$MPMD" ] || { echo "build mpmd first: cargo build --release -p mpmd" >&2; exit 1; }

BASE=${PORT_BASE:-27110}
PORT_MPMD=$BASE PORT_NGINX=$((BASE + 1)) PORT_APACHE=$((BASE + 2))

cat > "$OUT/mpmd/mpmd.conf" <<EOF
LoadModule mpm_event_module modules/mod_mpm_event.so
StartServers 2
ServerLimit 2
ThreadsPerChild 32
ThreadLimit 32
MaxRequestWorkers 64
MinSpareThreads 32
MaxSpareThreads 64
AsyncRequestWorkerFactor 400
Listen 127.0.0.1:$PORT_MPMD https
ServerName localhost
DocumentRoot $WWW
Alias /hello $WWW/hello.txt
PidFile $OUT/mpmd/mpmd.pid
ErrorLog $OUT/mpmd/error.log
KeepAliveTimeout 300
MaxKeepAliveRequests 0
Protocols h2 http/1.1
SSLEngine on
SSLCertificateFile $TLS/cert.pem
SSLCertificateKeyFile $TLS/key.pem
EOF

# nginx 1.22 (Debian 12) spells HTTP/2 `listen … ssl http2`; from 1.25.1
# it is `http2 on`.
http2_listen="listen 127.0.0.1:$PORT_NGINX ssl http2;"
if nginx -V 2>&1 | grep -qE 'nginx/1\.(2[5-9]|[3-9][0-9])'; then
    http2_listen="listen 127.0.0.1:$PORT_NGINX ssl; http2 on;"
fi
cat > "$OUT/nginx/nginx.conf" <<EOF
user www-data;
worker_processes auto;
worker_rlimit_nofile 65536;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/logs/error.log warn;
events { worker_connections 16384; }
http {
    sendfile on; tcp_nopush on; access_log off;
    # (nginx 1.19.7+ reads these for HTTP/2 too.)
    keepalive_timeout 300s; keepalive_requests 1000000;
    client_body_temp_path $OUT/nginx/tmp;
    types { text/plain txt; application/octet-stream bin; }
    server {
        $http2_listen
        ssl_certificate $TLS/cert.pem;
        ssl_certificate_key $TLS/key.pem;
        root $WWW;
        location = /hello { default_type text/plain; return 200 'Hello, World!'; }
        location /static/ { }
    }
}
EOF

M=/usr/lib/apache2/modules
cat > "$OUT/apache/httpd.conf" <<EOF
ServerRoot "$OUT/apache"
ServerName 127.0.0.1
Listen 127.0.0.1:$PORT_APACHE https
PidFile run/httpd.pid
DefaultRuntimeDir run
ErrorLog logs/error.log
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module $M/mod_mpm_event.so
LoadModule authz_core_module $M/mod_authz_core.so
LoadModule mime_module $M/mod_mime.so
LoadModule alias_module $M/mod_alias.so
LoadModule socache_shmcb_module $M/mod_socache_shmcb.so
LoadModule ssl_module $M/mod_ssl.so
LoadModule http2_module $M/mod_http2.so
StartServers 2
ServerLimit 8
ThreadLimit 64
ThreadsPerChild 64
MinSpareThreads 64
MaxSpareThreads 256
MaxRequestWorkers 512
AsyncRequestWorkerFactor 32
KeepAlive On
KeepAliveTimeout 300
MaxKeepAliveRequests 0
Timeout 300
EnableSendfile On
TypesConfig /dev/null
AddType text/plain .txt
AddType application/octet-stream .bin
DocumentRoot $WWW
<Directory />
    Require all denied
</Directory>
<Directory $WWW>
    Require all granted
</Directory>
Alias /hello $WWW/hello.txt
Protocols h2 http/1.1
H2Push off
SSLRandomSeed startup builtin
SSLSessionCache shmcb:$OUT/apache/run/ssl_scache(512000)
<VirtualHost 127.0.0.1:$PORT_APACHE>
    SSLEngine on
    SSLCertificateFile $TLS/cert.pem
    SSLCertificateKeyFile $TLS/key.pem
</VirtualHost>
EOF

declare -A PIDFILE=([mpmd]=$OUT/mpmd/mpmd.pid [nginx]=$OUT/nginx/nginx.pid [apache]=$OUT/apache/run/httpd.pid)
pss_kib() { # PSS of target $1's master and its children, in KiB
    local master total=0 p v
    master=$(cat "${PIDFILE[$1]}")
    for p in $master $(pgrep -P "$master"); do
        v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2> /dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
wait_h2() {
    local i
    for i in $(seq 1 100); do
        if [ "$(curl -sk --http2 -o /dev/null -w '%{http_version}' "https://127.0.0.1:$1/hello")" = 2 ]; then return 0; fi
        sleep 0.1
    done
    echo "port $1 does not answer over HTTP/2" >&2
    return 1
}

stop_all() {
    [ -f "$OUT/mpmd/mpmd.pid" ] && kill "$(cat "$OUT/mpmd/mpmd.pid")" 2>/dev/null || true
    [ -f "$OUT/nginx/nginx.pid" ] && kill "$(cat "$OUT/nginx/nginx.pid")" 2>/dev/null || true
    [ -f "$OUT/apache/run/httpd.pid" ] && kill "$(cat "$OUT/apache/run/httpd.pid")" 2>/dev/null || true
    sleep 1
}
trap stop_all EXIT
stop_all

declare -A URL=([mpmd]=$PORT_MPMD [nginx]=$PORT_NGINX [apache]=$PORT_APACHE)
TARGETS=${TARGETS:-mpmd nginx apache}
# Only the servers measured are started (TARGETS=mpmd: mpmd alone).
for t in $TARGETS; do
    case $t in
    mpmd) taskset -c 0 "$MPMD" -f "$OUT/mpmd/mpmd.conf" -k start ;;
    nginx) taskset -c 0 nginx -p "$OUT/nginx/" -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/logs/error.log" ;;
    apache) taskset -c 0 apache2 -f "$OUT/apache/httpd.conf" -k start ;;
    esac
done
for t in $TARGETS; do wait_h2 "${URL[$t]}"; done
PARTS=${PARTS:-load idle}
results="$OUT/results.tsv"
if [[ " $PARTS " == *" load "* ]]; then
    : > "$results"
    for r in $(seq 1 "$ROUNDS"); do
        for path in /hello /static/4k.bin; do
            for t in $TARGETS; do
                log="$OUT/raw/$t-${path//\//_}-r$r"
                # h2load appends to its log file: a log left by an earlier
                # run would be counted in this one's percentiles.
                rm -f "$log.times"
                taskset -c 1 h2load -n "$N" -c 10 -m 10 --log-file="$log.times" \
                    "https://127.0.0.1:${URL[$t]}$path" > "$log.out" 2>&1 || true
                rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$log.out")
                ok=$(awk '/^requests:/ { print $8 }' "$log.out")
                p50=0 p99=0
                read -r p50 p99 < <(awk '{ print $3 }' "$log.times" | sort -n \
                    | awk '{ a[NR] = $1 } END { if (NR) printf "%.2f %.2f", a[int(NR * 0.5) + 1] / 1000, a[int(NR * 0.99) + 1] / 1000 }') || true
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$path" "$t" "${rps:-0}" "${p99:-0}" "${ok:-0}" "${p50:-0}" \
                    | tee -a "$results" >&2
            done
        done
    done
fi

# Idle connections' memory: the holder keeps its connections until its
# stdin (a fifo held open here) closes.
idle_line() {
    local t=$1 port=${URL[$1]} before after held pid fifo="$OUT/idle.fifo" i
    before=$(pss_kib "$t")
    rm -f "$fifo" && mkfifo "$fifo"
    python3 "$ROOT/benches/h2/idle_h2.py" "$port" "$IDLE" 900 < "$fifo" > "$OUT/idle-$port.out" &
    pid=$!
    exec 7> "$fifo"
    for i in $(seq 1 1200); do
        grep -q '^open' "$OUT/idle-$port.out" 2> /dev/null && break
        sleep 0.5
    done
    held=$(head -1 "$OUT/idle-$port.out")
    sleep 2
    after=$(pss_kib "$t")
    exec 7>&-
    wait "$pid" || true
    echo "$held|$before|$after"
}
mem=()
if [[ " $PARTS " == *" idle "* ]]; then
    for t in $TARGETS; do
        line=$(idle_line "$t")
        echo "idle $t: $line" >&2
        mem+=("$t=$line")
    done
fi

python3 "$ROOT/benches/h2/report.py" "$results" "$N" "$ROUNDS" "$IDLE" "${mem[@]}" > "$OUT/results.md"
cat "$OUT/results.md"
