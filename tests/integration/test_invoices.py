"""Invoices from the ledger through the real binary (decision 0040): a closed
month invoiced once per customer with lines by zone (calls: count, minutes,
amount; SMS: segments, amount), adjustments, refunds, payments and balances,
checked against an invoice computed by hand; reruns change nothing; a charge
that reaches the closed month later gets a credit note, never an edit; the
printable HTML escapes what customers typed; a customer sees only its own.
Against SQLite and PostgreSQL.

The fixtures are what the billing role will write: call_charge and
message_charge ledger entries referencing CDRs and messages (inserted into
the store directly), zones from the customer's sell deck (imported through
the API)."""
import json
import re
import subprocess
import threading
import time
import uuid

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
import conftest  # noqa: E402
from apiclient import assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

NOV = 1793491200000      # 2026-11-01T00:00:00Z
DEC = 1796083200000      # 2026-12-01T00:00:00Z
DAY = 86400000
DECK_CSV = ("prefix,rate,zone,service\n"
            "44,0.01,UK,voice\n"
            "447,0.02,UK Mobile,voice\n"
            "1,0.005,USA,voice\n"
            "44,0.004,UK SMS,sms\n")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from apiclient.running_env(request, tmp_path_factory)


def q(v):
    return "NULL" if v is None else ("'%s'" % str(v).replace("'", "''") if isinstance(v, str)
                                     else str(v))


def insert(api, table, **row):
    api.store.execute("INSERT INTO %s (%s) VALUES (%s)" % (
        table, ", ".join(row), ", ".join(q(v) for v in row.values())))


class Ledger:
    """Entries for one customer, written as the ledger writes them."""

    def __init__(self, api, cid, currency="USD"):
        self.api, self.cid, self.seq, self.balance = api, cid, 0, 0
        self.currency = currency

    def entry(self, kind, micros, at, ref=None, description=""):
        self.seq += 1
        self.balance += micros
        insert(self.api, "ledger_entries", id="led_%s" % uuid.uuid4().hex, customer_id=self.cid,
               seq=self.seq, kind=kind, amount=micros, currency=self.currency,
               balance_after=self.balance, reference_type=ref and ref[0],
               reference_id=ref and ref[1], description=description, created_by="test",
               created_at=at)

    def call(self, number, billable_ms, micros, at):
        cdr = "cdr_%s" % uuid.uuid4().hex
        insert(self.api, "cdrs", id=cdr, call_id=uuid.uuid4().hex, direction="termination",
               customer_id=self.cid, dialed=number, normalized=number, start_ms=at,
               answer_ms=at, end_ms=at + billable_ms, duration_ms=billable_ms,
               billable_ms=billable_ms, final_code=200, created_at=at)
        self.entry("call_charge", -micros, at + billable_ms + 1000, ("cdr", cdr))

    def batch(self, calls, at):
        """Calls (number, billable_ms, micros, zone) rated and charged by
        one cdr_batch entry, as the billing role charges a postpaid
        customer's calls of one batch (decision 0052)."""
        entry = "led_%s" % uuid.uuid4().hex
        for number, billable_ms, micros, zone in calls:
            cdr = "cdr_%s" % uuid.uuid4().hex
            insert(self.api, "cdrs", id=cdr, call_id=uuid.uuid4().hex, direction="termination",
                   customer_id=self.cid, dialed=number, normalized=number, start_ms=at,
                   answer_ms=at, end_ms=at + billable_ms, duration_ms=billable_ms,
                   billable_ms=billable_ms, final_code=200, created_at=at)
            self.api.store.execute(
                "UPDATE cdr_ratings SET state = 'rated', currency = 'USD', sell = %d, "
                "billable_s = %d, zone = %s, charged = %d, ratings = 1, entry_id = '%s', "
                "entry_amount = %d WHERE cdr_id = '%s'" % (
                    micros, billable_ms // 1000, q(zone), micros, entry, micros, cdr))
        self.seq += 1
        total = sum(c[2] for c in calls)
        self.balance -= total
        insert(self.api, "ledger_entries", id=entry, customer_id=self.cid, seq=self.seq,
               kind="call_charge", amount=-total, currency=self.currency,
               balance_after=self.balance, reference_type="cdr_batch",
               idempotency_key="cdrs:" + entry, description="%d calls rated together" % len(calls),
               created_by="billing", created_at=at + 1000)

    def sms(self, number, parts, micros, at):
        group = "msg_%s" % uuid.uuid4().hex
        for i in range(parts):
            insert(self.api, "messages", id=group if i == 0 else "msg_%s" % uuid.uuid4().hex,
                   group_id=group, part_seq=i + 1, part_total=parts, customer_id=self.cid,
                   origin="http", source="WARP", destination=number, body="hi",
                   state="delivered", expires_at=at + DAY, created_at=at, updated_at=at)
        self.entry("message_charge", -micros, at + 500, ("message", group))


def customer_with_deck(api, name):
    cid = api.customer(currency="USD", name=name)
    deck = api.admin.create("/api/v1/rate-decks", {"name": "sell", "direction": "sell",
                                                   "currency": "USD"})
    r = api.admin.post("/api/v1/rate-decks/%s/versions" % deck["id"], DECK_CSV.encode(),
                       headers={"Content-Type": "text/csv"})
    assert r.status == 201, r.body
    r = api.admin.post("/api/v1/rate-decks/%s/versions/1/activate" % deck["id"], {})
    assert r.status == 200, r.body
    # The API activates from now on; this deck was in force all of November.
    api.store.execute("UPDATE rate_deck_versions SET activate_at = %d WHERE deck_id = '%s'" % (
        NOV - 30 * DAY, deck["id"]))
    r = api.admin.patch("/api/v1/customers/" + cid, {"sell_deck_id": deck["id"]})
    assert r.status == 200, r.body
    return cid


def november(api, cid):
    """The month the invoice below was worked out for by hand."""
    led = Ledger(api, cid)
    led.entry("topup", 10000000, NOV - 15 * DAY, description="October top-up")
    led.entry("topup", 100000000, NOV + DAY, description="wire")
    led.call("441234567890", 60000, 1250000, NOV + 2 * DAY)
    led.call("442079460000", 90000, 755000, NOV + 3 * DAY)
    led.call("447700900123", 30000, 333333, NOV + 4 * DAY)
    led.call("12125550100", 120000, 2500000, NOV + 5 * DAY)
    led.sms("447700900456", 2, 80000, NOV + 6 * DAY)
    led.sms("5511999990000", 1, 4000, NOV + 7 * DAY)
    led.entry("adjustment", 1000000, NOV + 8 * DAY, description="Goodwill credit")
    led.entry("refund", 250000, NOV + 9 * DAY, description="Dropped call")
    led.entry("call_charge", -999000000, DEC + DAY)  # December's: not on this invoice
    return led


EXPECTED_LINES = [
    # type, zone or description, count, billable_ms, amount, exact micro-units
    ("calls", "UK", 2, 150000, "2.01", 2005000),
    ("calls", "UK Mobile", 1, 30000, "0.33", 333333),
    ("calls", "USA", 1, 120000, "2.50", 2500000),
    ("sms", "", 1, None, "0.00", 4000),
    ("sms", "UK SMS", 2, None, "0.08", 80000),
    ("adjustment", "Goodwill credit", 1, None, "-1.00", -1000000),
    ("refund", "Dropped call", 1, None, "-0.25", -250000),
]


def gauges(api, **want):
    """The warp_invoice_* gauges once they show want (they are read from the
    store at most once a second): {name: value}."""
    deadline = time.monotonic() + 5
    while True:
        text = conftest.http("GET", api.warp.base + "/metrics").body.decode()
        got = {m.group(1): int(m.group(2))
               for m in re.finditer(r"^warp_invoice_(\w+) (-?\d+)$", text, re.M)}
        if all(got.get(k) == v for k, v in want.items()) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def run(api, period, **body):
    body["period"] = period
    return api.admin.post("/api/v1/invoice-runs", body)


def result_for(r, cid):
    assert r.status in (200, 201), r.body
    got = [x for x in r.json()["data"]["results"] if x["customer_id"] == cid]
    assert len(got) == 1, r.body
    return got[0]


def test_invoice_matches_the_one_computed_by_hand(api):
    cid = customer_with_deck(api, "Acme Telecom")
    november(api, cid)
    res = result_for(run(api, "2026-11", customer_id=cid), cid)
    assert res["action"] == "issued" and res["error"] is None
    inv = res["document"]
    assert re.fullmatch(r"INV-\d{6}", inv["number"]), inv
    assert inv["type"] == "invoice" and inv["period"] == "2026-11" and inv["currency"] == "USD"
    lines = [(ln["type"], ln.get("zone", ln.get("description")),
              ln.get("calls", ln.get("segments", ln.get("entries"))), ln.get("billable_ms"),
              ln["amount"], ln["amount_exact_micros"]) for ln in inv["lines"]]
    assert lines == EXPECTED_LINES
    assert [ln.get("minutes") for ln in inv["lines"][:3]] == ["2.50", "0.50", "2.00"]
    # The total is the sum of the printed lines; the balances are exact.
    assert inv["total"] == "3.67" and inv["total_micros"] == 3670000
    assert inv["opening_balance"] == "10.00" and inv["payments"] == "100.00"
    assert inv["closing_balance"] == "106.327667"
    assert inv["entries"] == 9 and inv["netsuite"]["state"] == "pending"
    assert inv["external_id"] == "WARP-%s-202611-0" % cid
    # What the API answers again later is what was issued.
    got = api.admin.get("/api/v1/invoices/" + inv["id"]).json()["data"]
    assert got["lines"] == inv["lines"] and got["total"] == "3.67"


def test_calls_charged_by_one_batch_entry_are_invoiced_as_if_charged_one_by_one(api):
    """A cdr_batch entry (decision 0052) gives the same call lines as the
    four entries of november(): its CDRs' zones, billed seconds and parts."""
    cid = customer_with_deck(api, "Batch Telecom")
    led = Ledger(api, cid)
    led.batch([("441234567890", 60000, 1250000, "UK"), ("442079460000", 90000, 755000, "UK"),
               ("447700900123", 30000, 333333, "UK Mobile"),
               ("12125550100", 120000, 2500000, "USA")], NOV + 2 * DAY)
    inv = result_for(run(api, "2026-11", customer_id=cid), cid)["document"]
    lines = [(ln["type"], ln["zone"], ln["calls"], ln["billable_ms"], ln["amount"],
              ln["amount_exact_micros"]) for ln in inv["lines"]]
    assert lines == EXPECTED_LINES[:3]
    assert inv["total"] == "4.84" and inv["closing_balance"] == "-4.838333"


def test_rerun_changes_nothing_and_a_late_charge_gets_a_credit_note(api):
    cid = customer_with_deck(api, "Beta Voice")
    led = november(api, cid)
    first = result_for(run(api, "2026-11", customer_id=cid), cid)["document"]
    rows = api.rows("SELECT * FROM invoices WHERE customer_id = ? ORDER BY seq", cid)
    lines = api.rows("SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY line", first["id"])
    for _ in range(2):
        again = result_for(run(api, "2026-11", customer_id=cid), cid)
        assert again["action"] == "unchanged" and again["document"]["id"] == first["id"]
        # A run of every customer finds this one unchanged too.
        assert result_for(run(api, "2026-11"), cid)["action"] == "unchanged"
    assert api.rows("SELECT * FROM invoices WHERE customer_id = ? ORDER BY seq", cid) == rows
    assert api.rows("SELECT * FROM invoice_lines WHERE invoice_id = ? ORDER BY line",
                    first["id"]) == lines
    # A refund reaching November after it was invoiced: the invoice stays,
    # a credit note carries the difference.
    led.entry("refund", 330000, NOV + 20 * DAY, description="Dropped call")
    res = result_for(run(api, "2026-11", customer_id=cid), cid)
    assert res["action"] == "corrected", res
    cn = res["document"]
    assert cn["type"] == "credit_note" and re.fullmatch(r"CN-\d{6}", cn["number"])
    assert cn["corrects"] == first["id"] and cn["corrects_number"] == first["number"]
    assert cn["seq"] == 1 and cn["external_id"] == "WARP-%s-202611-1" % cid
    assert [(ln["type"], ln["description"], ln["entries"], ln["amount"]) for ln in cn["lines"]] \
        == [("refund", "Dropped call", 1, "-0.33")]
    assert cn["total"] == "-0.33"
    assert api.admin.get("/api/v1/invoices/" + first["id"]).json()["data"]["total"] == "3.67"
    assert result_for(run(api, "2026-11", customer_id=cid), cid)["action"] == "unchanged"
    # A call charged late raises what is owed: a debit note.
    led.call("441234567890", 60000, 1250000, NOV + 25 * DAY)
    dn = result_for(run(api, "2026-11", customer_id=cid), cid)["document"]
    assert dn["type"] == "debit_note" and re.fullmatch(r"DN-\d{6}", dn["number"]) and dn["seq"] == 2
    assert [(ln["type"], ln["zone"], ln["calls"], ln["billable_ms"], ln["amount"])
            for ln in dn["lines"]] == [("calls", "UK", 1, 60000, "1.25")]
    assert result_for(run(api, "2026-11", customer_id=cid), cid)["action"] == "unchanged"
    # Under an Idempotency-Key a retry answers the first response again.
    key = {"Idempotency-Key": "run-" + cid}
    body = {"period": "2026-11", "customer_id": cid}
    one = api.admin.post("/api/v1/invoice-runs", body, headers=key)
    two = api.admin.post("/api/v1/invoice-runs", body, headers=key)
    assert one.status == two.status == 201 and two.json() == one.json()
    assert two.headers["Idempotent-Replayed"] == "true"
    listed = api.admin.list_all("/api/v1/invoices?customer_id=%s&period=2026-11" % cid, limit=1)
    assert [d["number"] for d in listed] == [dn["number"], cn["number"], first["number"]]
    # The documents add up to the month as the ledger now says it.
    total = sum(d["total_micros"] for d in listed)
    again = result_for(run(api, "2026-11", customer_id=cid, dry_run=True), cid)
    assert again["action"] == "unchanged" and total == 3670000 - 330000 + 1250000


def test_open_periods_bad_input_and_dry_runs_store_nothing(api):
    cid = customer_with_deck(api, "Gamma SMS")
    november(api, cid)
    assert_error(run(api, "2026-12"), 409, "period_open", "/period")
    assert_error(run(api, "2099-01"), 409, "period_open", "/period")
    for bad in ("2026-13", "2026-1", "nov", "1999-12"):
        assert_error(run(api, bad), 422, "invalid_value", "/period")
    assert_error(api.admin.post("/api/v1/invoice-runs", {}), 422, "required", "/period")
    assert_error(run(api, "2026-11", customer=cid), 422, "unknown_field", "/customer")
    runs = api.count("invoice_runs")
    assert_error(run(api, "2026-11", customer_id="cus_nope"), 422, "invalid_reference",
                 "/customer_id")
    assert api.count("invoice_runs") == runs  # an unknown customer leaves no run behind
    before = api.count("invoices")
    r = run(api, "2026-11", customer_id=cid, dry_run=True)
    assert r.status == 200, r.body
    res = result_for(r, cid)
    assert res["action"] == "issued" and res["document"]["id"] is None
    assert res["document"]["total"] == "3.67"
    assert api.count("invoices") == before
    assert api.count("invoices", "customer_id = ?", cid) == 0


def test_html_invoice_is_printable_and_escaped(api):
    cid = customer_with_deck(api, "<script>alert('x')</script> & Sons \"Ltd\"")
    november(api, cid)
    inv = result_for(run(api, "2026-11", customer_id=cid), cid)["document"]
    r = api.admin.get("/api/v1/invoices/%s/html" % inv["id"])
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")
    page = r.body.decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>" not in page and "alert('x')" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; Sons &quot;Ltd&quot;" in page
    assert "Invoice %s" % inv["number"] in page
    for text in ("Calls &mdash; UK Mobile", "2 calls, 2.50 min", "2 segments", "Goodwill credit",
                 "Total USD", "3.67", "Closing balance", "106.33"):
        assert text in page, text


def test_customers_see_only_their_own_invoices(api):
    mine = customer_with_deck(api, "Delta")
    other = customer_with_deck(api, "Epsilon")
    november(api, mine)
    november(api, other)
    a = result_for(run(api, "2026-11", customer_id=mine), mine)["document"]
    b = result_for(run(api, "2026-11", customer_id=other), other)["document"]
    _, client = api.key(mine)
    assert client.get("/api/v1/invoices/" + a["id"]).status == 200
    assert client.get("/api/v1/invoices/%s/html" % a["id"]).status == 200
    assert_error(client.get("/api/v1/invoices/" + b["id"]), 404, "not_found")
    assert_error(client.get("/api/v1/invoices/%s/html" % b["id"]), 404, "not_found")
    assert [d["id"] for d in client.list_all("/api/v1/invoices?customer_id=" + other)] == [a["id"]]
    assert client.post("/api/v1/invoice-runs", {"period": "2026-11"}).status == 403
    assert client.get("/api/v1/invoice-runs").status == 403


def test_runs_and_documents_show_in_metrics_and_the_api(api):
    cid = customer_with_deck(api, "Zeta")
    november(api, cid)
    result_for(run(api, "2026-11", customer_id=cid), cid)
    runs = api.admin.get("/api/v1/invoice-runs").json()["data"]
    assert runs[0]["period"] == "2026-11" and runs[0]["customer_id"] == cid
    assert runs[0]["issued"] == 1 and runs[0]["failures"] == 0 and runs[0]["finished_at"]
    pending = api.count("invoices", "netsuite_state = 'pending'")
    got = gauges(api, netsuite_pending=pending)
    assert got["netsuite_pending"] == pending and got["netsuite_failed"] == 0, got
    assert got["last_run_failures"] == 0 and got["last_run_timestamp_seconds"] > DEC // 1000


def test_the_cli_runs_the_same_and_refuses_bad_usage(api):
    cid = customer_with_deck(api, "Eta")
    november(api, cid)
    cmd = [conftest.warp_bin(), "invoice", "run", "-c", str(api.warp.config)]
    r = subprocess.run(cmd + ["--period", "2026-11", "--customer", cid], capture_output=True,
                       text=True, timeout=60, env=api.warp.env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["period"] == "2026-11" and out["results"][0]["action"] == "issued"
    assert out["results"][0]["document"]["total"] == "3.67"
    r = subprocess.run(cmd + ["--period", "2026-12"], capture_output=True, text=True, timeout=60,
                       env=api.warp.env)
    assert r.returncode == 1 and "not closed" in r.stderr, r.stderr
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=api.warp.env)
    assert r.returncode == 2 and "--period" in r.stderr


def test_concurrent_runs_number_every_document_once(api):
    """Two runs per customer at once, four customers: PostgreSQL lets them
    race for the next number and the same customer's invoice; each
    customer still gets one invoice, every number is used once, no run
    fails."""
    cids = [customer_with_deck(api, "Theta %d" % i) for i in range(4)]
    for c in cids:
        november(api, c)
    got, lock = [], threading.Lock()

    def one(c):
        r = result_for(run(api, "2026-11", customer_id=c), c)
        with lock:
            got.append((c, r["action"]))

    threads = [threading.Thread(target=one, args=(c,)) for c in cids + cids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 8
    for c in cids:
        assert sorted(a for x, a in got if x == c) == ["issued", "unchanged"], got
    rows = api.rows("SELECT customer_id, number FROM invoices WHERE period = '2026-11'")
    assert sorted(r["customer_id"] for r in rows if r["customer_id"] in cids) == sorted(cids)
    assert len({r["number"] for r in rows}) == len(rows)


def test_amounts_take_the_currency_decimals(api):
    cid = api.customer(currency="JPY", name="Nippon")
    led = Ledger(api, cid, "JPY")
    led.entry("call_charge", -1250000, NOV + DAY)       # no reference: zone unknown
    led.entry("call_charge", -1500000, NOV + 2 * DAY)
    led.entry("topup", 1000000000, NOV + 3 * DAY)
    inv = result_for(run(api, "2026-11", customer_id=cid), cid)["document"]
    assert inv["currency"] == "JPY" and inv["decimals"] == 0
    assert [(ln["zone"], ln["calls"], ln["amount"], ln["amount_exact"]) for ln in inv["lines"]] \
        == [("", 2, "3", "2.75")]
    assert inv["total"] == "3" and inv["payments"] == "1000" and inv["closing_balance"] == "997.25"


def test_a_rated_call_is_invoiced_by_its_rated_zone_and_billed_seconds(api):
    """What the billing role rated (cdr_ratings, decision 0036) is what the
    invoice shows: its zone and its billed seconds (increments applied),
    not a fresh deck lookup on the raw duration."""
    cid = customer_with_deck(api, "Rated Ltd")
    led = Ledger(api, cid)
    led.call("12125550100", 1000, 60000, NOV + 2 * DAY)  # 1 s, billed as a whole minute
    cdr = api.rows("SELECT reference_id FROM ledger_entries WHERE customer_id = ? AND "
                   "kind = 'call_charge'", cid)[0]["reference_id"]
    # the trigger of migration 0025 queued it as pending; the role rated it so
    api.store.execute("UPDATE cdr_ratings SET state = 'rated', currency = 'USD', sell = 60000, "
                      "billable_s = 60, prefix = '1212', zone = 'New York', destination = "
                      "'USA - New York', charged = 1, ratings = 1, rated_at = %d WHERE "
                      "cdr_id = '%s'" % (NOV + 2 * DAY, cdr))
    led.call("12125550101", 1000, 60000, NOV + 3 * DAY)  # not rated: the deck's zone
    inv = result_for(run(api, "2026-11", customer_id=cid), cid)["document"]
    calls = [(ln["zone"], ln["calls"], ln["billable_ms"]) for ln in inv["lines"]
             if ln["type"] == "calls"]
    assert calls == [("New York", 1, 60000), ("USA", 1, 1000)], calls
