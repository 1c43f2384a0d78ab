#!/usr/bin/env bash
# bench/api.sh — throughput and latency of WARP's REST API next to nginx.
#
# Starts warp (--roles api, a throwaway SQLite store) and a throwaway nginx on
# loopback, creates a customer, a trunk and an API key with a high rate limit,
# saves the exact JSON body of the authenticated GET /api/v1/trunks/{id} into
# a file nginx serves as application/json, then runs wrk with the same
# threads/connections/duration against both and prints requests/s, p50, p99
# and the ratio warp/nginx.
#
# Target (issue): >= 10,000 req/s with p99 <= 20 ms on a 2-core machine (wrk
# included) and at least half of nginx's throughput.  Missing the target is
# reported, not an error; the script exits non-zero only when something fails
# outright (a server does not start, wrk errors, non-2xx answers).
#
# Everything it starts is stopped by PID on exit; all of it listens on
# 127.0.0.1 only.  Tunables (environment):
#   WARP_BUILD      build folder with warp (default build-release; set up
#                   with -Dbuildtype=release when missing, built with ninja)
#   WARP_BIN        use this warp binary as is instead (no build)
#   BENCH_DURATION  wrk duration per run (default 10s)
#   BENCH_CONNS     connection counts to try (default "32 64")
#   BENCH_WRK_THREADS  wrk threads (default 1)
#   BENCH_HTTP_THREADS warp [http] threads = nginx worker_processes (default 2)
#   WARP_WRAP       a command warp runs under, for profiling (e.g.
#                   "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg")
#   BENCH_LOG_LEVELS   warp [log] levels to measure (default "warn"; "warn
#                      info" also measures with the access log written)
#   BENCH_IR_REQUESTS  instead of wrk and nginx: run warp under callgrind and
#                      print instructions per authenticated GET (server_request
#                      inclusive, and the whole process) over this many
#                      requests after a warm-up: a figure machine load does
#                      not move (docs/BENCHMARKS.md)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WARP_BUILD:-build-release}
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNS:-32 64}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
HTTP_THREADS=${BENCH_HTTP_THREADS:-2}
LOG_LEVELS=${BENCH_LOG_LEVELS:-warn}
ADMIN_TOKEN=bench-admin-token-0123456789abcdef

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for tool in wrk nginx curl python3; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] ||
		die "$tool missing (scripts/install-deps --test)"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

TMP=$(mktemp -d /tmp/warp-apibench.XXXXXX)
# nginx workers run as an unprivileged user when started as root: they must
# be able to read the served file.
chmod 755 "$TMP"
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		# Bounded: a process that ignores SIGTERM gets SIGKILL after 5 s.
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM




WARP_PID=
start_warp() {
	local level=$1
	WARP_PORT=$(free_port)
	cat >"$TMP/warp.ini" <<-EOF
		[store]
		url = sqlite:$TMP/warp.db

		[http]
		listen = 127.0.0.1:$WARP_PORT
		threads = $HTTP_THREADS

		[log]
		level = $level
	EOF
	# shellcheck disable=SC2086
	WARP_ADMIN_TOKEN=$ADMIN_TOKEN ${WARP_WRAP:-} "$WARP" run -c "$TMP/warp.ini" --roles api \
		>"$TMP/warp-$level.out" 2>"$TMP/warp-$level.err" &
	WARP_PID=$!
	PIDS+=("$WARP_PID")
	wait_http "http://127.0.0.1:$WARP_PORT/healthz" "$WARP_PID" ||
		die "warp did not start: $(tail -5 "$TMP/warp-$level.err")"
}

stop_warp() {
	kill "$WARP_PID" 2>/dev/null || true
	wait "$WARP_PID" 2>/dev/null || true
}

# POSTs a JSON body as admin; prints the response body, fails on non-2xx.
admin_post() {
	curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" \
		-H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$WARP_PORT$1"
}

json_get() {
	python3 -c 'import json, sys; d = json.load(sys.stdin); d = d.get("data", d); print(d[sys.argv[1]])' "$1"
}

provision() {
	local cid key
	cid=$(admin_post /api/v1/customers '{"name": "Bench Telecom"}' | json_get id) ||
		die "cannot create the customer"
	TRUNK=$(admin_post /api/v1/trunks "{\"name\": \"bench trunk\", \"customer_id\": \"$cid\",
		\"acl\": [{\"cidr\": \"192.0.2.0/24\"}], \"codecs\": [\"PCMU\", \"PCMA\"],
		\"channel_limit\": 100, \"cps_limit\": 10}" | json_get id) ||
		die "cannot create the trunk"
	key=$(admin_post /api/v1/api-keys "{\"name\": \"bench\", \"customer_id\": \"$cid\",
		\"scopes\": \"read\", \"rate_per_sec\": 1000000, \"burst\": 1000000}") ||
		die "cannot create the API key"
	SECRET=$(json_get secret <<<"$key")
	PATH_GET=/api/v1/trunks/$TRUNK
	mkdir -p "$TMP/www/api/v1/trunks"
	curl -fsS --max-time 5 -H "Authorization: Bearer $SECRET" \
		-o "$TMP/www$PATH_GET" "http://127.0.0.1:$WARP_PORT$PATH_GET" ||
		die "authenticated GET $PATH_GET failed"
	chmod -R a+rX "$TMP/www"
}

start_nginx() {
	NGINX_PORT=$(free_port)
	mkdir -p "$TMP/nginx/logs"
	cat >"$TMP/nginx/nginx.conf" <<-EOF
		worker_processes $HTTP_THREADS;
		daemon off;
		pid $TMP/nginx/nginx.pid;
		error_log $TMP/nginx/logs/error.log warn;
		events { worker_connections 1024; }
		http {
		    access_log off;
		    client_body_temp_path $TMP/nginx/body;
		    proxy_temp_path $TMP/nginx/proxy;
		    fastcgi_temp_path $TMP/nginx/fastcgi;
		    uwsgi_temp_path $TMP/nginx/uwsgi;
		    scgi_temp_path $TMP/nginx/scgi;
		    types { }
		    default_type application/json;
		    keepalive_requests 1000000;
		    server {
		        listen 127.0.0.1:$NGINX_PORT;
		        root $TMP/www;
		    }
		}
	EOF
	"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log" \
		>"$TMP/nginx/out" 2>&1 &
	NGINX_PID=$!
	PIDS+=("$NGINX_PID")
	wait_http "http://127.0.0.1:$NGINX_PORT$PATH_GET" "$NGINX_PID" ||
		die "nginx did not start: $(tail -n 3 "$TMP/nginx/out" "$TMP/nginx/logs/error.log")"
	cmp -s <(curl -fsS "http://127.0.0.1:$NGINX_PORT$PATH_GET") "$TMP/www$PATH_GET" ||
		die "nginx does not serve the saved body"
}

# wrk duration in seconds, for the timeout around it.
duration_s() {
	local d=$1
	case $d in
	*m) echo $((${d%m} * 60)) ;;
	*s) echo "${d%s}" ;;
	*) echo "$d" ;;
	esac
}

# CPU time (user + system, clock ticks) used so far by the given processes.
cpu_ticks() {
	local pid sum=0 line f
	for pid in "$@"; do
		# Fields 14 and 15 of /proc/PID/stat; the name (field 2) may hold
		# spaces, so count from after its closing parenthesis.
		line=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
		read -ra f <<<"${line##*) }"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# Runs wrk; prints "req_per_s p50_ms p99_ms cpu_us_per_req" (the server's
# CPU time per request, a figure that other load on the machine disturbs
# less than req/s); fails on errors or non-2xx.  The server's PIDs follow
# "--" after wrk's extra arguments.
run_wrk() {
	local url=$1 conns=$2 out=$3 wrk_args=() t0 t1
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		wrk_args+=("$1")
		shift
	done
	shift
	t0=$(cpu_ticks "$@")
	timeout $(($(duration_s "$DURATION") + 30)) \
		wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --latency "${wrk_args[@]}" "$url" >"$out" 2>&1 ||
		die "wrk failed against $url: $(cat "$out")"
	t1=$(cpu_ticks "$@")
	if grep -q -e 'Non-2xx' -e 'Socket errors' "$out"; then
		cat "$out" >&2
		die "wrk saw errors against $url"
	fi
	awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /m$/) return v * 60000
			if (v ~ /s$/) return v * 1000
			return v
		}
		/Requests\/sec:/ { rps = $2 }
		/requests in/ { total = $1 }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		END {
			if (rps == "" || p50 == "" || p99 == "") exit 1
			printf "%.0f %.2f %.2f %.1f\n", rps, p50, p99, total ? ticks * 1e6 / hz / total : 0
		}' "$out" || die "cannot read wrk output: $(cat "$out")"
}

report_line() {
	printf '%-22s %5s %12s %10s %10s %12s\n' "$@"
}

# Fetches the GET n times over 4 keep-alive connections (curl --parallel).
get_n() {
	local n=$1 i
	for ((i = 0; i < n; i++)); do
		printf 'url = "http://127.0.0.1:%s%s"\noutput = "/dev/null"\n' "$WARP_PORT" "$PATH_GET"
	done >"$TMP/urls"
	curl -fsS --no-progress-meter --parallel --parallel-max 4 --max-time 600 -H "Authorization: Bearer $SECRET" \
		-K "$TMP/urls" || die "a GET failed under callgrind"
}

# Callgrind's inclusive count of a function, from a dump.
ir_of() {
	callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
		awk -v fn="$2" '!done && index($0, fn) { gsub(",", "", $1); print $1; done = 1 }'
}

measure_ir() {
	local n=$BENCH_IR_REQUESTS out dump req total
	command -v valgrind >/dev/null || die "valgrind missing"
	out="$TMP/callgrind.out"
	WARP_WRAP="valgrind --tool=callgrind --callgrind-out-file=$out" start_warp warn
	provision
	get_n 200
	callgrind_control -z "$WARP_PID" >/dev/null
	get_n "$n"
	callgrind_control -d "$WARP_PID" >/dev/null
	stop_warp
	dump=$(ls "$out".* 2>/dev/null | head -1)
	[ -n "$dump" ] || die "no callgrind dump"
	req=$(ir_of "$dump" ":server_request ")
	total=$(ir_of "$dump" "PROGRAM TOTALS")
	[ -n "$req" ] && [ -n "$total" ] || die "cannot read $dump"
	echo "body: $(wc -c <"$TMP/www$PATH_GET") bytes of GET $PATH_GET; $n requests after 200"
	awk -v r="$req" -v t="$total" -v n="$n" 'BEGIN {
		printf "Ir/request: server_request %.1fk, whole process %.1fk\n", r / n / 1000, t / n / 1000 }'
}

main() {
	build_warp
	if [ -n "${BENCH_IR_REQUESTS:-}" ]; then
		measure_ir
		return
	fi
	local first=1 level conns w n ratio verdict
	echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
	echo "warp: $WARP ($(cd "$ROOT" && meson introspect "$BUILD" --buildoptions 2>/dev/null |
		python3 -c 'import json,sys; print("buildtype=" + next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null || echo "?"))"
	echo "wrk -t$WRK_THREADS -d$DURATION --latency; warp [http] threads = nginx workers = $HTTP_THREADS"
	for level in $LOG_LEVELS; do
		start_warp "$level"
		if [ $first = 1 ]; then
			provision
			start_nginx
			echo "body: $(wc -c <"$TMP/www$PATH_GET") bytes of GET $PATH_GET"
			echo
			report_line server conns "req/s" "p50 ms" "p99 ms" "cpu us/req"
		fi
		for conns in $CONNS; do
			w=$(run_wrk "http://127.0.0.1:$WARP_PORT$PATH_GET" "$conns" "$TMP/wrk.out" \
				-H "Authorization: Bearer $SECRET" -- "$WARP_PID")
			# shellcheck disable=SC2086
			report_line "warp (log=$level)" "$conns" $w
			if [ $first = 1 ]; then
				# shellcheck disable=SC2046
				n=$(run_wrk "http://127.0.0.1:$NGINX_PORT$PATH_GET" "$conns" "$TMP/wrk.out" \
					-- "$NGINX_PID" $(pgrep -P "$NGINX_PID"))
				eval "NGINX_$conns=\"\$n\""
				# shellcheck disable=SC2086
				report_line nginx "$conns" $n
			fi
			n=$(eval "echo \"\$NGINX_$conns\"")
			read -r wr _ wp99 _ <<<"$w"
			read -r nr _ _ _ <<<"$n"
			ratio=$(awk -v a="$wr" -v b="$nr" 'BEGIN { printf "%.2f", a / b }')
			verdict=$(awk -v r="$wr" -v p="$wp99" -v q="$ratio" 'BEGIN {
				print (r >= 10000 && p <= 20 && q >= 0.5) ? "meets target" : "MISSES target" }')
			echo "  warp/nginx = $ratio  ($verdict: >= 10000 req/s, p99 <= 20 ms, >= 0.50)"
		done
		stop_warp
		first=0
	done
}

main "$@"
