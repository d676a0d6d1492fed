#!/usr/bin/env bash
# Proxy benchmark: wrk -> proxy -> backend, all on loopback.
#
#   benches/proxy/run.sh            # 3 interleaved rounds x 5 s, prints the table
#   ROUNDS=1 DUR=3s benches/proxy/run.sh
#   benches/proxy/run.sh count      # mpmd's cost per proxied request, no timing involved:
#                                   # instructions (callgrind) and system calls (strace -c)
#
# count: mpmd event (the same config) in front of the same backend answers COUNT_N (1000
# and 3000) GET /hello on one keep-alive connection (hello_client.py), once under
# `valgrind --tool=callgrind` and once with `strace -c -f` attached to its child; the
# difference between the two totals divided by the difference in requests is the cost of
# one request, start-up left out. Needs valgrind and strace.
#
# Backend: nginx (1 worker) answering GET /hello from memory (`return 200 "Hello, World!"`)
# and /static/* from the shared harness's docroot. Proxies in front of it, each given the
# backend over kept-alive connections:
#   mpmd    event MPM, `ProxyPass / http://127.0.0.1:$BACKEND/` (pooled keep-alive)
#   nginx   proxy_pass to `upstream { server ...; keepalive 32; }`, HTTP/1.1, Connection ""
#   apache  Debian's apache2, event MPM + mod_proxy_http, `ProxyPass / http://...`
# The proxies AND the backend run on CPU $SERVER_CPUS (default 0): the proxied request's
# whole server-side cost (proxy + backend) shares one CPU; wrk runs on CPU $WRK_CPUS
# (default 1). The driver is the shared harness's run.sh (scenario a: GET /hello,
# keep-alive, 50 connections, wrk -t2 on one CPU), rounds interleaved (mpmd nginx apache
# mpmd ...). Prints medians of req/s and p99 per proxy and the ratios mpmd/nginx and
# mpmd/apache.
#
# Needs: nginx, apache2 (with mod_proxy_http), wrk, taskset, python3, a release build of
# mpmd (built here with `cargo build --release -p mpmd` when missing, niced), and the
# shared harness in $BENCH_HARNESS (default ../shared/bench beside the checkout; its
# setup.sh installs nginx, apache2 and wrk).
# Everything it writes goes under $BENCH_OUT/proxy (default /tmp/mpm-bench/proxy): configs,
# pid files, logs. Every server it starts is stopped by its pid at the end, also on ^C.
# Env: ROUNDS (3) DUR (5s) SERVER_CPUS (0) WRK_CPUS (1) BASE_PORT (27110: backend, +1 mpmd,
#      +2 nginx, +3 apache) MPMD (path of the mpmd binary) BENCH_HARNESS BENCH_OUT
#      SCEN (a; any of run.sh's scenarios that a proxy can serve: a b c d)
#      MPMD_THREADS (16: mpmd's ThreadsPerChild) COUNT_N ("1000 3000", count mode)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5s}; WRK_CPUS=${WRK_CPUS:-1}; SCEN=${SCEN:-a}
BASE_PORT=${BASE_PORT:-27110}; MPMD_THREADS=${MPMD_THREADS:-16}
BACKEND=$BASE_PORT; P_MPMD=$((BASE_PORT + 1)); P_NGINX=$((BASE_PORT + 2)); P_APACHE=$((BASE_PORT + 3))
# The harness (its peers/lib.sh), the servers' configurations, stop_all at exit.
source "$REPO/benches/lib.sh"
ROOT="$BENCH_OUT/proxy"
MPMD=${MPMD:-$REPO/target/release/mpmd}
PIN=(taskset -c "$SERVER_CPUS")
MODE=${1:-bench}
case $MODE in bench|count) ;; *) die "usage: $0 [bench|count]" ;; esac
for c in nginx apache2 wrk taskset python3 ss $([ "$MODE" = count ] && echo valgrind strace); do
  command -v "$c" > /dev/null || [ -x "/usr/sbin/$c" ] || die "$c not found: run $BENCH_HARNESS/setup.sh"
done
[ -f /usr/lib/apache2/modules/mod_proxy_http.so ] || die "apache2's mod_proxy_http.so not found"
if [ ! -x "$MPMD" ]; then
  echo "building mpmd (release) ..." >&2
  (cd "$REPO" && nice cargo build --release -p mpmd) >&2
fi
ensure_www
raise_nofile
for p in $BACKEND $P_MPMD $P_NGINX $P_APACHE; do check_port_free "$p"; done
rm -rf "$ROOT"; mkdir -p "$ROOT"/{backend,nginx,apache,mpmd}/{logs,tmp}
chmod 755 "$ROOT" "$ROOT"/*
# nginx's workers run as www-data when started as root.
if [ "$(id -u)" = 0 ]; then USER_LINE="user www-data;"; else USER_LINE=""; fi

# ---- configs -------------------------------------------------------------------------
nginx_common() { # $1 = runtime dir
  cat <<NGX
$USER_LINE
worker_processes 1;
worker_rlimit_nofile 16384;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 4096; }
NGX
}
{ nginx_common "$ROOT/backend"; cat <<NGX
http {
    access_log off;
    sendfile on;
    keepalive_timeout 65s;
    # The proxies' pooled connections are not closed every 1000 requests.
    keepalive_requests 1000000;
$(temp_paths "$ROOT/backend")
$(nginx_www_server "$BACKEND")
}
NGX
} > "$ROOT/backend/nginx.conf"

{ nginx_common "$ROOT/nginx"; cat <<NGX
http {
    access_log off;
    keepalive_timeout 65s;
    keepalive_requests 1000;
$(temp_paths "$ROOT/nginx")
    upstream backend {
        server 127.0.0.1:$BACKEND;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$P_NGINX;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGX
} > "$ROOT/nginx/nginx.conf"

# Apache: event sized as the harness's apache-event-tuned (2 x 64 threads), mod_proxy_http
# with its default per-child connection pool (enablereuse on, up to ThreadsPerChild).
{ apache_event_conf "$ROOT/apache" "$P_APACHE" proxy proxy_http
  echo "ProxyPass / http://127.0.0.1:$BACKEND/"; } > "$ROOT/apache/httpd.conf"
mkdir -p "$ROOT/apache/run"

# mpmd: event, one child (the proxy has one CPU). A proxied request holds a worker thread
# while it waits for the backend; on loopback that wait is short, and 16 threads keep the
# CPU busy: 64 cost ~15 % more CPU per request here (more threads to switch between).
{ mpmd_event_conf "$ROOT/mpmd" "$P_MPMD" "$MPMD_THREADS"
  echo "DocumentRoot $WWW"
  echo "ProxyPass / http://127.0.0.1:$BACKEND/"; } > "$ROOT/mpmd/mpmd.conf"

# ---- start (benches/lib.sh's stop_all stops every server by its pid at exit) ----------
# count mode: instructions and system calls per proxied request (see the top).
count() {
  local n1 n2 n cg=() st=() master child f best
  read -r n1 n2 <<< "${COUNT_N:-1000 3000}"
  local dir="$ROOT/count" py; py=$(python3 -c 'import sys; print(sys.executable)')
  mkdir -p "$dir"; chmod 1777 "$dir"; PIDFILES+=("$dir/mpmd.pid")
  # One connection carries every request: no MaxKeepAliveRequests limit.
  local args=(-f "$ROOT/mpmd/mpmd.conf" -c "MaxKeepAliveRequests 0" -c "PidFile $dir/mpmd.pid")
  # Started as root, mpmd serves as nobody, and callgrind could not write its profile
  # then: run it as nobody from the start.
  local as=("${AS_NOBODY[@]}")
  chmod 777 "$ROOT/mpmd" "$ROOT/mpmd/logs"; touch "$ROOT/mpmd/logs/error.log"; chmod 666 "$ROOT/mpmd/logs/error.log"
  for n in "$n1" "$n2"; do
    echo "callgrind: $n requests ..." >&2
    rm -f "$dir"/cg.$n.*.out "$dir/mpmd.pid"
    "${as[@]}" valgrind --tool=callgrind --callgrind-out-file="$dir/cg.$n.%p.out" "$MPMD" "${args[@]}" \
      > "$dir/valgrind.$n.log" 2>&1 &
    master=$!
    wait_port "$P_MPMD" up 120 || die "mpmd under valgrind: not listening (see $dir/valgrind.$n.log)"
    "$py" "$HERE/hello_client.py" "$P_MPMD" "$n"
    kill -TERM "$master"; wait "$master" || true
    wait_port "$P_MPMD" down 30 || true
    # The child's profile is the one with the most instructions.
    best=0
    for f in "$dir"/cg.$n.*.out; do
      local ir; ir=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
      if [ "${ir:-0}" -gt "$best" ]; then best=$ir; fi
    done
    cg+=("$best")
    echo "strace: $n requests ..." >&2
    rm -f "$dir/mpmd.pid"
    "$MPMD" "${args[@]}" -k start || die "mpmd: start failed"
    wait_port "$P_MPMD" up 10 || die "mpmd: not listening on $P_MPMD"
    master=$(cat "$dir/mpmd.pid"); child=$(pgrep -P "$master" | head -1)
    "$py" "$HERE/hello_client.py" "$P_MPMD" 10
    strace -f -c -o "$dir/strace.$n.txt" -p "$child" 2> /dev/null &
    local sp=$!
    sleep 1
    "$py" "$HERE/hello_client.py" "$P_MPMD" "$n"
    kill -INT "$sp"; wait "$sp" || true
    kill -TERM "$master"
    for _ in $(seq 100); do pid_alive "$master" || break; sleep 0.1; done
    wait_port "$P_MPMD" down 10 || true
  done
  echo "#### mpmd event, one proxied GET /hello (backend nginx): differences between $n1 and $n2 requests"
  echo
  echo "instructions per request (callgrind, mpmd's child): $(( (cg[1] - cg[0]) / (n2 - n1) ))"
  echo
  echo "system calls per request (strace -c -f on the child):"
  "$py" "$REPO/benches/syscalls.py" "$dir/strace.$n1.txt" "$dir/strace.$n2.txt" $((n2 - n1))
  echo
  echo "profiles: $dir/cg.*.out (callgrind_annotate), $dir/strace.*.txt" >&2
}

start_nginx() { # name dir port
  local out; out=$(/usr/sbin/nginx -p "$2/" -c "$2/nginx.conf" -e "$2/logs/error.log" -t 2>&1) \
    || die "$1: config test failed: $out"
  PIDFILES+=("$2/nginx.pid")
  "${PIN[@]}" /usr/sbin/nginx -p "$2/" -c "$2/nginx.conf" -e "$2/logs/error.log" || die "$1: start failed (see $2/logs/error.log)"
  wait_port "$3" up 10 || die "$1: not listening on $3"
}
start_nginx backend "$ROOT/backend" "$BACKEND"
if [ "$MODE" = count ]; then count; exit 0; fi
start_nginx nginx "$ROOT/nginx" "$P_NGINX"

start_apache "$ROOT/apache/httpd.conf" "$P_APACHE"
start_mpmd "$ROOT/mpmd/mpmd.conf" "$P_MPMD"

for t in "backend $BACKEND" "mpmd $P_MPMD" "nginx $P_NGINX" "apache $P_APACHE"; do
  set -- $t
  body=$(curl -sS --max-time 5 "http://127.0.0.1:$2/hello") || die "$1: GET /hello failed"
  [ "$body" = "Hello, World!" ] || die "$1: GET /hello answered '$body'"
done
echo "backend nginx :$BACKEND, mpmd :$P_MPMD, nginx :$P_NGINX, apache :$P_APACHE, all on CPU $SERVER_CPUS; wrk on CPU $WRK_CPUS" >&2

# ---- measure ---------------------------------------------------------------------------
OUT="$RESULTS_DIR/$(date +%Y%m%d-%H%M%S)-proxy"
bash "$BENCH_HARNESS/run.sh" -Q -r "$ROUNDS" -d "$DUR" -s "$SCEN" -c "$WRK_CPUS" -w 1s -l proxy -o "$OUT" \
  "mpmd=http://127.0.0.1:$P_MPMD" "nginx=http://127.0.0.1:$P_NGINX" "apache=http://127.0.0.1:$P_APACHE" >&2
"$(python3 -c 'import sys; print(sys.executable)')" "$HERE/table.py" "$OUT/results.jsonl"
echo "raw results: $OUT" >&2
