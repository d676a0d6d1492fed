#!/usr/bin/env bash
# What mod_rewrite costs a request (issue 18's goal: a request that passes
# through a WordPress-style rewrite to index.php costs at most 10 % more
# than the same request without rewrite).
#
#   benches/rewrite/run.sh [MPMD]     (default: target/release/mpmd; build it first
#                                      with `cargo build --release -p mpmd`)
#   KEEP=1 benches/rewrite/run.sh     keep the profiles (callgrind_annotate them)
#
# Two sites in a temporary directory, each served by `mpmd -X` (one
# process, one thread: every instruction is the request's) under callgrind:
#
#   plain:     AllowOverride None, `GET /index.php` (the file itself);
#   direct:    AllowOverride All with WordPress's .htaccess, `GET /index.php`
#              (the rules run once: `^index\.php$ - [L]`, no redirect);
#   rewritten: AllowOverride All with WordPress's .htaccess
#              (crates/mpm-site/src/rewrite/testdata/wordpress.htaccess),
#              `GET /2024/05/hello-world/`: the .htaccess found (cached),
#              its rules run, an internal redirect to /index.php, the
#              rules run again (`^index\.php$ - [L]`), the file served.
#
# Each answers 1000 and then 3000 requests on one keep-alive connection
# (benches/proxy/hello_client.py); (instructions at 3000 − at 1000) / 2000
# is one request. Prints both and the ratio.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mpmd=${1:-$repo/target/release/mpmd}
[ -x "$mpmd" ] || { echo "no $mpmd: cargo build --release -p mpmd" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind is missing (apt-get install valgrind)" >&2; exit 2; }
py=$(command -v python3)
client="$repo/benches/proxy/hello_client.py"

root=$(mktemp -d)
chmod 755 "$root"
master=
cleanup() {
  if [ -n "$master" ] && kill -0 "$master" 2>/dev/null; then kill -TERM "$master"; wait "$master" || true; fi
  if [ -n "${KEEP:-}" ]; then echo "kept: $root (profiles in cg/)" >&2; else rm -rf "$root"; fi
}
trap cleanup EXIT

port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$root/htdocs" "$root/logs" "$root/cg"
printf '<?php /* front controller */\n' > "$root/htdocs/index.php"
cp "$repo/crates/mpm-site/src/rewrite/testdata/wordpress.htaccess" "$root/htdocs/.htaccess"
chmod -R a+rX "$root"; chmod 1777 "$root/cg" "$root/logs"

conf() { # $1: AllowOverride value
  cat > "$root/mpmd.conf" <<EOF
ServerRoot $root
PidFile $root/logs/mpmd.pid
ErrorLog $root/logs/error.log
LogLevel warn
Listen 127.0.0.1:$port
ServerName localhost
DocumentRoot $root/htdocs
MaxKeepAliveRequests 0
<Directory $root/htdocs>
    AllowOverride $1
</Directory>
EOF
}

wait_port() { # $1: up|down
  for _ in $(seq 600); do
    if "$py" -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
      [ "$1" = up ] && return 0
    else
      [ "$1" = down ] && return 0
    fi
    sleep 0.1
  done
  return 1
}

# Started as root, mpmd would serve as nobody and callgrind could not
# write its profile: run as nobody from the start.
as=(); [ "$(id -u)" = 0 ] && as=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

count() { # $1: name, $2: AllowOverride, $3: path, $4: requests
  conf "$2"
  rm -f "$root"/cg/"$1".$4.*
  "${as[@]}" valgrind --tool=callgrind --callgrind-out-file="$root/cg/$1.$4.%p.out" \
    "$mpmd" -X -f "$root/mpmd.conf" > "$root/cg/$1.$4.log" 2>&1 &
  master=$!
  wait_port up || { cat "$root/cg/$1.$4.log" >&2; exit 1; }
  "$py" "$client" "$port" "$4" "$3"
  kill -TERM "$master"; wait "$master" || true; master=
  wait_port down || true
  callgrind_annotate "$root"/cg/"$1".$4.*.out 2>/dev/null |
    awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}'
}

per_request() { # $1: name, $2: AllowOverride, $3: path
  local a b
  a=$(count "$1" "$2" "$3" 1000)
  b=$(count "$1" "$2" "$3" 3000)
  echo $(( (b - a) / 2000 ))
}

plain=$(per_request plain None /index.php)
direct=$(per_request direct All /index.php)
rewritten=$(per_request rewritten All /2024/05/hello-world/)
echo "instructions per request (callgrind, mpmd -X, (3000 - 1000 requests) / 2000):"
echo "  GET /index.php, AllowOverride None:                 $plain"
echo "  GET /index.php, WordPress's .htaccess read:         $direct"
echo "  GET /2024/05/hello-world/ through WordPress's rules: $rewritten"
awk -v a="$plain" -v b="$rewritten" 'BEGIN { printf "  ratio to AllowOverride None:  %.3f (%+.1f %%)\n", b / a, (b / a - 1) * 100 }'
awk -v a="$direct" -v b="$rewritten" 'BEGIN { printf "  ratio to the same .htaccess: %.3f (%+.1f %%)\n", b / a, (b / a - 1) * 100 }'
