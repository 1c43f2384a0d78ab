#!/usr/bin/env bash
# bench/smsc.sh — messages per second through WARP's SMSC, end to end with
# receipts, and its HTTP send path next to Kannel's, in one run on loopback.
#
# The far end of every path is the same upstream carrier SMSC, bench/smppsink
# (C, its own SMPP code: answers each submit_sm at once and sends its
# receipt as deliver_sm on the same transceiver bind; acknowledges every
# read at once, TCP_QUICKACK, so a client with Nagle's algorithm on —
# Kannel's SMPP client — does not wait for its delayed ACK after each
# deliver_sm_resp; counts submits and duplicates by destination + text).
#
# 1. SMPP in -> WARP -> SMPP out -> receipt back to the ESME.  WARP (--roles
#    api,smsc; SQLite, then PostgreSQL when /usr/lib/postgresql/15 is there,
#    a throwaway cluster started by tests/integration/pgserver.py) is
#    provisioned through its API: customer, carrier with one SMPP connector
#    to the sink (CONN_BINDS binds, window CONN_WINDOW, no throughput cap),
#    message route for prefix 44, SMPP account (throughput and burst 100000).
#    The customer's ESME is bench/smppload (C): one transceiver bind keeping
#    WINDOW submits open at the step's rate, every message with
#    registered_delivery 1 and a unique tagged destination; it times each
#    submit_sm_resp and matches each receipt WARP sends back to its message.
#    Why not npm smpp (tests/peers): measured against this sink with a
#    window of 100 it gives 2,250 submits/s as shipped (it leaves Nagle on
#    its socket) and 9,200/s with setNoDelay, at ~45 us of CPU per message
#    in one Node process: at the 10,000-20,000 msgs/s to measure it would
#    take most of one of the CPUs WARP runs on and become the limit; the C
#    tool spends ~8 us per message (docs/BENCHMARKS.md, "SMSC").
#    The rate steps through RATES, then on by a quarter (rounded up to
#    1000) until a step is not clean, MAX_RATE is passed or MAX_STEPS ran.
#    A step is clean when every submit is answered ESME_ROK, every receipt
#    comes back within DRAIN_S, the sink saw no duplicate, p99 of
#    submit_sm_resp is <= P99_MS and the submits were answered at >= 90 %
#    of the rate.  The step that is not clean says whose limit it found:
#    the generator's or the sink's when one of them was at >= BUSY % of a
#    CPU, WARP's otherwise.  Per step: msgs/s end to end (receipts back),
#    p50/p99, warp CPU per message, generator and sink CPU, lost and
#    duplicate counts.  Then a step at P99_RATE when the stepping stopped
#    below it (the p99 target's rate), and one unpaced step (as fast as
#    WINDOW allows).
# 2. HTTP: Kannel (Debian's 1.4.5 bearerbox with its file store + smsbox,
#    one transceiver bind to the sink, max-pending-submits 10) fed by wrk
#    over smsbox's sendsms (GET), first asking for receipts (dlr-mask 1,
#    dlr-url to a throwaway nginx answering 204: the same work as WARP,
#    which asks its upstreams for every receipt), then without (for
#    reference; KANNEL_BARE= skips it); next to WARP's POST
#    /api/v1/messages (an API key of the customer), first with one
#    connector bind and window 10 like Kannel, then with CONN_BINDS binds
#    and window CONN_WINDOW.  wrk -t1 with HTTP_CONNS connections for
#    HTTP_S seconds each, unique destinations from a Lua counter.  Per run:
#    HTTP accepts/s, msgs/s reaching the sink (until it has them all or has
#    not grown for 2 s, at most DRAIN_S + 10 s), messages accepted but not
#    at the sink by then, CPU per message at the sink (Kannel: bearerbox +
#    smsbox), and WARP/Kannel ratios against Kannel with receipts.  WARP
#    answering 404 is an error: this part needs the messages API.
#
# Targets (issue 9): >= 10,000 msgs/s end to end with receipts on SQLite,
# >= 5,000 on PostgreSQL, none lost; WARP's HTTP path >= 2x Kannel's;
# submit_sm_resp p99 <= 10 ms at 5,000 msgs/s.  Missing a target is
# reported, not an error; the script fails when something does not start,
# a tool errors, or WARP's messages API is missing.  Everything it starts
# is stopped by PID on exit; everything listens on 127.0.0.1.  About 7
# minutes with the defaults (4 for part 1, 3 for part 2).
#
# Tunables (environment):
#   WARP_BUILD    build folder (default build-release; set up with
#                 -Dbuildtype=release when missing, built with ninja; the
#                 bench tools are built there too)
#   WARP_BIN      use this warp binary as is (the tools still come from
#                 WARP_BUILD)
#   STORES        "sqlite postgres" (default) or one of them
#   RATES         msgs/s to step through first (default below)
#   STEP_S        seconds of load per step (default 8)
#   MAX_RATE      no step above this rate (default 60000)
#   MAX_STEPS     at most this many steps per store (default 12)
#   WINDOW        the ESME's window (default 100)
#   P99_MS        bound on submit_sm_resp p99 for a clean step (default 10)
#   P99_RATE      the rate the p99 target is set at (default 5000): a step
#                 at it runs after the stepping when the stepping stopped
#                 below it
#   DRAIN_S       how long receipts may take after the last submit (10)
#   BUSY          % of one CPU at which the generator or sink is saturated (90)
#   CONN_BINDS    WARP connector binds for the SMPP path and "best" HTTP (4)
#   CONN_WINDOW   their window (default 100)
#   HTTP_S        seconds of wrk per HTTP run (default 10)
#   HTTP_CONNS    wrk connections (default 16)
#   ONLY          "smpp" or "http": run only that part
#   KANNEL_BARE   empty: no Kannel run without receipts (default 1: run it)
#   KEEP_TMP      keep the run's folder (logs) when set
#   PG_GIVEN      postgres://USER@127.0.0.1:PORT/DB of a running cluster to
#                 use instead of a throwaway one (to look into it meanwhile)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WARP_BUILD:-build-release}
STORES=${STORES:-sqlite postgres}
RATES=${RATES-500 1000 2000 5000 10000 15000 20000}
P99_RATE=${P99_RATE:-5000}
STEP_S=${STEP_S:-8}
MAX_RATE=${MAX_RATE:-60000}
MAX_STEPS=${MAX_STEPS:-12}
WINDOW=${WINDOW:-100}
P99_MS=${P99_MS:-10}
DRAIN_S=${DRAIN_S:-10}
BUSY=${BUSY:-90}
CONN_BINDS=${CONN_BINDS:-4}
CONN_WINDOW=${CONN_WINDOW:-100}
HTTP_S=${HTTP_S:-10}
HTTP_CONNS=${HTTP_CONNS:-16}
ONLY=${ONLY:-}
CLK_TCK=$(getconf CLK_TCK)
ADMIN_TOKEN=bench-smsc-admin-token-0123456789
PG_BIN=${WARP_PG_BIN:-/usr/lib/postgresql/15/bin}
BEARERBOX=/usr/sbin/bearerbox
SMSBOX=/usr/sbin/smsbox
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
KANNEL_BARE=${KANNEL_BARE-1}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for tool in curl python3 wrk; do
	command -v "$tool" >/dev/null || die "$tool missing (scripts/install-deps --test)"
done
if [ "$ONLY" != smpp ]; then
	if [ ! -x "$BEARERBOX" ] || [ ! -x "$SMSBOX" ]; then
		die "Kannel missing (scripts/install-deps --test)"
	fi
	[ -x "$NGINX" ] || die "nginx missing (scripts/install-deps --test)"
fi

TMP=$(mktemp -d /tmp/warp-smscbench.XXXXXX)
chmod 755 "$TMP" # PostgreSQL's user reads nothing here, but runuser must enter
PIDS=()
TAG=0

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		if [ "$pid" = "${PG_PID:-}" ]; then
			pid_stop "$pid" 400
		else
			pid_stop "$pid"
		fi
	done
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "smsc.sh: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ tools

build_tools() {
	cd "$ROOT"
	[ -d "$BUILD" ] || meson setup "$BUILD" -Dbuildtype=release >/dev/null
	ninja -C "$BUILD" bench/smppsink bench/smppload >/dev/null ||
		die "build of the bench tools in $BUILD failed"
	SINK_BIN=$ROOT/$BUILD/bench/smppsink
	LOAD_BIN=$ROOT/$BUILD/bench/smppload
}

# field NAME LINE: the value of NAME=value in a RESULT or SINK line.
field() {
	awk -v k="$1" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { print substr($i, length(k) + 2); exit } }' <<<"$2"
}

start_sink() {
	"$SINK_BIN" >"$TMP/sink.out" 2>"$TMP/sink.err" &
	SINK_PID=$!
	PIDS+=("$SINK_PID")
	for _ in $(seq 50); do
		SINK_PORT=$(field port "$(head -1 "$TMP/sink.out")")
		[ -n "$SINK_PORT" ] && return 0
		sleep 0.1
	done
	die "smppsink did not start: $(cat "$TMP/sink.err")"
}

# The sink's counters now: asks with SIGUSR1 and waits for its new line.
sink_stats() {
	local n
	n=$(wc -l <"$TMP/sink.out")
	kill -USR1 "$SINK_PID"
	for _ in $(seq 100); do
		[ "$(wc -l <"$TMP/sink.out")" -gt "$n" ] && break
		sleep 0.02
	done
	tail -1 "$TMP/sink.out"
}

# sink_diff NAME BEFORE AFTER: how much the counter grew.
sink_diff() {
	echo $(($(field "$1" "$3") - $(field "$1" "$2")))
}

# Waits until the sink holds at least N binds (at most 15 s).
wait_sink_bound() {
	for _ in $(seq 75); do
		[ "$(field bound "$(sink_stats)")" -ge "$1" ] && return 0
		sleep 0.2
	done
	die "the sink did not see $1 binds: $(sink_stats)"
}

# ------------------------------------------------------------------ WARP

WARP_PID=
start_warp() {
	local name=$1 url=$2
	WARP_HTTP=$(free_port tcp)
	WARP_SMSC=$(free_port tcp)
	cat >"$TMP/warp-$name.ini" <<-EOF
		[store]
		url = $url
		snapshot_poll = 100ms

		[http]
		listen = 127.0.0.1:$WARP_HTTP

		[log]
		level = warn

		[smsc]
		listen = 127.0.0.1:$WARP_SMSC

		[webhooks]
		enabled = false

		[ratelimit]
		admin_rate = 100000
		admin_burst = 100000
	EOF
	(cd "$TMP" && WARP_ADMIN_TOKEN=$ADMIN_TOKEN exec "$WARP" run -c "$TMP/warp-$name.ini" \
		--roles api,smsc) >"$TMP/warp-$name.out" 2>"$TMP/warp-$name.err" &
	WARP_PID=$!
	PIDS+=("$WARP_PID")
	wait_http "http://127.0.0.1:$WARP_HTTP/healthz" "$WARP_PID" ||
		die "warp did not start: $(tail -5 "$TMP/warp-$name.err")"
}

stop_warp() {
	pid_stop "$WARP_PID"
	WARP_PID=
}

# POSTs a JSON body as admin; prints the object's field $3 (default id).
admin_post() {
	curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" \
		-H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$WARP_HTTP/api/v1$1" |
		python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("data", d)[sys.argv[1]])' "${3:-id}"
}

# provision_warp BINDS WINDOW: the customer, its SMPP account and API key,
# a carrier with one connector to the sink, the route for prefix 44; then
# waits for the connector's binds at the sink and for a first message to
# come back (the smsc's snapshots have the account and the route).
provision_warp() {
	local binds=$1 window=$2 cus car
	cus=$(admin_post /customers '{"name": "Bench Telecom"}') || die "cannot create the customer"
	car=$(admin_post /carriers '{"name": "sms upstream", "cps_limit": 0, "channel_limit": 0}') ||
		die "cannot create the carrier"
	admin_post /smpp-connectors "{\"carrier_id\": \"$car\", \"name\": \"sink\",
		\"host\": \"127.0.0.1\", \"port\": $SINK_PORT, \"system_id\": \"warp\", \"password\": \"pw\",
		\"binds\": $binds, \"window\": $window, \"throughput\": 0}" >/dev/null ||
		die "cannot create the SMPP connector"
	admin_post /message-routes "{\"prefix\": \"44\", \"carriers\": [{\"carrier_id\": \"$car\", \"priority\": 0}]}" \
		>/dev/null || die "cannot create the message route"
	admin_post /smpp-accounts "{\"customer_id\": \"$cus\", \"system_id\": \"bench\", \"password\": \"pw\",
		\"allowed_cidrs\": [\"127.0.0.1/32\"], \"throughput\": 100000, \"burst\": 100000,
		\"window\": 1000, \"max_binds\": 4}" >/dev/null || die "cannot create the SMPP account"
	API_KEY=$(admin_post /api-keys "{\"name\": \"bench\", \"customer_id\": \"$cus\",
		\"rate_per_sec\": 1000000, \"burst\": 1000000}" secret) || die "cannot create the API key"
	wait_sink_bound "$binds"
	warm_up
}

# A few messages until one step of them comes back whole (at most 10 tries).
warm_up() {
	local r
	for _ in $(seq 10); do
		TAG=$((TAG + 1)) # a tag of its own: the sink counts no duplicate
		r=$("$LOAD_BIN" -p "$WARP_SMSC" -u bench -w pw -W 10 -r 200 -d 500 -D 3000 -t "$TAG") || true
		[ "$(field ok "$r")" -gt 0 ] 2>/dev/null && [ "$(field lost "$r")" = 0 ] &&
			[ "$(field errors "$r")" = 0 ] && return 0
		sleep 0.5
	done
	die "no message made it through warp and back: $r"
}

# ------------------------------------------------------------------ PostgreSQL

# A throwaway cluster from tests/integration/pgserver.py, held by a Python
# process that stops it (pgserver's cleanup) on SIGTERM: a background job
# of this script ignores SIGINT, which pgserver's own main waits for.
PG_URL=
start_pg() {
	if [ -n "${PG_GIVEN:-}" ]; then # a running cluster: its databases are made here
		PG_URL=$PG_GIVEN
		PG_PORT=${PG_URL##*:} PG_PORT=${PG_PORT%%/*}
		PG_USER=${PG_URL#postgres://} PG_USER=${PG_USER%%@*}
		return 0
	fi
	python3 -c 'import signal, sys
sys.path.insert(0, sys.argv[1])
import time
import pgserver
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
with pgserver.running() as url:
    print("pgserver: PostgreSQL at %s" % url, flush=True)
    for _ in range(4 * 3600):  # bounded: 4 hours at most
        time.sleep(1)' \
		"$ROOT/tests/integration" >"$TMP/pg.out" 2>&1 &
	PG_PID=$!
	PIDS+=("$PG_PID")
	for _ in $(seq 300); do
		PG_URL=$(sed -n 's/^pgserver: PostgreSQL at //p' "$TMP/pg.out")
		if [ -n "$PG_URL" ]; then
			# postgres://USER@127.0.0.1:PORT/DB
			PG_PORT=${PG_URL##*:} PG_PORT=${PG_PORT%%/*}
			PG_USER=${PG_URL#postgres://} PG_USER=${PG_USER%%@*}
			return 0
		fi
		kill -0 "$PG_PID" 2>/dev/null || die "PostgreSQL did not start: $(tail -5 "$TMP/pg.out")"
		sleep 0.1
	done
	die "PostgreSQL did not start within 30 s"
}

# CPU ticks the cluster has used so far: the postmaster's own and its reaped
# children's (cutime, cstime), and each live backend's (warp's connections
# live through a step).  0 when no cluster runs.
pg_cpu_ticks() {
	local pm= f sum=0 pid
	[ -n "${PG_PORT:-}" ] || { echo 0; return; }
	# The postmaster, not the runuser that started it (same arguments).
	for pid in $(pgrep -f -- "postgres -D .* -p $PG_PORT "); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] && pm=$pid
	done
	[ -n "$pm" ] || { echo 0; return; }
	f=$(cat "/proc/$pm/stat" 2>/dev/null) || { echo 0; return; }
	f=${f##*) }
	read -ra f <<<"$f"
	sum=$((f[11] + f[12] + f[13] + f[14]))
	for pid in $(pgrep -P "$pm"); do
		sum=$((sum + $(pid_cpu_ticks "$pid")))
	done
	echo "$sum"
}

# pgserver stops its cluster within its own 30 s bound.
stop_pg() {
	[ -z "${PG_GIVEN:-}" ] || return 0
	pid_stop "$PG_PID" 400
	PG_PID=
}

# ------------------------------------------------------------------ part 1: SMPP

# run_step NAME RATE: one smppload run at RATE (0: unpaced); prints the step
# line, appends it to $TMP/NAME.steps and sets VERDICT and WHY.
run_step() {
	local name=$1 rate=$2 r s0 s1 t0 t1 sink0 sink1 ok lost errors p99 wall
	local us gen sink_pct dups e2e sub pg0 pg1 pg=
	TAG=$((TAG + 1))
	s0=$(sink_stats)
	t0=$(pid_cpu_ticks "$WARP_PID")
	pg0=$(pg_cpu_ticks)
	r=$("$LOAD_BIN" -p "$WARP_SMSC" -u bench -w pw -W "$WINDOW" -r "$rate" -d $((STEP_S * 1000)) \
		-D $((DRAIN_S * 1000)) -t "$TAG" 2>>"$TMP/load.err") ||
		die "smppload failed at $rate msgs/s: $r $(tail -3 "$TMP/load.err")"
	t1=$(pid_cpu_ticks "$WARP_PID")
	pg1=$(pg_cpu_ticks)
	s1=$(sink_stats)
	ok=$(field ok "$r") lost=$(field lost "$r")
	errors=$(field errors "$r") p99=$(field p99_ms "$r") wall=$(field wall_s "$r")
	gen=$(field gen_cpu_pct "$r") e2e=$(field e2e_rate "$r") sub=$(field submit_rate "$r")
	dups=$(($(sink_diff duplicates "$s0" "$s1") + $(field dup_receipts "$r")))
	sink0=$(field cpu_s "$s0") sink1=$(field cpu_s "$s1")
	sink_pct=$(awk -v a="$sink0" -v b="$sink1" -v w="$wall" 'BEGIN { printf "%d", (w > 0 ? 100 * (b - a) / w : 0) }')
	us=$(awk -v t=$((t1 - t0)) -v n="$ok" -v hz="$CLK_TCK" 'BEGIN { printf "%d", (n > 0 ? t * 1e6 / hz / n : 0) }')
	if [ "$pg1" -gt 0 ]; then
		pg=$(awk -v t=$((pg1 - pg0)) -v n="$ok" -v hz="$CLK_TCK" 'BEGIN { printf ", postgres %d us/msg", (n > 0 ? t * 1e6 / hz / n : 0) }')
	fi
	VERDICT=clean WHY=
	if [ "$errors" != 0 ] || [ "$lost" != 0 ] || [ "$dups" != 0 ]; then
		VERDICT=failures WHY="$errors submit errors ($(field status "$r")), $lost receipts missing after $DRAIN_S s, $dups duplicates"
	elif awk -v p="$p99" -v b="$P99_MS" 'BEGIN { exit !(p > b) }'; then
		VERDICT=p99 WHY="submit_sm_resp p99 $p99 ms > $P99_MS ms"
	elif [ "$rate" -gt 0 ] && awk -v s="$sub" -v r="$rate" 'BEGIN { exit !(s < 0.9 * r) }'; then
		VERDICT=slow WHY="submits answered at $sub msgs/s of $rate asked"
	elif [ "$rate" -gt 0 ] && awk -v s="$e2e" -v r="$rate" 'BEGIN { exit !(s < 0.9 * r) }'; then
		VERDICT=receipts WHY="receipts came back at $e2e msgs/s of $rate sent"
	fi
	if [ "$VERDICT" != clean ]; then
		if [ "${gen%.*}" -ge "$BUSY" ] || [ "$sink_pct" -ge "$BUSY" ]; then
			WHY="$WHY; the generator ($gen %) or the sink ($sink_pct %) was CPU-bound: their limit as much as warp's"
		else
			WHY="$WHY; generator at $gen %, sink at $sink_pct % of a CPU: warp's limit (or other load on the machine)"
		fi
	fi
	printf '%-14s %6s msgs/s: %7d ok at %6.0f/s, %7d at the sink, receipts back at %6.0f/s (%d missing), p50 %6s p99 %7s max %7s ms, warp %4d us/msg%s, gen %3s %% sink %3d %% CPU, dup %d: %s\n' \
		"$name" "${rate/#0/max}" "$ok" "$sub" "$(sink_diff submits "$s0" "$s1")" "$e2e" "$lost" \
		"$(field p50_ms "$r")" "$p99" "$(field max_ms "$r")" "$us" "$pg" "$gen" "$sink_pct" "$dups" "$VERDICT" |
		tee -a "$TMP/$name.steps" >&2
}

# warp_up STORE: a warp on a new, empty database of that store (a file for
# SQLite, a new database in the running cluster for PostgreSQL), provisioned.
WARP_N=0
warp_up() {
	local store=$1 url
	WARP_N=$((WARP_N + 1))
	if [ "$store" = sqlite ]; then
		url=sqlite:$TMP/warp-$WARP_N.db
	else
		"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "warp$WARP_N" ||
			die "createdb warp$WARP_N failed"
		url=${PG_URL%/*}/warp$WARP_N
	fi
	start_warp "smpp-$store-$WARP_N" "$url"
	provision_warp "$CONN_BINDS" "$CONN_WINDOW"
}

# step_store STORE: steps the rate up on one warp until a step is not clean
# (every loop bounded by MAX_STEPS); then, each on a fresh warp so that the
# backlog of a failed step does not weigh on it, a step at P99_RATE when the
# stepping stopped below it, and one unpaced step.
step_store() {
	local store=$1 name=smpp-$1 rate=0 i=0 best=0 stop
	stop="MAX_STEPS ($MAX_STEPS) steps ran"
	warp_up "$store"
	echo "warp ($store): ESME window $WINDOW, connector $CONN_BINDS binds window $CONN_WINDOW, steps of $STEP_S s" >&2
	for _ in $(seq "$MAX_STEPS"); do
		rate=$(step_rate "$i" "$rate" 1000)
		if [ -z "$rate" ]; then
			stop="no rate to step through (RATES is empty)"
			break
		fi
		i=$((i + 1))
		if [ "$rate" -gt "$MAX_RATE" ]; then
			stop="clean up to MAX_RATE ($MAX_RATE msgs/s)"
			break
		fi
		run_step "$name" "$rate"
		if [ "$VERDICT" != clean ]; then
			stop="$VERDICT at $rate msgs/s: $WHY"
			break
		fi
		best=$rate
	done
	stop_warp
	if [ "$rate" -lt "$P99_RATE" ]; then
		warp_up "$store"
		run_step "$name" "$P99_RATE"
		stop_warp
	fi
	warp_up "$store"
	run_step "$name" 0
	stop_warp
	echo "$name|$best|$stop" >>"$TMP/summary"
}

part_smpp() {
	local store
	for store in $STORES; do
		case $store in
		sqlite) ;;
		postgres)
			if [ ! -x "$PG_BIN/initdb" ]; then
				echo "postgres: $PG_BIN/initdb missing, PostgreSQL not measured" >&2
				continue
			fi
			start_pg
			;;
		*) die "unknown store $store (STORES: sqlite postgres)" ;;
		esac
		step_store "$store"
		if [ "$store" = postgres ]; then
			stop_pg
		fi
	done
}

# ------------------------------------------------------------------ part 2: HTTP

# wrk_lua FILE METHOD PATH_FORMAT BODY_FORMAT: a wrk script whose requests
# carry a counter (unique destinations) in the path or the body.
wrk_lua() {
	cat >"$1" <<-EOF
		local n = 0
		local path, body = [[$3]], [[$4]]
		wrk.method = "$2"
		wrk.headers["Content-Type"] = "application/json"
		wrk.headers["Authorization"] = "Bearer ${API_KEY:-none}"
		request = function()
		    n = n + 1
		    local b = nil
		    if body ~= "" then b = string.format(body, n) end
		    return wrk.format(nil, string.format(path, n), nil, b)
		end
	EOF
}

# http_run NAME URL LUA PID...: wrk against URL for HTTP_S, then waits until
# the sink stops growing; prints the result line and appends it to
# $TMP/http.results as "NAME accepted_per_s e2e_per_s us_per_msg lost".
http_run() {
	local name=$1 url=$2 lua=$3 s0 s1 t0 t1 w0 w1 out reqs non2xx accepted got last_got last_t
	shift 3
	s0=$(sink_stats)
	t0=$(pid_cpu_ticks "$@")
	w0=$(date +%s%3N)
	out=$TMP/wrk-$name.out
	timeout $((HTTP_S + 30)) wrk -t1 -c"$HTTP_CONNS" -d"${HTTP_S}s" -s "$lua" "$url" >"$out" 2>&1 ||
		die "wrk failed against $name: $(cat "$out")"
	reqs=$(awk '/requests in/ { print $1 }' "$out")
	non2xx=$(awk '/Non-2xx/ { print $NF }' "$out")
	accepted=$((reqs - ${non2xx:-0}))
	# Until the sink has them all or has not grown for 2 s (at most DRAIN_S + 10 s).
	last_got=-1 last_t=$w0
	for _ in $(seq $(((DRAIN_S + 10) * 5))); do
		s1=$(sink_stats)
		got=$(sink_diff submits "$s0" "$s1")
		if [ "$got" != "$last_got" ]; then
			last_got=$got last_t=$(date +%s%3N)
		fi
		[ "$got" -ge "$accepted" ] && break
		[ $(($(date +%s%3N) - last_t)) -gt 2000 ] && break
		sleep 0.2
	done
	t1=$(pid_cpu_ticks "$@")
	w1=$last_t
	awk -v name="$name" -v a="$accepted" -v g="$got" -v d="$(sink_diff duplicates "$s0" "$s1")" \
		-v w=$((w1 - w0)) -v hs="$HTTP_S" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v bad="${non2xx:-0}" \
		-v res="$TMP/http.results" 'BEGIN {
		us = g > 0 ? t * 1e6 / hz / g : 0
		e2e = w > 0 ? g * 1000 / w : 0
		printf "%-24s accepted %6.0f/s (%d non-2xx), at the sink %6.0f msgs/s, %5d us CPU/msg, %d accepted not at the sink by the end, dup %d\n",
			name, a / hs, bad, e2e, us, (a > g ? a - g : 0), d
		printf "%s|%.0f|%.0f|%d|%d\n", name, a / hs, e2e, us, a - g >>res }' | tee -a "$TMP/http.steps" >&2
	sleep 0.2
}

kannel_conf() {
	local dir=$1
	cat <<-EOF
		group = core
		admin-port = $KAN_ADMIN
		admin-password = adm
		smsbox-port = $KAN_BOX
		box-allow-ip = 127.0.0.1
		log-file = "$dir/bearerbox.log"
		log-level = 2
		store-type = file
		store-location = "$dir/store"
		dlr-storage = internal

		group = smsc
		smsc = smpp
		smsc-id = sink
		host = 127.0.0.1
		port = $SINK_PORT
		transceiver-mode = true
		smsc-username = kannel
		smsc-password = pw
		system-type = ""
		max-pending-submits = 10
		msg-id-type = 0x03
		enquire-link-interval = 30

		group = smsbox
		bearerbox-host = 127.0.0.1
		sendsms-port = $KAN_SEND
		log-file = "$dir/smsbox.log"
		log-level = 2

		group = sendsms-user
		username = bench
		password = pw
	EOF
}

# Kannel calls a DLR's dlr-url through smsbox for every receipt: a
# throwaway nginx on loopback answers 204 to all of them (its CPU is not
# counted as Kannel's).
start_dlr_http() {
	local dir=$TMP/nginx
	mkdir -p "$dir/logs"
	DLR_PORT=$(free_port)
	cat >"$dir/nginx.conf" <<-EOF
		worker_processes 1;
		daemon off;
		pid $dir/nginx.pid;
		error_log $dir/logs/error.log warn;
		events { worker_connections 1024; }
		http {
		    access_log off;
		    client_body_temp_path $dir/body;
		    proxy_temp_path $dir/proxy;
		    fastcgi_temp_path $dir/fastcgi;
		    uwsgi_temp_path $dir/uwsgi;
		    scgi_temp_path $dir/scgi;
		    keepalive_requests 1000000;
		    server { listen 127.0.0.1:$DLR_PORT; location / { return 204; } }
		}
	EOF
	"$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" >"$dir/out" 2>&1 &
	PIDS+=("$!")
	DLR_PID=$!
	for _ in $(seq 50); do
		curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$DLR_PORT/dlr" 2>/dev/null && return 0
		sleep 0.1
	done
	die "nginx for Kannel's DLR callbacks did not start: $(cat "$dir/out")"
}

# run_kannel NAME DLR_MASK: a fresh bearerbox + smsbox, wrk on sendsms with
# that dlr-mask (empty: no receipt asked for), both stopped after.
run_kannel() {
	local name=$1 mask=$2 dir=$TMP/kannel-${2:-none} pid
	mkdir -p "$dir"
	KAN_ADMIN=$(free_port) KAN_BOX=$(free_port) KAN_SEND=$(free_port)
	kannel_conf "$dir" >"$dir/kannel.conf"
	KAN_PIDS=()
	for exe in "$BEARERBOX" "$SMSBOX"; do
		(cd "$dir" && exec "$exe" "$dir/kannel.conf") >"$dir/$(basename "$exe").out" 2>&1 &
		pid=$!
		PIDS+=("$pid")
		KAN_PIDS+=("$pid")
		sleep 0.5 # smsbox connects to the bearerbox it follows
	done
	for _ in $(seq 100); do
		curl -fsS --max-time 1 "http://127.0.0.1:$KAN_ADMIN/status.txt?password=adm" 2>/dev/null |
			grep -q online && break
		sleep 0.2
	done
	curl -fsS --max-time 1 "http://127.0.0.1:$KAN_ADMIN/status.txt?password=adm" 2>/dev/null | grep -q online ||
		die "Kannel's bind to the sink did not come online: $(tail -5 "$dir/bearerbox.log")"
	wait_http "http://127.0.0.1:$KAN_SEND/cgi-bin/sendsms?username=bench&password=pw&from=15550100&to=44780000000000&text=warm" \
		"${KAN_PIDS[1]}" || die "smsbox does not accept sendsms: $(tail -5 "$dir/smsbox.log")"
	TAG=$((TAG + 1))
	wrk_lua "$TMP/kannel.lua" GET \
		"/cgi-bin/sendsms?username=bench&password=pw&from=15550100&to=4478$(printf %03d "$TAG")%08d&text=warp+bench${mask:+&dlr-mask=$mask&dlr-url=http%%3A%%2F%%2F127.0.0.1%%3A$DLR_PORT%%2Fdlr}" ""
	http_run "$name" "http://127.0.0.1:$KAN_SEND" "$TMP/kannel.lua" "${KAN_PIDS[@]}"
	for pid in "${KAN_PIDS[1]}" "${KAN_PIDS[0]}"; do
		pid_stop "$pid"
	done
}

# warp_http NAME BINDS WINDOW
warp_http() {
	local name=$1 code
	rm -f "$TMP/warp-http.db"*
	start_warp http sqlite:"$TMP/warp-http.db"
	provision_warp "$2" "$3"
	code=$(curl -sS -o "$TMP/first-post.out" -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $API_KEY" \
		-H 'Content-Type: application/json' -d '{"from": "15550100", "to": "+447700000000", "text": "first"}' \
		"http://127.0.0.1:$WARP_HTTP/api/v1/messages") || code=000
	sleep 1 # its submit reaches the sink before the run's counters are read
	if [ "$code" = 404 ]; then
		die "warp answered 404 to POST /api/v1/messages: the HTTP part needs WARP's messages API (issue 9); this warp does not have it"
	fi
	[ "$code" = 202 ] || die "warp answered $code to POST /api/v1/messages: $(head -c 300 "$TMP/first-post.out")"
	TAG=$((TAG + 1))
	wrk_lua "$TMP/warp.lua" POST /api/v1/messages \
		"{\"from\": \"15550100\", \"to\": \"+4477$(printf %03d "$TAG")%08d\", \"text\": \"warp bench\"}"
	http_run "$name" "http://127.0.0.1:$WARP_HTTP" "$TMP/warp.lua" "$WARP_PID"
	stop_warp
}

part_http() {
	echo "http: wrk -t1 -c$HTTP_CONNS -d${HTTP_S}s, every path to the same sink" >&2
	start_dlr_http
	run_kannel "kannel (receipts)" 1
	[ -z "$KANNEL_BARE" ] || run_kannel "kannel (no receipts)" ""
	pid_stop "$DLR_PID"
	warp_http "warp (1 bind, w 10)" 1 10
	warp_http "warp ($CONN_BINDS binds, w $CONN_WINDOW)" "$CONN_BINDS" "$CONN_WINDOW"
}

# ------------------------------------------------------------------ summary

summary_smpp() {
	local name best stop
	[ -s "$TMP/summary" ] || return 0
	echo
	printf '%-14s %16s  %s\n' path "highest clean" "why the stepping stopped"
	while IFS='|' read -r name best stop; do
		printf '%-14s %9s msgs/s  %s\n' "$name" "$best" "$stop"
	done <"$TMP/summary"
	cat "$TMP"/smpp-*.steps | awk -v r="$P99_RATE" '$2 == r { for (i = 1; i <= NF; i++) if ($i == "p99") p = $(i + 1)
		printf "%s: submit_sm_resp p99 at %d msgs/s: %s ms (target <= 10 at 5000)\n", $1, r, p }'
	echo
}

summary_http() {
	[ -s "$TMP/http.results" ] || return 0
	echo
	awk -F'|' 'NR == 1 { kan = $3; kus = $4; next }
		$1 ~ /^kannel/ { next }
		{ printf "HTTP %s: warp/kannel msgs/s at the sink %.2f (target >= 2), kannel/warp CPU per message %.2f\n",
			$1, (kan > 0 ? $3 / kan : 0), ($4 > 0 ? kus / $4 : 0) }' "$TMP/http.results"
}

# ------------------------------------------------------------------ run

build_warp
build_tools
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
echo "warp: $WARP; generator: $LOAD_BIN (C); sink: $SINK_BIN (C)" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start_sink
if [ "$ONLY" != http ]; then
	part_smpp
	summary_smpp
fi
if [ "$ONLY" != smpp ]; then
	part_http
	summary_http
fi
echo "sink at the end: $(sink_stats)"
