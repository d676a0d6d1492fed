#!/usr/bin/env bash
# Makes server-bin/layout/mpmd.order anew: the functions mpmd runs while it serves, in the
# order the linker is to place them (server-bin/build.rs; benches/layout/README.md).
#
#   benches/layout/order.sh          # ~1 min: release build, three profiled runs, the file
#
# For each MPM (prefork, worker, event) a release mpmd under `valgrind --tool=callgrind`
# serves one mixed load on loopback: the harness's scenarios (/hello keep-alive and with
# Connection: close, /hello.txt, /static/4k.bin, /static/1m.bin), a 404, a HEAD, a
# conditional GET, a forbidden directory, and over TLS HTTP/1.1 (/hello, 1 MiB) and
# HTTP/2. benches/layout/order.py turns the profiles into the order; then mpmd is linked
# again with it and `order.py check` says how many of the names the new build has (all,
# unless the toolchain or Cargo.lock changed since the profiles' build).
# Needs valgrind, curl, python3. Everything else goes under $BENCH_OUT/layout (default
# /tmp/mpm-bench/layout); each server is stopped by its pid at the end, also on ^C.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# The harness (its peers/lib.sh: WWW, BENCH_OUT, wait_port, die ...), stop_all at exit,
# mpmd_debian_conf, tls_lines.
source "$REPO/benches/lib.sh"
for c in valgrind curl python3 nm; do command -v "$c" > /dev/null || die "$c not found (apt-get install valgrind curl binutils)"; done
MPMD="$REPO/target/release/mpmd"
ORDER="$REPO/server-bin/layout/mpmd.order"
ROOT="$BENCH_OUT/layout"
PY=$(python3 -c 'import sys; print(sys.executable)')
CLIENT="$REPO/benches/proxy/hello_client.py"
(cd "$REPO" && cargo build --release -p mpmd --bin mpmd) >&2
ensure_www
ensure_tls
# Started as root, the children would serve as nobody and could not write their profiles
# beside the master's: everything runs as nobody from the start.
AS=("${AS_NOBODY[@]}")
trap stop_all EXIT

profile() { # mpm
  local mpm=$1 dir="$ROOT/$1" port tport pid sizing=() t
  rm -rf "$dir"; mkdir -p "$dir"; chmod 777 "$dir"
  port=$(free_port) tport=$(free_port)
  readarray -t t < <(tls_lines "$tport")
  mpmd_debian_conf "$dir" "$port" "$mpm" 5 "${t[@]}"
  # One connection carries each client's requests, as in run.sh's count.
  sizing=(-c "MaxKeepAliveRequests 0")
  case $mpm in
    prefork) sizing+=(-c "StartServers 2" -c "MinSpareServers 1" -c "MaxSpareServers 4") ;;
    *) sizing+=(-c "StartServers 1" -c "ServerLimit 1" -c "ThreadsPerChild 4" -c "ThreadLimit 4"
      -c "MaxRequestWorkers 4" -c "MinSpareThreads 1" -c "MaxSpareThreads 8") ;;
  esac
  # mpmd's glibc tunable (server-bin/src/tunables.rs), which it does not set itself under valgrind
  "${AS[@]}" env GLIBC_TUNABLES=glibc.malloc.tcache_count=1 valgrind --tool=callgrind --demangle=no --callgrind-out-file="$dir/cg.%p.out" \
    "$MPMD" -f "$dir/mpmd.conf" "${sizing[@]}" > "$dir/valgrind.log" 2>&1 &
  pid=$!; echo "$pid" > "$dir/pid"; PIDFILES+=("$dir/pid")
  wait_port "$port" up 120 || die "mpmd $mpm under valgrind: not listening (see $dir/valgrind.log)"
  local u="http://127.0.0.1:$port" s="https://127.0.0.1:$tport" i
  "$PY" "$CLIENT" "$port" 300
  "$PY" "$CLIENT" "$port" 60 /hello close
  "$PY" "$CLIENT" "$port" 300 /hello.txt
  "$PY" "$CLIENT" "$port" 300 /static/4k.bin
  "$PY" "$CLIENT" "$port" 10 /static/1m.bin
  for i in 1 2 3; do
    curl -s -o /dev/null "$u/missing"; curl -s -o /dev/null -I "$u/hello"; curl -s -o /dev/null "$u/"
    curl -s -o /dev/null -H "If-Modified-Since: $(date -u -R)" "$u/static/4k.bin"
    curl -sk -o /dev/null "$s/hello"; curl -sk -o /dev/null "$s/static/1m.bin"
    curl -sk --http2 -o /dev/null -o /dev/null "$s/hello" "$s/static/4k.bin"
  done
  "$PY" "$CLIENT" "$port" 300
  kill -TERM "$pid"; wait "$pid" || true
  wait_port "$port" down 30 || die "mpmd $mpm: still listening after TERM"
  ls "$dir"/cg.*.out > /dev/null || die "mpmd $mpm: no profile in $dir"
}

for m in prefork worker event; do echo "profiling mpmd $m ..." >&2; profile "$m"; done
{
  echo "# mpmd's functions in the order lld is to place them (server-bin/build.rs): what its"
  echo "# children ran, most instructions first, then what only the master ran. Made by"
  echo "# benches/layout/order.sh with $(rustc --version | cut -d' ' -f1-2) on $(date -u +%F); do not edit."
  "$PY" "$HERE/order.py" order "$ROOT/prefork" "$ROOT/worker" "$ROOT/event"
} > "$ORDER.new"
mv "$ORDER.new" "$ORDER"
(cd "$REPO" && cargo build --release -p mpmd --bin mpmd) >&2
"$PY" "$HERE/order.py" check "$MPMD" "$ORDER"
