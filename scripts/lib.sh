# shellcheck shell=bash
#
# scripts/lib.sh - shared functions for scripts/demo, scripts/test and the
# ctest service fixtures (tests/fixtures/*.sh). Source it; do not run it.
#
# Everything here works under `set -euo pipefail`. Functions report errors
# with a clear message and return non-zero (tp_die exits). Nothing here
# installs traps: the calling script owns cleanup (see scripts/demo).
#
# Private services live entirely inside a folder the caller chooses (DIR):
#   Redis       DIR/redis.sock (unix socket, always), DIR/redis.pid,
#               DIR/redis.log; optional TCP on 127.0.0.1:PORT.
#   PostgreSQL  DIR/pg/ holds the cluster: DIR/pg/data, the socket
#               DIR/pg/.s.PGSQL.$TP_PG_PORT and DIR/pg/pg.log. No TCP.
#               DIR/pg belongs to the OS user postgres (the server refuses
#               to run as root). If that user cannot reach DIR (a clone
#               under /root, mode 700), DIR/pg is a symlink to a private
#               folder in /tmp instead; clients still connect through
#               DIR/pg, so paths and URIs never change.
# Nothing listens on anything but loopback or unix sockets, and nothing
# touches the system PostgreSQL cluster (port 5432) or a system Redis.
#
# Settings (environment):
#   TP_PG_BIN   PostgreSQL server binaries (default: /usr/lib/postgresql/15/bin,
#               else the newest /usr/lib/postgresql/*/bin)
#   TP_PG_PORT  port number of the private cluster (socket name only), 54329
#   TP_QUIET    1 = tp_say prints nothing

# Repository root (this file lives in scripts/).
TP_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TP_PG_PORT="${TP_PG_PORT:-54329}"
# A unix socket path must fit in sockaddr_un.sun_path (108 bytes with NUL).
TP_SOCKET_PATH_MAX=107

# ---------------------------------------------------------------------------
# Messages

# tp_say MSG... : one progress line on stdout.
tp_say() {
	[[ "${TP_QUIET:-0}" == 1 ]] || printf '%s\n' "$*"
}

# tp_warn MSG... : a warning on stderr.
tp_warn() {
	printf 'warning: %s\n' "$*" >&2
}

# tp_err MSG... : an error on stderr (does not exit).
tp_err() {
	printf 'error: %s\n' "$*" >&2
}

# tp_die MSG... : an error on stderr, then exit 1 (the caller's traps run).
tp_die() {
	tp_err "$@"
	exit 1
}

# tp_log_tail FILE [LINES] : print the end of a log to stderr, framed.
tp_log_tail() {
	local file=$1 lines=${2:-30}
	if [[ -r "$file" ]]; then
		printf -- '--- last %s lines of %s ---\n' "$lines" "$file" >&2
		tail -n "$lines" "$file" >&2 || true
		printf -- '--- end of %s ---\n' "$file" >&2
	else
		printf '(no log at %s)\n' "$file" >&2
	fi
}

# ---------------------------------------------------------------------------
# Small utilities

# tp_is_root : true when running as uid 0.
tp_is_root() {
	[[ "$(id -u)" == 0 ]]
}

# tp_pid_alive PID : true if the process exists (and is not a zombie).
tp_pid_alive() {
	local pid=$1 state
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	# A zombie still answers kill -0; it is dead for our purposes.
	state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
	[[ "$state" != Z ]]
}

# tp_wait_pid_exit PID TIMEOUT : wait up to TIMEOUT seconds for PID to end.
tp_wait_pid_exit() {
	local pid=$1 timeout=$2 i
	for ((i = 0; i < timeout * 10; i++)); do
		tp_pid_alive "$pid" || return 0
		sleep 0.1
	done
	! tp_pid_alive "$pid"
}

# tp_stop_pid PID NAME [TIMEOUT] : SIGTERM, wait up to TIMEOUT (default 10) s,
# then SIGKILL. Also reaps PID when it is a child of this shell. Idempotent.
tp_stop_pid() {
	local pid=$1 name=$2 timeout=${3:-10}
	if tp_pid_alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		if ! tp_wait_pid_exit "$pid" "$timeout"; then
			tp_warn "$name (pid $pid) did not stop within ${timeout}s; killing it"
			kill -KILL "$pid" 2>/dev/null || true
			tp_wait_pid_exit "$pid" 5 || true
		fi
	fi
	wait "$pid" 2>/dev/null || true
}

# tp_port_busy PORT : true if something accepts TCP connections on
# 127.0.0.1:PORT (pure bash, no ss/netstat needed).
tp_port_busy() {
	local port=$1
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# tp_wait_port_file FILE TIMEOUT [PID] : wait until a server has written its
# listening port (a number 1..65535) to FILE, then print the port. Fails
# after TIMEOUT seconds, or at once if PID is given and that process ended.
tp_wait_port_file() {
	local file=$1 timeout=$2 pid=${3:-} i port
	for ((i = 0; i < timeout * 10; i++)); do
		if [[ -s "$file" ]]; then
			port=$(tr -d '[:space:]' <"$file")
			if [[ "$port" =~ ^[0-9]+$ ]] && ((port >= 1 && port <= 65535)); then
				printf '%s\n' "$port"
				return 0
			fi
		fi
		if [[ -n "$pid" ]] && ! tp_pid_alive "$pid"; then
			tp_err "process $pid exited before writing its port to $file"
			return 1
		fi
		sleep 0.1
	done
	tp_err "no port in $file after ${timeout}s"
	return 1
}

# tp_wait_http URL TIMEOUT [PID] : wait until URL answers 2xx (curl -sf).
tp_wait_http() {
	local url=$1 timeout=$2 pid=${3:-} i
	for ((i = 0; i < timeout * 10; i++)); do
		curl -sf -o /dev/null --max-time 2 "$url" && return 0
		if [[ -n "$pid" ]] && ! tp_pid_alive "$pid"; then
			tp_err "process $pid exited while waiting for $url"
			return 1
		fi
		sleep 0.1
	done
	tp_err "$url did not answer within ${timeout}s"
	return 1
}

# tp_check_socket_path PATH : fail clearly if PATH cannot be a unix socket.
tp_check_socket_path() {
	local path=$1
	if ((${#path} > TP_SOCKET_PATH_MAX)); then
		tp_err "socket path is ${#path} bytes, longer than the ${TP_SOCKET_PATH_MAX} a unix socket allows: $path"
		tp_err "use a shorter run folder (e.g. TP_RUN_DIR=/tmp/tp-run, or a shorter clone path)"
		return 1
	fi
}

# tp_uri_escape STR : percent-encode STR for a URI query value (keeps /).
tp_uri_escape() {
	local s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case "$c" in
		[A-Za-z0-9/._~-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# ---------------------------------------------------------------------------
# Packages

# Debian 12 packages for building and testing (the fuzzers need clang and
# its runtime; curl is used by scripts/demo to wait for the server and,
# with the openssl command, by integration.tls (certificates, https); the
# install tests check the systemd unit with systemd-analyze (systemd; it
# also wants the unit's ExecReload=/bin/kill, from procps) and the man page
# with groff (groff-base); integration.nginx runs nginx in front of
# tickpush (nginx)).
TP_DEB_PACKAGES=(
	build-essential cmake pkg-config
	libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libhiredis-dev
	libcjson-dev libcmocka-dev libssl-dev libpq-dev
	redis-server redis-tools postgresql postgresql-client nginx
	clang libclang-rt-14-dev
	curl ca-certificates openssl systemd procps groff-base python3 strace
)

# tp_pkg_installed PKG : true if dpkg says PKG is installed.
tp_pkg_installed() {
	[[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

# What the benchmark tools need on top (tools/bench/scan.sh: wrk, and nginx,
# already above, as the static-file baseline).
TP_BENCH_PACKAGES=(wrk util-linux)

# tp_install_deps [--browser] [--bench] : install the missing Debian packages
# with apt-get (update once, then install). --bench adds TP_BENCH_PACKAGES.
# --browser adds chromium, and Debian's
# nodejs + npm unless a node/npm is already on PATH (e.g. from nodesource:
# Debian's npm would conflict with it). Quiet: one line per step, the full
# apt output goes to run/install-deps.log, whose tail is shown on failure.
# Non-root users get sudo when it exists.
tp_install_deps() {
	local browser=0 bench=0 arg
	for arg in "$@"; do
		case "$arg" in
		--browser) browser=1 ;;
		--bench) bench=1 ;;
		*) tp_err "tp_install_deps: unknown argument '$arg'"; return 2 ;;
		esac
	done

	local -a wanted=("${TP_DEB_PACKAGES[@]}") missing=() sudo=()
	((bench)) && wanted+=("${TP_BENCH_PACKAGES[@]}")
	if ((browser)); then
		wanted+=(chromium)
		command -v node >/dev/null || wanted+=(nodejs)
		command -v npm >/dev/null || wanted+=(npm)
	fi

	if ! command -v dpkg-query >/dev/null; then
		tp_die "dpkg-query not found: this script installs packages on Debian 12 only; install by hand: ${wanted[*]}"
	fi
	local p
	for p in "${wanted[@]}"; do
		tp_pkg_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		tp_say "deps: all ${#wanted[@]} packages present"
		return 0
	fi

	if ! command -v apt-get >/dev/null; then
		tp_die "apt-get not found; install these packages by hand: ${missing[*]}"
	fi
	if ! tp_is_root; then
		command -v sudo >/dev/null ||
			tp_die "missing packages (${missing[*]}) and not root (no sudo): run as root or install them by hand"
		sudo=(sudo)
		[[ -t 0 ]] || sudo+=(-n)
	fi

	local logdir="$TP_REPO/run" log
	mkdir -p "$logdir"
	log="$logdir/install-deps.log"
	: >"$log"
	local -a apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
		-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef
		-o Dpkg::Options::=--force-confold)

	if [[ "${TP_APT_UPDATED:-0}" != 1 ]]; then
		tp_say "deps: apt-get update (log: $log)"
		if ! "${apt[@]}" update >>"$log" 2>&1 </dev/null; then
			tp_log_tail "$log" 40
			tp_die "apt-get update failed"
		fi
		TP_APT_UPDATED=1
	fi
	tp_say "deps: installing ${missing[*]}"
	# With recommends, as a developer would get them (clang's runtime
	# libraries, chromium's fonts).
	if ! "${apt[@]}" install "${missing[@]}" >>"$log" 2>&1 </dev/null; then
		tp_log_tail "$log" 40
		tp_die "apt-get install failed (${missing[*]})"
	fi
	tp_say "deps: installed ${#missing[@]} packages"
}

# ---------------------------------------------------------------------------
# Build

# tp_build BUILD_DIR [CMAKE_ARGS...] : configure BUILD_DIR from the repo when
# it has no cache yet or CMAKE_ARGS changed since the last configure, then
# build everything with -j$(nproc). Build output is shown as it comes.
tp_build() {
	local dir=$1
	shift
	local stamp="$dir/.tp-configure-args" want have='' home
	want=$(printf '%s\n' "$TP_REPO" "$@")
	mkdir -p "$dir"
	if [[ -f "$dir/CMakeCache.txt" ]]; then
		# A cache from another source tree (a moved or copied clone) makes
		# cmake refuse to run: start that build dir afresh.
		home=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$dir/CMakeCache.txt")
		if [[ "$home" != "$TP_REPO" ]]; then
			tp_warn "$dir was configured for ${home:-another tree}; reconfiguring"
			rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles" "$stamp"
		fi
	fi
	[[ -f "$stamp" ]] && have=$(cat "$stamp")
	if [[ ! -f "$dir/CMakeCache.txt" || "$have" != "$want" ]]; then
		tp_say "build: configuring $dir ($*)"
		rm -f "$stamp"
		cmake -S "$TP_REPO" -B "$dir" "$@" || { tp_err "cmake configure failed for $dir"; return 1; }
		printf '%s\n' "$want" >"$stamp"
	fi
	tp_say "build: building $dir"
	cmake --build "$dir" -j "$(nproc)" || { tp_err "build failed in $dir"; return 1; }
}

# ---------------------------------------------------------------------------
# Redis

# tp_redis_socket DIR : print the unix socket path of the Redis in DIR.
tp_redis_socket() {
	printf '%s\n' "$1/redis.sock"
}

# tp_redis_pid DIR : print the pid of a live Redis started in DIR, or fail.
tp_redis_pid() {
	local pidfile="$1/redis.pid" pid comm
	[[ -s "$pidfile" ]] || return 1
	pid=$(tr -d '[:space:]' <"$pidfile")
	tp_pid_alive "$pid" || return 1
	# Guard against a recycled pid belonging to something else.
	comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
	[[ "$comm" == redis-server* ]] || return 1
	printf '%s\n' "$pid"
}

# tp_redis_start DIR [PORT] : start a private redis-server in DIR, listening
# on the unix socket DIR/redis.sock and, when PORT is given, on
# 127.0.0.1:PORT too. No persistence. A Redis left running in DIR by an
# earlier run is stopped first. Waits (10 s at most) for PONG.
tp_redis_start() {
	local dir=$1 port=${2:-} sock
	[[ -n "$dir" ]] || { tp_err "tp_redis_start: DIR missing"; return 2; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	sock=$(tp_redis_socket "$dir")
	tp_check_socket_path "$sock" || return 1
	command -v redis-server >/dev/null || { tp_err "redis-server not found (package redis-server)"; return 1; }
	command -v redis-cli >/dev/null || { tp_err "redis-cli not found (package redis-tools)"; return 1; }

	tp_redis_stop "$dir"
	rm -f "$sock" "$dir/redis.pid"
	: >"$dir/redis.log"

	local -a net=(--port 0)
	if [[ -n "$port" ]]; then
		net=(--port "$port" --bind 127.0.0.1)
	fi
	# Errors before daemonizing (bad option, busy port) go to stdout: append
	# them to the same log Redis itself appends to afterwards.
	# shellcheck disable=SC2094
	if ! redis-server --daemonize yes "${net[@]}" \
		--unixsocket "$sock" --unixsocketperm 700 \
		--save '' --appendonly no \
		--pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --dir "$dir" \
		</dev/null >>"$dir/redis.log" 2>&1; then
		tp_log_tail "$dir/redis.log"
		tp_err "redis-server failed to start in $dir"
		return 1
	fi

	local i
	for ((i = 0; i < 100; i++)); do
		if [[ -S "$sock" ]] && [[ "$(redis-cli -s "$sock" ping 2>/dev/null)" == PONG ]]; then
			tp_say "redis: ready on $sock${port:+ and 127.0.0.1:$port}"
			return 0
		fi
		sleep 0.1
	done
	tp_log_tail "$dir/redis.log"
	tp_err "redis-server in $dir did not answer PING within 10s"
	tp_redis_stop "$dir"
	return 1
}

# tp_redis_stop DIR : stop the Redis started in DIR (SHUTDOWN NOSAVE, then
# signals if needed) and wait for it to exit. Idempotent.
tp_redis_stop() {
	local dir=$1 pid sock
	sock=$(tp_redis_socket "$dir")
	pid=$(tp_redis_pid "$dir") || pid=''
	if [[ -S "$sock" ]]; then
		redis-cli -s "$sock" shutdown nosave >/dev/null 2>&1 || true
	fi
	if [[ -n "$pid" ]]; then
		if ! tp_wait_pid_exit "$pid" 10; then
			tp_stop_pid "$pid" redis-server 5
		fi
		tp_say "redis: stopped ($dir)"
	fi
	rm -f "$dir/redis.pid"
	# Redis removes its socket on a clean exit; a kill leaves it behind.
	[[ -S "$sock" ]] && ! tp_redis_pid "$dir" >/dev/null && rm -f "$sock"
	return 0
}

# ---------------------------------------------------------------------------
# PostgreSQL

# tp_pg_bin : print the directory of the PostgreSQL server binaries.
tp_pg_bin() {
	if [[ -n "${TP_PG_BIN:-}" ]]; then
		printf '%s\n' "$TP_PG_BIN"
		return 0
	fi
	if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then
		printf '%s\n' /usr/lib/postgresql/15/bin
		return 0
	fi
	local d
	d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
	[[ -n "$d" && -x "$d/pg_ctl" ]] || { tp_err "PostgreSQL server binaries not found (package postgresql; or set TP_PG_BIN)"; return 1; }
	printf '%s\n' "$d"
}

# tp_pg_as CMD... : run CMD as the OS user postgres when we are root (the
# server refuses root), else as ourselves.
tp_pg_as() {
	if tp_is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# tp_pg_home DIR : print DIR/pg, the socket dir clients use (it may be a
# symlink to the real cluster folder).
tp_pg_home() {
	printf '%s\n' "$1/pg"
}

# tp_pg_uri DIR DBNAME [USER] : print the libpq URI of DBNAME in the cluster
# of DIR (unix socket, trust auth; USER defaults to postgres, the only role
# initdb creates).
tp_pg_uri() {
	local dir=$1 db=$2 user=${3:-postgres}
	printf 'postgresql://%s@/%s?host=%s&port=%s\n' "$user" "$db" \
		"$(tp_uri_escape "$(tp_pg_home "$dir")")" "$TP_PG_PORT"
}

# Prepares DIR/pg as a folder the postgres user owns and can reach; prints
# its real path. Falls back to /tmp (with DIR/pg a symlink) when postgres
# cannot traverse DIR's parents.
pg_prepare_home() {
	local dir=$1 home real
	home=$(tp_pg_home "$dir")
	# A dangling link (its /tmp folder was cleaned) is useless: drop it.
	if [[ -L "$home" && ! -d "$home" ]]; then
		rm -f "$home"
	fi
	if [[ ! -e "$home" ]]; then
		mkdir -m 700 "$home"
		tp_is_root && chown postgres:postgres "$home"
	fi
	# Test the real path: postgres never goes through the link (-k and -D
	# get the resolved path), and may be unable to traverse DIR itself.
	real=$(readlink -f "$home")
	if tp_is_root && ! runuser -u postgres -- test -w "$real" -a -x "$real" 2>/dev/null; then
		if [[ -L "$home" ]]; then
			tp_err "postgres cannot use $real (linked from $home)"
			return 1
		fi
		# postgres cannot reach DIR: move the cluster to a private /tmp folder.
		rm -rf "$home"
		real=$(mktemp -d /tmp/tickpush-pg.XXXXXX)
		chown postgres:postgres "$real"
		chmod 700 "$real"
		ln -s "$real" "$home"
		tp_say "postgres: user postgres cannot reach $dir; cluster lives in $real" >&2
	fi
	readlink -f "$home"
}

# tp_pg_start DIR : create (initdb, first time only) and start a private
# PostgreSQL cluster in DIR/pg: unix socket only (listen_addresses=''),
# port $TP_PG_PORT, trust auth for local connections, fsync off. If the
# cluster is already running it is left as it is. Waits until it accepts
# connections.
tp_pg_start() {
	local dir=$1 bin home real
	[[ -n "$dir" ]] || { tp_err "tp_pg_start: DIR missing"; return 2; }
	bin=$(tp_pg_bin) || return 1
	if tp_is_root && ! getent passwd postgres >/dev/null; then
		tp_err "no OS user 'postgres' (install the postgresql package)"
		return 1
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	home=$(tp_pg_home "$dir")
	tp_check_socket_path "$home/.s.PGSQL.$TP_PG_PORT" || return 1
	real=$(pg_prepare_home "$dir") || return 1
	if [[ "$real" == *"'"* || "$real" == *'"'* ]]; then
		tp_err "quotes in the cluster path are not supported: $real"
		return 1
	fi
	: >"$dir/.tp-pg" # marks DIR for tp_services_stop_all

	if [[ ! -f "$real/data/PG_VERSION" ]]; then
		rm -rf "$real/data" # a half-made cluster from an interrupted run
		tp_say "postgres: initdb $real/data"
		if ! tp_pg_as "$bin/initdb" -D "$real/data" -A trust -U postgres \
			--no-sync -E UTF8 --locale=C >"$real/initdb.log" 2>&1; then
			tp_log_tail "$real/initdb.log"
			tp_err "initdb failed in $real/data"
			return 1
		fi
	fi

	if tp_pg_as "$bin/pg_ctl" status -D "$real/data" >/dev/null 2>&1; then
		tp_say "postgres: already running in $home"
	else
		local opts="-k '$real' -c listen_addresses='' -p $TP_PG_PORT"
		opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
		if ! tp_pg_as "$bin/pg_ctl" start -w -t 30 -D "$real/data" \
			-l "$real/pg.log" -o "$opts" >"$real/pg_ctl.log" 2>&1 </dev/null; then
			cat "$real/pg_ctl.log" >&2
			tp_log_tail "$real/pg.log"
			tp_err "PostgreSQL failed to start in $home"
			return 1
		fi
	fi

	local i
	for ((i = 0; i < 100; i++)); do
		if "$bin/pg_isready" -q -h "$home" -p "$TP_PG_PORT" -U postgres -d postgres; then
			tp_say "postgres: ready, socket dir $home port $TP_PG_PORT"
			return 0
		fi
		sleep 0.1
	done
	tp_log_tail "$real/pg.log"
	tp_err "PostgreSQL in $home does not accept connections"
	return 1
}

# tp_pg_stop DIR : stop the cluster of DIR (fast shutdown). Idempotent.
tp_pg_stop() {
	local dir=$1 bin home data
	home=$(tp_pg_home "$dir")
	[[ -f "$home/data/PG_VERSION" ]] || return 0
	# postgres gets the resolved path: it may not be able to traverse DIR.
	data=$(readlink -f "$home/data")
	bin=$(tp_pg_bin) || return 1
	if tp_pg_as "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1; then
		if ! tp_pg_as "$bin/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1; then
			tp_warn "fast shutdown failed in $home; trying immediate"
			tp_pg_as "$bin/pg_ctl" stop -D "$data" -m immediate -w -t 30 >/dev/null 2>&1 || {
				tp_err "could not stop PostgreSQL in $home"
				return 1
			}
		fi
		tp_say "postgres: stopped ($dir)"
	fi
}

# tp_pg_purge DIR : stop the cluster of DIR and delete it (data and log),
# including its /tmp folder when DIR/pg is a link. Keeps a copy of the
# server log as DIR/pg.log.
tp_pg_purge() {
	local dir=$1 home real
	home=$(tp_pg_home "$dir")
	tp_pg_stop "$dir" || return 1
	if [[ -e "$home" || -L "$home" ]]; then
		real=$(readlink -f "$home")
		[[ -f "$real/pg.log" ]] && cp "$real/pg.log" "$dir/pg.log"
		[[ -L "$home" && "$real" == /tmp/tickpush-pg.* ]] && rm -rf "$real"
		rm -rf "$home"
	fi
	rm -f "$dir/.tp-pg"
}

# tp_psql DIR DBNAME ARGS... : run psql (as root or ourselves; role
# postgres, no ~/.psqlrc) against DBNAME in the cluster of DIR.
tp_psql() {
	local dir=$1 db=$2 bin
	shift 2
	bin=$(tp_pg_bin) || return 1
	"$bin/psql" -X -h "$(tp_pg_home "$dir")" -p "$TP_PG_PORT" -U postgres -d "$db" "$@"
}

# tp_pg_db_exists DIR DBNAME : true if DBNAME exists in the cluster of DIR.
tp_pg_db_exists() {
	local dir=$1 db=$2 found
	found=$(tp_psql "$dir" postgres -tA -v "db=$db" \
		<<<"SELECT 1 FROM pg_database WHERE datname = :'db';") || return 1
	[[ "$found" == 1 ]]
}

# tp_pg_recreate_db DIR DBNAME : drop DBNAME if it exists, create it empty.
tp_pg_recreate_db() {
	local dir=$1 db=$2 bin home
	bin=$(tp_pg_bin) || return 1
	home=$(tp_pg_home "$dir")
	PGOPTIONS='-c client_min_messages=warning' \
		"$bin/dropdb" -h "$home" -p "$TP_PG_PORT" -U postgres --if-exists --force "$db" &&
		"$bin/createdb" -h "$home" -p "$TP_PG_PORT" -U postgres "$db"
}

# tp_pg_load DIR DBNAME FILE... : create DBNAME if missing, then run each
# SQL file into it as role postgres, stopping at the first error.
tp_pg_load() {
	local dir=$1 db=$2 bin f
	shift 2
	bin=$(tp_pg_bin) || return 1
	if ! tp_pg_db_exists "$dir" "$db"; then
		"$bin/createdb" -h "$(tp_pg_home "$dir")" -p "$TP_PG_PORT" -U postgres "$db" || {
			tp_err "createdb $db failed"
			return 1
		}
	fi
	for f in "$@"; do
		[[ -r "$f" ]] || { tp_err "cannot read SQL file $f"; return 1; }
		if ! tp_psql "$dir" "$db" -v ON_ERROR_STOP=1 -q -f "$f" >/dev/null; then
			tp_err "loading $f into $db failed"
			return 1
		fi
		tp_say "postgres: loaded $(basename "$f") into $db"
	done
}

# ---------------------------------------------------------------------------
# Stale services

# tp_services_stop_all ROOT : stop every Redis and PostgreSQL these
# functions started anywhere under ROOT (left over from an interrupted run).
tp_services_stop_all() {
	local root=$1 f
	[[ -d "$root" ]] || return 0
	while IFS= read -r -d '' f; do
		tp_redis_stop "$(dirname "$f")"
	done < <(find "$root" -name redis.pid -type f -print0 2>/dev/null)
	while IFS= read -r -d '' f; do
		tp_pg_stop "$(dirname "$f")" || true
	done < <(find "$root" -name .tp-pg -type f -print0 2>/dev/null)
}
