# What the shell benchmarks (benches/proxy/run.sh, benches/php/run.sh) share: the shared
# harness found and its peers/lib.sh sourced, the servers' configurations (Apache event
# sized as the harness's apache-event-tuned, mpmd event with one child) and the start/stop
# bookkeeping (every server stopped by its pid at exit, also on ^C). Sourced, never run:
#
#   source "$REPO/benches/lib.sh"     # with REPO set to the checkout
# shellcheck shell=bash

if [ -z "${BENCH_HARNESS:-}" ]; then
  # ../shared/bench beside the checkout (or beside its worktrees' folder)
  for d in "$REPO/../shared/bench" "$REPO/../../shared/bench"; do [ -f "$d/run.sh" ] && BENCH_HARNESS=$d && break; done
fi
BENCH_HARNESS=${BENCH_HARNESS:-$REPO/../shared/bench}
[ -f "$BENCH_HARNESS/run.sh" ] || { echo "error: no harness at $BENCH_HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
BENCH_HARNESS="$(cd "$BENCH_HARNESS" && pwd)"
# ports, BENCH_OUT, wait_port, check_port_free, pid_alive, raise_nofile, ensure_www, die
source "$BENCH_HARNESS/peers/lib.sh"

# Apache's children run as www-data when started as root.
if [ "$(id -u)" = 0 ]; then APACHE_USER="User www-data
Group www-data"; else APACHE_USER=""; fi

# The head of an Apache event configuration sized as the harness's apache-event-tuned
# (2 x 64 threads), listening on $2, its runtime in $1, with `LoadModule` lines for the
# modules named after (mod_NAME.so), before the caller's own lines.
apache_event_conf() { # dir port module...
  local dir=$1 port=$2 m; shift 2
  cat <<APA
ServerRoot "$dir"
Listen 127.0.0.1:$port
ServerName 127.0.0.1
DefaultRuntimeDir run
PidFile $dir/httpd.pid
ErrorLog logs/error.log
LogLevel warn
$APACHE_USER
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
APA
  for m in "$@"; do echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_$m.so"; done
  cat <<APA
StartServers            2
ServerLimit             8
ThreadLimit             64
ThreadsPerChild         64
MinSpareThreads         64
MaxSpareThreads         256
MaxRequestWorkers       512
MaxConnectionsPerChild  0
Timeout 300
KeepAlive On
KeepAliveTimeout 5
MaxKeepAliveRequests 1000
<Directory />
    Require all granted
</Directory>
APA
}

# The head of an mpmd configuration: event, one child of $3 threads (the servers share
# one CPU), listening on $2, its runtime in $1, before the caller's own lines.
mpmd_event_conf() { # dir port threads
  cat <<MPM
ServerRoot $1
PidFile $1/mpmd.pid
ErrorLog $1/logs/error.log
LogLevel warn
LoadModule mpm_event_module modules/mod_mpm_event.so
StartServers 1
ServerLimit 1
ThreadsPerChild $3
ThreadLimit $3
MaxRequestWorkers $3
MinSpareThreads 1
MaxSpareThreads 128
KeepAlive On
KeepAliveTimeout 5
MaxKeepAliveRequests 1000
Listen 127.0.0.1:$2
ServerName 127.0.0.1
MPM
}

# An mpmd configuration in $1/mpmd.conf (port $2, MPM $3) sized as Debian's mpm_$3.conf,
# with Debian's apache2.conf keep-alive (MaxKeepAliveRequests 100, KeepAliveTimeout $4),
# the harness's docroot and `/hello` from hello.txt as the Apache peers, then the caller's
# own lines (the rest of the arguments). Used by http/run.sh and http/count-pw.sh.
mpmd_debian_conf() { # dir port mpm keepalive-timeout [extra line...]
  local dir=$1 port=$2 mpm=$3 ka=$4; shift 4
  mkdir -p "$dir/logs"; chmod 777 "$dir" "$dir/logs"
  {
    cat <<MPM
ServerRoot $dir
PidFile $dir/mpmd.pid
ErrorLog $dir/logs/error.log
LogLevel warn
LoadModule mpm_${mpm}_module modules/mod_mpm_${mpm}.so
MPM
    case $mpm in
      prefork) printf '%s\n' "StartServers 5" "MinSpareServers 5" "MaxSpareServers 10" "MaxRequestWorkers 150" ;;
      *) printf '%s\n' "StartServers 2" "MinSpareThreads 25" "MaxSpareThreads 75" "ThreadLimit 64" \
        "ThreadsPerChild 25" "MaxRequestWorkers 150" ;;
    esac
    cat <<MPM
MaxConnectionsPerChild 0
Timeout 300
KeepAlive On
KeepAliveTimeout $ka
MaxKeepAliveRequests 100
Listen 127.0.0.1:$port
ServerName 127.0.0.1
DocumentRoot $WWW
Alias /hello $WWW/hello.txt
MPM
    if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
  } > "$dir/mpmd.conf"
}

# The TLS lines of a server on port $1 (the harness's scenarios t and u), with the harness's certificate.
tls_lines() { # port
  ensure_tls
  printf '%s\n' "Listen 127.0.0.1:$1 https" "<VirtualHost 127.0.0.1:$1>" "SSLEngine on" \
    "SSLCertificateFile $TLS_DIR/cert.pem" "SSLCertificateKeyFile $TLS_DIR/key.pem" "</VirtualHost>"
}

# nginx's temporary folders under runtime dir $1 (lines of an http block).
temp_paths() { # dir
  for t in client_body proxy fastcgi uwsgi scgi; do echo "    ${t}_temp_path $1/tmp/$t;"; done
}

# An nginx server block on port $1 answering as the harness's nginx peer: GET /hello from
# memory (`return 200`), the rest from the harness's docroot (/hello.txt, /static/*); with
# $2, the same over TLS on that port too (the harness's certificate, $TLS_DIR).
nginx_www_server() { # port [tls-port]
  local tls=""
  [ -n "${2:-}" ] && tls="
        listen 127.0.0.1:$2 ssl;
        ssl_certificate     $TLS_DIR/cert.pem;
        ssl_certificate_key $TLS_DIR/key.pem;"
  cat <<NGX
    types { text/plain txt; application/octet-stream bin; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$1;$tls
        root $WWW;
        location = /hello { default_type text/plain; return 200 'Hello, World!'; }
        location /static/ { }
    }
NGX
}

# A configuration of nginx as the harness's peer (sendfile, tcp_nopush, /hello from memory)
# in one process in the foreground, its runtime in $1, on port $2 (and TLS on $3), as
# nginx_www_server: for counting, where one process is one profile.
nginx_one_process_conf() { # dir port [tls-port]
  mkdir -p "$1/logs" "$1/tmp"
  cat <<NGX
# As the harness's nginx peer (sendfile, tcp_nopush, /hello from memory), in one process.
daemon off;
master_process off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 1024; }
http {
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    access_log off;
$(temp_paths "$1")
$(nginx_www_server "$2" "${3:-}")
}
NGX
}

# Started as root, mpmd serves as nobody, and callgrind running it could not write the
# children's profiles then: the prefix that runs a server as nobody from the start (nothing
# when not root).
AS_NOBODY=(); [ "$(id -u)" = 0 ] && AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# A loopback port free now (other benchmarks on the machine take ports too).
free_port() { "${PY:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Pid files of the servers started; each is stopped (TERM, then a warning after 10 s) at exit.
PIDFILES=()
stop_all() {
  local f pid
  for f in "${PIDFILES[@]}"; do
    pid=$(cat "$f" 2>/dev/null) || continue
    pid_alive "$pid" || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
    if pid_alive "$pid"; then echo "warning: $f: pid $pid still alive after 10 s" >&2; fi
  done
  return 0
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Check apache's configuration $1, start it pinned, wait for port $2.
start_apache() { # conf port
  local out
  out=$(/usr/sbin/apache2 -f "$1" -t 2>&1) || die "apache: config test failed: $out"
  PIDFILES+=("$(dirname "$1")/httpd.pid")
  "${PIN[@]}" /usr/sbin/apache2 -f "$1" -k start || die "apache: start failed (see $(dirname "$1")/logs/error.log)"
  wait_port "$2" up 10 || die "apache: not listening on $2"
}

# Check mpmd's configuration $1 (its pid file beside it), start it pinned, wait for port $2.
start_mpmd() { # conf port
  local out dir; dir=$(dirname "$1")
  out=$("$MPMD" -t -f "$1" 2>&1) || die "mpmd: config test failed: $out"
  PIDFILES+=("$dir/mpmd.pid")
  # mpmd daemonizes like apache2 -k start: its master writes the pid file.
  "${PIN[@]}" "$MPMD" -f "$1" -k start > "$dir/logs/stdout.log" 2>&1 || die "mpmd: start failed (see $dir/logs/)"
  wait_port "$2" up 10 || die "mpmd: not listening on $2"
}
