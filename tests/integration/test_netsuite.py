"""Invoices to NetSuite through the real binary (decision 0040): `warp invoice
run` PUTs each document as a SuiteTalk REST record by external id to a local
HTTPS server playing NetSuite (Python's http.server with a certificate this
test makes).  The server recomputes every request's OAuth 1.0a signature
(HMAC-SHA256, RFC 5849, realm = the account id) with its own code and
answers 401 to a wrong one, checks the record's JSON shape, upserts by
external id, answers 204 with the record's Location, and records what it
got.  Shown: the body is the invoice (entity and items mapped by
configuration), a rerun sends nothing, an error is reported per invoice and
retried by the next run, a retry after a lost answer updates the same
record, a dry run writes the bodies to files and sends nothing.  Against SQLite
and PostgreSQL."""
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
import conftest  # noqa: E402
from test_invoices import DEC, customer_with_deck, gauges, november  # noqa: E402

pytest_plugins = ["apiclient"]

ACCOUNT = "1234567_SB1"
CREDS = {"consumer_key": "ck-Ω+/", "consumer_secret": "cs&secret",
         "token_id": "tok 1", "token_secret": "ts=☃"}
RECORD = re.compile(r"^/services/rest/record/v1/(invoice|creditMemo)/eid:([A-Za-z0-9_-]+)$")


def pct(s):
    return urllib.parse.quote(s, safe="-._~")


def expected_signature(method, url, params):
    """RFC 5849 §3.4, written independently of WARP's C."""
    signed = sorted((pct(k), pct(v)) for k, v in params.items()
                    if k not in ("realm", "oauth_signature"))
    base = "&".join([method, pct(url), pct("&".join("%s=%s" % kv for kv in signed))])
    key = pct(CREDS["consumer_secret"]) + "&" + pct(CREDS["token_secret"])
    return base64.b64encode(hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()).decode()


def oauth_params(header):
    assert header.startswith("OAuth "), header
    return {k: urllib.parse.unquote(v)
            for k, v in re.findall(r'([a-z_]+)="([^"]*)"', header[len("OAuth "):])}


class FakeNetSuite:
    def __init__(self, tmp_path):
        self.cert = tmp_path / "ns.pem"
        key = tmp_path / "ns.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", str(key), "-out", str(self.cert)], check=True,
                       capture_output=True, timeout=60)
        self.requests = []        # (method, path, body) of every signed request
        self.times = []           # time.monotonic() of each of them
        self.unavailable = 0      # answer 503 to this many, storing nothing
        self.unavailable_entity = None  # only records of this entity id use them up
        self.hang = 0             # seconds each request waits before it is read
        self.hung = threading.Event()  # set once a request waits
        self.records = {}         # externalId -> (type, internal id, body)
        self.nonces = set()
        self.refuse_entity = {}   # entity id -> error detail answered with 400
        self.lose_answers = 0     # upsert, then answer 500 as if the answer were lost
        self.bad_signatures = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_PUT(self):
                owner.handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.base = "https://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, h, status, body=None, location=None):
        data = json.dumps(body).encode() if body is not None else b""
        h.send_response(status)
        if location:
            h.send_header("Location", location)
        if data:
            h.send_header("Content-Type", "application/vnd.oracle.resource+json; type=error")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def error(self, h, status, detail):
        self.answer(h, status, {"type": "https://www.rfc-editor.org/rfc/rfc9110.html",
                                "title": "Bad Request", "status": status,
                                "o:errorDetails": [{"detail": detail,
                                                    "o:errorCode": "INVALID_VALUE"}]})

    def handle(self, h):
        if self.hang:
            self.hung.set()
            time.sleep(self.hang)
        body = h.rfile.read(int(h.headers["Content-Length"]))
        p = oauth_params(h.headers.get("Authorization", ""))
        url = self.base + h.path
        with self.lock:
            fresh = p.get("oauth_nonce") not in self.nonces
            self.nonces.add(p.get("oauth_nonce"))
            ok = (fresh and p.get("realm") == ACCOUNT
                  and p.get("oauth_signature_method") == "HMAC-SHA256"
                  and p.get("oauth_consumer_key") == CREDS["consumer_key"]
                  and p.get("oauth_token") == CREDS["token_id"]
                  and p.get("oauth_version") == "1.0"
                  and len(p.get("oauth_nonce", "")) >= 6 and p.get("oauth_timestamp", "").isdigit()
                  and p.get("oauth_signature") == expected_signature("PUT", url, p))
            if not ok:
                self.bad_signatures += 1
                return self.error(h, 401, "Invalid login attempt.")
            m = RECORD.match(h.path)
            rec = json.loads(body)
            self.requests.append(("PUT", h.path, rec))
            self.times.append(time.monotonic())
            if (not m or h.headers.get("Content-Type") != "application/json"
                    or rec.get("externalId") != m.group(2)):
                return self.error(h, 400, "bad record path or body")
            if self.unavailable and self.unavailable_entity in (None, rec["entity"]["id"]):
                self.unavailable -= 1
                return self.error(h, 503, "Service temporarily unavailable")
            entity = rec["entity"]["id"]
            if entity in self.refuse_entity:
                return self.error(h, 400, self.refuse_entity[entity])
            old = self.records.get(m.group(2))
            internal = old[1] if old else str(9000 + len(self.records))
            self.records[m.group(2)] = (m.group(1), internal, rec)
            if self.lose_answers:
                self.lose_answers -= 1
                return self.error(h, 500, "answer lost")
            self.answer(h, 204, location="%s/services/rest/record/v1/%s/%s" % (
                self.base, m.group(1), internal))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from apiclient.running_env(request, tmp_path_factory)


@pytest.fixture
def ns(tmp_path):
    s = FakeNetSuite(tmp_path)
    yield s
    s.close()


def invoice_run(api, ns, tmp_path, *args, entities="", **env):
    e = dict(api.warp.env, WARP_NETSUITE_ACCOUNT_ID=ACCOUNT, WARP_NETSUITE_BASE_URL=ns.base,
             WARP_NETSUITE_CA_FILE=str(ns.cert), WARP_NETSUITE_ENTITY_MAP=entities,
             WARP_NETSUITE_ITEM_MAP="UK=201,UK Mobile=202,UK SMS=301",
             WARP_NETSUITE_CALLS_ITEM="200", WARP_NETSUITE_SMS_ITEM="300",
             WARP_NETSUITE_ADJUSTMENT_ITEM="400", WARP_NETSUITE_TIMEOUT="10s",
             WARP_NETSUITE_DRY_RUN_DIR=str(tmp_path / "dry"),
             **{"WARP_NETSUITE_" + k.upper(): v for k, v in CREDS.items()})
    e.update(env)
    r = subprocess.run([conftest.warp_bin(), "invoice", "run", "-c", str(api.warp.config),
                        "--period", "2026-11"] + list(args), capture_output=True, text=True,
                       timeout=120, env=e)
    assert r.returncode in (0, 1), (r.returncode, r.stderr)
    return r.returncode, json.loads(r.stdout), r.stderr


def docs(out, cid):
    return [x for x in out["results"] if x["customer_id"] == cid]


def test_invoice_arrives_as_the_record_netsuite_expects(api, ns, tmp_path):
    cid = customer_with_deck(api, "Acme")
    november(api, cid)
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, entities="%s=777" % cid)
    assert rc == 0, err
    inv = docs(out, cid)[0]["document"]
    assert ns.bad_signatures == 0
    assert [(m, p) for m, p, _ in ns.requests] == [
        ("PUT", "/services/rest/record/v1/invoice/eid:" + inv["external_id"])]
    rec = ns.requests[0][2]
    assert rec["externalId"] == inv["external_id"] and rec["entity"] == {"id": "777"}
    assert rec["tranDate"] == "2026-11-30" and rec["postingPeriod"] == {"refName": "Nov 2026"}
    assert inv["number"] in rec["memo"]
    items = [(i["item"]["id"], i["description"], i["quantity"], i["amount"])
             for i in rec["item"]["items"]]
    assert items == [("201", "Calls: UK", 2.5, 2.01), ("202", "Calls: UK Mobile", 0.5, 0.33),
                     ("200", "Calls: USA", 2.0, 2.5), ("300", "SMS: other destinations", 1, 0.0),
                     ("301", "SMS: UK SMS", 2, 0.08),
                     ("400", "Adjustment: Goodwill credit", 1, -1.0),
                     ("400", "Refund: Dropped call", 1, -0.25)]
    # The record's amounts are the invoice's: its printed total.
    assert round(sum(i["amount"] for i in rec["item"]["items"]), 2) == float(inv["total"])
    assert rec["item"]["items"][0]["rate"] == 0.804
    # The 204's Location names the record; the document says it was sent.
    internal = ns.records[inv["external_id"]][1]
    got = api.admin.get("/api/v1/invoices/" + inv["id"]).json()["data"]["netsuite"]
    assert got["state"] == "sent" and got["record_id"] == internal and got["attempts"] == 1
    assert got["error"] is None and got["sent_at"]
    # A rerun changes nothing: no request, no new document.
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, entities="%s=777" % cid)
    assert rc == 0 and docs(out, cid)[0]["action"] == "unchanged"
    assert len(ns.requests) == 1


def test_errors_are_per_invoice_and_the_next_run_retries(api, ns, tmp_path):
    good = customer_with_deck(api, "Good")
    unmapped = customer_with_deck(api, "Unmapped")
    refused = customer_with_deck(api, "Refused")
    for c in (good, unmapped, refused):
        november(api, c)
    ns.refuse_entity["13"] = "Invalid customer reference key 13."
    entities = "%s=11,%s=13" % (good, refused)
    rc, out, err = invoice_run(api, ns, tmp_path, entities=entities)
    assert rc == 1  # a failure, for the scheduler to see
    state = {c: api.admin.get("/api/v1/invoices/" + docs(out, c)[0]["document"]["id"])
             .json()["data"]["netsuite"] for c in (good, unmapped, refused)}
    assert state[good]["state"] == "sent"
    assert state[unmapped]["state"] == "failed"
    assert "no NetSuite entity for customer %s" % unmapped in state[unmapped]["error"]
    assert state[refused]["state"] == "failed"
    assert state[refused]["error"] == "HTTP 400: Invalid customer reference key 13."
    got = gauges(api, netsuite_failed=2, last_run_failures=2)
    assert got["netsuite_failed"] == 2 and got["last_run_failures"] == 2, got
    failed = api.admin.list_all("/api/v1/invoices?netsuite_state=failed")
    assert {d["customer_id"] for d in failed} == {unmapped, refused}
    # Mapping fixed: the next run sends only those two; the first stays sent.
    sent_before = len(ns.requests)
    del ns.refuse_entity["13"]
    rc, out, err = invoice_run(api, ns, tmp_path, entities=entities + ",%s=12" % unmapped)
    assert rc == 0, err
    paths = [p for _, p, _ in ns.requests[sent_before:]]
    assert sorted(paths) == sorted("/services/rest/record/v1/invoice/eid:WARP-%s-202611-0" % c
                                   for c in (unmapped, refused))
    for c in (unmapped, refused):
        d = api.admin.get("/api/v1/invoices/" + docs(out, c)[0]["document"]["id"]).json()["data"]
        assert d["netsuite"]["state"] == "sent" and d["netsuite"]["attempts"] == 2
    got = gauges(api, netsuite_failed=0, last_run_failures=0)
    assert got["netsuite_failed"] == 0 and got["last_run_failures"] == 0, got


def test_a_retry_after_a_lost_answer_updates_the_same_record(api, ns, tmp_path):
    cid = customer_with_deck(api, "Lost")
    led = november(api, cid)
    ns.lose_answers = 1
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, entities="%s=21" % cid)
    assert rc == 1
    assert "HTTP 500: answer lost" in docs(out, cid)[0]["document"]["netsuite"]["error"]
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, entities="%s=21" % cid)
    assert rc == 0, err
    inv = docs(out, cid)[0]["document"]
    # Two PUTs to one external id: NetSuite holds one record.
    assert [p for _, p, _ in ns.requests].count(
        "/services/rest/record/v1/invoice/eid:" + inv["external_id"]) == 2
    assert len(ns.records) == 1 and inv["netsuite"]["record_id"] == "9000"
    # A correction goes as a creditMemo of its own external id.
    led.entry("refund", 330000, DEC - 86400000, description="Dropped call")
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, entities="%s=21" % cid)
    assert rc == 0, err
    cn = docs(out, cid)[0]["document"]
    assert cn["type"] == "credit_note"
    kind, _, rec = ns.records[cn["external_id"]]
    assert kind == "creditMemo" and rec["entity"] == {"id": "21"}
    assert [(i["item"]["id"], i["amount"]) for i in rec["item"]["items"]] == [("400", 0.33)]
    assert cn["number"] in rec["memo"] and inv["number"] in rec["memo"]


def test_dry_run_writes_the_bodies_and_sends_nothing(api, ns, tmp_path):
    cid = customer_with_deck(api, "Dry")
    november(api, cid)
    before = api.count("invoices")
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, "--dry-run",
                               entities="%s=31" % cid)
    assert rc == 0, err
    assert out["dry_run"] is True and ns.requests == []
    assert api.count("invoices") == before
    doc = docs(out, cid)[0]["document"]
    path = tmp_path / "dry" / ("WARP-%s-202611-0.json" % cid)
    assert doc["netsuite"]["state"] == "pending" and doc["netsuite"]["file"] == str(path)
    rec = json.loads(path.read_text())
    assert rec["externalId"] == "WARP-%s-202611-0" % cid and rec["entity"] == {"id": "31"}
    assert len(rec["item"]["items"]) == 7
    assert not [f for f in os.listdir(tmp_path / "dry") if f.endswith(".tmp")]
    # The real run then sends exactly what the dry run wrote.
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, entities="%s=31" % cid)
    assert rc == 0, err
    sent = ns.requests[0][2]
    sent.pop("memo")
    rec.pop("memo")
    assert sent == rec


def test_a_wrong_secret_is_refused_by_the_server(api, ns, tmp_path):
    cid = customer_with_deck(api, "Wrong")
    november(api, cid)
    rc, out, err = invoice_run(api, ns, tmp_path, "--customer", cid, entities="%s=41" % cid,
                               WARP_NETSUITE_TOKEN_SECRET="not-the-secret")
    assert rc == 1 and ns.bad_signatures == 1 and ns.requests == []
    assert docs(out, cid)[0]["document"]["netsuite"]["error"] == \
        "HTTP 401: Invalid login attempt."
