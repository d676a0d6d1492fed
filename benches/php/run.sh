#!/usr/bin/env bash
# PHP benchmark: wrk -> server -> php-fpm, all on loopback.
#
#   benches/php/run.sh              # 3 interleaved rounds x 5 s, prints the table
#   ROUNDS=1 DUR=3s benches/php/run.sh
#   REUSE=on benches/php/run.sh     # both servers keep their php-fpm connections (enablereuse=on)
#   FCGID=on benches/php/run.sh     # no php-fpm: each server's own pool of php-cgi processes
#                                   # (mpmd's fcgid pool vs Apache's mod_fcgid)
#   PROFILE=strace benches/php/run.sh     # system calls per request of each server (-X),
#   PROFILE=callgrind benches/php/run.sh  # or its instructions per request: see profile.sh
#
# Two pages, run through one php-fpm pool (pm = static, $FPM_CHILDREN children, its Unix
# socket), as the shared harness's scenarios a and c ask for them:
#   /hello          -> hello.php: <?php echo "Hello, World!";
#   /static/4k.bin  -> file4k.php: reads the harness's 4 KiB file (readfile) and echoes it
# (/static/1m.bin, which the harness checks, is a static file for both.) Servers:
#   mpmd    event, one child x $MPMD_THREADS threads, `ProxyPass /hello "unix:…|fcgi://localhost/…/hello.php"`
#   apache  Debian's apache2, event (2 x 64 threads, the harness's apache-event-tuned) +
#           mod_proxy_fcgi with the same ProxyPass lines
# Both pass requests to the same php-fpm (the one each round runs against is the same
# process): no connection reuse by default (mod_proxy_fcgi's default, and php-fpm's
# children each hold one kept connection); REUSE=on gives both enablereuse=on, Apache
# held to 2 children (128 threads) so that both servers' kept connections (128 + 16) fit
# in the pool's 160 children (else requests wait in php-fpm's queue until the timeout).
# The servers AND php-fpm run on CPU $SERVER_CPUS (default 0): a PHP request's whole
# server-side cost (server + PHP) shares one CPU; wrk runs on CPU $WRK_CPUS (default 1),
# through the shared harness's run.sh (scenarios a and c: keep-alive, 50 connections,
# wrk -t2), rounds interleaved (mpmd apache mpmd apache ...). Prints medians of req/s and
# p99 per server and the ratio mpmd/apache.
#
# FCGID=on: the same pages, `Alias`ed and run by `fcgid-script` (`FcgidWrapper
# /usr/bin/php-cgi .php`, `Options +ExecCGI`), each server with its own pool of
# $FCGID_PROCS php-cgi processes (FcgidMaxProcesses and FcgidMaxProcessesPerClass,
# PHP_FCGI_MAX_REQUESTS 0 so php-cgi never leaves by itself); Apache with Debian's
# libapache2-mod-fcgid, installed here (apt-get) when missing. The processes inherit
# their server's CPU.
# Needs: php-fpm (Debian's php-fpm: php-fpm8.x), apache2 with mod_proxy_fcgi, wrk, taskset,
# python3, a release build of mpmd (built here with `cargo build --release -p mpmd` when
# missing, niced), and the shared harness in $BENCH_HARNESS (default ../shared/bench
# beside the checkout).
# Everything it writes goes under $BENCH_OUT/php (default /tmp/mpm-bench/php): configs, the
# pages, pid files, logs. Every server it starts is stopped by its pid at the end, also on ^C.
# Env: ROUNDS (3) DUR (5s) SERVER_CPUS (0) WRK_CPUS (1) BASE_PORT (27120: mpmd, +1 apache)
#      MPMD (path of the mpmd binary) BENCH_HARNESS BENCH_OUT MPMD_THREADS (16)
#      FPM_CHILDREN (8, or 160 with REUSE=on) REUSE (off) SCEN ("a c")
#      FCGID (off) FCGID_PROCS (8)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5s}; WRK_CPUS=${WRK_CPUS:-1}; SCEN=${SCEN:-a c}
BASE_PORT=${BASE_PORT:-27120}; MPMD_THREADS=${MPMD_THREADS:-16}; REUSE=${REUSE:-off}
FCGID=${FCGID:-off}; FCGID_PROCS=${FCGID_PROCS:-8}
P_MPMD=$BASE_PORT; P_APACHE=$((BASE_PORT + 1))
# The harness (its peers/lib.sh), the servers' configurations, stop_all at exit.
source "$REPO/benches/lib.sh"
case $REUSE in on) FPM_CHILDREN=${FPM_CHILDREN:-160}; PARAM=" enablereuse=on" ;;
               off) FPM_CHILDREN=${FPM_CHILDREN:-8}; PARAM="" ;;
               *) die "REUSE must be on or off" ;; esac
ROOT="$BENCH_OUT/php"
MPMD=${MPMD:-$REPO/target/release/mpmd}
PIN=(taskset -c "$SERVER_CPUS")
case $FCGID in on|off) ;; *) die "FCGID must be on or off" ;; esac
FPM=$(ls /usr/sbin/php-fpm* 2>/dev/null | sort | tail -1)
[ -n "$FPM" ] || [ "$FCGID" = on ] || die "php-fpm not found: apt-get install php-fpm"
if [ "$FCGID" = on ]; then
  [ -x /usr/bin/php-cgi ] || die "php-cgi not found: apt-get install php-cgi"
  if [ ! -f /usr/lib/apache2/modules/mod_fcgid.so ]; then
    echo "installing libapache2-mod-fcgid (Apache's mod_fcgid) ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q libapache2-mod-fcgid >&2 \
      || die "could not install libapache2-mod-fcgid"
  fi
fi
for c in apache2 wrk taskset python3 ss; do
  command -v "$c" > /dev/null || [ -x "/usr/sbin/$c" ] || die "$c not found: run $BENCH_HARNESS/setup.sh"
done
[ -f /usr/lib/apache2/modules/mod_proxy_fcgi.so ] || die "apache2's mod_proxy_fcgi.so not found"
if [ ! -x "$MPMD" ]; then
  echo "building mpmd (release) ..." >&2
  (cd "$REPO" && nice cargo build --release -p mpmd) >&2
fi
ensure_www
raise_nofile
for p in $P_MPMD $P_APACHE; do check_port_free "$p"; done
rm -rf "$ROOT"; mkdir -p "$ROOT"/{fpm,apache,mpmd}/logs "$ROOT/pages" "$ROOT/apache/run"
chmod 755 "$ROOT" "$ROOT"/*

# ---- the pages and php-fpm -------------------------------------------------------------
printf '<?php echo "Hello, World!";\n' > "$ROOT/pages/hello.php"
printf '<?php header("Content-Type: application/octet-stream"); readfile("%s/static/4k.bin");\n' "$WWW" > "$ROOT/pages/file4k.php"
chmod 644 "$ROOT"/pages/*.php
SOCK="$ROOT/fpm/php-fpm.sock"
cat > "$ROOT/fpm/php-fpm.conf" <<FPMCONF
[global]
pid = $ROOT/fpm/php-fpm.pid
error_log = $ROOT/fpm/logs/php-fpm.log
daemonize = yes
[bench]
listen = $SOCK
listen.mode = 0666
listen.backlog = 4096
pm = static
pm.max_children = $FPM_CHILDREN
pm.max_requests = 0
php_admin_value[opcache.enable] = 1
FPMCONF

if [ "$FCGID" = on ]; then
  # ---- each server's own php-cgi pool: Apache's mod_fcgid, mpmd's fcgid-script -------
  mkdir -p "$ROOT/apache/fcgid"
  if [ "$(id -u)" = 0 ]; then chown www-data "$ROOT/apache/fcgid"; fi
  FCGID_LINES="AddHandler fcgid-script .php
FcgidWrapper /usr/bin/php-cgi .php
FcgidMaxProcesses $FCGID_PROCS
FcgidMaxProcessesPerClass $FCGID_PROCS
FcgidMaxRequestsPerProcess 0
FcgidInitialEnv PHP_FCGI_MAX_REQUESTS 0
Alias /hello $ROOT/pages/hello.php
Alias /static/4k.bin $ROOT/pages/file4k.php
<Directory $ROOT/pages>
    Options +ExecCGI
</Directory>"
  { apache_event_conf "$ROOT/apache" "$P_APACHE" alias mime fcgid
    echo "DocumentRoot $WWW"
    echo "TypesConfig /etc/mime.types"
    echo "FcgidIPCDir $ROOT/apache/fcgid"
    echo "FcgidProcessTableFile $ROOT/apache/fcgid/table"
    echo "$FCGID_LINES"; } > "$ROOT/apache/httpd.conf"
  { mpmd_event_conf "$ROOT/mpmd" "$P_MPMD" "$MPMD_THREADS"
    echo "DocumentRoot $WWW"
    echo "$FCGID_LINES"; } > "$ROOT/mpmd/mpmd.conf"
  WHAT="PHP through each server's php-cgi pool ($FCGID_PROCS processes, mod_fcgid / fcgid-script), scenario"
else
WHAT="PHP through php-fpm ($FPM_CHILDREN children, enablereuse $REUSE), scenario"
# ---- Apache: event as the harness's apache-event-tuned, mod_proxy_fcgi ---------------
PASS_HELLO="ProxyPass /hello \"unix:$SOCK|fcgi://localhost$ROOT/pages/hello.php\"$PARAM"
PASS_4K="ProxyPass /static/4k.bin \"unix:$SOCK|fcgi://localhost$ROOT/pages/file4k.php\"$PARAM"
{ apache_event_conf "$ROOT/apache" "$P_APACHE" proxy proxy_fcgi
  # With reuse, every thread of every child may keep a php-fpm child: at most 2 x 64
  # threads, so that Apache's and mpmd's kept connections fit in the pool.
  if [ "$REUSE" = on ]; then printf 'ServerLimit 2\nMaxRequestWorkers 128\n'; fi
  echo "DocumentRoot $WWW"
  echo "$PASS_HELLO"
  echo "$PASS_4K"; } > "$ROOT/apache/httpd.conf"

# ---- mpmd: event, one child (the servers share one CPU) -------------------------------
{ mpmd_event_conf "$ROOT/mpmd" "$P_MPMD" "$MPMD_THREADS"
  echo "DocumentRoot $WWW"
  echo "$PASS_HELLO"
  echo "$PASS_4K"; } > "$ROOT/mpmd/mpmd.conf"

# ---- start php-fpm (stop_all stops every server by its pid at exit) -------------------
PIDFILES+=("$ROOT/fpm/php-fpm.pid")
# -R: started as root, the pool runs as root (its pages are in a root-owned folder).
"${PIN[@]}" "$FPM" -R -y "$ROOT/fpm/php-fpm.conf" -p "$ROOT/fpm" || die "php-fpm: start failed (see $ROOT/fpm/logs/)"
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || die "php-fpm: no socket at $SOCK"
fi

if [ -n "${PROFILE:-}" ]; then
  # Per-request costs under strace or callgrind instead of the timed runs.
  source "$HERE/profile.sh"
  exit 0
fi

start_apache "$ROOT/apache/httpd.conf" "$P_APACHE"
start_mpmd "$ROOT/mpmd/mpmd.conf" "$P_MPMD"

for t in "mpmd $P_MPMD" "apache $P_APACHE"; do
  set -- $t
  body=$(curl -sS --max-time 5 "http://127.0.0.1:$2/hello") || die "$1: GET /hello failed"
  [ "$body" = "Hello, World!" ] || die "$1: GET /hello answered '$body'"
  n=$(curl -sS --max-time 5 "http://127.0.0.1:$2/static/4k.bin" | wc -c)
  [ "$n" = 4096 ] || die "$1: GET /static/4k.bin gave $n bytes"
done
echo "$WHAT: mpmd :$P_MPMD, apache :$P_APACHE, all on CPU $SERVER_CPUS; wrk on CPU $WRK_CPUS; enablereuse $REUSE" >&2

# ---- measure ---------------------------------------------------------------------------
OUT="$RESULTS_DIR/$(date +%Y%m%d-%H%M%S)-php"
bash "$BENCH_HARNESS/run.sh" -Q -r "$ROUNDS" -d "$DUR" -s "$SCEN" -c "$WRK_CPUS" -w 1s -l php -o "$OUT" \
  "mpmd=http://127.0.0.1:$P_MPMD" "apache=http://127.0.0.1:$P_APACHE" >&2
"$(python3 -c 'import sys; print(sys.executable)')" "$REPO/benches/proxy/table.py" "$OUT/results.jsonl" \
  "$WHAT"
echo "raw results: $OUT" >&2
