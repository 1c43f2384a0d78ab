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
