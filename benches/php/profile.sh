# What one server costs per PHP request, repeatable on a loaded machine: sourced by
# benches/php/run.sh when PROFILE is set (PROFILE=strace or PROFILE=callgrind), after it
# wrote both servers' configurations (and started php-fpm, unless FCGID=on). Each server
# runs in the foreground as one process (`-X`) under the tool; $WARM requests on one
# keep-alive connection start its FastCGI processes and fill its caches, then $REQS more
# are counted:
#   strace     `strace -c -f -p` attached to the server after the warm-up (the php-cgi
#              processes of an fcgid pool already run, so they are not followed): system
#              calls per request, and the table of the busiest.
#   callgrind  the server run twice under `valgrind --tool=callgrind` (exec'd children,
#              php-cgi, are not traced), stopped (TERM) after $WARM requests, then after
#              $WARM + $REQS: the difference of the two totals over $REQS is the server's
#              instructions per request alone (start, warm-up and stop cancel out; the
#              server switches to its User, so callgrind_control could not reach it).
# Prints one line per server: "<server> <tool> <per request>", and leaves the tools' own
# outputs in $ROOT/profile/.
# shellcheck shell=bash

WARM=${WARM:-200}; REQS=${REQS:-1000}; PROFILE_PATH=${PROFILE_PATH:-/hello}
PROF="$ROOT/profile"; mkdir -p "$PROF"
PROFILED_PIDS=()
stop_profiled() {
  local pid
  for pid in "${PROFILED_PIDS[@]}"; do
    pid_alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
    pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  stop_all
}
trap stop_profiled EXIT

# $1 requests of $PROFILE_PATH on one keep-alive connection to port $2.
requests() { # count port
  curl -sS -o /dev/null --max-time 600 "http://127.0.0.1:$2$PROFILE_PATH?[1-$1]" \
    || die "requests to :$2 failed"
}

# Start "$@" (a server in the foreground, named $1, listening on $2) under $PROFILE;
# sets $pid.
start_one() { # name port command...
  local name=$1 port=$2; shift 2
  case $PROFILE in
    strace) "${PIN[@]}" "$@" > "$PROF/$name.stdout" 2>&1 & ;;
    callgrind) "${PIN[@]}" valgrind --tool=callgrind --trace-children=no \
                 --callgrind-out-file="$PROF/$name.callgrind.%p" "$@" > "$PROF/$name.stdout" 2>&1 & ;;
  esac
  pid=$!
  PROFILED_PIDS+=("$pid")
  wait_port "$port" up 60 || die "$name: not listening on $port (see $PROF/$name.stdout)"
  # The server writes its totals at exit as its User (nobody, www-data):
  # the file callgrind made at start as root must let it.
  if [ "$PROFILE" = callgrind ]; then chmod 666 "$PROF/$name.callgrind.$pid" 2>/dev/null || true; fi
}

# Stop the server $pid and wait for it.
stop_one() {
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do pid_alive "$pid" || break; sleep 0.1; done
}

# The instructions a callgrind run of server $pid counted in all.
callgrind_total() {
  awk '/^(summary|totals):/ { print $2 }' "$PROF/$1.callgrind.$pid" | tail -1
}

profile_one() { # name port command...
  local name=$1 port=$2
  case $PROFILE in
    strace)
      start_one "$@"
      requests "$WARM" "$port"
      strace -c -f -o "$PROF/$name.strace" -p "$pid" 2> "$PROF/$name.strace.log" &
      local tracer=$!
      sleep 1 # strace attaches to every thread before the counted requests
      requests "$REQS" "$port"
      kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
      local calls
      calls=$(awk '$NF == "total" { print $(NF-2) }' "$PROF/$name.strace")
      printf '%s strace %.1f syscalls/request\n' "$name" "$(echo "$calls / $REQS" | bc -l)"
      sed -n '1,14p' "$PROF/$name.strace" >&2
      stop_one ;;
    callgrind)
      local short long
      start_one "$@"; requests "$WARM" "$port"; stop_one
      short=$(callgrind_total "$name")
      start_one "$@"; requests "$WARM" "$port"; requests "$REQS" "$port"; stop_one
      long=$(callgrind_total "$name")
      [ -n "$short" ] && [ -n "$long" ] || die "$name: no callgrind totals (see $PROF/$name.stdout)"
      printf '%s callgrind %.0f instructions/request (%s)\n' "$name" \
        "$(echo "($long - $short) / $REQS" | bc -l)" "$PROF/$name.callgrind.$pid" ;;
  esac
}

case $PROFILE in strace|callgrind) ;; *) die "PROFILE must be strace or callgrind" ;; esac
command -v "$PROFILE" > /dev/null || command -v valgrind > /dev/null || die "$PROFILE not found"
profile_one mpmd "$P_MPMD" "$MPMD" -X -f "$ROOT/mpmd/mpmd.conf"
profile_one apache "$P_APACHE" /usr/sbin/apache2 -X -f "$ROOT/apache/httpd.conf"
