#!/usr/bin/env bash
# prefork and worker against Apache's (issue 16): what one request costs, counted, not
# timed, so that it can be measured on a busy machine.
#
#   benches/http/count-pw.sh                 # every target, scenarios a b c
#   TARGETS="mpmd-prefork apache-prefork" SCEN="b" benches/http/count-pw.sh
#   CALLGRIND=1 benches/http/count-pw.sh     # instructions of mpmd too (slow: valgrind)
#   MPMD_EXTRA="AcceptFilter http none" ...  # a directive added to mpmd's configuration
#   STEPS="a c t u a c" benches/http/count-pw.sh   # memory after each step, in this order
#
# Targets: mpmd-prefork and mpmd-worker (Debian's mpm_prefork.conf and mpm_worker.conf
# sizing, MaxKeepAliveRequests 100, KeepAliveTimeout 5, /hello from hello.txt by `Alias`,
# as the Apache peers), apache-prefork and apache-worker (the harness's
# apache-{prefork,worker}-default peers, started here when not running and stopped again).
# Scenarios as the harness's: a /hello keep-alive, b /hello with Connection: close (a new
# connection each), c /static/4k.bin keep-alive. One client (pw_client.py), one request at
# a time, N requests (N, default 2000; b: a third).
#
# Per request, for each target and scenario:
#   syscalls   `strace -c` attached to every thread of every process of the server, for N
#              requests, divided by N (benches: the calls themselves, by name)
#   ctxsw      context switches (voluntary + involuntary, /proc/<pid>/task/*/status) of the
#              server's threads (those alive before and after) over N requests without
#              strace, divided by N
#   segments   TCP segments with data the server sent per response (the client's
#              tcpi_data_segs_in), then all it sent (tcpi_segs_in: with the handshake,
#              acknowledgements and FIN)
#   children   (MEM=1) a separate run of `wrk -t1 -c50 -d$DUR` (default 8s) on the scenario,
#              the server sampled every 0.5 s by the harness's sampler.py: the most
#              processes, the peak RSS and PSS summed over them (MiB), and the children
#              forked during the run that are alive at its end; its req/s is
#              printed for information only (this is a count, not a benchmark)
#   instr      (CALLGRIND=1, mpmd only) user-space instructions: the server under
#              callgrind answers N/2 and then N requests (two runs); the difference of the
#              totals of its children (not the master's) over N/2
#   steps      (STEPS="a c t u a c") instead of the table above, the interleaved run's order
#              on one server start: for each step a `wrk -t1 -c50 -d$DUR` (default 3s; u:
#              -c10) sampled by sampler.py, the peak PSS summed over the server's processes
#              (MiB) and its processes; t (handshakes: /hello with Connection: close) and u
#              (/static/1m.bin) go over TLS (mpmd only: the Apache peers have no TLS, so
#              they skip them), with KeepAliveTimeout 65 as run.sh's EXTRA=1 run. After each
#              step benches/http/smaps.py of the processes goes beside the table
#              (TARGET-steps-N-STEP-smaps.txt).
# The table goes to stdout and to $BENCH_OUT/http/count-pw/table.md; strace summaries and
# callgrind profiles stay beside it. Every server started here is stopped by its pid at the
# end, also on ^C. Env: TARGETS SCEN N MPMD MPMD_EXTRA CALLGRIND MEM STEPS DUR BASE_PORT
# (27170: +0 prefork, +1 worker; TLS +10 prefork, +11 worker).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# The harness (its peers/lib.sh: WWW, BENCH_OUT, wait_port, die ...), stop_all at exit.
source "$REPO/benches/lib.sh"
TARGETS=${TARGETS:-mpmd-prefork apache-prefork mpmd-worker apache-worker}
SCEN=${SCEN:-a b c}
N=${N:-2000}
BASE_PORT=${BASE_PORT:-27170}
MPMD=${MPMD:-$REPO/target/release/mpmd}
PY=$(python3 -c 'import sys; print(sys.executable)')
CLIENT="$HERE/pw_client.py"
OUT="$BENCH_OUT/http/count-pw"
PIN=() # start_mpmd (benches/lib.sh): not pinned, nothing here is timed
for c in strace python3 $([ -n "${CALLGRIND:-}" ] && echo valgrind callgrind_annotate) $([ -n "${MEM:-}${STEPS:-}" ] && echo wrk); do
  command -v "$c" > /dev/null || die "$c not found (apt-get install strace valgrind)"
done
if [ ! -x "$MPMD" ]; then
  echo "building mpmd (release) ..." >&2
  (cd "$REPO" && nice cargo build --release -p mpmd) >&2
fi
ensure_www
raise_nofile
# How much of the function order (benches/layout/README.md) this build still matches.
"$PY" "$REPO/benches/layout/order.py" check "$MPMD" "$REPO/server-bin/layout/mpmd.order" >&2 || true
mkdir -p "$OUT"; chmod 777 "$OUT"

# mpmd's configuration for MPM $1 in $OUT/mpmd-$1-$2, listening on $2 (benches/lib.sh's
# Debian sizing), with $MPMD_EXTRA; with STEPS over TLS, also on $2 + 10 with TLS and
# KeepAliveTimeout 65 (as run.sh's EXTRA=1 run); prints its path.
mpmd_conf() { # mpm port
  local dir="$OUT/mpmd-$1-$2" ka=5 tls=()
  if [[ " ${STEPS:-} " == *" t "* || " ${STEPS:-} " == *" u "* ]]; then
    ka=65
    readarray -t tls < <(tls_lines $(($2 + 10)))
  fi
  mpmd_debian_conf "$dir" "$2" "$1" "$ka" ${MPMD_EXTRA:+"$MPMD_EXTRA"} "${tls[@]}"
  echo "$dir/mpmd.conf"
}

# Apache peers started here, stopped at the end.
STARTED=()
stop_peers() { if [ ${#STARTED[@]} -gt 0 ]; then "$BENCH_HARNESS/peers/ctl.sh" stop "${STARTED[@]}" >&2 || true; fi; }
# mpmd under valgrind (CALLGRIND=1), in the foreground: stopped by its pid at the end too.
VG_PID=
stop_valgrind() { if [ -n "$VG_PID" ]; then kill -TERM "$VG_PID" 2> /dev/null || true; wait "$VG_PID" 2> /dev/null || true; fi; }
trap 'stop_valgrind; stop_all; stop_peers' EXIT

# Start target $1 (unless running); sets PORT.
start_target() { # target
  case $1 in
    mpmd-prefork|mpmd-worker)
      local mpm=${1#mpmd-} conf
      PORT=$BASE_PORT; [ "$mpm" = worker ] && PORT=$((BASE_PORT + 1))
      [ -z "$(listen_pids "$PORT")" ] || return 0
      conf=$(mpmd_conf "$mpm" "$PORT")
      rm -f "$(dirname "$conf")/mpmd.pid"
      start_mpmd "$conf" "$PORT" ;;
    apache-prefork|apache-worker)
      local peer="$1-default"
      PORT=${PEER_PORT[$peer]}
      if ! "$BENCH_HARNESS/peers/ctl.sh" status "$peer" > /dev/null 2>&1; then
        "$BENCH_HARNESS/peers/ctl.sh" start "$peer" >&2
        STARTED+=("$peer")
      fi ;;
    *) die "unknown target $1 (mpmd-prefork mpmd-worker apache-prefork apache-worker)" ;;
  esac
}

# The pids of the processes holding the socket listening on $1 and their children.
server_pids() { # port
  local p
  for p in $(listen_pids "$1"); do echo "$p"; pgrep -P "$p" || true; done | sort -un
}

# Every thread of every process that holds the socket listening on $1, and their children.
server_tids() { # port
  local c
  for c in $(server_pids "$1"); do ls "/proc/$c/task" 2> /dev/null || true; done | sort -un
}

# "tid count" of each of threads $@: its context switches so far.
ctxsw() {
  local t
  for t in "$@"; do
    awk -v t="$t" '/ctxt_switches/ {s += $2} END {if (NR) print t, s + 0}' "/proc/$t/status" 2> /dev/null || true
  done
}

# The context switches between two ctxsw lists ($1 before, $2 after), of the threads in
# both (a process that started or left meanwhile would count its whole life).
ctxsw_delta() { # before after
  awk 'NR == FNR {b[$1] = $2; next} ($1 in b) {d += $2 - b[$1]} END {print d + 0}' <(echo "$1") <(echo "$2")
}

request_of() { # scenario -> "path [close]"
  case $1 in a) echo /hello ;; b) echo "/hello close" ;; c) echo /static/4k.bin ;; *) die "scenario $1: a b or c" ;; esac
}

# Syscalls, context switches and segments of target $1 on scenario $2: one table row.
count_row() { # target scenario
  local target=$1 s=$2 n=$N req tids before after segs sp targets=() t
  read -ra req <<< "$(request_of "$s")"
  [ "$s" = b ] && n=$((N / 3))
  start_target "$target"
  "$PY" "$CLIENT" "$PORT" 200 "${req[@]}" > /dev/null || die "$target: warm-up failed"
  # Context switches, without strace.
  mapfile -t tids < <(server_tids "$PORT")
  before=$(ctxsw "${tids[@]}")
  segs=$("$PY" "$CLIENT" "$PORT" "$n" "${req[@]}") || die "$target: client failed"
  mapfile -t tids < <(server_tids "$PORT")
  after=$(ctxsw "${tids[@]}")
  # System calls: strace on every thread.
  for t in "${tids[@]}"; do targets+=(-p "$t"); done
  strace -f -c -o "$OUT/$target-$s-$BASE_PORT.strace" "${targets[@]}" 2> /dev/null &
  sp=$!
  sleep 1 # strace attaches
  "$PY" "$CLIENT" "$PORT" "$n" "${req[@]}" > /dev/null || die "$target: client under strace failed"
  kill -INT "$sp"; wait "$sp" || true
  printf '| %s %s | %s | %s | %.2f | %s | %s |\n' "$s" "${req[*]}" "$target" \
    "$(syscalls_line "$OUT/$target-$s-$BASE_PORT.strace" "$n")" "$(echo "$(ctxsw_delta "$before" "$after") / $n" | bc -l)" \
    "$(echo "$segs" | awk '{print $1 " / " $7}')" "$(instructions "$target" "$n" "${req[@]}")"
}

# "total (name count, ...)" per request from an strace -c summary over $2 requests.
syscalls_line() { # file n
  awk -v n="$2" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {c[$NF] = $4}
    END {t = 0; for (k in c) {v = c[k] / n; if (v >= 0.01) {t += v; s = s sprintf(", %s %.2f", k, v)}}
         printf "%.2f (%s)", t, substr(s, 3)}' "$1"
}

# User-space instructions per request of mpmd target $1 (CALLGRIND=1), else "-".
instructions() { # target n request...
  local target=$1 n=$2; shift 2
  if [ -z "${CALLGRIND:-}" ] || [[ $target != mpmd-* ]]; then echo "-"; return; fi
  local half=$((n / 2)) a b
  a=$(callgrind_total "$target" "$half" "$@")
  b=$(callgrind_total "$target" "$n" "$@")
  echo $(( (b - a) / (n - half) ))
}

# Total instructions of all of mpmd's processes answering $2 requests, under callgrind.
callgrind_total() { # target n request...
  local target=$1 n=$2 mpm=${1#mpmd-} dir pid f total=0 ir port; shift 2
  port=$BASE_PORT; [ "$mpm" = worker ] && port=$((BASE_PORT + 1))
  dir="$OUT/mpmd-$mpm-$port"
  stop_all > /dev/null; PIDFILES=()
  wait_port "$port" down 30 || die "$target: port $port still busy"
  rm -f "$dir"/cg.*.out
  # In the foreground; as root it serves as nobody, who must be able to write the profile.
  GLIBC_TUNABLES=glibc.malloc.tcache_count=1 valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p.out" "$MPMD" -f "$dir/mpmd.conf" \
    > "$dir/valgrind.log" 2>&1 &
  pid=$!
  # Run in a command substitution, whose shell has no EXIT trap of its own.
  VG_PID=$pid; trap stop_valgrind EXIT
  wait_port "$port" up 120 || die "$target under valgrind: not listening (see $dir/valgrind.log)"
  "$PY" "$CLIENT" "$port" "$n" "$@" > /dev/null || die "$target under valgrind: client failed"
  kill -TERM "$pid" 2> /dev/null || true; wait "$pid" || true
  VG_PID=
  # The children's profiles: the master's once-a-second upkeep depends on how long the
  # run took under valgrind, not on the requests.
  for f in "$dir"/cg.*.out; do
    [ "$f" = "$dir/cg.$pid.out" ] && continue
    ir=$(callgrind_annotate "$f" 2> /dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
    total=$((total + ${ir:-0}))
  done
  echo "$total"
}

# Processes, memory and forks of target $1 under wrk -c50 on scenario $2: one table row.
memory_row() { # target scenario
  local target=$1 s=$2 req sp before after forked rps hdr=()
  read -ra req <<< "$(request_of "$s")"
  [ "${req[1]:-}" = close ] && hdr=(-H "Connection: close")
  start_target "$target"
  "$PY" "$CLIENT" "$PORT" 20 "${req[@]}" > /dev/null || die "$target: warm-up failed"
  before=$(server_pids "$PORT")
  "$PY" "$BENCH_HARNESS/lib/sampler.py" "$PORT" "$OUT/$target-$s-mem.json" 0.5 &
  sp=$!
  sleep 1 # the sampler finds the server
  rps=$(wrk -t1 -c50 -d"${DUR:-8s}" "${hdr[@]}" "http://127.0.0.1:$PORT${req[0]}" | awk '/Requests\/sec/ {print $2}')
  after=$(server_pids "$PORT")
  kill -TERM "$sp"; wait "$sp" || true
  forked=$(comm -13 <(echo "$before" | sort -u) <(echo "$after" | sort -u) | grep -c . || true)
  python3 - "$OUT/$target-$s-mem.json" "$s ${req[*]}" "$target" "$forked" "$rps" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['procs_peak']} | {sys.argv[4]} | "
      f"{r['rss_peak_kb'] / 1024:.1f} | {r['pss_peak_kb'] / 1024:.1f} | {sys.argv[5]} |")
PY
}

# The memory of target $1 after each of the steps $STEPS, on one start: one table row.
steps_row() { # target
  local target=$1 s url conns sp cells="" pids hdr i=0
  start_target "$target"
  "$PY" "$CLIENT" "$PORT" 20 /hello > /dev/null || die "$target: warm-up failed"
  for s in $STEPS; do
    conns=50 url="http://127.0.0.1:$PORT" hdr=()
    case $s in
      a) url+=/hello ;; c) url+=/static/4k.bin ;; b) url+=/hello; hdr=(-H "Connection: close") ;;
      t|u) if [[ $target != mpmd-* ]]; then cells+=" – |"; continue; fi
        url="https://127.0.0.1:$((PORT + 10))"
        if [ "$s" = t ]; then url+=/hello; hdr=(-H "Connection: close"); else url+=/static/1m.bin; conns=10; fi ;;
      *) die "step $s: a b c t or u" ;;
    esac
    "$PY" "$BENCH_HARNESS/lib/sampler.py" "$PORT" "$OUT/$target-step.json" 0.5 &
    sp=$!
    sleep 1 # the sampler finds the server
    wrk -t1 -c"$conns" -d"${DUR:-3s}" "${hdr[@]}" "$url" > /dev/null
    kill -TERM "$sp"; wait "$sp" || true
    i=$((i + 1))
    mapfile -t pids < <(server_pids "$PORT")
    "$PY" "$HERE/smaps.py" "${pids[@]}" > "$OUT/$target-steps-$i-$s-smaps.txt"
    cells+=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
print(" %.1f (%d) |" % (r["pss_peak_kb"] / 1024, r["procs_peak"]), end="")' "$OUT/$target-step.json")
  done
  echo "| $target |$cells"
}

# One table into $1 and on stdout: title $2, column names $3, a row per scenario and
# target made by the function $4 (target scenario).
table() { # file title header row-function
  local file=$1 row=$4 s t
  {
    echo "#### $2"
    echo
    echo "$3"
    echo "$3" | awk -F'|' '{printf "|"; for (i = 2; i < NF; i++) printf "---|"; print ""}'
  } > "$file"
  for s in $SCEN; do
    for t in $TARGETS; do
      echo "$s $t ..." >&2
      "$row" "$t" "$s" >> "$file"
    done
  done
  cat "$file"
}

if [ -n "${STEPS:-}" ]; then
  file="$OUT/steps.md"
  header="| target |$(for s in $STEPS; do printf ' %s |' "$s"; done)"
  {
    echo "#### prefork and worker: peak PSS MiB (processes) in each step, wrk -t1 -c50 -d${DUR:-3s} ($(date -u +%F))"
    echo
    echo "$header"
    echo "$header" | awk -F'|' '{printf "|"; for (i = 2; i < NF; i++) printf "---|"; print ""}'
  } > "$file"
  for t in $TARGETS; do echo "steps $t ..." >&2; steps_row "$t" >> "$file"; done
  cat "$file"
elif [ -n "${MEM:-}" ]; then
  table "$OUT/memory.md" \
    "prefork and worker: processes and memory under wrk -t1 -c50 -d${DUR:-8s} ($(date -u +%F))${MPMD_EXTRA:+; mpmd with: $MPMD_EXTRA}" \
    "| scenario | target | processes (peak) | forked during the run (alive at its end) | RSS MiB (peak sum) | PSS MiB (peak sum) | req/s (information only) |" \
    memory_row
else
  table "$OUT/table.md" \
    "prefork and worker: cost per request ($(date -u +%F), N=$N; b: N/3)${MPMD_EXTRA:+; mpmd with: $MPMD_EXTRA}" \
    "| scenario | target | system calls per request | context switches | segments per response (data / all) | instructions (user) |" \
    count_row
fi
