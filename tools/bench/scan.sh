#!/usr/bin/env bash
# tools/bench/scan.sh - measure GET /api/patterns/scan with wrk, next to
# nginx serving the very same bytes as a static file.
#
# Starts a private redis-server and a Release tickpush under a temp dir,
# loads ~10,000 patterns with tickpush-sim, saves the cached scan's body
# and serves that file from a private nginx (its own prefix and config,
# one worker, port 21500 unless TP_BENCH_NGINX_PORT says otherwise). Then
# runs wrk (1 thread, 64 connections) against four mixes:
#   cached     one query repeated (response-cache hits; rows re-rendered)
#   nginx      the cached query's body as a static file, same size
#   uncached   random page/sort/confidence per request (mostly misses)
#   selective  one symbol (index lookup, cached)
# Both servers run on one core (TP_BENCH_SERVER_CPU, default 0), wrk on
# another (TP_BENCH_CLIENT_CPU, default 1), as issue 10 measures them.
# Everything runs on loopback and stops by itself; results go to stdout in
# the form docs/benchmarks.md records. TP_BENCH_PERF="MIX..." records a
# perf profile of the server during those mixes (cached, uncached,
# selective) into ./perf-scan-MIX.data; TP_BENCH_PERF_GRAPH=dwarf records
# call stacks through libraries built without frame pointers.
#
# Needs (Debian 12): wrk, nginx (any flavour: only its binary is used, no
# system service is started or touched), redis-server, curl, util-linux
# (taskset); linux-perf for TP_BENCH_PERF. Missing ones are installed with
# the project's packages (scripts/lib.sh: tp_install_deps --bench) unless
# TP_NO_INSTALL=1.
#
# Usage: tools/bench/scan.sh [BUILD_DIR] [DURATION_S]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$repo/build-bench}
duration=${2:-10}
patterns=${TP_BENCH_PATTERNS:-10000}
scpu=${TP_BENCH_SERVER_CPU:-0}
ccpu=${TP_BENCH_CLIENT_CPU:-1}
nginx_port=${TP_BENCH_NGINX_PORT:-21500}
perf_mix=${TP_BENCH_PERF:-}
perf_graph=${TP_BENCH_PERF_GRAPH:-fp} # dwarf: call stacks through code without frame pointers

have_tools() {
	local tool
	for tool in wrk nginx taskset curl redis-server; do
		command -v "$tool" >/dev/null || [[ $tool == nginx && -x /usr/sbin/nginx ]] || {
			echo "$tool is not installed" >&2
			return 1
		}
	done
}
if ! have_tools; then
	[[ ${TP_NO_INSTALL:-0} == 1 ]] && exit 1
	# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
	source "$repo/scripts/lib.sh"
	tp_install_deps --bench
	have_tools || exit 1
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [[ ! -x $build/server/tickpush ]]; then
	cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTP_WERROR=OFF >/dev/null
	cmake --build "$build" -j"$(nproc)" --target tickpush tickpush-sim >/dev/null
fi

dir=$(mktemp -d /tmp/tickpush-bench-XXXXXX)
chmod 755 "$dir" # nginx's worker runs as nobody
cleanup() {
	[[ -n ${tp_pid:-} ]] && kill "$tp_pid" 2>/dev/null && wait "$tp_pid" 2>/dev/null
	[[ -s $dir/nginx/nginx.pid ]] && kill "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null
	redis-cli -s "$dir/redis.sock" shutdown nosave >/dev/null 2>&1 || true
	sleep 0.2
	rm -rf "$dir"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
	--daemonize yes --logfile "$dir/redis.log" --dir "$dir"
for _ in $(seq 50); do redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done

TICKPUSH_REDIS_SOCKET=$dir/redis.sock TICKPUSH_PORT=0 TICKPUSH_PORT_FILE=$dir/port \
	TICKPUSH_LOG_LEVEL=warn TICKPUSH_MAX_PATTERNS=100000 \
	taskset -c "$scpu" "$build/server/tickpush" >"$dir/tickpush.log" 2>&1 &
tp_pid=$!
for _ in $(seq 100); do [[ -s $dir/port ]] && break; sleep 0.1; done
port=$(cat "$dir/port")
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -sf "$url/readyz" >/dev/null && break; sleep 0.1; done

# Updates and expiries reuse ids, so publish until the store holds enough.
cached=0
seed=1
while ((cached < patterns)); do
	"$build/tools/tickpush-sim" --socket "$dir/redis.sock" --count $((patterns - cached + 500)) \
		--rate 50000 --seed $seed --health-interval 0 --no-heartbeat --no-backtest --quiet >/dev/null
	sleep 0.5
	cached=$(curl -s "$url/api/patterns/stats" | sed -n 's/.*"cached_patterns":\([0-9]*\).*/\1/p')
	seed=$((seed + 1))
done

# nginx: the cached answer's bytes as a static file, one worker on the
# server's core, keep-alive without a request limit like tickpush.
mkdir -p "$dir/nginx/www" "$dir/nginx/logs"
curl -sf -o "$dir/nginx/www/scan.json" "$url/api/patterns/scan?confidence_min=0.6"
cat >"$dir/nginx/nginx.conf" <<NGINX
daemon on;
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000000;
	keepalive_timeout 120s;
	default_type application/json;
	client_body_temp_path $dir/nginx/tmp;
	proxy_temp_path $dir/nginx/tmp;
	fastcgi_temp_path $dir/nginx/tmp;
	uwsgi_temp_path $dir/nginx/tmp;
	scgi_temp_path $dir/nginx/tmp;
	server {
		listen 127.0.0.1:$nginx_port;
		root $dir/nginx/www;
	}
}
NGINX
taskset -c "$scpu" "$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/logs/error.log"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/scan.json" >/dev/null && break; sleep 0.1; done

cat >"$dir/uncached.lua" <<'LUA'
local sorts = {"confidence", "detected_at", "symbol", "rs", "volume"}
request = function()
  local path = string.format("/api/patterns/scan?page=%d&sort_by=%s&confidence_min=0.%02d",
    math.random(1, 20), sorts[math.random(1, #sorts)], math.random(0, 99))
  return wrk.format("GET", path)
end
LUA

# cpu_ticks PID...: user + system clock ticks the processes have used.
cpu_ticks() {
	local t=0 pid
	for pid in "$@"; do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
	done
	echo "$t"
}

# run MIX URL [wrk args...]: one wrk run on the client core, one result
# line. "cpu/answer" is the server's CPU time (user + system, nginx: all
# its processes) over the answers: it holds on a busy machine, where the
# rate shows how much of its core the server got.
run() {
	local mix=$1 target=$2 out perf_pid='' pids t0 t1
	shift 2
	if [[ $mix == nginx ]]; then
		pids=$(cat "$dir/nginx/nginx.pid"; pgrep -P "$(cat "$dir/nginx/nginx.pid")")
	else
		pids=$tp_pid
	fi
	if [[ " $perf_mix " == *" $mix "* && $mix != nginx ]]; then
		perf record --call-graph "$perf_graph" -F 999 -p "$tp_pid" -o "$PWD/perf-scan-$mix.data" >/dev/null 2>&1 &
		perf_pid=$!
		sleep 0.5
	fi
	# shellcheck disable=SC2086 # a list of pids
	t0=$(cpu_ticks $pids)
	out=$(taskset -c "$ccpu" wrk -t1 -c64 -d"${duration}s" --latency "$@" "$target")
	# shellcheck disable=SC2086
	t1=$(cpu_ticks $pids)
	if [[ -n $perf_pid ]]; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" || true
	fi
	printf '%-10s %s\n' "$mix" "$(awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
		/ requests in / {n = $1}
		/Requests\/sec/ {rps = $2}
		/^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
		/^ +Latency +[0-9]/ {max = $4}
		/Non-2xx/ {bad = $NF}
		END {printf "req/s %s  p50 %s  p99 %s  max %s  cpu/answer %.1f us%s", rps, p50, p99,
			max, n ? ticks / hz * 1e6 / n : 0, bad ? "  non-2xx " bad : ""}' <<<"$out")"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "patterns cached: $cached; cached body: $(stat -c %s "$dir/nginx/www/scan.json") bytes"
echo "servers on core $scpu, wrk -t1 -c64 -d${duration}s on core $ccpu; $("$nginx_bin" -v 2>&1)"
run cached "$url/api/patterns/scan?confidence_min=0.6"
run nginx "http://127.0.0.1:$nginx_port/scan.json"
run uncached "$url" -s "$dir/uncached.lua"
run selective "$url/api/patterns/scan?symbols=AAPL&confidence_min=0"
echo "server: $(curl -s "$url/api/patterns/stats" | head -c 400)"
