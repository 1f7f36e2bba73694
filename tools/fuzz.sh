#!/usr/bin/env bash
# tools/fuzz.sh - run every libFuzzer harness for a while (clang, ASan+UBSan).
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, all targets)
#
# New inputs go to a scratch corpus under build-fuzz/, never into the seed
# corpora in tests/fuzz/corpus/ (those are replayed by every ctest run; add a
# finding there by hand, as a regression seed, once it is fixed).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
secs=${1:-60}
shift || true
build=$repo/build-fuzz
CC=clang cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DTP_FUZZ=ON \
	-DTP_SANITIZE=address,undefined -DTP_INTEGRATION=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
	for f in "$repo"/tests/fuzz/fuzz_*.c; do
		t=$(basename "$f" .c)
		targets+=("${t#fuzz_}")
	done
fi
status=0
for t in "${targets[@]}"; do
	scratch=$build/corpus/$t
	mkdir -p "$scratch"
	echo "fuzz: $t for ${secs}s"
	if ! "$build/tests/fuzz_$t" -max_total_time="$secs" -rss_limit_mb=2048 \
		-artifact_prefix="$build/crash-$t-" "$scratch" "$repo/tests/fuzz/corpus/$t" \
		>"$build/fuzz-$t.log" 2>&1; then
		echo "fuzz: $t FAILED (see $build/fuzz-$t.log and $build/crash-$t-*)"
		status=1
	fi
done
exit $status
