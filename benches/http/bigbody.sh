#!/usr/bin/env bash
# The 1 MiB file under back-pressure (issue 16's d and u): what each server spends per MiB
# it sends, by CPU time, by system calls and by instructions, repeatable on a shared
# machine where req/s is noise.
#
#   benches/http/bigbody.sh            # cpu, then strace, for every server
#   benches/http/bigbody.sh cpu        # server CPU-seconds per MiB (utime+stime of every
#                                      # process and thread, /proc/PID/stat, before/after)
#   benches/http/bigbody.sh strace     # strace -c -f on every process: calls (and errors,
#                                      # EAGAIN) per MiB, and bytes per write call
#   benches/http/bigbody.sh callgrind  # instructions per MiB: the server under callgrind
#                                      # for a short and a long wrk run, (Ir2-Ir1)/(MiB2-MiB1)
#   benches/http/bigbody.sh slow       # back-pressure: slow_reader.py (4 connections with a
#                                      # 16 KiB receive buffer, 5 x a 10 MiB file each) under
#                                      # strace: writes and EAGAIN per MiB (on loopback a 1 MiB
#                                      # answer leaves in one write: the send buffer grows to
#                                      # 4 MiB); the servers get a docroot of their own for it
#
# Servers (each pinned to CPU $SERVER_CPUS, 0), GET /static/1m.bin keep-alive:
#   embedded     examples/bench_peer, event, 2 x 25 threads, the file from memory (d)
#   hyper-hello  the harness's hyper peer, one tokio worker, the file from memory (d)
#   mpmd-event   mpmd event with Debian's sizing (as run.sh), over TLS (u) on $BASE_PORT+3
#   nginx        nginx as the harness's peer (sendfile, tcp_nopush, TLS with the harness's
#                certificate), master_process off: one process (u)
#   mpmd-event-plain, nginx-plain: the same two on plain TCP (d)
# The client is the harness's: `taskset -c $WRK_CPUS wrk $WRK_ARGS` (-t2 -c10, as its d
# and u), DUR (5s) a run, ROUNDS (3) runs per server for cpu (the median printed).
# Env: SERVERS BASE_PORT (27720) BENCH_OUT MPMD PEER HYPER SERVER_CPUS WRK_CPUS WRK_ARGS
# DUR ROUNDS CG_DUR ("2s 6s"). Every server started here is stopped by its pid at exit.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
source "$REPO/benches/lib.sh"
MODE=${1:-all}
case $MODE in all|cpu|strace|callgrind|slow) ;; *) die "usage: $0 [cpu|strace|callgrind|slow]" ;; esac
SERVERS=${SERVERS:-embedded hyper-hello mpmd-event nginx}
BASE_PORT=${BASE_PORT:-27720}; DUR=${DUR:-5s}; ROUNDS=${ROUNDS:-3}; WRK_CPUS=${WRK_CPUS:-1}
WRK_ARGS=${WRK_ARGS:--t2 -c10}
MPMD=${MPMD:-$REPO/target/release/mpmd}
PEER=${PEER:-$REPO/target/release/examples/bench_peer}
HYPER=${HYPER:-/tmp/mpm-bench/cargo-target/release/hyper-hello}
PIN=(taskset -c "$SERVER_CPUS")
PY=$(python3 -c 'import sys; print(sys.executable)')
ROOT="$BENCH_OUT/http/bigbody"
DOCROOT=$WWW
MIB=1048576
for c in taskset wrk strace valgrind ss; do command -v "$c" > /dev/null || die "$c not found"; done
for b in "$MPMD" "$PEER" "$HYPER"; do [ -x "$b" ] || die "no $b (cargo build --release -p mpmd --bin mpmd, then cargo build --release -p mpm-examples --example bench_peer; HYPER: the harness's setup.sh)"; done
ensure_www
ensure_tls
raise_nofile
mkdir -p "$ROOT"

# Started as root, mpmd would serve as nobody and callgrind could not write its profile.
AS=("${AS_NOBODY[@]}")

# Starts server $1 (under $2..., e.g. valgrind); sets SERVER_PID and URL.
start_server() { # name [wrapper...]
  local name=$1 dir="$ROOT/$1" port p; shift
  mkdir -p "$dir/logs"; chmod 777 "$dir" "$dir/logs"
  for p in $(seq "$BASE_PORT" $((BASE_PORT + 5))); do check_port_free "$p"; done
  case $name in
    embedded) port=$BASE_PORT; URL=http://127.0.0.1:$port
      "${PIN[@]}" "${AS[@]}" "$@" "$PEER" "127.0.0.1:$port" "$DOCROOT" event 25 "${EMBED_CHILDREN:-2}" > "$dir/log" 2>&1 & ;;
    hyper-hello) port=$((BASE_PORT + 1)); URL=http://127.0.0.1:$port
      "${PIN[@]}" "${AS[@]}" "$@" "$HYPER" "127.0.0.1:$port" "$DOCROOT/static" > "$dir/log" 2>&1 & ;;
    mpmd-event|mpmd-event-plain) port=$((BASE_PORT + 2)); URL=http://127.0.0.1:$port
      local tls=()
      if [ "$name" = mpmd-event ]; then
        port=$((BASE_PORT + 3)); URL=https://127.0.0.1:$port
        tls=("Listen 127.0.0.1:$port https" "<VirtualHost 127.0.0.1:$port>" "SSLEngine on"
          "SSLCertificateFile $TLS_DIR/cert.pem" "SSLCertificateKeyFile $TLS_DIR/key.pem" "</VirtualHost>")
      fi
      mpmd_debian_conf "$dir" $((BASE_PORT + 2)) event 5 "${tls[@]}"
      chmod 644 "$TLS_DIR/key.pem"
      # In the foreground, master and children as run.sh has them.
      "${PIN[@]}" "${AS[@]}" "$@" "$MPMD" -f "$dir/mpmd.conf" > "$dir/log" 2>&1 & ;;
    nginx|nginx-plain) port=$((BASE_PORT + 4)); URL=http://127.0.0.1:$port
      [ "$name" = nginx ] && { port=$((BASE_PORT + 5)); URL=https://127.0.0.1:$port; }
      nginx_one_process_conf "$dir" $((BASE_PORT + 4)) $((BASE_PORT + 5)) > "$dir/nginx.conf"
      # nginx stays root: it does not switch users with master_process off.
      "${PIN[@]}" "$@" /usr/sbin/nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log" > "$dir/log" 2>&1 & ;;
    *) die "unknown server $name" ;;
  esac
  SERVER_PID=$!
  echo "$SERVER_PID" > "$dir/pid"; PIDFILES+=("$dir/pid")
  wait_port "$port" up 120 || die "$name: not listening on $port (see $dir/log)"
  # One request first: every child and thread is up, the file is read.
  curl -sk -o /dev/null --max-time 60 "$URL/static/1m.bin" || die "$name: no answer on $URL"
}

stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# The server's processes: $SERVER_PID and its descendants.
server_pids() {
  local all=("$SERVER_PID") i=0 c
  while [ $i -lt ${#all[@]} ]; do
    for c in $(cat /proc/"${all[$i]}"/task/*/children 2>/dev/null); do all+=("$c"); done
    i=$((i + 1))
  done
  echo "${all[@]}"
}

# utime + stime (clock ticks) of every process of the server, their threads included.
cpu_ticks() {
  local p t=0
  for p in $(server_pids); do
    t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' /proc/"$p"/stat 2>/dev/null || echo 0)))
  done
  echo "$t"
}

# One wrk run on $URL for $1; prints the responses it completed.
load() { # duration
  local out
  out=$(taskset -c "$WRK_CPUS" wrk $WRK_ARGS -d"$1" --timeout 10s "$URL/static/1m.bin" 2>&1)
  echo "$out" > "$ROOT/last-wrk.txt"
  echo "$out" | awk '/requests in/ {print $1}'
}

HZ=$(getconf CLK_TCK)

cpu_mode() {
  local name out="$ROOT/cpu.md" r a b n rows
  echo "| server | CPU-ms per MiB (rounds) | median | MiB/s (median) |" > "$out"
  echo "|---|---|---|---|" >> "$out"
  for name in $SERVERS; do
    start_server "$name"
    load 1s > /dev/null
    rows=()
    for r in $(seq "$ROUNDS"); do
      a=$(cpu_ticks); n=$(load "$DUR"); b=$(cpu_ticks)
      [ "${n:-0}" -gt 0 ] || die "$name: wrk completed no response (see $ROOT/last-wrk.txt)"
      rows+=("$(awk -v t=$((b - a)) -v n="$n" -v hz="$HZ" -v d="${DUR%s}" 'BEGIN{printf "%.3f %.0f", t * 1000 / hz / n, n / d}')")
    done
    stop_server
    printf '%s\n' "${rows[@]}" | sort -n | awk -v name="$name" '
      {ms[NR] = $1; rate[NR] = $2; all = all (NR > 1 ? " " : "") $1}
      END {m = int((NR + 1) / 2); printf "| %s | %s | %s | %s |\n", name, all, ms[m], rate[m]}' >> "$out"
    echo "$name: $(tail -1 "$out")" >&2
  done
  cat "$out"
}

strace_mode() {
  local name out="$ROOT/strace.md" p n sp targets
  : > "$out"
  for name in $SERVERS; do
    start_server "$name"
    load 1s > /dev/null
    targets=(); for p in $(server_pids); do targets+=(-p "$p"); done
    strace -f -c -o "$ROOT/$name.strace.txt" "${targets[@]}" 2> "$ROOT/$name.strace.log" &
    sp=$!
    sleep 1 # strace attaches
    n=$(load "$DUR")
    kill -INT "$sp" 2>/dev/null || die "$name: strace ended early (see $ROOT/$name.strace.log)"; wait "$sp" || true
    stop_server
    {
      echo "$name ($n MiB under strace): per MiB"
      "$PY" "$REPO/benches/syscalls.py" --errors "$ROOT/$name.strace.txt" "$n"
      echo
    } >> "$out"
  done
  cat "$out"
}

slow_mode() {
  local name out="$ROOT/slow.md" p sp targets
  # Not the harness's docroot: hyper-hello keeps every file of it in memory.
  DOCROOT="$ROOT/www"
  mkdir -p "$DOCROOT/static"
  [ -f "$DOCROOT/static/10m.bin" ] || head -c 10485760 /dev/urandom > "$DOCROOT/static/10m.bin"
  : > "$out"
  for name in $SERVERS; do
    case $name in embedded|hyper-hello) ;; *) continue ;; esac
    start_server "$name"
    targets=(); for p in $(server_pids); do targets+=(-p "$p"); done
    strace -f -c -o "$ROOT/$name.slow.txt" "${targets[@]}" 2> "$ROOT/$name.slow.log" &
    sp=$!
    sleep 1 # strace attaches
    taskset -c "$WRK_CPUS" "$PY" "$HERE/slow_reader.py" "${URL##*:}" 4 5 /static/10m.bin || die "$name: the slow readers failed"
    kill -INT "$sp" 2>/dev/null || die "$name: strace ended early (see $ROOT/$name.slow.log)"; wait "$sp" || true
    stop_server
    { echo "$name (200 MiB to slow readers, under strace): per MiB"; "$PY" "$REPO/benches/syscalls.py" --errors "$ROOT/$name.slow.txt" 200; echo; } >> "$out"
  done
  DOCROOT=$WWW
  cat "$out"
}

callgrind_mode() {
  local name out="$ROOT/callgrind.md" d f ir total n dur=() irs=() ns=()
  read -ra dur <<< "${CG_DUR:-2s 6s}"
  echo "| server | instructions per MiB |" > "$out"
  echo "|---|---|" >> "$out"
  for name in $SERVERS; do
    irs=(); ns=()
    for d in "${dur[@]}"; do
      rm -f "$ROOT/$name"/cg.*.out
      start_server "$name" valgrind --tool=callgrind --callgrind-out-file="$ROOT/$name/cg.%p.out"
      n=$(load "$d")
      stop_server
      wait_port "${URL##*:}" down 60 || die "$name: still listening after TERM"
      total=0
      for f in "$ROOT/$name"/cg.*.out; do
        ir=$(callgrind_annotate "$f" 2> /dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
        total=$((total + ${ir:-0}))
      done
      irs+=("$total"); ns+=("$n")
    done
    [ "${ns[1]}" -gt "${ns[0]}" ] || die "$name: the long run served no more than the short one"
    echo "| $name | $(( (irs[1] - irs[0]) / (ns[1] - ns[0]) )) |" >> "$out"
    echo "$name: $(tail -1 "$out") (${ns[*]} MiB)" >&2
  done
  cat "$out"
}

case $MODE in
  cpu) cpu_mode ;; strace) strace_mode ;; callgrind) callgrind_mode ;; slow) slow_mode ;;
  all) cpu_mode; strace_mode ;;
esac
