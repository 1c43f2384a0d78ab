# bench/lib.sh — shell pieces the benchmark scripts share; sourced, not run.
# Expects ROOT (the repository) and BUILD (a build folder) to be set.

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# A port the kernel finds free on 127.0.0.1 now: free_port [tcp|udp].
free_port() {
	python3 -c 'import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' "${1:-tcp}"
}

# Sets WARP: WARP_BIN as given, or BUILD's warp (a release build folder is
# set up when missing, then brought up to date with ninja).
build_warp() {
	if [ -n "${WARP_BIN:-}" ]; then
		WARP=$(realpath "$WARP_BIN")
		return
	fi
	cd "$ROOT"
	if [ ! -d "$BUILD" ]; then
		meson setup "$BUILD" -Dbuildtype=release >/dev/null
	fi
	ninja -C "$BUILD" warp >/dev/null || die "build of $BUILD/warp failed"
	WARP="$ROOT/$BUILD/warp"
}

# step_rate I PREV ROUND: the rate of stepping's step I (from 0): the I-th
# of RATES, then a quarter more than PREV rounded up to ROUND; nothing when
# RATES is empty.
step_rate() {
	local list
	read -r -a list <<<"$RATES"
	if [ "$1" -lt "${#list[@]}" ]; then
		echo "${list[$1]}"
	elif [ "$2" -gt 0 ]; then
		echo $(((($2 * 5 / 4) + $3 - 1) / $3 * $3))
	fi
}

# Polls url until it answers 200 while process pid lives; at most 30 s
# (warp under valgrind starts slowly): wait_http URL PID.
wait_http() {
	local url=$1 pid=$2
	for _ in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || return 1
		curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Stops process pid: SIGTERM, then SIGKILL after TENTHS tenths of a second
# (default 100: 10 s), and reaps it when it is this shell's child:
# pid_stop PID [TENTHS].
pid_stop() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq "${2:-100}"); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# CPU time (user + system, clock ticks) used so far by the given processes,
# all their threads: fields 14 and 15 of /proc/PID/stat, counted after the
# ")" that ends the name (which may hold spaces): pid_cpu_ticks PID...
pid_cpu_ticks() {
	local pid sum=0 f
	for pid in "$@"; do
		f=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		f=${f##*) }
		read -ra f <<<"$f"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}
