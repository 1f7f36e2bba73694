#!/usr/bin/env bash
# tests/install/install_test.sh - ctest "install.*": what `cmake --install`
# lays out, checked from the installed files only.
#
#   install_test.sh setup  BUILD PREFIX   cmake --install BUILD --prefix PREFIX (fresh)
#   install_test.sh layout PREFIX         every file in place, generated files
#                                         filled in, man page lint-free and true
#   install_test.sh unit   PREFIX         systemd-analyze verify + security of the unit
#   install_test.sh start  PREFIX         the unit's own command lines: --check-config,
#                                         then the server from the installed
#                                         configuration, /healthz, SIGTERM, exit 0
#
# Directories come from the build (tests/CMakeLists.txt): TP_INST_BINDIR,
# TP_INST_SYSCONFDIR, TP_INST_DATADIR, TP_INST_MANDIR, TP_INST_DOCDIR,
# TP_INST_UNITDIR (as configured, relative to the prefix) and TP_VERSION.
# An absolute one (e.g. CMAKE_INSTALL_SYSCONFDIR=/etc) would make
# `--prefix` write outside PREFIX: the tests skip (77) rather than do that.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

fail() {
	tp_err "$@"
	exit 1
}

usage() {
	echo "usage: $0 setup BUILD PREFIX | layout PREFIX | unit PREFIX | start PREFIX" >&2
	exit 2
}

(($# >= 2)) || usage
cmd=$1
shift

for v in BINDIR SYSCONFDIR DATADIR MANDIR DOCDIR UNITDIR; do
	var=TP_INST_$v
	[[ -n "${!var:-}" ]] || fail "$var is not set (run through ctest)"
	if [[ "${!var}" == /* ]]; then
		echo "skipped: $var is absolute (${!var}); cmake --install --prefix would write outside the test prefix"
		exit 77
	fi
done

# Installed paths, as the operator sees them.
set_paths() {
	prefix=$1
	bin=$prefix/$TP_INST_BINDIR
	conf=$prefix/$TP_INST_SYSCONFDIR/tickpush
	data=$prefix/$TP_INST_DATADIR/tickpush
	man1=$prefix/$TP_INST_MANDIR/man1
	doc=$prefix/$TP_INST_DOCDIR
	unit=$prefix/$TP_INST_UNITDIR/tickpush.service
}

# unit_cmd KEY : the words of the unit's KEY= line (one line, no quoting).
unit_cmd() {
	local line
	line=$(sed -n "s/^$1=//p" "$unit")
	[[ -n "$line" && "$line" != *$'\n'* ]] || fail "$unit: expected one $1= line, got: ${line:-none}"
	printf '%s\n' "$line"
}

case "$cmd" in
setup)
	(($# == 2)) || usage
	build=$1
	set_paths "$2"
	# A stale tree from an earlier run must not hide a missing file.
	rm -rf "$prefix"
	mkdir -p "$prefix"
	if ! cmake --install "$build" --prefix "$prefix" >"$prefix.log" 2>&1; then
		cat "$prefix.log" >&2
		fail "cmake --install $build --prefix $prefix failed"
	fi
	# Nothing may land outside the prefix.
	outside=$(grep -v -F "$prefix/" "$build/install_manifest.txt" || true)
	[[ -z "$outside" ]] || fail "installed outside $prefix: $outside"
	echo "installed $(wc -l <"$build/install_manifest.txt") files into $prefix"
	;;

layout)
	(($# == 1)) || usage
	set_paths "$1"
	src=$TP_REPO
	for f in "$bin/tickpush" "$bin/tickpush-sim"; do
		[[ -x "$f" ]] || fail "missing or not executable: $f"
	done
	for f in "$conf/tickpush.conf.example" "$data/sql/schema.sql" "$data/sql/sample.sql" \
		"$doc/README.md" "$doc/CHANGELOG.md" "$doc/LICENSE" "$man1/tickpush.1" "$unit"; do
		[[ -f "$f" && -s "$f" ]] || fail "missing or empty: $f"
	done
	cmp "$src/tickpush.conf.example" "$conf/tickpush.conf.example"
	cmp "$src/server/sql/schema.sql" "$data/sql/schema.sql"
	cmp "$src/server/sql/sample.sql" "$data/sql/sample.sql"
	# The web demo is served from here: every file of web-demo/, same bytes.
	if [[ "${TP_WEB_DEMO:-ON}" != OFF ]]; then
		want=$(cd "$src/web-demo" && find . -path ./node_modules -prune -o -type f -print | sort)
		have=$(cd "$data/web-demo" && find . -type f | sort)
		[[ "$want" == "$have" ]] || fail "web-demo differs from the source: $(diff <(echo "$want") <(echo "$have") || true)"
		while IFS= read -r f; do
			cmp "$src/web-demo/$f" "$data/web-demo/$f"
		done <<<"$want"
	fi

	# Generated files: every @VAR@ replaced, paths pointing into this prefix.
	for f in "$unit" "$man1/tickpush.1"; do
		if grep -n '@[A-Z_]*@' "$f"; then
			fail "$f has unreplaced template variables"
		fi
	done
	grep -q -F "$conf/tickpush.conf" "$man1/tickpush.1" || fail "man page does not name $conf/tickpush.conf"

	# Version: the binary and the man page agree with the build.
	version=$("$bin/tickpush" --version)
	[[ "$version" == "tickpush $TP_VERSION" ]] || fail "tickpush --version says '$version', want 'tickpush $TP_VERSION'"
	grep -q "^\.TH TICKPUSH 1 .*\"tickpush $TP_VERSION\"" "$man1/tickpush.1" || fail "man page .TH does not carry version $TP_VERSION"

	# The man page renders without a groff warning (but "cannot adjust
	# line": long install paths in a narrow page are fine)...
	command -v groff >/dev/null || fail "groff not found (Debian package groff-base)"
	warnings=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -Wbreak -z "$man1/tickpush.1" 2>&1)
	[[ -z "$warnings" ]] || fail "groff warnings in tickpush.1: $warnings"
	# ...and every flag it names exists (tickpush --help lists them all).
	help=$("$bin/tickpush" --help)
	rendered=$(LC_ALL=C.UTF-8 MANWIDTH=200 groff -man -Tascii -P-cbou "$man1/tickpush.1" 2>/dev/null)
	flags=$(grep -o -E -- '--[a-z][a-z-]*' <<<"$rendered" | sort -u)
	[[ -n "$flags" ]] || fail "no flags found in the rendered man page"
	for flag in $flags; do
		[[ "$flag" == --name ]] && continue # the placeholder of --name=value
		grep -q -E -- "(^|[ [|,])$flag([ =,]|$)" <<<"$help" || fail "man page names $flag, which tickpush --help does not list"
	done
	echo "layout OK: $(wc -w <<<"$flags") flags of the man page checked against --help"
	;;

unit)
	(($# == 1)) || usage
	set_paths "$1"
	command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (Debian package systemd)"
	# verify loads the unit like systemd would (no running systemd needed) and
	# checks that every Exec*= program exists and is executable. It exits 0
	# on mere warnings (an unknown key, say), so any output is a failure.
	# --man=no: it would look Documentation=man:tickpush(1) up in the system's
	# man path, where this test prefix is not.
	out=$(systemd-analyze verify --man=no "$unit" 2>&1) || fail "systemd-analyze verify failed: $out"
	[[ -z "$out" ]] || fail "systemd-analyze verify complained: $out"
	# The sandbox: systemd's own exposure score (0 best .. 100 worst); 20
	# is "OK", a unit without hardening scores about 96.
	if ! out=$(systemd-analyze security --offline=yes --threshold=20 "$unit" 2>&1); then
		printf '%s\n' "$out" >&2
		fail "systemd-analyze security: exposure above 2.0"
	fi
	printf '%s\n' "$out" | tail -n 1

	# What docs/operations.md promises about the unit ($MAINPID is literal).
	# shellcheck disable=SC2016
	for want in 'User=tickpush' 'Group=tickpush' 'ProtectSystem=strict' 'ProtectHome=yes' \
		'NoNewPrivileges=yes' 'LimitNOFILE=20000' 'ExecReload=/bin/kill -HUP $MAINPID' \
		'Restart=on-failure' 'WantedBy=multi-user.target'; do
		grep -q -x -F -- "$want" "$unit" || fail "$unit lacks the line: $want"
	done
	start=$(unit_cmd ExecStart)
	pre=$(unit_cmd ExecStartPre)
	[[ "$start" == "$bin/tickpush --config $conf/tickpush.conf" ]] || fail "ExecStart is '$start'"
	[[ "$pre" == "$start --check-config" ]] || fail "ExecStartPre is '$pre', want '$start --check-config'"
	echo "unit OK: $unit"
	;;

start)
	(($# == 1)) || usage
	set_paths "$1"
	run=$prefix.run
	rm -rf "$run"
	mkdir -p "$run"
	port_file=$run/port
	# A unix socket path nothing listens on, short enough for sun_path.
	no_redis=$(mktemp -d /tmp/tp-install.XXXXXX)
	pid=''
	cleanup() {
		[[ -n "$pid" ]] && tp_pid_alive "$pid" && kill -KILL "$pid" 2>/dev/null
		rmdir "$no_redis" 2>/dev/null
		return 0
	}
	trap cleanup EXIT
	# As systemd would run it: a clean environment (no TICKPUSH_*, REDIS_*,
	# DATABASE_URI of the caller), the sanitizer settings kept.
	clean_env=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin)
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
		[[ -n "${!v:-}" ]] && clean_env+=("$v=${!v}")
	done

	# 1. The installed example, untouched, is a valid configuration.
	out=$("${clean_env[@]}" "$bin/tickpush" --config "$conf/tickpush.conf.example" --check-config 2>&1) ||
		fail "--check-config of the installed example failed: $out"
	grep -q '^configuration OK$' <<<"$out" || fail "--check-config printed no 'configuration OK': $out"

	# 2. The operator's step: tickpush.conf from the example, with a port
	#    file and a Redis that is not there (down at start is not fatal).
	cp "$conf/tickpush.conf.example" "$conf/tickpush.conf"
	cat >>"$conf/tickpush.conf" <<EOF
port 0
port_file "$port_file"
redis_socket "$no_redis/redis.sock"
EOF
	web_demo=0
	if [[ "${TP_WEB_DEMO:-ON}" != OFF ]]; then
		web_demo=1
		echo "web_demo_dir \"$data/web-demo\"" >>"$conf/tickpush.conf"
	fi
	pre_line=$(unit_cmd ExecStartPre)
	start_line=$(unit_cmd ExecStart)
	read -r -a pre <<<"$pre_line"
	read -r -a start <<<"$start_line"
	out=$("${clean_env[@]}" "${pre[@]}" 2>&1) || fail "ExecStartPre (${pre[*]}) failed: $out"
	grep -q '^port 0$' <<<"$out" || fail "ExecStartPre did not read $conf/tickpush.conf: $out"

	# 3. ExecStart, exactly as the unit says.
	"${clean_env[@]}" "${start[@]}" </dev/null >"$run/tickpush.log" 2>&1 &
	pid=$!
	port=$(tp_wait_port_file "$port_file" 60 "$pid") || {
		tp_log_tail "$run/tickpush.log"
		fail "the installed tickpush did not start"
	}
	base=http://127.0.0.1:$port
	tp_wait_http "$base/healthz" 30 "$pid" || { tp_log_tail "$run/tickpush.log"; fail "/healthz never answered"; }
	# Not ready without Redis, and it says so.
	code=$(curl -s -o "$run/readyz" -w '%{http_code}' --max-time 10 "$base/readyz")
	[[ "$code" == 503 ]] || fail "/readyz without Redis answered $code, want 503"
	# The installed web demo is what it serves.
	if ((web_demo)); then
		curl -sf --max-time 10 -o "$run/index.html" "$base/" || fail "GET / failed (web_demo_dir $data/web-demo)"
		cmp "$data/web-demo/index.html" "$run/index.html" || fail "GET / is not the installed index.html"
	fi

	# 4. SIGTERM: a clean exit 0 (the sanitizers make leaks non-zero).
	kill -TERM "$pid"
	for ((i = 0; i < 300; i++)); do
		tp_pid_alive "$pid" || break
		sleep 0.1
	done
	tp_pid_alive "$pid" && { tp_log_tail "$run/tickpush.log"; fail "tickpush still running 30 s after SIGTERM"; }
	rc=0
	wait "$pid" || rc=$?
	((rc == 0)) || { tp_log_tail "$run/tickpush.log"; fail "tickpush exited $rc after SIGTERM, want 0"; }
	echo "start OK: served $base from the installed configuration, exit 0 on SIGTERM"
	;;

*) usage ;;
esac
