"""The billing role's BigQuery export (src/export/, decision 0039) against a
local HTTPS server that plays Google's token endpoint and BigQuery
(bqfake.py: it verifies the JWT assertion's signature and claims, the JSON
shapes, the insertIds, the multipart load jobs, and parses every row against
the schema docs/export.md gives).

Rows are written straight into the SQLite store, as the sip role's CDR writer
and the smsc's final moves would.  What is asserted is what BigQuery would
hold: every ready row once, none twice, across a restart and a server that
answers 500 for a while; rows refused in insertErrors quarantined with the
reason (GET /api/v1/export/quarantine); load files that load against the
schema; cursors that resume; the state in /metrics and GET /api/v1/export.
"""
import json
import os
import re
import sqlite3
import subprocess
import time
import uuid

import pytest

import conftest
import pgserver
from apiclient import PSQL, PgRows, _pg_literal
from bqfake import FakeBigQuery

ADMIN = "warp_test-admin-token-export-0123456"
HOUR_MS = 3600 * 1000
DOCS = os.path.join(conftest.ROOT, "docs", "export.md")


def docs_schemas():
    """{table: fields} from the ```json blocks under '### Table `name`'."""
    text = open(DOCS).read()
    return {m.group(1): json.loads(m.group(2)) for m in re.finditer(
        r"### Table `(\w+)`.*?```json\n(.*?)\n```", text, re.S)}


@pytest.fixture
def bq(tmp_path):
    fake = FakeBigQuery(tmp_path, docs_schemas()).start()
    yield fake
    fake.stop()


class Writer:
    """Rows straight into the store warp uses: SQLite by sqlite3, PostgreSQL
    by psql (apiclient.PgRows)."""

    def __init__(self, w, pg_db=None):
        self.path = str(w.tmp / "warp.db")
        self.pg = PgRows(pg_db[0], pg_db[1]) if pg_db else None

    def insert(self, table, cols, rows, tail=""):
        if self.pg:  # one statement, on psql's standard input (too long for -c)
            sql = "INSERT INTO %s (%s) VALUES %s%s;" % (table, ", ".join(cols), ", ".join(
                "(" + ", ".join(_pg_literal(v) for v in r) + ")" for r in rows), tail)
            r = subprocess.run([PSQL, "-X", "-q", "-h", "127.0.0.1", "-p", str(self.pg.port),
                                "-U", pgserver.USER, "-d", self.pg.db, "-v", "ON_ERROR_STOP=1",
                                "-f", "-"], input=sql, capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            return
        with sqlite3.connect(self.path, timeout=10) as c:
            c.execute("PRAGMA busy_timeout = 10000")
            c.executemany("INSERT INTO %s (%s) VALUES (%s)%s" % (
                table, ", ".join(cols), ", ".join("?" * len(cols)), tail), rows)


CDR_COLS = ("id", "call_id", "direction", "customer_id", "caller", "dialed", "normalized",
            "start_ms", "answer_ms", "end_ms", "duration_ms", "billable_ms", "final_code",
            "hangup", "attempts", "created_at")
MSG_COLS = ("id", "group_id", "customer_id", "origin", "source", "destination", "body", "state",
            "expires_at", "created_at", "updated_at")


def new_id(prefix):
    return prefix + "_" + uuid.uuid4().hex[:26]


def add_cdrs(w, n, created_at, given=()):
    """n CDRs written at created_at (+ i ms), the first ones with the given
    ids; returns their ids."""
    ids = [given[i] if i < len(given) else new_id("cdr") for i in range(n)]
    w.writer.insert("cdrs", CDR_COLS, [
        (cid, uuid.uuid4().hex + "@test", "termination", "cus_test", "+15550001111",
         "4930123456", "4930123456", created_at + i - 62000, created_at + i - 60000,
         created_at + i, 60000, 60000, 200, "caller", "[]", created_at + i)
        for i, cid in enumerate(ids)])
    return ids


def add_messages(w, n, updated_at, state="delivered"):
    ids = [new_id("msg") for _ in range(n)]
    w.writer.insert("messages", MSG_COLS, [
        (mid, mid, "cus_test", "http", "WARP", "+4915112345678", "6869", state,
         updated_at + 86400000, updated_at - 5000, updated_at + i) for i, mid in enumerate(ids)])
    return ids


@pytest.fixture(params=["sqlite", "postgres"])
def store(request):
    """None for SQLite, or (url, (port, db)) of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    pg = request.getfixturevalue("postgres")
    name = "exp_" + uuid.uuid4().hex[:12]
    return pg.create_db(name), (pg.port, name)


def start(factory, bq, tmp_path, mode="stream", extra="", store=None, roles="api,billing"):
    """A warp exporting to bq; customer cus_test exists (messages refer to it)."""
    w = factory(extra_ini=bq.ini(tmp_path, mode, extra), args=["--roles", roles],
                env={"WARP_ADMIN_TOKEN": ADMIN}, store_url=store[0] if store else None)
    w.writer = Writer(w, store[1] if store else None)
    w.start()
    w.writer.insert("customers", ("id", "name", "status", "billing_type", "currency",
                                  "created_at", "updated_at"),
                    [("cus_test", "t", "active", "prepaid", "USD", 1, 1)],
                    " ON CONFLICT DO NOTHING")
    return w


def metric(w, name, **labels):
    want = ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
    for line in w.get("/metrics").body.decode().splitlines():
        m = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if m and m.group(1) == name and ",".join(sorted(m.group(2).split(","))) == want:
            return float(m.group(3))
    return None


def admin_get(w, path):
    r = conftest.http("GET", w.base + path, headers={"Authorization": "Bearer " + ADMIN})
    assert r.status == 200, (r.status, r.body)
    return r.json()


def stream_state(w, stream):
    """GET /api/v1/export's entry for stream ({} until it has one)."""
    return {s["stream"]: s for s in admin_get(w, "/api/v1/export")["data"]}.get(
        stream, {"rows_exported": 0})


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_docs_schema_is_what_load_jobs_carry(bq):
    """docs/export.md names every field of both tables, the rated prices
    NULLABLE (filled once the billing role stores them)."""
    schemas = docs_schemas()
    assert set(schemas) == {"cdrs", "messages"}
    for fields in schemas.values():
        byname = {f["name"]: f for f in fields}
        for price in ("sell_price", "buy_cost", "margin"):
            assert byname[price] == {**byname[price], "type": "NUMERIC", "mode": "NULLABLE"}
        assert byname["id"]["mode"] == "REQUIRED"


def test_stream_rows_once_across_restart_and_500s(warp_factory, bq, tmp_path, store):
    # two batches taken, then 500s and 503s, then down (503) until restarted
    bq.insert_answers[:] = [None, None] + [500] * 6 + [503] * 2
    bq.insert_down = 503
    # one request at a time: the script answers the batches in their order
    w = start(warp_factory, bq, tmp_path, extra="batch_rows = 200\ninflight = 1", store=store)
    now = int(time.time() * 1000)
    cdrs = add_cdrs(w, 700, now - 60000)
    msgs = add_messages(w, 150, now - 60000)
    add_messages(w, 20, now - 60000, state="queued")  # not final: stays
    wait_for(lambda: not bq.insert_answers and bq.insert_requests >= 12, what="the failures")
    assert w.stop()[0] == 0
    assert 0 < len(bq.held("cdrs")) + len(bq.held("messages")) <= 400, "two batches so far"
    cdrs += add_cdrs(w, 300, now - 30000)
    bq.insert_down = None

    w2 = start(warp_factory, bq, tmp_path, extra="batch_rows = 200\ninflight = 1", store=store)
    wait_for(lambda: stream_state(w2, "stream:cdrs")["rows_exported"] == 1000 and
             stream_state(w2, "stream:messages")["rows_exported"] == 150, what="every row")
    assert set(bq.held("cdrs")) == set(cdrs) and set(bq.held("messages")) == set(msgs)
    assert bq.repeats == 0, "a row was sent twice"
    assert bq.problems == []
    assert len(bq.tokens) == 2, "one token per process, cached"
    wait_for(lambda: metric(w2, "warp_export_rows_behind", table="cdrs", mode="stream") == 0,
             what="rows behind 0")
    assert metric(w2, "warp_export_last_success_timestamp_seconds", table="cdrs",
                  mode="stream") >= now // 1000 - 5
    state = {s["stream"]: s for s in admin_get(w2, "/api/v1/export")["data"]}
    assert state["stream:cdrs"]["rows_exported"] == 1000
    assert state["stream:cdrs"]["failures"] + state["stream:messages"]["failures"] >= 8, \
        "the 500s and 503s were counted (each lane its own)"
    assert "answered 50" in state["stream:cdrs"]["last_error"]
    assert state["stream:messages"]["rows_exported"] == 150
    row = bq.held("cdrs")[cdrs[0]]
    assert row["start_time"].endswith("Z") and row["billable_ms"] == 60000
    assert "sell_price" not in row, "NULL prices are left out"


def test_stream_requests_in_flight_commit_in_order(warp_factory, bq, tmp_path, store):
    """[export] inflight = 4: a lane's requests go together (the server sees
    four at once); when one of a window fails, the cursor moves past the
    requests before it only, and the rest of the window goes again
    (BigQuery de-duplicates the accepted ones by insertId): every row
    arrives, the cursor counts each once."""
    bq.insert_delay = 0.05
    w = start(warp_factory, bq, tmp_path, extra="tables = cdrs\nbatch_rows = 50\ninflight = 4",
              store=store)
    now = int(time.time() * 1000)
    ids = add_cdrs(w, 1000, now - 60000)
    bq.fail_once_ids.add(ids[660])  # the 14th request: the fourth window's second
    wait_for(lambda: stream_state(w, "stream:cdrs")["rows_exported"] == 1000, what="every row")
    assert set(bq.held("cdrs")) == set(ids) and bq.problems == []
    assert bq.max_in_flight == 4, bq.max_in_flight
    assert metric(w, "warp_export_failures_total", table="cdrs", mode="stream",
                  reason="http_5xx") == 1
    assert metric(w, "warp_export_rows_total", table="cdrs", mode="stream") == 1000
    # the window's requests after the failed one, sent again: at most two
    assert 0 <= bq.repeats <= 100, bq.repeats
    state = {s["stream"]: s for s in admin_get(w, "/api/v1/export")["data"]}
    assert state["stream:cdrs"]["rows_exported"] == 1000


def test_stream_failures_in_metrics(warp_factory, bq, tmp_path):
    bq.insert_answers[:] = [500, 500, 429]
    w = start(warp_factory, bq, tmp_path, extra="tables = cdrs")
    ids = add_cdrs(w, 10, int(time.time() * 1000) - 10000)
    wait_for(lambda: stream_state(w, "stream:cdrs")["rows_exported"] == 10, what="the rows")
    assert set(bq.held("cdrs")) == set(ids)
    assert metric(w, "warp_export_failures_total", table="cdrs", mode="stream",
                  reason="http_5xx") == 2
    assert metric(w, "warp_export_failures_total", table="cdrs", mode="stream",
                  reason="http_429") == 1
    assert metric(w, "warp_export_rows_total", table="cdrs", mode="stream") == 10


def test_stream_insert_errors_quarantined(warp_factory, bq, tmp_path, store):
    w = start(warp_factory, bq, tmp_path, extra="tables = cdrs", store=store)
    bad = [new_id("cdr") for _ in range(3)]
    for i in bad:
        bq.bad_ids[i] = "no such field: zone"
    ids = add_cdrs(w, 40, int(time.time() * 1000) - 10000, given=[
        new_id("cdr") for _ in range(3)] + bad)
    wait_for(lambda: stream_state(w, "stream:cdrs")["rows_exported"] == 37, what="the good rows")
    assert set(bq.held("cdrs")) == set(ids) - set(bad)
    q = admin_get(w, "/api/v1/export/quarantine")["data"]
    assert sorted(x["record_id"] for x in q) == sorted(bad)
    for x in q:
        assert x["reason"] == "invalid: no such field: zone (zone)"
        assert x["table"] == "cdrs" and x["stream"] == "stream:cdrs"
        assert x["row"]["id"] == x["record_id"], "the JSON that was sent is kept"
    assert metric(w, "warp_export_quarantined_total", table="cdrs", mode="stream") == 3
    state = {s["stream"]: s for s in admin_get(w, "/api/v1/export")["data"]}
    assert state["stream:cdrs"]["rows_quarantined"] == 3
    assert state["stream:cdrs"]["rows_exported"] == 37


def test_token_renewed_before_expiry_and_after_401(warp_factory, bq, tmp_path):
    """A token living 2 s is used until 1 s before its end (the margin is
    a minute, or half the lifetime when shorter), then renewed; one the API
    refuses with 401 is dropped at once."""
    bq.expires_in = 2
    w = start(warp_factory, bq, tmp_path, extra="tables = cdrs\nbatch_rows = 10")
    ids = add_cdrs(w, 10, int(time.time() * 1000) - 10000)
    wait_for(lambda: len(bq.held("cdrs")) == 10, what="the first rows")
    assert len(bq.tokens) == 1
    while time.monotonic() - bq.token_times[0] < 1.1:
        time.sleep(0.05)
    ids += add_cdrs(w, 10, int(time.time() * 1000) - 5000)
    wait_for(lambda: len(bq.held("cdrs")) == 20, what="rows after the renewal")
    assert len(bq.tokens) == 2, "renewed before it expired"
    bq.revoked.add(bq.tokens[-1])
    ids += add_cdrs(w, 10, int(time.time() * 1000) - 4000)
    wait_for(lambda: len(bq.held("cdrs")) == 30, what="rows after the 401")
    assert len(bq.tokens) >= 3 and bq.bearers[-1] == bq.tokens[-1]
    assert set(bq.held("cdrs")) == set(ids) and bq.problems == []
    assert metric(w, "warp_export_failures_total", table="cdrs", mode="stream",
                  reason="auth") == 1


def test_export_state_is_for_admins(warp_factory, bq, tmp_path):
    w = start(warp_factory, bq, tmp_path)
    r = conftest.http("GET", w.base + "/api/v1/export")
    assert r.status == 401


def hours_ago(n):
    return (int(time.time() * 1000) // HOUR_MS - n) * HOUR_MS


def ndjson(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_files_load_against_schema_and_jobs(warp_factory, bq, tmp_path, store):
    """Closed hours become one file per table and hour, each loaded by a
    job that goes PENDING, RUNNING, DONE; the open hour waits."""
    w = start(warp_factory, bq, tmp_path, "files", "dir = %s" % (tmp_path / "out"), store)
    h3, h2 = hours_ago(3), hours_ago(2)
    cdrs = add_cdrs(w, 250, h3 + 1000) + add_cdrs(w, 120, h2 + 5)
    msgs = add_messages(w, 30, h2 + 100)
    add_cdrs(w, 5, int(time.time() * 1000))  # this hour: not closed yet
    wait_for(lambda: len(bq.held("cdrs")) == 370 and len(bq.held("messages")) == 30,
             what="the loads")
    assert set(bq.held("cdrs")) == set(cdrs) and set(bq.held("messages")) == set(msgs)
    assert bq.problems == [] and bq.repeats == 0
    for job in bq.jobs.values():
        assert job["states"][:3] == ["PENDING", "RUNNING", "DONE"]
    out = tmp_path / "out" / "cdrs"
    name = time.strftime("%Y%m%d%H", time.gmtime(h3 / 1000))
    lines = ndjson(out / ("cdrs-%s.ndjson" % name))
    assert [r["id"] for r in lines] == cdrs[:250], "in the order they were written"
    assert json.loads((out / "cdrs.schema.json").read_text()) == docs_schemas()["cdrs"]
    assert sorted(os.listdir(out)) == sorted(
        ["cdrs.schema.json", "cdrs-%s.ndjson" % name,
         "cdrs-%s.ndjson" % time.strftime("%Y%m%d%H", time.gmtime(h2 / 1000))])
    wait_for(lambda: {s["stream"]: s for s in admin_get(w, "/api/v1/export")["data"]}
             ["files:cdrs"]["cursor"] == {"ts": h2 + HOUR_MS, "id": ""}, what="the cursor")
    assert metric(w, "warp_export_rows_behind", table="cdrs", mode="files") == 5


def test_files_job_error_result(warp_factory, bq, tmp_path):
    """A backendError is tried again under a new job id; an invalid file is
    quarantined with BigQuery's reason and the cursor moves on."""
    h3, h2 = hours_ago(3), hours_ago(2)
    n3 = time.strftime("%Y%m%d%H", time.gmtime(h3 / 1000))
    n2 = time.strftime("%Y%m%d%H", time.gmtime(h2 / 1000))
    bq.job_errors["warp_billing_cdrs_%s_1" % n3] = {"reason": "backendError", "message": "retry"}
    bq.job_errors["warp_billing_cdrs_%s_1" % n2] = {
        "reason": "invalid", "message": "Error while reading data"}
    w = start(warp_factory, bq, tmp_path, "files", "tables = cdrs\ndir = %s" % (tmp_path / "out"))
    first = add_cdrs(w, 10, h3 + 10)
    add_cdrs(w, 7, h2 + 10)
    later = add_cdrs(w, 4, hours_ago(1) + 10)
    wait_for(lambda: len(bq.held("cdrs")) == 14, what="the loads that succeed")
    assert set(bq.held("cdrs")) == set(first + later)
    assert "warp_billing_cdrs_%s_2" % n3 in bq.jobs
    q = admin_get(w, "/api/v1/export/quarantine")["data"]
    assert len(q) == 1 and q[0]["record_id"].endswith("cdrs-%s.ndjson" % n2)
    assert q[0]["reason"] == "invalid: Error while reading data"
    assert metric(w, "warp_export_failures_total", table="cdrs", mode="files", reason="job") >= 1


def test_files_cursor_resumes_and_job_is_not_run_twice(warp_factory, bq, tmp_path):
    """Stopped while a load job runs: the next process asks about that job
    (its upload is answered 409) and writes only the periods after it."""
    bq.hold_jobs = True
    extra = "tables = cdrs\ndir = %s" % (tmp_path / "out")
    w = start(warp_factory, bq, tmp_path, "files", extra, roles="billing")
    h3 = hours_ago(3)
    first = add_cdrs(w, 20, h3 + 10)
    wait_for(lambda: bq.jobs and list(bq.jobs.values())[0]["gets"] >= 3, what="a running job")
    assert w.stop()[0] == 0
    assert bq.held("cdrs") == {}
    later = add_cdrs(w, 6, hours_ago(2) + 10)
    bq.hold_jobs = False
    w2 = start(warp_factory, bq, tmp_path, "files", extra, roles="billing")
    wait_for(lambda: len(bq.held("cdrs")) == 26, what="both hours")
    assert set(bq.held("cdrs")) == set(first + later)
    n3 = time.strftime("%Y%m%d%H", time.gmtime(h3 / 1000))
    assert bq.job_inserts[:2] == [("warp_billing_cdrs_%s_1" % n3, 200),
                                  ("warp_billing_cdrs_%s_1" % n3, 409)]
    assert len(bq.jobs) == 2 and bq.repeats == 0
