"""A local HTTPS server that plays Google's OAuth 2.0 token endpoint and the
BigQuery API parts WARP's export uses (src/export/), checking every request
against the documented wire formats and recording what it took:

- POST /token: the jwt-bearer grant (RFC 7523 §2.1); the assertion's RS256
  signature is verified with the public half of the service-account key this
  module made, and its claims (iss, scope, aud, iat, exp) are checked;
- POST .../datasets/D/tables/T/insertAll: the JSON shape, insertId = the
  row's id, every row against the table's schema; answers as scripted
  (statuses first, then 200 with insertErrors for the chosen ids);
- POST /upload/bigquery/v2/projects/P/jobs?uploadType=multipart: the
  multipart/related body (job JSON, then the NDJSON file), every line parsed
  against the schema the job carries; 409 for a job id it has;
- GET .../jobs/ID: PENDING, RUNNING, then DONE (with a scripted errorResult).

Certificates and keys are made with the openssl command line in the test's
folder.  Rows taken are kept by insertId per table, as BigQuery's
de-duplication would, and every repeat is counted.
"""
import base64
import email.parser
import email.policy
import http.server
import json
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

SCOPE = "https://www.googleapis.com/auth/bigquery"
PROJECT = "warp-test"
DATASET = "billing"
EMAIL = "exporter@warp-test.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"

TYPES = {"STRING": str, "INTEGER": int, "TIMESTAMP": str, "NUMERIC": str}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
NUMERIC_RE = re.compile(r"^-?\d+\.\d{6}$")


def b64url_decode(s):
    assert "=" not in s, "base64url must not be padded (RFC 7515 §2)"
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def check_row(row, fields):
    """Raises AssertionError unless row is a JSON object BigQuery would read
    against the schema fields: known names, types, REQUIRED present."""
    byname = {f["name"]: f for f in fields}
    assert isinstance(row, dict), row
    for name, value in row.items():
        assert name in byname, "unknown field %s" % name
        f = byname[name]
        assert value is not None, "%s: null is sent as a missing field" % name
        assert isinstance(value, TYPES[f["type"]]) and not isinstance(value, bool), (name, value)
        if f["type"] == "TIMESTAMP":
            assert TS_RE.match(value), (name, value)
        if f["type"] == "NUMERIC":
            assert NUMERIC_RE.match(value), (name, value)
    for f in fields:
        if f["mode"] == "REQUIRED":
            assert f["name"] in row, "missing REQUIRED %s" % f["name"]


def make_certs(folder):
    """(cert.pem, key file JSON path, public key) in folder."""
    cert, key = folder / "bq-cert.pem", folder / "bq-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    sa_pem = folder / "sa.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", str(sa_pem)], check=True, capture_output=True)
    private = serialization.load_pem_private_key(sa_pem.read_bytes(), password=None)
    return cert, key, sa_pem.read_text(), private.public_key()


class FakeBigQuery:
    def __init__(self, folder, schemas, expires_in=3600):
        self.cert, self.key, self.sa_pem, self.public = make_certs(folder)
        self.schemas = schemas  # table: fields
        self.expires_in = expires_in
        self.lock = threading.Lock()
        self.tokens = []  # access tokens issued
        self.revoked = set()  # tokens answered 401 from now on
        self.bearers = []  # the token of each API request, in order
        self.token_claims = []
        self.token_times = []  # when each was issued (monotonic)
        self.rows = {}  # table: {insertId: row}
        self.repeats = 0  # rows taken again under an insertId already held
        self.insert_requests = 0
        self.insert_answers = []  # statuses for the next insertAll requests (None: as usual)
        self.insert_down = None  # a status for every insertAll request while set
        self.fail_once_ids = set()  # a request holding one of these: 500, once per id
        self.insert_delay = 0.0  # seconds each insertAll takes before it answers
        self.lite = False  # main(): --lite
        self.in_flight = self.max_in_flight = 0  # insertAll requests being answered
        self.bad_ids = {}  # id: message -> insertErrors
        self.jobs = {}  # job id: {"table", "lines", "gets", "error"}
        self.job_inserts = []  # (job id, status answered)
        self.job_errors = {}  # job id: errorResult to end with
        self.hold_jobs = False  # jobs stay RUNNING while set
        self.problems = []  # what a check refused (the test asserts none)
        self.server = None

    # ------------------------------------------------------------ setup

    def start(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                # headers and body are two writes: without this, Nagle holds
                # the body until the client's delayed ACK (40 ms a request)
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def reply(self, status, obj):
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def body(self):
                return self.rfile.read(int(self.headers.get("Content-Length", "0")))

            def authorized(self):
                auth = self.headers.get("Authorization", "")
                with fake.lock:
                    ok = (auth.startswith("Bearer ") and auth[7:] in fake.tokens and
                          auth[7:] not in fake.revoked)
                    fake.bearers.append(auth[7:])
                if not ok:
                    self.reply(401, {"error": {"code": 401, "message": "bad token"}})
                return ok

            def do_POST(self):
                data = self.body()
                try:
                    if self.path == "/token":
                        return self.reply(*fake.token(self.headers, data))
                    if not self.authorized():
                        return None
                    if self.path.endswith("/insertAll"):
                        return self.reply(*fake.insert_all(self.path, self.headers, data))
                    if self.path.startswith("/upload/bigquery/v2/projects/%s/jobs" % PROJECT):
                        return self.reply(*fake.job_insert(self.path, self.headers, data))
                except Exception as e:  # a check refused it: the test fails on problems
                    with fake.lock:
                        fake.problems.append("%s: %r" % (self.path, e))
                    return self.reply(400, {"error": {"code": 400, "message": str(e)}})
                return self.reply(404, {"error": {"code": 404}})

            def do_GET(self):
                if not self.authorized():
                    return None
                m = re.match(r"^/bigquery/v2/projects/%s/jobs/([A-Za-z0-9_-]+)$" % PROJECT,
                             self.path)
                return self.reply(*fake.job_get(m.group(1))) if m else self.reply(404, {})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = "https://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def key_file(self, folder):
        path = folder / "service-account.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": PROJECT, "private_key_id": KEY_ID,
            "private_key": self.sa_pem, "client_email": EMAIL, "client_id": "1234567890",
            "token_uri": self.base + "/token"}))
        return path

    def ini(self, folder, mode, extra=""):
        return ("[export]\nenabled = true\nmode = %s\nproject = %s\ndataset = %s\n"
                "key_file = %s\napi_url = %s\nupload_url = %s/upload\nca_file = %s\n"
                "poll = 50ms\nsettle = 0ms\nbackoff_base = 50ms\nbackoff_max = 400ms\n"
                "job_poll = 20ms\ntimeout = 5s\n%s\n" % (
                    mode, PROJECT, DATASET, self.key_file(folder), self.base, self.base,
                    self.cert, extra))

    # ----------------------------------------------------------- token

    def token(self, headers, data):
        assert headers.get("Content-Type") == "application/x-www-form-urlencoded"
        form = urllib.parse.parse_qs(data.decode(), strict_parsing=True)
        assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"], form
        head64, claims64, sig64 = form["assertion"][0].split(".")
        head = json.loads(b64url_decode(head64))
        assert head == {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}, head
        self.public.verify(b64url_decode(sig64), (head64 + "." + claims64).encode(),
                           padding.PKCS1v15(), hashes.SHA256())
        claims = json.loads(b64url_decode(claims64))
        now = time.time()
        assert claims["iss"] == EMAIL and claims["scope"] == SCOPE, claims
        assert claims["aud"] == self.base + "/token", claims
        assert abs(claims["iat"] - now) < 60 and claims["exp"] == claims["iat"] + 3600, claims
        with self.lock:
            tok = "ya29.test-%d" % len(self.tokens)
            self.tokens.append(tok)
            self.token_claims.append(claims)
            self.token_times.append(time.monotonic())
        return 200, {"access_token": tok, "expires_in": self.expires_in, "token_type": "Bearer"}

    # ------------------------------------------------------- insertAll

    def insert_all(self, path, headers, data):
        m = re.match(r"^/bigquery/v2/projects/%s/datasets/%s/tables/(\w+)/insertAll$"
                     % (PROJECT, DATASET), path)
        assert m and m.group(1) in self.schemas, path
        table = m.group(1)
        assert headers.get("Content-Type") == "application/json"
        if self.lite:  # the benchmark's: insertIds counted, the JSON not parsed
            assert data.startswith(b'{"kind":"bigquery#tableDataInsertAllRequest",')
            rows = [{"insertId": i.decode(), "json": None}
                    for i in re.findall(rb'\{"insertId":"([^"\\]*)","json":', data)]
        else:
            req = json.loads(data)
            assert req["kind"] == "bigquery#tableDataInsertAllRequest", req.keys()
            assert req["skipInvalidRows"] is True and req["ignoreUnknownValues"] is False
            rows = req["rows"]
        # 10 MB a request, 50,000 rows (500 recommended): BigQuery's quotas
        assert 1 <= len(rows) <= 50000 and len(data) <= 10 * 1024 * 1024
        with self.lock:
            self.insert_requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.insert_delay)
            return self.insert_rows(table, rows)
        finally:
            with self.lock:
                self.in_flight -= 1

    def insert_rows(self, table, rows):
        with self.lock:
            status = self.insert_answers.pop(0) if self.insert_answers else self.insert_down
            failing = self.fail_once_ids & {r["insertId"] for r in rows}
            self.fail_once_ids -= failing
            status = status or (500 if failing else None)
            if status:
                return status, {"error": {"code": status, "message": "scripted"}}
        errors = []
        for i, r in enumerate(rows):
            if not self.lite:
                assert set(r) == {"insertId", "json"}, r.keys()
                assert r["insertId"] == r["json"]["id"], r
                check_row(r["json"], self.schemas[table])
            with self.lock:
                if r["insertId"] in self.bad_ids:
                    errors.append({"index": i, "errors": [{
                        "reason": "invalid", "location": "zone", "debugInfo": "",
                        "message": self.bad_ids[r["insertId"]]}]})
                    continue
                held = self.rows.setdefault(table, {})
                self.repeats += r["insertId"] in held
                held[r["insertId"]] = r["json"]
        out = {"kind": "bigquery#tableDataInsertAllResponse"}
        if errors:
            out["insertErrors"] = errors
        return 200, out

    # ------------------------------------------------------------ jobs

    def job_insert(self, path, headers, data):
        assert path == "/upload/bigquery/v2/projects/%s/jobs?uploadType=multipart" % PROJECT, path
        ctype = headers.get("Content-Type")
        assert ctype.startswith("multipart/related; boundary="), ctype
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + data)
        parts = list(msg.iter_parts())
        assert len(parts) == 2, len(parts)
        assert parts[0].get_content_type() == "application/json"
        assert parts[1].get_content_type() == "application/octet-stream"
        job = json.loads(parts[0].get_payload(decode=True))
        load = job["configuration"]["load"]
        assert load["sourceFormat"] == "NEWLINE_DELIMITED_JSON", load
        dest = load["destinationTable"]
        assert dest["projectId"] == PROJECT and dest["datasetId"] == DATASET, dest
        table, job_id = dest["tableId"], job["jobReference"]["jobId"]
        assert job["jobReference"]["projectId"] == PROJECT
        assert load["schema"]["fields"] == self.schemas[table], "schema differs from the docs"
        payload = parts[1].get_payload(decode=True)
        assert payload.endswith(b"\n") or not payload
        lines = [json.loads(line) for line in payload.decode().splitlines()]
        for row in lines:
            check_row(row, load["schema"]["fields"])
        with self.lock:
            if job_id in self.jobs:
                self.job_inserts.append((job_id, 409))
                return 409, {"error": {"code": 409, "message": "Already Exists: Job"}}
            self.job_inserts.append((job_id, 200))
            self.jobs[job_id] = {"table": table, "lines": lines, "gets": 0, "states": []}
        return 200, {"kind": "bigquery#job", "jobReference": job["jobReference"],
                     "status": {"state": "PENDING"}}

    def job_get(self, job_id):
        with self.lock:
            job = self.jobs.get(job_id)
            if not job:
                return 404, {"error": {"code": 404, "message": "Not found: Job"}}
            job["gets"] += 1
            state = ("PENDING" if job["gets"] == 1 else
                     "RUNNING" if job["gets"] == 2 or self.hold_jobs else "DONE")
            job["states"].append(state)
            status = {"state": state}
            if state == "DONE" and job_id in self.job_errors:
                status["errorResult"] = self.job_errors[job_id]
                status["errors"] = [self.job_errors[job_id]]
            elif state == "DONE" and not job.get("loaded"):
                job["loaded"] = True
                held = self.rows.setdefault(job["table"], {})
                for row in job["lines"]:
                    self.repeats += row["id"] in held
                    held[row["id"]] = row
        return 200, {"kind": "bigquery#job", "id": "%s:%s" % (PROJECT, job_id),
                     "jobReference": {"projectId": PROJECT, "jobId": job_id}, "status": status}

    def held(self, table):
        with self.lock:
            return dict(self.rows.get(table, {}))


def main():
    """bench/export.sh's server: `bqfake.py FOLDER` starts one in FOLDER, writes
    FOLDER/export.ini (an [export] section for stream mode, settle 0) and
    serves until killed; with --lite, rows are counted by insertId but not
    checked against the schema (the benchmark measures warp, not this)."""
    import argparse
    import pathlib
    import signal
    import sys

    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--lite", action="store_true")
    a = ap.parse_args()
    folder = pathlib.Path(a.folder)
    schemas = {"cdrs": [], "messages": []}
    fake = FakeBigQuery(folder, schemas)
    fake.lite = a.lite
    fake.start()
    (folder / "export.ini").write_text(fake.ini(folder, "stream", "tables = cdrs"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *x: stop.set())

    def report():
        with fake.lock:
            n = sum(len(v) for v in fake.rows.values())
            return {"rows": n, "repeats": fake.repeats, "requests": fake.insert_requests,
                    "tokens": len(fake.tokens), "problems": fake.problems[:5]}

    print(json.dumps({"port": fake.port}), flush=True)
    while not stop.wait(0.2):
        (folder / "bqfake.json").write_text(json.dumps(report()))
    (folder / "bqfake.json").write_text(json.dumps(report()))
    fake.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
