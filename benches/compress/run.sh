#!/usr/bin/env bash
# Compression benchmark: a 100 KiB text file served gzip- and Brotli-compressed by mpmd
# (mod_deflate/mod_brotli, answered from mpmd's cache of compressed variants) against nginx
# serving the same file's precompressed .gz sibling (`gzip_static on`), and both serving
# the file as it is.
#
#   benches/compress/run.sh            # 3 interleaved rounds x 5 s, prints the table
#   ROUNDS=1 DUR=3s benches/compress/run.sh
#
# Targets (wrk -t2 -c50, keep-alive, GET /text.txt):
#   mpmd-plain   no Accept-Encoding: the file by sendfile
#   mpmd-gzip    Accept-Encoding: gzip      -> the cached gzip variant (Content-Length)
#   mpmd-br      Accept-Encoding: br        -> the cached Brotli variant
#   nginx-plain  no Accept-Encoding
#   nginx-gzip   Accept-Encoding: gzip      -> text.txt.gz (gzip_static on), by sendfile
# The servers run on CPU $SERVER_CPUS (default 0), wrk on CPU $WRK_CPUS (default 1), as
# the shared harness pins them; rounds are interleaved (each target in turn, every round).
# Prints the median req/s and p99 of each target, and the ratios the issue asks for:
# mpmd-gzip / nginx-gzip (gzip_static), mpmd-br / nginx-gzip, mpmd-gzip / mpmd-plain.
#
# mpmd: event, 1 child x 16 threads (a host that compresses is served by worker threads).
# nginx: 1 worker (the servers have one CPU). The .gz sibling is made with gzip -6, the
# level mpmd uses (DeflateCompressionLevel's default), so both send about the same bytes.
#
# Needs: nginx (with the gzip_static module, as Debian builds it), wrk, taskset, gzip, a
# release build of mpmd (built here, niced, when missing) and the shared harness's
# peers/lib.sh ($BENCH_HARNESS, default ../shared/bench beside the checkout).
# Everything it writes goes under $BENCH_OUT/compress (default /tmp/mpm-bench/compress);
# every server it starts is stopped by its pid at the end, on ^C too.
# Env: ROUNDS (3) DUR (5s) SERVER_CPUS (0) WRK_CPUS (1) BASE_PORT (27120: mpmd, +1 nginx)
#      MPMD (path of the mpmd binary) MPMD_THREADS (16) BENCH_HARNESS BENCH_OUT
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
if [ -z "${BENCH_HARNESS:-}" ]; then
  for d in "$REPO/../shared/bench" "$REPO/../../shared/bench"; do [ -f "$d/run.sh" ] && BENCH_HARNESS=$d && break; done
fi
BENCH_HARNESS=${BENCH_HARNESS:-$REPO/../shared/bench}
[ -f "$BENCH_HARNESS/peers/lib.sh" ] || { echo "error: no harness at $BENCH_HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
# BENCH_OUT, SERVER_CPUS, die, wait_port, check_port_free, pid_alive, raise_nofile
source "$BENCH_HARNESS/peers/lib.sh"

ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5s}; WRK_CPUS=${WRK_CPUS:-1}
BASE_PORT=${BASE_PORT:-27120}; MPMD_THREADS=${MPMD_THREADS:-16}
P_MPMD=$BASE_PORT; P_NGINX=$((BASE_PORT + 1))
ROOT="$BENCH_OUT/compress"
MPMD=${MPMD:-$REPO/target/release/mpmd}
for c in nginx wrk taskset gzip ss; do
  command -v "$c" > /dev/null || [ -x "/usr/sbin/$c" ] || die "$c not found: run $BENCH_HARNESS/setup.sh"
done
nginx -V 2>&1 | grep -q gzip_static || die "this nginx has no gzip_static module"
if [ ! -x "$MPMD" ]; then
  echo "building mpmd (release) ..." >&2
  (cd "$REPO" && nice cargo build --release -p mpmd) >&2
fi
raise_nofile
for p in $P_MPMD $P_NGINX; do check_port_free "$p"; done
rm -rf "$ROOT"; mkdir -p "$ROOT"/{www,nginx/logs,nginx/tmp,mpmd/logs}
chmod 755 "$ROOT" "$ROOT"/*
if [ "$(id -u)" = 0 ]; then USER_LINE="user www-data;"; else USER_LINE=""; fi

# ---- the file: 100 KiB of text, and its .gz sibling for nginx ---------------------------
python3 - "$ROOT/www/text.txt" <<'PY'
import sys
words = "the quick brown fox jumps over the lazy dog while a server compresses text".split()
out, n, x = [], 0, 12345
while sum(map(len, out)) < 100 * 1024:
    x = (x * 1103515245 + 12345) % 2**31
    out.append(words[x % len(words)] + (" " if x % 7 else "\n"))
open(sys.argv[1], "w").write("".join(out)[:100 * 1024])
PY
gzip -6 -k -n "$ROOT/www/text.txt"
chmod 644 "$ROOT/www/"*

cat > "$ROOT/nginx/nginx.conf" <<NGX
$USER_LINE
worker_processes 1;
worker_rlimit_nofile 16384;
pid $ROOT/nginx/nginx.pid;
error_log $ROOT/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 1000;
$(for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $ROOT/nginx/tmp/$t;"; done)
    types { text/plain txt; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$P_NGINX;
        root $ROOT/www;
        gzip_static on;
        gzip_vary on;
    }
}
NGX

cat > "$ROOT/mpmd/mpmd.conf" <<MPM
ServerRoot $ROOT/mpmd
PidFile $ROOT/mpmd/mpmd.pid
ErrorLog $ROOT/mpmd/logs/error.log
LogLevel warn
LoadModule mpm_event_module modules/mod_mpm_event.so
StartServers 1
ServerLimit 1
ThreadsPerChild $MPMD_THREADS
ThreadLimit $MPMD_THREADS
MaxRequestWorkers $MPMD_THREADS
MinSpareThreads 1
MaxSpareThreads 128
KeepAlive On
KeepAliveTimeout 5
MaxKeepAliveRequests 1000
Listen 127.0.0.1:$P_MPMD
ServerName 127.0.0.1
DocumentRoot $ROOT/www
AddOutputFilterByType BROTLI_COMPRESS text/plain
AddOutputFilterByType DEFLATE text/plain
MPM

# ---- start, and stop by pid on exit -----------------------------------------------------
PIDFILES=("$ROOT/mpmd/mpmd.pid" "$ROOT/nginx/nginx.pid")
stop_all() {
  local f pid
  for f in "${PIDFILES[@]}"; do
    pid=$(cat "$f" 2>/dev/null) || continue
    pid_alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && echo "warning: $f: pid $pid still alive after 10 s" >&2
  done
  return 0
}
trap stop_all EXIT INT TERM
taskset -c "$SERVER_CPUS" nginx -p "$ROOT/nginx/" -c "$ROOT/nginx/nginx.conf" -e "$ROOT/nginx/logs/error.log"
taskset -c "$SERVER_CPUS" "$MPMD" -f "$ROOT/mpmd/mpmd.conf" -k start
wait_port "$P_NGINX" up 10 || die "nginx did not start: $(tail -3 "$ROOT/nginx/logs/error.log")"
wait_port "$P_MPMD" up 10 || die "mpmd did not start: $(tail -3 "$ROOT/mpmd/logs/error.log")"

# ---- check what each target answers -----------------------------------------------------
declare -A URL HDR
URL[mpmd-plain]=http://127.0.0.1:$P_MPMD/text.txt;  HDR[mpmd-plain]=""
URL[mpmd-gzip]=http://127.0.0.1:$P_MPMD/text.txt;   HDR[mpmd-gzip]="gzip"
URL[mpmd-br]=http://127.0.0.1:$P_MPMD/text.txt;     HDR[mpmd-br]="br"
URL[nginx-plain]=http://127.0.0.1:$P_NGINX/text.txt; HDR[nginx-plain]=""
URL[nginx-gzip]=http://127.0.0.1:$P_NGINX/text.txt;  HDR[nginx-gzip]="gzip"
TARGETS=(mpmd-plain mpmd-gzip mpmd-br nginx-plain nginx-gzip)
for t in "${TARGETS[@]}"; do
  args=(-s -D - -o "$ROOT/$t.body")
  [ -n "${HDR[$t]}" ] && args+=(-H "Accept-Encoding: ${HDR[$t]}")
  head=$(curl "${args[@]}" "${URL[$t]}" | tr -d '\r')
  enc=$(echo "$head" | sed -n 's/^[Cc]ontent-[Ee]ncoding: //p')
  [ "$enc" = "${HDR[$t]}" ] || die "$t: Content-Encoding '$enc', expected '${HDR[$t]}'"
  echo "$t: $(stat -c %s "$ROOT/$t.body") bytes on the wire, Content-Encoding '${enc:-identity}'" >&2
done

# ---- measure ----------------------------------------------------------------------------
declare -A RPS P99
for r in $(seq "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    args=(-t2 -c50 -d "$DUR" --latency)
    [ -n "${HDR[$t]}" ] && args+=(-H "Accept-Encoding: ${HDR[$t]}")
    out=$(taskset -c "$WRK_CPUS" wrk "${args[@]}" "${URL[$t]}")
    rps=$(echo "$out" | awk '/^Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    echo "[round $r] $t: $rps req/s, p99 $p99 $errs" >&2
    RPS[$t]="${RPS[$t]:-} $rps"; P99[$t]="${P99[$t]:-} $p99"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "#### compression: median of $ROUNDS round(s) x $DUR, servers on CPU $SERVER_CPUS, wrk on CPU $WRK_CPUS"
echo
echo "| target | req/s | p99 (per round) |"
echo "|---|---|---|"
declare -A MED
for t in "${TARGETS[@]}"; do
  MED[$t]=$(echo "${RPS[$t]}" | median)
  echo "| $t | ${MED[$t]} | ${P99[$t]} |"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
echo
echo "| ratio | value |"
echo "|---|---|"
echo "| mpmd-gzip / nginx-gzip (gzip_static) | $(ratio "${MED[mpmd-gzip]}" "${MED[nginx-gzip]}") |"
echo "| mpmd-br / nginx-gzip (gzip_static) | $(ratio "${MED[mpmd-br]}" "${MED[nginx-gzip]}") |"
echo "| mpmd-gzip / mpmd-plain | $(ratio "${MED[mpmd-gzip]}" "${MED[mpmd-plain]}") |"
echo "| mpmd-plain / nginx-plain | $(ratio "${MED[mpmd-plain]}" "${MED[nginx-plain]}") |"
