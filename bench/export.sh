#!/usr/bin/env bash
# bench/export.sh — the BigQuery export's throughput (src/export/, decision
# 0039): ROWS CDRs (default 1,000,000) written straight into a fresh SQLite
# store over HOURS closed hours, then exported by `warp run --roles billing`
#   1. to NDJSON load files ([export] mode = files, load = false): from start
#      until the files cursor has every row, files fsynced and renamed;
#   2. through tabledata.insertAll (mode = stream, 500 rows a request) to the
#      local HTTPS server of the tests (tests/integration/bqfake.py --lite:
#      token endpoint with the JWT verified, insertIds counted, rows not
#      checked against the schema so that Python is not what is measured),
#      until the stream cursor has every row and the server has them all
#      once.
# Prints rows/s for each (from warp's start to the cursor's last move) and
# warp's CPU seconds, which on a loaded machine say more than the wall
# clock.  Figures on a shared machine compare only within one run.
#   ROWS=1000000 HOURS=10 bench/export.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WARP=${WARP_BIN:-$ROOT/build/warp}
ROWS=${ROWS:-1000000}
HOURS=${HOURS:-10}
DIR=$(mktemp -d /tmp/warp-bench-export.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT
PORT=$((18000 + RANDOM % 2000))

cat > "$DIR/base.ini" <<INI
[store]
url = sqlite:$DIR/warp.db
[http]
listen = 127.0.0.1:$PORT
threads = 1
[log]
format = json
INI
"$WARP" migrate -c "$DIR/base.ini" > /dev/null

echo "writing $ROWS CDRs over $HOURS hours ..."
python3 - "$DIR/warp.db" "$ROWS" "$HOURS" <<'PY'
import sqlite3, sys, time
db, rows, hours = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hour = 3600 * 1000
start = (int(time.time() * 1000) // hour - hours - 1) * hour
step = hours * hour // rows
c = sqlite3.connect(db)
c.execute("PRAGMA journal_mode = WAL")
def gen():
    for i in range(rows):
        ts = start + i * step
        yield ("cdr_%026d" % i, "%d@bench" % i, "cus_bench%04d" % (i % 1000), "trk_bench",
               "car_bench", "gw_bench", "+15550001111", "4930%07d" % i, "4930%07d" % i,
               "192.0.2.10:5060", ts - 62000, ts - 60000, ts, 60000, 60000, 200, "caller",
               '[{"gateway_id":"gw_bench","code":200,"start_ms":%d}]' % (ts - 62000), 900, ts)
c.executemany("INSERT INTO cdrs (id, call_id, direction, customer_id, trunk_id, carrier_id, "
              "gateway_id, caller, dialed, normalized, source, start_ms, answer_ms, end_ms, "
              "duration_ms, billable_ms, final_code, hangup, attempts, pdd_ms, created_at) "
              "VALUES (?, ?, 'termination', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
              gen())
c.commit()
PY

# The stream's cursor row: "rows_exported updated_at" (0 0 before it has one);
# the time of the last advance, not of this poll, ends the run, so polling
# rarely (a python start costs CPU the exporter shares) costs no precision.
cursor() {
	python3 -c "import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(\"SELECT rows_exported, updated_at FROM export_cursors WHERE stream = ?\", (sys.argv[2],)).fetchone(); print(*(r or (0, 0)))" "$DIR/warp.db" "$1"
}

# run_export NAME STREAM INI: starts warp, waits for ROWS in STREAM, prints the figures.
run_export() {
	local name=$1 stream=$2 ini=$3
	local t0 t1 pid ticks0 ticks1 hz
	hz=$(getconf CLK_TCK)
	local rows=0 at=0
	t0=$(date +%s.%N)
	"$WARP" run -c "$ini" --roles billing > "$DIR/$name.out" 2> "$DIR/$name.err" &
	pid=$!
	while [ "$rows" -lt "$ROWS" ]; do
		kill -0 $pid 2>/dev/null || { echo "warp exited:"; tail -5 "$DIR/$name.err"; exit 1; }
		sleep 0.5
		read -r rows at < <(cursor "$stream")
	done
	t1=$(python3 -c "import sys; print(int(sys.argv[1]) / 1000)" "$at")
	ticks1=$(awk '{print $14 + $15}' /proc/$pid/stat)
	kill -TERM $pid; wait $pid || true
	python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[3]); c=int(sys.argv[5])/int(sys.argv[6]); print('%-8s %9d rows in %6.2f s: %9.0f rows/s; warp CPU %.2f s (%.0f rows per CPU second)' % (sys.argv[4], n, t, n/t, c, n/c))" "$t0" "$t1" "$ROWS" "$name" "$ticks1" "$hz"
}

cp "$DIR/base.ini" "$DIR/files.ini"
cat >> "$DIR/files.ini" <<INI
[export]
enabled = true
mode = files
load = false
tables = cdrs
dir = $DIR/out
settle = 0ms
poll = 50ms
INI
run_export files files:cdrs "$DIR/files.ini"
du -sh "$DIR/out/cdrs" | awk '{print "         files: " $1 " in '"$HOURS"' hourly files"}'

python3 "$ROOT/tests/integration/bqfake.py" --lite "$DIR" > "$DIR/bqfake.port" &
for _ in $(seq 1 100); do [ -s "$DIR/export.ini" ] && break; sleep 0.1; done
cp "$DIR/base.ini" "$DIR/stream.ini"
cat "$DIR/export.ini" >> "$DIR/stream.ini"
run_export stream stream:cdrs "$DIR/stream.ini"
sleep 0.5
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('         server: %(rows)d rows held, %(repeats)d repeats, %(requests)d requests, %(tokens)d token(s), problems %(problems)s' % r)" "$DIR/bqfake.json"
