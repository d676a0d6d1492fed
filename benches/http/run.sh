#!/usr/bin/env bash
# Small responses: mpmd and the embedded server against nginx, hyper and Apache (issue 16).
#
#   benches/http/run.sh            # one interleaved run of ../shared/bench/run.sh, then the
#                                  # ratio tables (event÷nginx, prefork÷Apache prefork,
#                                  # worker÷Apache worker, embedded÷hyper): of req/s, of
#                                  # req/s per server CPU-second, of peak PSS
#   EXTRA=1 benches/http/run.sh    # scenarios t u e f too (TLS, idle, slowloris)
#   benches/http/run.sh count      # no timing: instructions (callgrind) and system calls
#                                  # (strace -c -f) per request, each server and scenario
#
# bench: the servers, each pinned to CPU $SERVER_CPUS (0) as the harness pins its peers,
# wrk on CPU $WRK_CPUS (1), the harness's scenarios $SCEN (a h b c d):
#   mpmd-event        mpmd, event MPM, Debian's mpm_event.conf sizing (2 x 25 threads, 150
#                     max), MaxKeepAliveRequests 100, KeepAliveTimeout 5, /hello is
#                     `Alias /hello $WWW/hello.txt` (read from the file, as Apache)
#   mpmd-event-mmap   the same with `MMapFile $WWW/hello.txt` (memory, as nginx's return 200)
#   mpmd-event-sections (count only) mpmd-event with Debian's apache2.conf sections
#   mpmd-prefork      prefork MPM, Debian's mpm_prefork.conf sizing (5 start, 150 max)
#   mpmd-worker       worker MPM, Debian's mpm_worker.conf sizing (2 x 25 threads, 150 max)
#   embedded          examples/bench_peer, event strategy, one child of 25 threads (one
#                     process serving, as hyper-hello's one worker thread): /hello and
#                     the docroot's files from memory (read at start, as hyper-hello)
#   the harness's peers: nginx, hyper-hello, apache-{prefork,worker,event}-default (started
#   here with PIN=1 unless already running; those started here are stopped at the end)
# Ratios: benches/http/ratios.py; the harness's own tables are in the result folder.
#
# count: each server on its own (mpmd event with one child of 4 threads, the same with
# MMapFile, the embedded server with one child, nginx with `master_process off`, hyper),
# one client (benches/proxy/hello_client.py, one request at a time) per scenario:
#   a /hello keep-alive   h /hello.txt keep-alive   b /hello with Connection: close (a new
#   connection each)      c /static/4k.bin keep-alive   d /static/1m.bin keep-alive
# Instructions: the server under `valgrind --tool=callgrind` answers N1 and then N2
# requests (two runs); (total at N2 - total at N1) / (N2 - N1) is one request, start-up
# and shut-down left out; every process's profile is summed (the master's idle ticks are
# within the noise). System calls: `strace -c -f` attached to every process of the
# running server for N2 requests, divided by N2.
#
# Needs: the shared harness ($BENCH_HARNESS, default ../shared/bench beside the checkout:
# its setup.sh installs nginx, apache2, wrk and builds hyper-hello), taskset, python3;
# count also valgrind and strace. mpmd and bench_peer are built (release, niced) when
# missing. Everything goes under $BENCH_OUT/http (default /tmp/mpm-bench/http); every
# server started here is stopped by its pid at the end, also on ^C.
# Env: ROUNDS (3) DUR (5s) QUIET_WAIT (15: run.sh -q, the most seconds to wait for a quiet machine) SCEN ("a h b c d"; EXTRA=1 adds "t u e f") SERVER_CPUS (0)
#      WRK_CPUS (1) BASE_PORT (27320: +0 event, +1 event-mmap, +2 prefork, +3 worker,
#      +4 embedded, +5 nginx and +6 hyper in count mode, +10.. TLS) MPMD PEER (binaries)
#      COUNT_SERVERS ("mpmd-event mpmd-event-mmap embedded nginx hyper-hello")
#      COUNT_SCEN ("a h b c d") COUNT_N ("500 1500"; b: a third, d: a twentieth)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# The harness (its peers/lib.sh: WWW, wait_port, ...), stop_all at exit, start_mpmd.
source "$REPO/benches/lib.sh"
MODE=${1:-bench}
case $MODE in bench|count) ;; *) die "usage: $0 [bench|count]" ;; esac
ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5s}; WRK_CPUS=${WRK_CPUS:-1}; SCEN=${SCEN:-a h b c d}
[ -n "${EXTRA:-}" ] && SCEN="$SCEN t u e f"
BASE_PORT=${BASE_PORT:-27320}
P_EVENT=$BASE_PORT P_MMAP=$((BASE_PORT + 1)) P_PREFORK=$((BASE_PORT + 2)) P_WORKER=$((BASE_PORT + 3))
P_EMBED=$((BASE_PORT + 4)) P_NGINX=$((BASE_PORT + 5)) P_HYPER=$((BASE_PORT + 6))
ROOT="$BENCH_OUT/http"
MPMD=${MPMD:-$REPO/target/release/mpmd}
PEER=${PEER:-$REPO/target/release/examples/bench_peer}
HYPER=${HYPER:-$BENCH_OUT/cargo-target/release/hyper-hello}
PIN=(taskset -c "$SERVER_CPUS")
PY=$(python3 -c 'import sys; print(sys.executable)')
CLIENT="$REPO/benches/proxy/hello_client.py"

for c in taskset python3 ss $([ "$MODE" = count ] && echo valgrind strace callgrind_annotate || echo wrk); do
  command -v "$c" > /dev/null || die "$c not found: run $BENCH_HARNESS/setup.sh (valgrind, strace: apt-get install)"
done
if [ ! -x "$MPMD" ] || [ ! -x "$PEER" ]; then
  echo "building mpmd and bench_peer (release) ..." >&2
  # Apart: built together, their shared crates' features unify and mpmd's symbols get
  # other names than its function order knows (benches/layout/README.md).
  (cd "$REPO" && nice cargo build --release -p mpmd --bin mpmd && nice cargo build --release -p mpm-examples --example bench_peer) >&2
fi
ensure_www
raise_nofile
# How much of the function order (benches/layout/README.md) this build still matches.
"$PY" "$REPO/benches/layout/order.py" check "$MPMD" "$REPO/server-bin/layout/mpmd.order" >&2 || true
mkdir -p "$ROOT"

# An mpmd configuration in $1 (port $2, MPM $3) sized as Debian's (benches/lib.sh), with
# KeepAliveTimeout 5, or 65 for scenario e.
mpmd_conf() { # dir port mpm [extra line...]
  local dir=$1 port=$2 mpm=$3 ka=5; shift 3
  [[ " $SCEN " == *" e "* ]] && ka=65
  mpmd_debian_conf "$dir" "$port" "$mpm" "$ka" "$@"
}

# ---- count: instructions and system calls per request -------------------------------
# Started as root, mpmd would serve as nobody and callgrind could not write its profile:
# every counted server runs as nobody from the start (nginx stays root: it does not switch
# users with master_process off).
AS=("${AS_NOBODY[@]}")

# The command line and port of counted server $1 (one process serving, as far as it can),
# and how it is started (AS, or nothing for nginx).
count_server() { # name -> sets CMD, RUN_AS and PORT
  local dir="$ROOT/count/$1"
  mkdir -p "$dir"; chmod 777 "$dir"
  RUN_AS=("${AS[@]}")
  # A port free now, not a fixed one: other benchmarks on the machine take ports too.
  P_EVENT=$(free_port) P_EMBED=$(free_port) P_NGINX=$(free_port) P_HYPER=$(free_port)
  case $1 in
    mpmd-event|mpmd-event-mmap|mpmd-event-sections)
      local extra=(); [ "$1" = mpmd-event-mmap ] && extra=("MMapFile $WWW/hello.txt")
      # Debian's apache2.conf sections, its /var/www/ the docroot.
      [ "$1" = mpmd-event-sections ] && extra=("<Directory />" "Options FollowSymLinks" \
        "AllowOverride None" "Require all denied" "</Directory>" "<Directory /usr/share>" \
        "AllowOverride None" "Require all granted" "</Directory>" "<Directory $WWW/>" \
        "Options Indexes FollowSymLinks" "AllowOverride None" "Require all granted" "</Directory>" \
        "AccessFileName .htaccess" '<FilesMatch "^\.ht">' "Require all denied" "</FilesMatch>")
      mpmd_conf "$dir" "$P_EVENT" event "${extra[@]}"
      # One child of 4 threads; one connection carries every request.
      # Under valgrind mpmd does not start itself again with its glibc tunable
      # (server-bin/src/tunables.rs): given here, as it runs outside.
      RUN_AS+=(env GLIBC_TUNABLES=glibc.malloc.tcache_count=1)
      CMD=("$MPMD" -f "$dir/mpmd.conf" -c "StartServers 1" -c "ServerLimit 1" -c "ThreadsPerChild 4"
        -c "ThreadLimit 4" -c "MaxRequestWorkers 4" -c "MinSpareThreads 1" -c "MaxSpareThreads 8"
        -c "MaxKeepAliveRequests 0")
      PORT=$P_EVENT ;;
    embedded) CMD=("$PEER" "127.0.0.1:$P_EMBED" "$WWW" event 4 1); PORT=$P_EMBED ;;
    nginx)
      nginx_one_process_conf "$dir" "$P_NGINX" > "$dir/nginx.conf"
      CMD=(/usr/sbin/nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log"); PORT=$P_NGINX; RUN_AS=() ;;
    hyper-hello)
      [ -x "$HYPER" ] || die "no $HYPER: run $BENCH_HARNESS/setup.sh (it builds hyper-hello)"
      # one tokio worker per CPU it may use: one, as the harness pins it
      CMD=("$HYPER" "127.0.0.1:$P_HYPER" "$WWW/static"); PORT=$P_HYPER; RUN_AS+=(taskset -c "$SERVER_CPUS") ;;
    *) die "unknown server $1" ;;
  esac
}

# Waits until server $SERVER_PID listens on $PORT (it, not another program on that port).
wait_server() { # what seconds
  local p
  wait_port "$PORT" up "$2" || return 1
  for p in $(listen_pids "$PORT"); do
    [ "$p" = "$SERVER_PID" ] || [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = "$SERVER_PID" ] && return 0
  done
  echo "$1: port $PORT is another program's" >&2; kill -TERM "$SERVER_PID" 2>/dev/null || true; return 1
}

# What server $1 serves for scenario $2: "path [close]", or nothing when it does not.
count_request() { # server scenario
  case $2 in
    a) echo /hello ;; b) echo "/hello close" ;; c) echo /static/4k.bin ;; d) echo /static/1m.bin ;;
    # hyper-hello answers /hello and /static/* only
    h) [ "$1" = hyper-hello ] || echo /hello.txt ;;
  esac
}

# Runs the client: N requests of scenario $3 to port $1; on failure, stops server $SERVER_PID.
count_client() { # port n request...
  local port=$1 n=$2; shift 2
  "$PY" "$CLIENT" "$port" "$n" "$@" && return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" || true
  die "client: $* on port $port failed"
}

# Instructions of server $1 answering $3 requests of $2 (all its processes' profiles).
callgrind_run() { # server n request...
  local name=$1 n=$2 dir="$ROOT/count/$1" pid f total=0 ir; shift 2
  count_server "$name"
  rm -f "$dir"/cg.*.out
  "${RUN_AS[@]}" valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p.out" "${CMD[@]}" > "$dir/valgrind.log" 2>&1 &
  pid=$! SERVER_PID=$!
  wait_server "$name" 120 || die "$name under valgrind: not listening on $PORT (see $dir/valgrind.log)"
  count_client "$PORT" "$n" "$@"
  kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true
  # hyper-hello and nginx in the foreground end on TERM; mpmd's master ends its child.
  wait_port "$PORT" down 30 || die "$name: still listening on $PORT after TERM"
  for f in "$dir"/cg.*.out; do
    ir=$(callgrind_annotate "$f" 2> /dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
    total=$((total + ${ir:-0}))
  done
  echo "$total"
}

# System calls of server $1 per request of $3, over $2 requests (strace on every process).
strace_run() { # server n request...
  local name=$1 n=$2 dir="$ROOT/count/$1" pid sp p targets=(); shift 2
  count_server "$name"
  "${RUN_AS[@]}" "${CMD[@]}" > "$dir/server.log" 2>&1 &
  pid=$! SERVER_PID=$!
  wait_server "$name" 30 || die "$name: not listening on $PORT (see $dir/server.log)"
  count_client "$PORT" 10 "$@"
  for p in $(listen_pids "$PORT"); do targets+=(-p "$p"); done
  strace -f -c -o "$dir/strace.txt" "${targets[@]}" 2> /dev/null &
  sp=$!
  sleep 1 # strace attaches
  count_client "$PORT" "$n" "$@"
  kill -INT "$sp"; wait "$sp" || true
  kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true
  wait_port "$PORT" down 30 || die "$name: still listening on $PORT after TERM"
  "$PY" "$REPO/benches/syscalls.py" --line "$dir/strace.txt" "$n"
}

count() {
  local servers=${COUNT_SERVERS:-mpmd-event mpmd-event-mmap embedded nginx hyper-hello}
  local scens=${COUNT_SCEN:-a h b c d} n1 n2 s name req a b k1 k2 calls
  read -r n1 n2 <<< "${COUNT_N:-500 1500}"
  mkdir -p "$ROOT/count"
  local out="$ROOT/count/table.md"
  {
    echo "#### instructions and system calls per request (callgrind; strace -c -f), $(date -u +%F)"
    echo
    echo "| scenario | server | instructions | system calls |"
    echo "|---|---|---|---|"
  } > "$out"
  for s in $scens; do
    for name in $servers; do
      read -ra req <<< "$(count_request "$name" "$s")"
      [ ${#req[@]} -gt 0 ] || continue
      case $s in b) k1=$((n1 / 3)) k2=$((n2 / 3)) ;; d) k1=$((n1 / 20)) k2=$((n2 / 20)) ;; *) k1=$n1 k2=$n2 ;; esac
      echo "$s $name: callgrind $k1, $k2; strace $k2 ..." >&2
      a=$(callgrind_run "$name" "$k1" "${req[@]}") && b=$(callgrind_run "$name" "$k2" "${req[@]}") \
        && [ "${a:-0}" -gt 0 ] && [ "${b:-0}" -gt 0 ] || die "$name, scenario $s: no count (see $ROOT/count/$name/)"
      calls=$(strace_run "$name" "$k2" "${req[@]}") || die "$name, scenario $s: no system call count"
      echo "| $s ${req[*]} | $name | $(( (b - a) / (k2 - k1) )) | $calls |" >> "$out"
    done
  done
  cat "$out"
  echo "profiles: $ROOT/count/*/cg.*.out (callgrind_annotate), strace.txt" >&2
}

if [ "$MODE" = count ]; then count; exit 0; fi

# ---- bench: one interleaved run of the shared harness --------------------------------
TLS_ARGS=()
if [[ " $SCEN " == *" t "* || " $SCEN " == *" u "* ]]; then TLS_ARGS=(1); fi
with_tls() { # port: the TLS lines when t or u runs
  if [ ${#TLS_ARGS[@]} -gt 0 ]; then tls_lines "$1"; fi
}
tls_url() { # port
  if [ ${#TLS_ARGS[@]} -gt 0 ]; then echo ",https://127.0.0.1:$1"; fi
}
readarray -t t_event < <(with_tls $((P_EVENT + 10)))
readarray -t t_mmap < <(with_tls $((P_MMAP + 10)))
readarray -t t_prefork < <(with_tls $((P_PREFORK + 10)))
readarray -t t_worker < <(with_tls $((P_WORKER + 10)))
mpmd_conf "$ROOT/mpmd-event" "$P_EVENT" event "${t_event[@]}"
mpmd_conf "$ROOT/mpmd-event-mmap" "$P_MMAP" event "MMapFile $WWW/hello.txt" "${t_mmap[@]}"
mpmd_conf "$ROOT/mpmd-prefork" "$P_PREFORK" prefork "${t_prefork[@]}"
mpmd_conf "$ROOT/mpmd-worker" "$P_WORKER" worker "${t_worker[@]}"
# Another program on one of the ports would answer in mpmd's place: refuse to start then.
for p in "$P_EVENT" "$P_MMAP" "$P_PREFORK" "$P_WORKER" "$P_EMBED"; do check_port_free "$p"; done
for m in event event-mmap prefork worker; do
  f="$ROOT/mpmd-$m/mpmd.conf"
  rm -f "$ROOT/mpmd-$m/mpmd.pid"
  start_mpmd "$f" "$(awk '/^Listen/ {sub(/.*:/, "", $2); print $2; exit}' "$f")"
done
mkdir -p "$ROOT/embedded"
"${PIN[@]}" "$PEER" "127.0.0.1:$P_EMBED" "$WWW" event 25 1 > "$ROOT/embedded/log" 2>&1 &
echo $! > "$ROOT/embedded/pid"; PIDFILES+=("$ROOT/embedded/pid")
wait_port "$P_EMBED" up 10 || die "bench_peer: not listening on $P_EMBED (see $ROOT/embedded/log)"

# The harness's peers; those that were not running are started pinned and stopped at the end.
PEERS=(nginx hyper-hello apache-event-default apache-prefork-default apache-worker-default)
STARTED=()
stop_peers() { if [ ${#STARTED[@]} -gt 0 ]; then "$BENCH_HARNESS/peers/ctl.sh" stop "${STARTED[@]}" >&2 || true; fi; }
trap 'stop_all; stop_peers' EXIT
for p in "${PEERS[@]}"; do
  if "$BENCH_HARNESS/peers/ctl.sh" status "$p" > /dev/null 2>&1; then
    echo "note: $p was already running: used as it is (pinned? LONGKA for e?)" >&2
  else
    STARTED+=("$p")
    if [[ " $SCEN " == *" e "* ]]; then LONGKA=1; else LONGKA=; fi
    PIN=1 SERVER_CPUS=$SERVER_CPUS LONGKA=$LONGKA "$BENCH_HARNESS/peers/ctl.sh" start "$p" >&2
  fi
done

OUT="$BENCH_OUT/results/$(date +%Y%m%d-%H%M%S)-http"
"$BENCH_HARNESS/run.sh" -r "$ROUNDS" -d "$DUR" -s "$SCEN" -c "$WRK_CPUS" -q "${QUIET_WAIT:-15}" -l http -o "$OUT" -Q \
  nginx "mpmd-event=http://127.0.0.1:$P_EVENT$(tls_url $((P_EVENT + 10)))" \
  "mpmd-event-mmap=http://127.0.0.1:$P_MMAP$(tls_url $((P_MMAP + 10)))" \
  "embedded=http://127.0.0.1:$P_EMBED" hyper-hello apache-event-default \
  "mpmd-prefork=http://127.0.0.1:$P_PREFORK$(tls_url $((P_PREFORK + 10)))" apache-prefork-default \
  "mpmd-worker=http://127.0.0.1:$P_WORKER$(tls_url $((P_WORKER + 10)))" apache-worker-default
echo
cat "$OUT/table.md"
echo
"$PY" "$HERE/ratios.py" "$BENCH_HARNESS" "$OUT/results.jsonl" | tee "$OUT/http-ratios.md"
echo "results: $OUT" >&2
