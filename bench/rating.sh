#!/usr/bin/env bash
# bench/rating.sh — WARP's billing role rating stored CDRs, next to the same
# rating done the way home-grown billing does it: one SQL UPDATE … FROM
# with a longest-prefix join in PostgreSQL.  Same machine, one run.
#
# 1. Deck import: a 100,000-row CSV posted to POST
#    /api/v1/rate-decks/{id}/versions (warp --roles api, SQLite), timed from
#    the request to its 201.
# 2. WARP: a sell deck and a buy deck of BENCH_PREFIXES prefixes each
#    (imported and assigned through the API), BENCH_CDRS answered CDRs
#    written into the SQLite store as the SIP role's writer writes them
#    (each numbered into a random deck prefix, durations 1..600 s, over
#    BENCH_CUSTOMERS postpaid customers), then `warp run --roles billing`
#    started and timed until no CDR is pending: every CDR priced (sell, buy,
#    margin, zone, deck versions written to cdr_ratings) and charged (one
#    ledger entry each), i.e. the role end to end, start-up included.  CPU
#    is the warp process's (all threads) over that time.
# 3. SQL: the same CDRs and decks copied into a throwaway PostgreSQL 15
#    (tests/integration/pgserver.py), decks indexed by prefix, then one
#    UPDATE … FROM that finds each CDR's longest sell and buy prefixes
#    (every prefix of the number joined on the index, DISTINCT ON the
#    longest) and computes the same prices (fee + ceil(rate * billable /
#    60), increments and minimum applied) — without a ledger.  Parallel
#    query off (one backend, as the role is one thread); CPU is that
#    backend's.
#
# Prints rows/s both ways, the ratio, CPU per CDR, and the import time.
# Targets (issue 10): >= 100,000 CDRs/s on SQLite end to end, >= 10x the
# SQL approach, a 100,000-row import <= 5 s.  Missing one is reported, not
# an error; the script fails only when something does not work.  Figures
# taken on a shared machine are not quiet ones (docs/BENCHMARKS.md).
#
# Tunables (environment):
#   WARP_BUILD       build folder (default build-release; set up with
#                    -Dbuildtype=release when missing)
#   WARP_BIN         use this warp binary as is instead
#   BENCH_CDRS       CDRs (default 1000000)
#   BENCH_PREFIXES   prefixes per deck (default 50000)
#   BENCH_IMPORT_ROWS rows of the import test (default 100000)
#   BENCH_CUSTOMERS  customers the CDRs are spread over (default 100)
#   BENCH_BATCH      [billing] rate_batch (default 20000: larger batches write
#                    each touched page once for more rows; the default 1000
#                    keeps the SQLite write lock short for the other writers)
#   BENCH_SQL        1 (default) to run the PostgreSQL side, 0 to skip it
#   WARP_WRAP        a command the rating warp runs under, for profiling (e.g.
#                    "perf record -g -o /tmp/rating.perf"; its CPU is then
#                    not warp's alone)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${WARP_BUILD:-build-release}
export BENCH_CDRS=${BENCH_CDRS:-1000000}
export BENCH_PREFIXES=${BENCH_PREFIXES:-50000}
export BENCH_IMPORT_ROWS=${BENCH_IMPORT_ROWS:-100000}
export BENCH_CUSTOMERS=${BENCH_CUSTOMERS:-100}
export BENCH_BATCH=${BENCH_BATCH:-20000}
export BENCH_SQL=${BENCH_SQL:-1}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

for tool in curl python3; do
	command -v "$tool" >/dev/null || die "$tool missing (scripts/install-deps --test)"
done
build_warp
export WARP ROOT

TMP=$(mktemp -d /tmp/warp-ratingbench.XXXXXX)
chmod 755 "$TMP"
export TMP
trap 'rm -rf "$TMP"' EXIT

python3 - <<'PY'
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ["ROOT"], "tests", "integration"))

WARP, TMP = os.environ["WARP"], os.environ["TMP"]
NCDRS = int(os.environ["BENCH_CDRS"])
NPREFIXES = int(os.environ["BENCH_PREFIXES"])
NIMPORT = int(os.environ["BENCH_IMPORT_ROWS"])
NCUST = int(os.environ["BENCH_CUSTOMERS"])
BATCH = os.environ["BENCH_BATCH"]
TOKEN = "bench-admin-token-0123456789abcdef"
DB = os.path.join(TMP, "warp.db")
TICK = os.sysconf("SC_CLK_TCK")
rng = random.Random(10)
ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


class Warp:
    def __init__(self, roles, wrap=()):
        self.port = free_port()
        env = dict(os.environ, WARP_ADMIN_TOKEN=TOKEN, WARP_STORE_URL="sqlite:" + DB,
                   WARP_HTTP_LISTEN="127.0.0.1:%d" % self.port, WARP_LOG_LEVEL="warn",
                   WARP_HTTP_MAX_BODY=str(64 << 20), WARP_BILLING_RATE_BATCH=BATCH,
                   WARP_BILLING_RATE_INTERVAL="100ms")
        self.err = open(os.path.join(TMP, "warp-%s.err" % roles), "w")
        self.proc = subprocess.Popen(list(wrap) + [WARP, "run", "--roles", roles], env=env,
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

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)


def rated_metric(w):
    """CDRs the role has written (rated or quarantined), from /metrics."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % w.port, timeout=10).read()
    n = 0
    for line in text.decode().splitlines():
        if line.startswith(('warp_billing_rated_total{kind="cdr"}',
                            'warp_billing_quarantined_total{kind="cdr"}')):
            n += int(float(line.split()[-1]))
    return n


def deck_csv(prefixes, seed):
    r = random.Random(seed)
    lines = ["prefix,destination,zone,rate,increments,connection_fee,min_duration"]
    for p in prefixes:
        inc = r.choice(("60/60", "6/6", "1/1", "30/6"))
        lines.append("%s,Dest %s,Z%s,0.%06d,%s,0.%06d,%d" % (
            p, p, p[:2], r.randrange(1000, 200000), inc, r.choice((0, 0, 5000)),
            r.choice((0, 0, 10))))
    return ("\n".join(lines) + "\n").encode()


def make_prefixes(n):
    seen = set()
    while len(seen) < n:
        seen.add(str(rng.randrange(1, 10)) + "".join(
            str(rng.randrange(10)) for _ in range(rng.randrange(1, 7))))
    return sorted(seen)


def import_deck(w, direction, csv):
    d = w.call("POST", "/api/v1/rate-decks", {"name": "bench", "direction": direction,
                                              "currency": "USD"})
    t = time.monotonic()
    w.call("POST", "/api/v1/rate-decks/%s/versions" % d["id"], csv, csv=True)
    took = time.monotonic() - t
    w.call("POST", "/api/v1/rate-decks/%s/versions/1/activate" % d["id"], {})
    return d["id"], took


# ---------------------------------------------------------- provisioning
subprocess.run([WARP, "migrate"], check=True, env=dict(os.environ, WARP_STORE_URL="sqlite:" + DB),
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
w = Warp("api")
_, import_s = import_deck(w, "sell", deck_csv(make_prefixes(NIMPORT), 1))
prefixes = make_prefixes(NPREFIXES)
sell, _ = import_deck(w, "sell", deck_csv(prefixes, 2))
buy, _ = import_deck(w, "buy", deck_csv(prefixes, 3))
customers = [w.call("POST", "/api/v1/customers", {"name": "c%d" % i, "currency": "USD",
                                                  "billing_type": "postpaid",
                                                  "sell_deck_id": sell})["id"]
             for i in range(NCUST)]
carrier = w.call("POST", "/api/v1/carriers", {"name": "bench", "buy_deck_id": buy})["id"]
w.stop()

# ---------------------------------------------------------------- CDRs
start = int(time.time() * 1000) + 1000
rows = []
for i in range(NCDRS):
    number = rng.choice(prefixes) + "".join(str(rng.randrange(10)) for _ in range(8))
    dur = rng.randrange(1000, 600000)
    t = start + i
    # ids as the SIP role makes them (id_new: random), so the store's
    # indexes take the CDRs in no particular order
    rows.append(("cdr_" + "".join(rng.choice(ALPHABET) for _ in range(26)), "call%d@bench" % i, customers[i % NCUST], carrier, number,
                 t, t + 1000, t + 1000 + dur, dur, (dur + 999) // 1000 * 1000, t))
db = sqlite3.connect(DB)
db.executemany(
    "INSERT INTO cdrs (id, call_id, direction, customer_id, trunk_id, carrier_id, gateway_id, "
    "caller, dialed, normalized, source, start_ms, answer_ms, end_ms, duration_ms, billable_ms, "
    "final_code, hangup, attempts, created_at) VALUES (?1, ?2, 'termination', ?3, 'trk_b', ?4, "
    "'gw_b', '15550001111', ?5, ?5, '192.0.2.1:5060', ?6, ?7, ?8, ?9, ?10, 200, 'caller', '[]', "
    "?11)", rows)
db.commit()
db.close()
time.sleep(1.1)  # the CDRs start after the decks took effect

# ---------------------------------------------------------------- WARP
t0 = time.monotonic()
w = Warp("billing", os.environ.get("WARP_WRAP", "").split())
# Progress from /metrics, not from the database: a reader polling the
# store would hold back SQLite's checkpoints and grow the WAL.
while rated_metric(w) < NCDRS:
    if w.proc.poll() is not None:
        sys.exit("warp stopped: " + open(w.err.name).read()[-2000:])
    time.sleep(0.1)
warp_s = time.monotonic() - t0
warp_cpu = cpu_ticks(w.proc.pid) / TICK
w.stop()
ro = sqlite3.connect("file:%s?mode=ro" % DB, uri=True, timeout=30)
rated = ro.execute("SELECT COUNT(*) FROM cdr_ratings WHERE state = 'rated'").fetchone()[0]
entries = ro.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0]
# what the ledger took is what the ratings say, whatever entries it took it in
charged = ro.execute("SELECT COALESCE(-SUM(amount), 0) FROM ledger_entries").fetchone()[0]
sold = ro.execute("SELECT COALESCE(SUM(sell), 0) FROM cdr_ratings WHERE state = 'rated'"
                  ).fetchone()[0]
check = ro.execute("SELECT sell, buy, zone FROM cdr_ratings WHERE cdr_id = ?",
                   (rows[0][0],)).fetchone()
ro.close()
if rated != NCDRS or charged != sold or not entries:
    sys.exit("warp rated %d of %d CDRs and charged %d of their %d in %d entries" % (
        rated, NCDRS, charged, sold, entries))

# ----------------------------------------------------------------- SQL
sql_s = sql_cpu = None
if os.environ["BENCH_SQL"] == "1" and os.path.isdir("/usr/lib/postgresql/15/bin"):
    import pgserver
    with pgserver.running() as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", port,
                "-U", pgserver.USER, pgserver.DB]

        def copy(table, cols, data):
            text = "".join("\t".join(str(v) for v in r) + "\n" for r in data)
            subprocess.run(psql + ["-c", "COPY %s (%s) FROM STDIN" % (table, cols)],
                           input=text.encode(), check=True)

        subprocess.run(psql, check=True, input=b"""
CREATE TABLE deck (side TEXT, prefix TEXT, rate BIGINT, fee BIGINT, initial_s INT,
  increment_s INT, min_s INT, zone TEXT);
CREATE TABLE cdrs (id TEXT PRIMARY KEY, number TEXT, start_ms BIGINT, duration_ms BIGINT,
  sell BIGINT, buy BIGINT, margin BIGINT, zone TEXT);
""")
        deck_rows = []
        for side, seed in (("sell", 2), ("buy", 3)):
            for line in deck_csv(prefixes, seed).decode().splitlines()[1:]:
                p, _, zone, rate, inc, fee, mn = line.split(",")
                a, b = inc.split("/")
                deck_rows.append((side, p, int(rate.split(".")[1]), int(fee.split(".")[1]), a, b,
                                  mn, zone))
        copy("deck", "side, prefix, rate, fee, initial_s, increment_s, min_s, zone", deck_rows)
        copy("cdrs", "id, number, start_ms, duration_ms", ((r[0], r[4], r[5], r[8]) for r in rows))
        subprocess.run(psql, check=True, input=b"""
CREATE INDEX deck_prefix ON deck (side, prefix);
VACUUM ANALYZE deck;
VACUUM ANALYZE cdrs;
""")
        # The home-grown rating: every prefix of the number looked up, the
        # longest kept, the billable seconds and costs computed in SQL.
        update = """
SET max_parallel_workers_per_gather = 0;
\\pset tuples_only on
\\pset format unaligned
\\o %(tmp)s/pg-pid
SELECT pg_backend_pid();
\\o
\\! cat /proc/$(cat %(tmp)s/pg-pid)/stat > %(tmp)s/pg-before
UPDATE cdrs c SET sell = m.sell, buy = m.buy, margin = m.sell - m.buy, zone = m.zone
FROM (
  SELECT s.id, s.zone,
    s.fee + (s.rate * s.bill::bigint + 59) / 60 AS sell,
    b.fee + (b.rate * b.bill::bigint + 59) / 60 AS buy
  FROM (
    SELECT DISTINCT ON (c.id) c.id, d.rate, d.fee, d.zone,
      CASE WHEN greatest(ceil(c.duration_ms / 1000.0), d.min_s) <= d.initial_s THEN d.initial_s
        ELSE d.initial_s + ceil((greatest(ceil(c.duration_ms / 1000.0), d.min_s) - d.initial_s)
          / d.increment_s::numeric) * d.increment_s END AS bill
    FROM cdrs c CROSS JOIN LATERAL generate_series(1, length(c.number)) k(n)
    JOIN deck d ON d.side = 'sell' AND d.prefix = left(c.number, k.n)
    ORDER BY c.id, k.n DESC) s
  JOIN (
    SELECT DISTINCT ON (c.id) c.id, d.rate, d.fee,
      CASE WHEN greatest(ceil(c.duration_ms / 1000.0), d.min_s) <= d.initial_s THEN d.initial_s
        ELSE d.initial_s + ceil((greatest(ceil(c.duration_ms / 1000.0), d.min_s) - d.initial_s)
          / d.increment_s::numeric) * d.increment_s END AS bill
    FROM cdrs c CROSS JOIN LATERAL generate_series(1, length(c.number)) k(n)
    JOIN deck d ON d.side = 'buy' AND d.prefix = left(c.number, k.n)
    ORDER BY c.id, k.n DESC) b ON b.id = s.id
) m WHERE m.id = c.id;
\\! cat /proc/$(cat %(tmp)s/pg-pid)/stat > %(tmp)s/pg-after
""" % {"tmp": TMP}
        t = time.monotonic()
        subprocess.run(psql, check=True, input=update.encode())
        sql_s = time.monotonic() - t

        def stat_ticks(path):
            f = open(path).read().rsplit(")", 1)[1].split()
            return int(f[11]) + int(f[12])
        sql_cpu = (stat_ticks(TMP + "/pg-after") - stat_ticks(TMP + "/pg-before")) / TICK
        out = subprocess.run(psql + ["-At", "-c", "SELECT sell, buy, zone FROM cdrs WHERE id = "
                                     "'%s'" % rows[0][0]], check=True, capture_output=True)
        got = tuple(out.stdout.decode().strip().split("|"))
        want = tuple(str(v) for v in check)
        if got != want:
            sys.exit("the two ratings differ for the first CDR: warp %s, SQL %s" % (want, got))

# -------------------------------------------------------------- report
print("rating %d CDRs against %d-prefix sell and buy decks (%d customers, batch %s)" % (
    NCDRS, NPREFIXES, NCUST, BATCH))
wr = NCDRS / warp_s
print("  warp billing role (SQLite, rated + charged): %.1f s, %d CDRs/s, CPU %.1f us/CDR, "
      "%d ledger entries" % (warp_s, wr, warp_cpu * 1e6 / NCDRS, entries))
if sql_s:
    sr = NCDRS / sql_s
    print("  SQL UPDATE ... FROM longest prefix (PostgreSQL, no ledger): %.1f s, %d CDRs/s, "
          "CPU %.1f us/CDR" % (sql_s, sr, sql_cpu * 1e6 / NCDRS))
    print("  ratio warp / SQL: %.2fx (target >= 10x)" % (wr / sr))
print("  target >= 100,000 CDRs/s end to end: %s" % ("met" if wr >= 100000 else "NOT met"))
print("deck import of %d rows: %.2f s (target <= 5 s: %s)" % (
    NIMPORT, import_s, "met" if import_s <= 5 else "NOT met"))
PY
