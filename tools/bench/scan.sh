#!/usr/bin/env bash
# tools/bench/scan.sh - measure GET /api/patterns/scan with wrk.
#
# Starts a private redis-server and a release tickpush under a temp dir,
# loads ~10,000 patterns with tickpush-sim, then runs wrk (64 connections,
# 2 threads) against three query mixes:
#   cached     one query repeated (response-cache hits; rows re-rendered)
#   uncached   random page/sort/confidence per request (mostly misses)
#   selective  one symbol (index lookup, cached)
# Everything runs on loopback and stops by itself; results go to stdout in
# the form docs/benchmarks.md records.
#
# Usage: tools/bench/scan.sh [BUILD_DIR] [DURATION_S]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$repo/build-bench}
duration=${2:-10}
patterns=${TP_BENCH_PATTERNS:-10000}

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [[ ! -x $build/server/tickpush ]]; then
	cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTP_WERROR=OFF >/dev/null
	cmake --build "$build" -j"$(nproc)" --target tickpush tickpush-sim >/dev/null
fi

dir=$(mktemp -d /tmp/tickpush-bench-XXXXXX)
cleanup() {
	[[ -n ${tp_pid:-} ]] && kill "$tp_pid" 2>/dev/null && wait "$tp_pid" 2>/dev/null
	redis-cli -s "$dir/redis.sock" shutdown nosave >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$dir/redis.sock" --save '' --appendonly no \
	--daemonize yes --logfile "$dir/redis.log" --dir "$dir"
for _ in $(seq 50); do redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done

TICKPUSH_REDIS_SOCKET=$dir/redis.sock TICKPUSH_PORT=0 TICKPUSH_PORT_FILE=$dir/port \
	TICKPUSH_LOG_LEVEL=warn TICKPUSH_MAX_PATTERNS=100000 \
	"$build/server/tickpush" >"$dir/tickpush.log" 2>&1 &
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

cat >"$dir/uncached.lua" <<'LUA'
local sorts = {"confidence", "detected_at", "symbol", "rs", "volume"}
request = function()
  local path = string.format("/api/patterns/scan?page=%d&sort_by=%s&confidence_min=0.%02d",
    math.random(1, 20), sorts[math.random(1, #sorts)], math.random(0, 99))
  return wrk.format("GET", path)
end
LUA

echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "patterns cached: $cached"
echo "== cached: /api/patterns/scan?confidence_min=0.6"
wrk -t2 -c64 -d"${duration}s" --latency "$url/api/patterns/scan?confidence_min=0.6" | sed -n '/Latency Distribution/,/Transfer/p'
echo "== uncached: random page, sort_by and confidence_min"
wrk -t2 -c64 -d"${duration}s" --latency -s "$dir/uncached.lua" "$url" | sed -n '/Latency Distribution/,/Transfer/p'
echo "== selective: /api/patterns/scan?symbols=AAPL&confidence_min=0"
wrk -t2 -c64 -d"${duration}s" --latency "$url/api/patterns/scan?symbols=AAPL&confidence_min=0" | sed -n '/Latency Distribution/,/Transfer/p'
echo "== server"
curl -s "$url/api/patterns/stats" | head -c 400; echo
grep -c . "$dir/tickpush.log" >/dev/null || true
