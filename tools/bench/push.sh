#!/usr/bin/env bash
# tools/bench/push.sh - measure WebSocket push with tickpush-load.
#
# For each scenario: starts a private redis-server (unix socket only) and a
# fresh release tickpush (port 0, warm start off, default
# ws_queue_max_bytes, max_connections = the open-file limit, which is
# raised to the hard limit), then runs tickpush-load against it: N sessions over 8
# source addresses 127.0.0.2..9, each subscribed with a broadcast filter
# (every event matches) or a filtered one (1/20 of the symbols, ~5%), the
# load tool's own publisher at RATE events/s for DURATION seconds with
# published_at in each event's indicators. Prints each run's report and a
# summary table of the RESULT lines. Everything is on loopback and stops by
# itself (every phase of the load tool has a time limit).
#
# On a machine with 2+ cores the server is pinned to core 0 and the load
# tool (publisher thread included) and redis-server to core 1 (taskset), so
# the server's CPU is its own; set TP_LOAD_PIN=no to leave placement to the
# kernel. TP_LOAD_PERF=DIR records the server with perf (perf record -g)
# during each run and prints the top of its profile.
#
# Usage: tools/bench/push.sh [BUILD_DIR] [SCENARIO...]
#   SCENARIO = SESSIONS:MODE[:DURATION_S[:RATE]]   MODE = broadcast|filtered
#   default: 1000:broadcast:20 1000:filtered:20 10000:filtered:20 10000:broadcast:5
#   (RATE defaults to TP_LOAD_RATE or 1000 events/s)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$repo/build-bench}
shift || true
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(1000:broadcast:20 1000:filtered:20 10000:filtered:20 10000:broadcast:5)
rate_default=${TP_LOAD_RATE:-1000}
pin=${TP_LOAD_PIN:-yes}
perf_dir=${TP_LOAD_PERF:-}   # a directory: perf-record the server per scenario
# max_connections at least the open-file limit: the server gives lws
# fd_limit_per_thread = max_connections + 64, and lws 4.1 switches to a
# linear fd -> connection lookup (wsi_from_fd scans every slot on each
# socket event) whenever that is below ulimit -n. TP_LOAD_MAX_CONNECTIONS
# overrides it (e.g. sessions + 1000, to measure that slow path).
max_conn=${TP_LOAD_MAX_CONNECTIONS:-}
(($(nproc) >= 2)) || pin=no

if [[ ! -x $build/server/tickpush || ! -x $build/tools/tickpush-load ]]; then
	cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTP_WERROR=OFF \
		-DBUILD_TESTING=OFF >/dev/null
	cmake --build "$build" -j"$(nproc)" --target tickpush tickpush-load >/dev/null
fi

# Up to 20,000 open files per process here: take the hard limit for the
# server and the load tool (both inherit it from this shell).
ulimit -n "$(ulimit -Hn)"
max_conn=${max_conn:-$(ulimit -n)}

server_cpu=() tool_cpu=()
if [[ $pin == yes ]]; then
	server_cpu=(taskset -c 0)
	tool_cpu=(taskset -c 1)
fi

dir=$(mktemp -d /tmp/tickpush-push-XXXXXX)
tp_pid=
stop_all() {
	if [[ -n $tp_pid ]]; then
		kill "$tp_pid" 2>/dev/null || true
		wait "$tp_pid" 2>/dev/null || true
		tp_pid=
	fi
	redis-cli -s "$dir/redis.sock" shutdown nosave >/dev/null 2>&1 || true
}
cleanup() {
	stop_all
	rm -rf "$dir"
}
trap cleanup EXIT

start_all() { # $1 = sessions
	rm -f "$dir/port" "$dir/redis.sock" "$dir/tickpush.log"
	"${tool_cpu[@]}" redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' \
		--appendonly no --daemonize yes --logfile "$dir/redis.log" --dir "$dir"
	for _ in $(seq 50); do redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
	TICKPUSH_REDIS_SOCKET=$dir/redis.sock TICKPUSH_PORT=0 TICKPUSH_PORT_FILE=$dir/port \
		TICKPUSH_LOG_LEVEL=warn TICKPUSH_REDIS_WARM_START=no \
		TICKPUSH_MAX_CONNECTIONS=$max_conn \
		"${server_cpu[@]}" "$build/server/tickpush" >>"$dir/tickpush.log" 2>&1 &
	tp_pid=$!
	for _ in $(seq 100); do [[ -s $dir/port ]] && break; sleep 0.1; done
	port=$(cat "$dir/port")
	for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
}

# The machine may be shared (other builds and tests): before each scenario
# wait, at most TP_LOAD_QUIET_WAIT seconds (default 300), for a 2-second
# window in which the machine is at least 85% idle, and say if none came.
quiet_wait=${TP_LOAD_QUIET_WAIT:-300}
cpu_idle_pct() { # idle share of all cores over 2 s
	local a b
	a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
	awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN{split(a,x);split(b,y);t=0;
		for(i=2;i<=9;i++)t+=y[i]-x[i]; i=(y[5]-x[5])+(y[6]-x[6]); printf "%d", t?100*i/t:100}'
}
wait_quiet() {
	local start=$SECONDS idle
	while :; do
		idle=$(cpu_idle_pct)
		((idle >= 85)) && { echo "machine idle ${idle}% before the run"; return; }
		if ((SECONDS - start >= quiet_wait)); then
			echo "WARNING: machine only ${idle}% idle after ${quiet_wait}s of waiting: figures are contended"
			return
		fi
	done
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "kernel: $(uname -r); open files: $(ulimit -n); max_connections: $max_conn; pinning: $pin"
echo "server: $build/server/tickpush ($("$build/server/tickpush" --version 2>/dev/null | head -1))"
results=()
for sc in "${scenarios[@]}"; do
	IFS=: read -r sessions mode duration rate <<<"$sc"
	duration=${duration:-20}
	rate=${rate:-$rate_default}
	echo
	echo "== $sessions sessions, $mode, $rate events/s for $duration s (loadavg before: $(cut -d' ' -f1-3 /proc/loadavg))"
	wait_quiet
	start_all "$sessions"
	perf_pid=
	if [[ -n $perf_dir ]]; then
		# Samples the server only (its own core); the report is printed below.
		"${tool_cpu[@]}" perf record -q -F 499 -g -p "$tp_pid" \
			-o "$perf_dir/$sessions-$mode-$rate.data" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	out=$("${tool_cpu[@]}" "$build/tools/tickpush-load" --port "$port" \
		--redis-socket "$dir/redis.sock" --server-pid "$tp_pid" \
		--sessions "$sessions" --mode "$mode" --rate "$rate" --duration "$duration" \
		--sources 8 --ramp 2000 --settle 2 --drain 10 2>"$dir/load.err") || {
		cat "$dir/load.err" >&2
		echo "$out"
		echo "tickpush-load failed" >&2
		stop_all
		continue
	}
	echo "$out"
	if [[ -n $perf_pid ]]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
		echo "perf (server, self time, top 25):"
		perf report -i "$perf_dir/$sessions-$mode-$rate.data" --stdio --no-children \
			--sort dso,sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -25
	fi
	grep -q 'server RSS .* over the cap' "$dir/load.err" && grep 'over the cap' "$dir/load.err"
	echo "server log (warnings and above, first lines):"
	head -5 "$dir/tickpush.log" | sed 's/^/  /'
	results+=("$(grep '^RESULT' <<<"$out" | sed 's/^RESULT //')")
	stop_all
	sleep 1
done

echo
echo "== summary"
printf '%-7s %-9s %5s %9s %12s %9s %9s %10s %9s %11s %10s %8s %9s\n' sessions mode rate delivered/s \
	"of expected" p50_ms p99_ms max_ms KiB/sess alloc_B/sess cpu_us/frm closed other_cpu
for r in "${results[@]}"; do
	declare -A f=()
	for kv in $r; do f[${kv%%=*}]=${kv#*=}; done
	pct=$(awk -v d="${f[delivered]}" -v e="${f[expected]}" 'BEGIN{printf "%.1f%%", e ? 100*d/e : 0}')
	printf '%-7s %-9s %5s %9s %12s %9s %9s %10s %9s %11s %10s %8s %9s\n' "${f[sessions]}" "${f[mode]}" \
		"${f[rate]}" "${f[delivered_per_s]}" "$pct" "${f[p50_ms]}" "${f[p99_ms]}" "${f[max_ms]}" \
		"${f[rss_kib_per_session]}" "${f[alloc_b_per_session]}" "${f[cpu_us_per_frame]}" "${f[closed]}" \
		"${f[other_cpu_s]}"
	unset f
done
