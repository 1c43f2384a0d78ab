#!/usr/bin/env bash
# bench/sip.sh — calls per second through WARP's SIP proxy next to Kamailio,
# and the memory WARP needs per call held up.
#
# SIPp caller -> proxy -> two SIPp callees (the carrier's two gateways), all
# on 127.0.0.1, with the shared record-routing scenarios (uac_rr.xml,
# uas_rr.xml: INVITE, 180, 200, ACK, BYE, 200, every in-dialog request
# through the proxy).  The same run measures:
#
#   1. WARP (--roles api,sip, a throwaway SQLite store, provisioned through
#      its REST API: customer, trunk whose ACL is 127.0.0.1/32, carrier with
#      the two gateways at equal weight, route for prefix 1; no CPS or
#      channel limit anywhere), and
#   2. Kamailio (Debian's 5.6, bench/kamailio/kamailio.cfg: IP authorisation
#      with permissions, route prefix check, dialog tracking, record-route,
#      stateful t_relay, dispatcher round robin over the same two gateways
#      with failover on 5xx),
#
# each at call rates stepped up, a step being rate x STEP_S calls of CALL_MS
# each: first the rates in RATES, then on in growing steps (a quarter more
# each, rounded up to 250) until a step is not clean, MAX_RATE is passed or
# MAX_STEPS steps ran (every loop is bounded).  A step is clean when SIPp's
# caller reports every call successful, none failed, and it could start them
# at >= 90 % of the rate asked.  Each step also records the proxy's CPU per
# call and SIPp's own CPU (the caller's, from `times`, and the busier
# gateway's, from /proc) as a share of one CPU over the step's busy window.
# The first step that is not clean says whose limit was reached: SIPp's
# when it could not start the calls at the rate and one of its processes
# was at >= SIPP_BUSY % of a CPU, or when calls failed with SIPp that busy;
# the proxy's when calls failed while SIPp had room.
#
# Printed last, the headline: proxy CPU per call for WARP and Kamailio side
# by side at every rate both passed cleanly, and kamailio/warp at the
# highest of them (a figure that does not depend on SIPp's limit); then
# each proxy's highest clean CPS with why its stepping stopped.
#
# 3. Then HOLD_CALLS concurrent calls through a fresh WARP (set up at
#    HOLD_RATE, each held HOLD_MS by the caller's pause before its BYE):
#    warp's VmRSS before the first call and while all are up (its
#    warp_sip_active_dialogs gauge at HOLD_CALLS), and the difference per
#    call.
#
# Both proxies run on the same CPUs (PROXY_CPUS, taskset) and all SIPp
# processes on SIPP_CPUS; by default everything shares CPUs 0 and 1, as in
# the issue's reference measurement of Kamailio (with one CPU for the proxy
# and one for three SIPp processes, SIPp's CPU limits both proxies early).  Targets (issue): 1,000 CPS with no failed call,
# 10,000 calls held, WARP's highest clean CPS >= 1.5 x Kamailio's, <= 4 KiB
# of RSS per held call.  Missing a target is reported, not an error; the
# script fails only when something does not start or a SIPp run errors out.
# Everything it starts is stopped by PID (Kamailio by its process group) on
# exit.  Whole run: about 10 minutes with the defaults when WARP stops near
# 5,000 cps; each step past that adds about STEP_S + 5 s.
#
# Tunables (environment):
#   WARP_BUILD     build folder (default build-release; set up with
#                  -Dbuildtype=release when missing, built with ninja)
#   WARP_BIN       use this warp binary as is instead (no build)
#   WARP_THREADS   warp [sip] threads (default 2, one per CPU)
#   KAM_CHILDREN   Kamailio UDP children (default 4)
#   PROXY_CPUS     CPUs of the proxy under test (default 0,1)
#   SIPP_CPUS      CPUs of the SIPp processes (default 0,1)
#   RATES          call rates to step through first (default below);
#                  empty: no CPS steps
#   STEP_S         seconds of calls per step (default 10)
#   MAX_RATE       no step above this rate (default 50000)
#   MAX_STEPS      at most this many steps per proxy (default 40)
#   SIPP_BUSY      % of one CPU at which a SIPp counts as saturated (90)
#   CALL_MS        call length in the steps (default 1000)
#   HOLD_CALLS     calls held up at once (default 10000; 0 skips the test)
#   HOLD_RATE      their setup rate (default 1000)
#   HOLD_MS        how long each is held (default 20000)
#   ONLY           "warp" or "kamailio": step only that proxy
#   WARP_WRAP      a command warp runs under, for profiling (e.g. "valgrind
#                  --tool=callgrind --callgrind-out-file=/tmp/cg.warp" with
#                  RATES=20 HOLD_CALLS=0 ONLY=warp)
#   KEEP_TMP       keep the run's folder (logs, SIPp statistics) when set
#   PREPAID        1: WARP's customer is prepaid with a sell deck for the
#                  dialled prefix and a balance no step exhausts, so every
#                  call is priced, reserved and settled (decision 0037); run
#                  once with and once without (ONLY=warp) and compare the
#                  INVITE-to-200 p99 each step prints
#
# Each step also prints the INVITE-to-200 latency at the caller (SIPp's
# -trace_rtt of the 200, which the scenario marks rtd): p50 and p99, in
# whole milliseconds as SIPp measures them, through the proxy and the
# gateway's answer (uas_rr.xml pauses 20 ms before its 200); and with
# PREPAID=1 what prepaid authorization added inside WARP: the p99 of
# warp_sip_prepaid_authorization_seconds over the step (the INVITE's
# reservation from the worker's request to its answer, the upper bound of
# the histogram bucket it falls in).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WARP_BUILD:-build-release}
WARP_THREADS=${WARP_THREADS:-2}
KAM_CHILDREN=${KAM_CHILDREN:-4}
PROXY_CPUS=${PROXY_CPUS:-0,1}
SIPP_CPUS=${SIPP_CPUS:-0,1}
RATES=${RATES-250 500 750 1000 1250 1500 1750 2000 2500 3000 3500 4000 5000}
STEP_S=${STEP_S:-10}
MAX_RATE=${MAX_RATE:-50000}
MAX_STEPS=${MAX_STEPS:-40}
SIPP_BUSY=${SIPP_BUSY:-90}
CLK_TCK=$(getconf CLK_TCK)
CALL_MS=${CALL_MS:-1000}
HOLD_CALLS=${HOLD_CALLS:-10000}
HOLD_RATE=${HOLD_RATE:-1000}
HOLD_MS=${HOLD_MS:-20000}
ONLY=${ONLY:-}
PREPAID=${PREPAID:-0}
ADMIN_TOKEN=bench-sip-admin-token-0123456789
DIALLED=15551234567
PREFIX=1
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
KAM_MODULES=${KAM_MODULES:-/usr/lib/x86_64-linux-gnu/kamailio/modules}
TESTDATA=${WARP_TESTDATA:-$ROOT/../shared/testdata}
UAC=$TESTDATA/sipp/uac_rr.xml
UAS=$TESTDATA/sipp/uas_rr.xml

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for tool in sipp curl python3 taskset; do
	command -v "$tool" >/dev/null || die "$tool missing (scripts/install-deps --test)"
done
[ -x "$KAMAILIO" ] || die "kamailio missing (scripts/install-deps --test)"
[ -r "$UAC" ] && [ -r "$UAS" ] || die "SIPp scenarios not found under $TESTDATA/sipp"

# SIPp and warp keep a socket or two each over UDP, but SIPp opens files
# per call for its logs on errors: the hard limit, whatever it is.
ulimit -n "$(ulimit -Hn)"

TMP=$(mktemp -d /tmp/warp-sipbench.XXXXXX)
PIDS=()
KAM_PID=

stop_pid() {
	local pid=$1
	kill "$pid" 2>/dev/null || true
	# Bounded: a process that ignores SIGTERM gets SIGKILL after 10 s.
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# Kamailio runs in a session of its own (setsid): its workers are stopped
# with it as a process group.
stop_kamailio() {
	[ -n "$KAM_PID" ] || return 0
	kill -TERM -- "-$KAM_PID" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 -- "-$KAM_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$KAM_PID" 2>/dev/null || true
	wait "$KAM_PID" 2>/dev/null || true
	KAM_PID=
}

cleanup() {
	local pid
	stop_kamailio
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	if [ -n "${KEEP_TMP:-}" ]; then
		echo "sip.sh: kept $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM



# ------------------------------------------------------------------ SIPp

# The two carrier gateways: SIPp callees that answer every call, up for
# the whole run (bounded by -timeout all the same: an hour, past the longest
# run MAX_STEPS steps of both proxies and the hold test can take).
start_gateways() {
	local i port
	GW_PORTS=()
	GW_PIDS=()
	for i in 1 2; do
		port=$(free_port udp)
		mkdir -p "$TMP/gw$i"
		(cd "$TMP/gw$i" && exec taskset -c "$SIPP_CPUS" sipp -sf "$UAS" -i 127.0.0.1 -p "$port" \
			-t u1 -nostdin -timeout 3600s -trace_err -max_recv_loops 1000 -buff_size 1048576) \
			>"$TMP/gw$i/stdout" 2>&1 &
		PIDS+=("$!")
		GW_PIDS+=("$!")
		GW_PORTS+=("$port")
	done
	sleep 0.5
	for i in 1 2; do
		kill -0 "${PIDS[-$i]}" 2>/dev/null || die "gateway SIPp did not start: $(tail -5 "$TMP/gw$i/stdout")"
	done
}

# Prints "successful failed created seconds_to_create retransmissions" from a
# SIPp -trace_stat file written every second: the last row has the totals;
# the time the last call was started is interpolated between the rows on
# either side of OutgoingCall(C) reaching the total.
sipp_stats() {
	python3 - "$1" "$2" <<-'EOF'
		import sys
		rows = [l.rstrip("\n;").split(";") for l in open(sys.argv[1]) if l.strip()]
		col = {n: i for i, n in enumerate(rows[0])}
		data = rows[1:]
		def num(r, n):
		    return int(r[col[n]])
		def epoch(r, n):
		    return float(r[col[n]].split("\t")[-1])
		def secs(r):
		    return epoch(r, "CurrentTime") - epoch(r, "StartTime")
		total = int(sys.argv[2])
		last = data[-1]
		when, prev = secs(last), (0.0, 0)
		for r in data:
		    t, c = secs(r), num(r, "OutgoingCall(C)")
		    if c >= total:
		        when = prev[0] + (t - prev[0]) * (total - prev[1]) / max(c - prev[1], 1)
		        break
		    prev = (t, c)
		print(num(last, "SuccessfulCall(C)"), num(last, "FailedCall(C)"), num(last, "OutgoingCall(C)"),
		      "%.3f" % when, num(last, "Retransmissions(C)"))
	EOF
}

# The p99 (upper bound of its bucket, in ms) of the prepaid authorization
# histogram between two /metrics texts, files $1 and $2; "-" without any.
auth_p99() {
	python3 - "$1" "$2" <<-'EOF'
		import re, sys
		def buckets(path):
		    out = {}
		    for line in open(path):
		        m = re.match(r'warp_sip_prepaid_authorization_seconds_bucket\{le="([^"]+)"\} (\d+)', line)
		        if m:
		            out[m.group(1)] = int(m.group(2))
		    return out
		a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
		les = sorted(b, key=lambda k: float("inf") if k == "+Inf" else float(k))
		d = [(le, b[le] - a.get(le, 0)) for le in les]
		total = d[-1][1] if d else 0
		if total <= 0:
		    print("-")
		else:
		    le = next(le for le, n in d if n >= 0.99 * total)
		    print("<=%sms" % ("inf" if le == "+Inf" else "%g" % (float(le) * 1000)))
	EOF
}

# "p50 p99" in milliseconds of the INVITE-to-200 times in SIPp's -trace_rtt
# file in folder $1 ("- -" when there is none).
rtt_percentiles() {
	python3 - "$1" <<-'EOF'
		import glob, sys
		v = []
		for path in glob.glob(sys.argv[1] + "/*_rtt.csv"):
		    for line in open(path):
		        f = line.strip().split(";")
		        try:
		            v.append(float(f[1]))
		        except (IndexError, ValueError):
		            pass
		v.sort()
		if not v:
		    print("- -")
		else:
		    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
		    print("%g %g" % (pick(0.50), pick(0.99)))
	EOF
}

# run_calls NAME PROXY_PORT RATE CALLS HOLD_MS ->
#   "rc successful failed created secs retrans sipp_cpu_ms"
# sipp_cpu_ms: the caller SIPp's own CPU time (user + system), from the
# shell's `times` of its waited-for children (taskset execs timeout, which
# waits for sipp).
run_calls() {
	local name=$1 proxy=$2 rate=$3 calls=$4 hold=$5 port dir bound rc=0 cpu_ms
	port=$(free_port udp)
	dir=$TMP/$name
	mkdir -p "$dir"
	# Per call: an answer within 5 s or the call fails (-recv_timeout);
	# per run: the calls' own time plus 30 s.
	bound=$((calls / rate + hold / 1000 + 30))
	(cd "$dir" && { taskset -c "$SIPP_CPUS" timeout $((bound + 10)) sipp -sf "$UAC" \
		-i 127.0.0.1 -p "$port" -t u1 -s "$DIALLED" "127.0.0.1:$proxy" -r "$rate" -m "$calls" \
		-l $((calls + 1)) -d "$hold" -recv_timeout 5000 -timeout "${bound}s" -timeout_error \
		-nostdin -trace_stat -stf "$dir/stat.csv" -fd 1 -trace_err -max_recv_loops 1000 \
		-trace_rtt -rtt_freq 100 \
		-buff_size 1048576 || rc=$?; times >"$dir/times"; exit "$rc"; }) >"$dir/stdout" 2>&1 || rc=$?
	rtt_percentiles "$dir" >"$dir/rtt"
	# `times`' second line: the children's user and system time, "0m1.234s 0m0.056s".
	cpu_ms=$(awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
		printf "%d", t * 1000 }' "$dir/times" 2>/dev/null || echo 0)
	if [ ! -s "$dir/stat.csv" ]; then
		echo "$rc 0 0 0 0 0 ${cpu_ms:-0}"
		return
	fi
	echo "$rc $(sipp_stats "$dir/stat.csv" "$calls") ${cpu_ms:-0}"
}

# CPU time (user + system, clock ticks) used so far by the processes in
# process group $1 (Kamailio and its workers) or, with $2 = pid, by process
# $1 alone (warp, all its threads).  The field after the name's closing
# parenthesis is the state: pgrp is the 3rd from there, utime the 12th.
cpu_ticks() {
	local id=$1 mode=${2:-pgrp} f
	if [ "$mode" = pid ]; then
		f=$(cat "/proc/$id/stat" 2>/dev/null) || { echo 0; return; }
		awk '{ sub(/^.*\) /, ""); print $12 + $13 }' <<<"$f"
		return
	fi
	# Processes that end between the glob and the read make cat fail.
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } |
		awk -v g="$id" '{ sub(/^.*\) /, ""); if ($3 == g) s += $12 + $13 } END { print s + 0 }'
}

# pct CPU_MS WALL_MS: CPU time as a percentage of one CPU over the wall time.
pct() {
	echo $(($2 > 0 ? $1 * 100 / $2 : 0))
}

# step_proxy NAME PORT: steps the rate up, through RATES and then on in
# growing steps (step_rate in lib.sh) until a step is not clean, MAX_RATE is passed or
# MAX_STEPS steps ran; sets BEST (highest clean CPS) and STOP (why it
# stopped), and writes one line per step into $TMP/NAME.steps.
step_proxy() {
	local name=$1 port=$2 rate=0 calls rc ok failed created secs retrans sipp_ms achieved verdict
	local t0 t1 us w0 w1 wall g0 g1 gw_pct caller_pct busiest p50 p99 auth i=0
	BEST=0
	STOP="MAX_STEPS ($MAX_STEPS) steps ran"
	for _ in $(seq "$MAX_STEPS"); do
		rate=$(step_rate "$i" "$rate" 250)
		if [ -z "$rate" ]; then
			STOP="no rate to step through (RATES is empty)"
			break
		fi
		i=$((i + 1))
		if [ "$rate" -gt "$MAX_RATE" ]; then
			STOP="clean up to MAX_RATE ($MAX_RATE cps)"
			break
		fi
		calls=$((rate * STEP_S))
		t0=$(cpu_ticks $CPU_OF)
		g0=$(gateway_ticks)
		w0=$(date +%s%3N)
		curl -fsS --max-time 2 "http://127.0.0.1:${WARP_HTTP:-0}/metrics" >"$TMP/metrics0" 2>/dev/null || : >"$TMP/metrics0"
		read -r rc ok failed created secs retrans sipp_ms \
			<<<"$(run_calls "$name-$rate" "$port" "$rate" "$calls" "$CALL_MS")"
		curl -fsS --max-time 2 "http://127.0.0.1:${WARP_HTTP:-0}/metrics" >"$TMP/metrics1" 2>/dev/null || : >"$TMP/metrics1"
		auth=$(auth_p99 "$TMP/metrics0" "$TMP/metrics1")
		w1=$(date +%s%3N)
		t1=$(cpu_ticks $CPU_OF)
		g1=$(gateway_ticks)
		# SIPp's busy window: from the first call started to the last one
		# ended (the calls' start time plus one call), at most the step's
		# wall time; its CPU over that window is how close it ran to a CPU.
		wall=$(awk -v s="$secs" -v c="$CALL_MS" -v w=$((w1 - w0)) 'BEGIN { b = s * 1000 + c
			printf "%d", (b > 0 && b < w ? b : w) }')
		us=$(((t1 - t0) * 1000000 / CLK_TCK / calls))
		caller_pct=$(pct "$sipp_ms" "$wall")
		# The busier gateway: SIPp is single-threaded, one saturated process
		# is the limit.
		gw_pct=$(awk -v a="$g0" -v b="$g1" 'BEGIN { split(a, x, " "); split(b, y, " ")
			d = y[1] - x[1]; if (y[2] - x[2] > d) d = y[2] - x[2]; print d }')
		gw_pct=$(pct $((gw_pct * 1000 / CLK_TCK)) "$wall")
		busiest=$((caller_pct > gw_pct ? caller_pct : gw_pct))
		achieved=$(awk -v c="$created" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? c / s : 0) }')
		verdict=clean
		if [ "$ok" != "$calls" ] || [ "$failed" != 0 ]; then
			verdict=failures
		elif [ $((achieved * 10)) -lt $((rate * 9)) ]; then
			verdict=slow
		fi
		read -r p50 p99 <"$TMP/$name-$rate/rtt" || p50=- p99=-
		printf '%-9s %5d cps: %6d calls, %6d ok, %5d failed, started at %5d cps, %5d retransmissions, proxy CPU %4d us/call, SIPp CPU caller %3d %% busier gateway %3d %% (of one CPU), INVITE-200 p50 %s ms p99 %s ms, prepaid authorization p99 %s, sipp rc %d: %s\n' \
			"$name" "$rate" "$calls" "$ok" "$failed" "$achieved" "$retrans" "$us" "$caller_pct" "$gw_pct" "$p50" "$p99" "$auth" "$rc" "$verdict" | tee -a "$TMP/$name.steps" >&2
		if [ "$verdict" != clean ]; then
			STOP=$(stop_reason "$name" "$rate" "$verdict" "$achieved" "$busiest" "$failed")
			break
		fi
		BEST=$rate
		# Let the last transactions' timers run out before the next step.
		sleep 2
	done
	echo "$name: $STOP" | tee "$TMP/$name.stop" >&2
}

# CPU ticks of each gateway SIPp, "first second" (each PID is the sipp
# process itself: the subshell execs taskset, which execs sipp).
gateway_ticks() {
	echo "$(cpu_ticks "${GW_PIDS[0]}" pid) $(cpu_ticks "${GW_PIDS[1]}" pid)"
}

# stop_reason NAME RATE VERDICT ACHIEVED BUSIEST_SIPP_PCT FAILED: whose limit
# the first step that was not clean found.  SIPp is single-threaded: one of
# its processes near a whole CPU (SIPP_BUSY %), or a caller that could not
# start the calls at the rate asked, is SIPp's limit, not the proxy's.
stop_reason() {
	local name=$1 rate=$2 verdict=$3 achieved=$4 busiest=$5 failed=$6
	if [ "$verdict" = slow ] && [ "$busiest" -ge "$SIPP_BUSY" ]; then
		echo "SIPp could no longer offer the rate: asked $rate cps, started $achieved cps (busiest SIPp at $busiest % of a CPU); $name had failed no call"
	elif [ "$verdict" = slow ]; then
		echo "SIPp started the calls late (asked $rate cps, started $achieved cps) though no SIPp was CPU-bound (busiest at $busiest % of a CPU): $name's answers held it back, or other load on the machine; $name had failed no call"
	elif [ "$busiest" -ge "$SIPP_BUSY" ]; then
		echo "$name failed $failed calls at $rate cps, but SIPp was saturated (busiest SIPp at $busiest % of a CPU, started $achieved cps): SIPp's limit as much as $name's"
	else
		echo "$name failed $failed calls at $rate cps while SIPp had room (busiest SIPp at $busiest % of a CPU, started $achieved cps): $name's limit"
	fi
}

# ------------------------------------------------------------------ WARP


WARP_PID=
start_warp() {
	local name=$1
	rm -f "$TMP/warp.db"*
	WARP_HTTP=$(free_port tcp)
	WARP_SIP=$(free_port udp)
	cat >"$TMP/warp.ini" <<-EOF
		[store]
		url = sqlite:$TMP/warp.db
		snapshot_poll = 100ms

		[http]
		listen = 127.0.0.1:$WARP_HTTP

		[log]
		level = warn

		[sip]
		listen = 127.0.0.1:$WARP_SIP
		tcp = false
		threads = $WARP_THREADS

		[webhooks]
		enabled = false

		[ratelimit]
		admin_rate = 100000
		admin_burst = 100000
	EOF
	(cd "$TMP" && WARP_ADMIN_TOKEN=$ADMIN_TOKEN exec taskset -c "$PROXY_CPUS" ${WARP_WRAP:-} "$WARP" run \
		-c "$TMP/warp.ini" --roles api,sip) >"$TMP/warp-$name.out" 2>"$TMP/warp-$name.err" &
	WARP_PID=$!
	PIDS+=("$WARP_PID")
	wait_http "http://127.0.0.1:$WARP_HTTP/healthz" "$WARP_PID" ||
		die "warp did not start: $(tail -5 "$TMP/warp-$name.err")"
	provision_warp
}

admin_post() {
	curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" \
		-H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$WARP_HTTP/api/v1$1" |
		python3 -c 'import json, sys; d = json.load(sys.stdin); print(d.get("data", d)["id"])'
}

metric() { # metric NAME_AND_LABELS: its value summed over the lines that start so
	curl -fsS --max-time 2 "http://127.0.0.1:$WARP_HTTP/metrics" |
		awk -v m="$1" 'index($0, m) == 1 { s += $NF; n++ } END { if (n) printf "%d\n", s; else print -1 }'
}

# Customer, trunk (IP authorisation of 127.0.0.1, no limits), carrier with
# both gateways at the same priority and weight, route for the prefix; then
# waits until the sip role's snapshot has it.
# PREPAID=1: a sell deck pricing the dialled prefix, activated, the
# customer prepaid on it with a balance no run spends (1.00 a minute:
# 10,000 calls held 20 s cost about 3,300).
prepaid_customer() {
	local deck
	deck=$(admin_post /rate-decks '{"name": "bench", "direction": "sell", "currency": "USD"}') ||
		die "cannot create the rate deck"
	curl -fsS --max-time 5 -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: text/csv' \
		--data-binary $'prefix,rate,increments\r\n'"$PREFIX"$',1.00,1/1\r\n' \
		"http://127.0.0.1:$WARP_HTTP/api/v1/rate-decks/$deck/versions" >/dev/null ||
		die "cannot import the rate deck"
	admin_post "/rate-decks/$deck/versions/1/activate" '{}' >/dev/null ||
		die "cannot activate the rate deck"
	cus=$(admin_post /customers "{\"name\": \"Bench Telecom\", \"billing_type\": \"prepaid\",
		\"sell_deck_id\": \"$deck\"}") || die "cannot create the customer"
	admin_post "/customers/$cus/balance-transactions" '{"type": "topup", "amount": "1000000"}' \
		>/dev/null || die "cannot top the customer up"
}

provision_warp() {
	local cus car version
	if [ "$PREPAID" = 1 ]; then
		prepaid_customer
	else
		cus=$(admin_post /customers '{"name": "Bench Telecom"}') || die "cannot create the customer"
	fi
	admin_post /trunks "{\"customer_id\": \"$cus\", \"name\": \"pbx\",
		\"acl\": [{\"cidr\": \"127.0.0.1/32\"}], \"media_mode\": \"bypass\",
		\"cps_limit\": 0, \"channel_limit\": 0}" >/dev/null ||
		die "cannot create the trunk"
	car=$(admin_post /carriers '{"name": "carrier", "cps_limit": 0, "channel_limit": 0}') ||
		die "cannot create the carrier"
	for port in "${GW_PORTS[@]}"; do
		admin_post "/carriers/$car/gateways" "{\"host\": \"127.0.0.1\", \"port\": $port,
			\"transport\": \"udp\", \"priority\": 0, \"weight\": 1}" >/dev/null ||
			die "cannot create a gateway"
	done
	admin_post /routes "{\"prefix\": \"$PREFIX\", \"carriers\": [{\"carrier_id\": \"$car\", \"priority\": 0}]}" \
		>/dev/null || die "cannot create the route"
	version=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(
		"SELECT version FROM config_version").fetchone()[0])' "$TMP/warp.db")
	for _ in $(seq 100); do
		[ "$(metric 'warp_snapshot_version{name="sip_policy"}')" -ge "$version" ] &&
			[ "$(metric 'warp_snapshot_version{name="billing_rating"}')" -ge "$version" ] && return 0
		sleep 0.1
	done
	die "warp's sip snapshot did not reach config version $version"
}

stop_warp() {
	stop_pid "$WARP_PID"
}

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ------------------------------------------------------------------ Kamailio

start_kamailio() {
	local dir=$TMP/kamailio
	mkdir -p "$dir/run"
	KAM_PORT=$(free_port udp)
	sed -e "s|@PORT@|$KAM_PORT|; s|@CHILDREN@|$KAM_CHILDREN|; s|@PREFIX@|$PREFIX|" \
		-e "s|@DIR@|$dir|g; s|@MODULES@|$KAM_MODULES|" "$ROOT/bench/kamailio/kamailio.cfg" >"$dir/kamailio.cfg"
	printf '1 sip:127.0.0.1:%s\n' "${GW_PORTS[@]}" >"$dir/dispatcher.list"
	# group, address, mask, port (0: any), tag.
	printf '1 127.0.0.1 32 0 caller\n' >"$dir/address.list"
	"$KAMAILIO" -c -f "$dir/kamailio.cfg" >"$dir/check.out" 2>&1 ||
		die "kamailio rejects its configuration: $(tail -5 "$dir/check.out")"
	# Shared memory for the transactions and dialogs of a few seconds at the
	# highest rate.
	setsid taskset -c "$PROXY_CPUS" "$KAMAILIO" -DD -E -f "$dir/kamailio.cfg" -Y "$dir/run" \
		-P "$dir/run/kamailio.pid" -w "$dir" -m 512 -M 16 \
		</dev/null >"$dir/stdout" 2>"$dir/stderr" &
	KAM_PID=$!
	for _ in $(seq 100); do
		kill -0 "$KAM_PID" 2>/dev/null || die "kamailio exited: $(tail -5 "$dir/stderr")"
		if ! python3 -c 'import socket, sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.1", int(sys.argv[1])))' \
			"$KAM_PORT" 2>/dev/null; then
			# Bound; the workers that read the socket are forked right after.
			sleep 0.5
			return 0
		fi
		sleep 0.1
	done
	die "kamailio did not bind 127.0.0.1:$KAM_PORT"
}

# ------------------------------------------------------------------ run

build_warp
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
echo "warp: $WARP ($("$WARP" --version 2>/dev/null || echo '?')), [sip] threads = $WARP_THREADS, CPUs $PROXY_CPUS" >&2
echo "kamailio: $("$KAMAILIO" -v | head -1 | cut -d' ' -f2-), $KAM_CHILDREN children, CPUs $PROXY_CPUS" >&2
echo "sipp: $(sipp -v 2>&1 | grep -o 'v[0-9][0-9.]*' | head -1) on CPUs $SIPP_CPUS; steps of $STEP_S s, calls of $CALL_MS ms" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
[ "$PREPAID" = 1 ] && echo "warp: PREPAID=1: every call priced, reserved and settled (decision 0037)" >&2

start_gateways
WARP_BEST=- KAM_BEST=-
if [ "$ONLY" != kamailio ]; then
	start_warp steps
	CPU_OF="$WARP_PID pid"
	step_proxy warp "$WARP_SIP"
	WARP_BEST=$BEST
	stop_warp
fi
if [ "$ONLY" != warp ]; then
	start_kamailio
	CPU_OF="$KAM_PID pgrp"
	step_proxy kamailio "$KAM_PORT"
	KAM_BEST=$BEST
	stop_kamailio
fi

HOLD_LINE="not run"
if [ "$HOLD_CALLS" -gt 0 ]; then
	start_warp hold
	sleep 1
	rss0=$(rss_kib "$WARP_PID")
	echo "hold: warp VmRSS before the calls: $rss0 KiB; $HOLD_CALLS calls at $HOLD_RATE cps, held $HOLD_MS ms" >&2
	run_calls hold "$WARP_SIP" "$HOLD_RATE" "$HOLD_CALLS" "$HOLD_MS" >"$TMP/hold.result" &
	hold_pid=$!
	PIDS+=("$hold_pid")
	peak=0 rss1=0
	# Until every call is up (the gauge at HOLD_CALLS) or the setup time
	# has passed twice over.
	for _ in $(seq $((HOLD_CALLS / HOLD_RATE * 20 + 100))); do
		peak=$(metric warp_sip_active_dialogs)
		[ "$peak" -ge "$HOLD_CALLS" ] && break
		sleep 0.1
	done
	sleep 1
	peak=$(metric warp_sip_active_dialogs)
	rss1=$(rss_kib "$WARP_PID")
	wait "$hold_pid" || true
	read -r rc ok failed created secs retrans sipp_ms <"$TMP/hold.result"
	per_call=$(awk -v a="$rss0" -v b="$rss1" -v n="$peak" 'BEGIN { if (n > 0) printf "%.2f", (b - a) / n; else print "n/a" }')
	HOLD_LINE="$peak calls up at once; VmRSS $rss0 KiB before, $rss1 KiB with them up: $per_call KiB per call; $ok ok, $failed failed of $HOLD_CALLS"
	echo "hold: $HOLD_LINE" >&2
	stop_warp
fi

# The headline: proxy CPU per call, side by side at every rate both proxies
# passed cleanly, and their ratio at the highest such rate.  It does not
# depend on where SIPp runs out, unlike the highest clean CPS below it.
echo
if [ -s "$TMP/warp.steps" ] && [ -s "$TMP/kamailio.steps" ]; then
	cat "$TMP/warp.steps" "$TMP/kamailio.steps" | awk -v max="$MAX_RATE" '/: clean$/ {
		r = $2; for (i = 1; i <= NF; i++) if ($i == "us/call,") us[$1, r] = $(i - 1); n[r]++ }
		END { m = 0
		printf "%-9s %12s %16s %16s\n", "rate", "warp us/call", "kamailio us/call", "kamailio/warp"
		for (r = 1; r <= max; r++) if (n[r] == 2) {
			printf "%5d cps %12d %16d %16.2f\n", r, us["warp", r], us["kamailio", r],
				(us["warp", r] > 0 ? us["kamailio", r] / us["warp", r] : 0)
			m = r }
		if (m > 0 && us["warp", m] > 0)
			printf "HEADLINE proxy CPU per call at %d cps (highest rate both clean): warp %d us, kamailio %d us: kamailio/warp %.2f\n",
				m, us["warp", m], us["kamailio", m], us["kamailio", m] / us["warp", m]
		else print "HEADLINE: no rate both proxies passed cleanly" }'
fi
printf '%-10s %18s  %s\n' proxy "highest clean CPS" "why the stepping stopped"
for p in warp kamailio; do
	best=$WARP_BEST
	[ "$p" = kamailio ] && best=$KAM_BEST
	printf '%-10s %18s  %s\n' "$p" "$best" "$(cut -d: -f2- "$TMP/$p.stop" 2>/dev/null | sed 's/^ //' || echo 'not run')"
done
awk -v w="$WARP_BEST" -v k="$KAM_BEST" 'BEGIN { if (k + 0 > 0 && w + 0 > 0) printf "highest clean CPS warp/kamailio: %.2f\n", w / k }'
if grep -q "SIPp could no longer\|SIPp was saturated" "$TMP/warp.stop" 2>/dev/null; then
	echo "(warp stopped at SIPp's limit, not its own: its highest clean CPS is a floor)"
fi
echo "hold ($HOLD_CALLS through warp): $HOLD_LINE"
