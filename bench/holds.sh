#!/usr/bin/env bash
# bench/holds.sh — what holding messages over a US 10DLC throughput limit
# costs (decision 0050): HOLD messages held in the queue must leave WARP's
# CPU idle while they wait, as the issue asks (100,000 by default).
#
# One WARP (--roles api,smsc, SQLite) with one SMPP connector to
# bench/smppsink, a customer whose US long code 14155550100 is bound to an
# active campaign limited to LIMIT messages a window toward AT&T
# (throughput {"att": {"sms_tpm": LIMIT}}; [tendlc] throughput_window
# 60s, AT&T's minute), and the portability table placing 121… on AT&T.
# bench/smppload submits HOLD + LIMIT messages from that number to
# 121 + 8 digits at RATE a second: LIMIT go at once, HOLD are held (each
# written back once, 'queued' with hold_reason and the window it is
# promised to).  Measured, as WARP's CPU (user + system, all threads, from
# /proc):
#   1. hold: from the first submit until the store holds HOLD held rows;
#      CPU per held message (accepting it, storing it, leasing it, holding it).
#   2. idle with HOLD held: CPU over IDLE_S seconds, as % of one CPU (a
#      window that opens meanwhile sends its LIMIT: that is in it).
#   3. idle with none: the same WARP after the held rows are deleted (the
#      queue empty), over IDLE_S: the floor the held messages add to.
# Prints one RESULT line.  The figures of a loaded machine compare 2 and 3
# of one run only; it fails when something does not start.
#
# Environment: HOLD (100000), LIMIT (100), RATE (5000), IDLE_S (30),
# BUILD (build folder, default build-release), WARP_BIN (a warp to use).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build-release}
HOLD=${HOLD:-100000}
LIMIT=${LIMIT:-100}
RATE=${RATE:-5000}
IDLE_S=${IDLE_S:-30}
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do pid_stop "$p" 20; done
	rm -rf "$TMP"
}
trap cleanup EXIT

build_warp
[ -d "$ROOT/$BUILD" ] || BUILD=$(dirname "$(dirname "$WARP")")
ninja -C "$ROOT/$BUILD" bench/smppsink bench/smppload >/dev/null || die "bench tools did not build"
SINK_BIN=$ROOT/$BUILD/bench/smppsink
LOAD_BIN=$ROOT/$BUILD/bench/smppload
ADMIN_TOKEN=holds-bench-admin-token-0123456789

"$SINK_BIN" >"$TMP/sink.out" 2>"$TMP/sink.err" &
PIDS+=($!)
for _ in $(seq 50); do
	SINK_PORT=$(sed -n 's/.*port=\([0-9]*\).*/\1/p' "$TMP/sink.out" | head -1)
	[ -n "$SINK_PORT" ] && break
	sleep 0.1
done
[ -n "${SINK_PORT:-}" ] || die "smppsink did not start"

WARP_HTTP=$(free_port tcp)
WARP_SMSC=$(free_port tcp)
DB=$TMP/warp.db
cat >"$TMP/warp.ini" <<EOF
[store]
url = sqlite:$DB
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
(cd "$TMP" && WARP_ADMIN_TOKEN=$ADMIN_TOKEN exec "$WARP" run -c "$TMP/warp.ini" --roles api,smsc) \
	>"$TMP/warp.out" 2>"$TMP/warp.err" &
WARP_PID=$!
PIDS+=("$WARP_PID")
wait_http "http://127.0.0.1:$WARP_HTTP/healthz" "$WARP_PID" || die "warp did not start: $(tail -5 "$TMP/warp.err")"

api() { # api PATH JSON [FIELD]: POSTs as admin, prints the created object's FIELD (id)
	curl -fsS --max-time 10 -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' \
		-d "$2" "http://127.0.0.1:$WARP_HTTP/api/v1$1" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["data"][sys.argv[1]])' "${3:-id}"
}

cus=$(api /customers '{"name": "Holds Bench"}')
car=$(api /carriers '{"name": "att upstream"}')
api /smpp-connectors "{\"carrier_id\": \"$car\", \"name\": \"sink\", \"host\": \"127.0.0.1\",
	\"port\": $SINK_PORT, \"system_id\": \"warp\", \"password\": \"pw\", \"window\": 100}" >/dev/null
api /message-routes "{\"prefix\": \"1\", \"carriers\": [{\"carrier_id\": \"$car\", \"priority\": 0}]}" >/dev/null
api /smpp-accounts "{\"customer_id\": \"$cus\", \"system_id\": \"bench\", \"password\": \"pw\",
	\"allowed_cidrs\": [\"127.0.0.1/32\"], \"throughput\": 100000, \"burst\": 100000, \"window\": 1000}" >/dev/null
num=$(api /numbers "{\"customer_id\": \"$cus\", \"e164\": \"+14155550100\", \"sms\": true}")
brd=$(api /brands "{\"customer_id\": \"$cus\", \"legal_name\": \"Bench Inc.\", \"ein\": \"12-3456789\",
	\"vertical\": \"RETAIL\", \"status\": \"verified\"}")
cmp=$(api /campaigns "{\"customer_id\": \"$cus\", \"brand_id\": \"$brd\", \"use_case\": \"MARKETING\",
	\"help_text\": \"help\", \"opt_out_text\": \"stopped\", \"status\": \"active\",
	\"throughput\": {\"att\": {\"sms_tpm\": $LIMIT}}}")
api "/campaigns/$cmp/numbers" "{\"customer_id\": \"$cus\", \"number_id\": \"$num\"}" >/dev/null
printf 'prefix,carrier\n121,att\n' | curl -fsS -o /dev/null --max-time 10 -H "Authorization: Bearer $ADMIN_TOKEN" \
	-H 'Content-Type: text/csv' --data-binary @- "http://127.0.0.1:$WARP_HTTP/api/v1/carrier-prefix-imports"
sleep 1 # snapshots rebuilt, the connector bound

# count WHERE: rows of the messages table.
count() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
print(c.execute("SELECT count(*) FROM messages WHERE " + sys.argv[2]).fetchone()[0])' "$DB" "$1"
}
held() { count "state = 'queued' AND hold_reason IS NOT NULL"; }
hz=$(getconf CLK_TCK)
total=$(((HOLD + LIMIT) * 110 / 100)) # pacing falls short of the rate on a loaded machine
t0=$(date +%s.%N)
c0=$(pid_cpu_ticks "$WARP_PID")
"$LOAD_BIN" -p "$WARP_SMSC" -u bench -w pw -s 14155550100 -P "" -t 121 -W 200 -r "$RATE" \
	-d $((total * 1000 / RATE)) -D 1000 >"$TMP/load.out" 2>&1 || true
for _ in $(seq 600); do # every accepted message sent or held
	[ "$(count "state IN ('accepted', 'queued') AND (hold_reason IS NULL OR lease_until > 0)")" = 0 ] && break
	sleep 0.5
done
n=$(held)
t1=$(date +%s.%N)
c1=$(pid_cpu_ticks "$WARP_PID")
[ "$n" -ge "$HOLD" ] || die "only $n held: $(grep RESULT "$TMP/load.out")"
sleep 2 # the last writes settle
c2=$(pid_cpu_ticks "$WARP_PID")
sleep "$IDLE_S"
c3=$(pid_cpu_ticks "$WARP_PID")
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=10)
c.execute("DELETE FROM messages"); c.commit()' "$DB"
sleep 2
c4=$(pid_cpu_ticks "$WARP_PID")
sleep "$IDLE_S"
c5=$(pid_cpu_ticks "$WARP_PID")

python3 - "$hz" "$n" "$t0" "$t1" "$c0" "$c1" "$c2" "$c3" "$c4" "$c5" "$IDLE_S" "$(grep RESULT "$TMP/load.out")" <<'EOF'
import sys
hz, n = int(sys.argv[1]), int(sys.argv[2])
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
c0, c1, c2, c3, c4, c5 = (int(x) for x in sys.argv[5:11])
idle = float(sys.argv[11])
print("RESULT held=%d hold_s=%.1f hold_us_per_msg=%.0f idle_held_cpu_pct=%.2f idle_empty_cpu_pct=%.2f"
      % (n, t1 - t0, (c1 - c0) / hz / n * 1e6, (c3 - c2) / hz / idle * 100,
         (c5 - c4) / hz / idle * 100))
print("load: " + sys.argv[12])
EOF
