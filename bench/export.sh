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
#   3. the billing role rating RATE_ROWS CDRs (default 200,000; customers
#      with a sell deck, a carrier with a buy deck, made through the API)
#      alone, then the same CDRs again with the export streaming them
#      (stream mode, INFLIGHT requests in flight) and again writing them to
#      files, each on its own copy of the store: the rating's CDRs/s in
#      each, and how far the export got meanwhile.  The issue's rule: the
#      rating must not fall while export runs.
# Before 1 and 2 the billing role's rater takes the CDRs alone, so that those
# two measure the export alone.
# Prints rows/s for each (from warp's start to the cursor's last move) and
# warp's CPU seconds, which on a loaded machine say more than the wall
# clock.  Figures on a shared machine compare only within one run.
#   ROWS=1000000 HOURS=10 BATCH=500 INFLIGHT=4 RATE_ROWS=200000 bench/export.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WARP=${WARP_BIN:-$ROOT/build/warp}
ROWS=${ROWS:-1000000}
HOURS=${HOURS:-10}
BATCH=${BATCH:-500}
INFLIGHT=${INFLIGHT-4} # empty: not set (a warp from before [export] inflight)
RATE_ROWS=${RATE_ROWS:-200000}
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

# The billing role's rater takes every stored CDR first (these CDRs' customers do
# not exist, so it quarantines them), so that the export runs below are not
# sharing the machine with it; phase 3 measures the two together.
echo "letting the rater take the CDRs first ..."
"$WARP" run -c "$DIR/base.ini" --roles billing > /dev/null 2> "$DIR/prerate.err" &
pid=$!
until python3 -c "
import sys, urllib.request
t = urllib.request.urlopen('http://127.0.0.1:$PORT/metrics', timeout=5).read().decode()
n = sum(int(float(l.split()[-1])) for l in t.splitlines()
        if l.startswith(('warp_billing_rated_total{kind=\"cdr\"}',
                         'warp_billing_quarantined_total{kind=\"cdr\"}')))
sys.exit(0 if n >= $ROWS else 1)" 2>/dev/null; do
	kill -0 $pid 2>/dev/null || { echo "warp exited:"; tail -5 "$DIR/prerate.err"; exit 1; }
	sleep 0.5
done
kill -TERM $pid; wait $pid || true

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
printf "batch_rows = %s\n%s\n" "$BATCH" "${INFLIGHT:+inflight = $INFLIGHT}" >> "$DIR/stream.ini"
run_export stream stream:cdrs "$DIR/stream.ini"
sleep 0.5
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('         server: %(rows)d rows held, %(repeats)d repeats, %(requests)d requests, %(tokens)d token(s), problems %(problems)s' % r)" "$DIR/bqfake.json"

# 3. Rating alone, and beside each export mode (RATE_ROWS=0 skips it).
[ "$RATE_ROWS" -gt 0 ] || exit 0
WARP="$WARP" DIR="$DIR" RATE_ROWS="$RATE_ROWS" BATCH="$BATCH" INFLIGHT="$INFLIGHT" \
	python3 - <<'PY'
import json, os, random, shutil, sqlite3, subprocess, sys, time, urllib.request

WARP, DIR, N = os.environ["WARP"], os.environ["DIR"], int(os.environ["RATE_ROWS"])
TOKEN = "bench-admin-token-0123456789abcdef"
RDB = os.path.join(DIR, "rate.db")
rng = random.Random(11)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Warp:
    def __init__(self, db, roles, ini=""):
        self.port = free_port()
        self.ini = os.path.join(DIR, "rate-%d.ini" % self.port)
        with open(self.ini, "w") as f:
            f.write("[store]\nurl = sqlite:%s\n[http]\nlisten = 127.0.0.1:%d\nthreads = 1\n"
                    "[log]\nlevel = warn\n[billing]\nrate_interval = 100ms\n%s" % (
                        db, self.port, ini))
        env = dict(os.environ, WARP_ADMIN_TOKEN=TOKEN)
        self.err = open(self.ini + ".err", "w")
        self.proc = subprocess.Popen([WARP, "run", "-c", self.ini, "--roles", roles], env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        for _ in range(600):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port, timeout=1)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        sys.exit("warp did not start: " + open(self.err.name).read()[-2000:])

    def call(self, method, path, body=None, csv=False):
        data = body if csv else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data,
                                     method=method)
        req.add_header("Authorization", "Bearer " + TOKEN)
        req.add_header("Content-Type", "text/csv" if csv else "application/json")
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read() or b"{}").get("data")

    def metric(self, prefix):
        text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port,
                                      timeout=10).read().decode()
        return sum(int(float(l.split()[-1])) for l in text.splitlines() if l.startswith(prefix))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def deck(w, direction, prefixes, seed):
    r = random.Random(seed)
    csv = "prefix,destination,zone,rate,increments\n" + "".join(
        "%s,Dest %s,Z%s,0.%06d,6/6\n" % (p, p, p[:2], r.randrange(1000, 200000)) for p in prefixes)
    d = w.call("POST", "/api/v1/rate-decks", {"name": direction, "direction": direction,
                                              "currency": "USD"})
    w.call("POST", "/api/v1/rate-decks/%s/versions" % d["id"], csv.encode(), csv=True)
    w.call("POST", "/api/v1/rate-decks/%s/versions/1/activate" % d["id"], {})
    return d["id"]


subprocess.run([WARP, "migrate"], check=True, env=dict(os.environ, WARP_STORE_URL="sqlite:" + RDB),
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
w = Warp(RDB, "api")
prefixes = sorted({str(rng.randrange(1, 10)) + str(rng.randrange(10 ** 4)) for _ in range(5000)})
sell, buy = deck(w, "sell", prefixes, 2), deck(w, "buy", prefixes, 3)
customers = [w.call("POST", "/api/v1/customers", {"name": "c%d" % i, "currency": "USD",
                                                  "sell_deck_id": sell})["id"] for i in range(50)]
carrier = w.call("POST", "/api/v1/carriers", {"name": "bench", "buy_deck_id": buy})["id"]
w.stop()
# Two closed hours, so that files mode has periods to write while the role
# rates; the decks in force since the day before.
HOUR = 3600000
start = (int(time.time() * 1000) // HOUR - 2) * HOUR
step = 2 * HOUR // N
db = sqlite3.connect(RDB)
db.execute("UPDATE rate_deck_versions SET activate_at = ?", (start - 24 * HOUR,))
db.executemany(
    "INSERT INTO cdrs (id, call_id, direction, customer_id, trunk_id, carrier_id, gateway_id, "
    "caller, dialed, normalized, source, start_ms, answer_ms, end_ms, duration_ms, billable_ms, "
    "final_code, hangup, attempts, created_at) VALUES (?1, ?2, 'termination', ?3, 'trk_b', ?4, "
    "'gw_b', '15550001111', ?5, ?5, '192.0.2.1:5060', ?6, ?7, ?8, ?9, ?9, 200, 'caller', '[]', "
    "?10)",
    (("cdr_r%025d" % i, "r%d@bench" % i, customers[i % 50], carrier,
      rng.choice(prefixes) + "%07d" % i, start + i * step, start + i * step + 1000,
      start + i * step + 61000, 60000, start + i * step + 62000) for i in range(N)))
db.commit()
db.close()
stream_ini = open(os.path.join(DIR, "export.ini")).read() + \
    "batch_rows = %s\n" % os.environ["BATCH"] + \
    ("inflight = %s\n" % os.environ["INFLIGHT"] if os.environ["INFLIGHT"] else "")
files_ini = ("[export]\nenabled = true\nmode = files\nload = false\ntables = cdrs\n"
             "dir = %s/rate-out\nsettle = 0ms\npoll = 50ms\nperiod = hour\n" % DIR)
# alone once more at the end: how much the machine's load moves the figures
runs = [("alone", ""), ("stream", stream_ini), ("files", files_ini), ("alone", "")]
for name, ini in runs:
    copy = os.path.join(DIR, "rate-%s-%d.db" % (name, len(os.listdir(DIR))))
    shutil.copy(RDB, copy)
    t0 = time.monotonic()
    w = Warp(copy, "billing", ini)
    while w.metric(('warp_billing_rated_total{kind="cdr"}',
                    'warp_billing_quarantined_total{kind="cdr"}')) < N:
        if w.proc.poll() is not None:
            sys.exit("warp stopped: " + open(w.err.name).read()[-2000:])
        time.sleep(0.05)
    took = time.monotonic() - t0
    exported = w.metric('warp_export_rows_total{')
    w.stop()
    print("rating %-7s %7d CDRs in %6.2f s: %8.0f CDRs/s%s" % (
        name, N, took, N / took,
        "" if name == "alone" else "; %d rows exported meanwhile" % exported))
PY
