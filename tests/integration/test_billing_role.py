"""The billing role (decision 0036) through the real binary, on SQLite and
PostgreSQL: CDR rows are written to the store as the SIP role's writer
writes them (src/sip/cdr.c; the store's trigger marks each pending), the
role rates them against decks imported and assigned through the API, and
what it did is read back through GET /api/v1/cdrs, the ledger and
/metrics.

Prices below are computed by hand from the decks:
  sell 447 at 0.021/min 6/6, fee 0.01, minimum 10 s; 44 at 0.0125/min 60/60
  buy  447 at 0.015/min 1/1
A call of 61.5 s to +447700900123 is 62 s: sell bills 66 s, 0.01 + 0.021 *
66 / 60 = 0.0331; buy bills 62 s, 0.015 * 62 / 60 = 0.0155; margin 0.0176.
"""
import time
import uuid

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
from apiclient import _pg_literal, assert_error  # noqa: E402

pytest_plugins = ["apiclient"]

DECKS = "/api/v1/rate-decks"
SELL = ("prefix,destination,zone,rate,increments,connection_fee,min_duration,service\n"
        "447,United Kingdom - Mobile,UK Mobile,0.021,6/6,0.01,10,voice\n"
        "44,United Kingdom,UK,0.0125,60/60,0,0,voice\n"
        "447,United Kingdom - Mobile,UK Mobile,0.004,,,,sms\n")
BUY = ("prefix,rate,increments,service\n"
       "447,0.015,1/1,voice\n"
       "44,0.015,1/1,voice\n"
       "33,0.01,1/1,voice\n"
       "447,0.0025,,sms\n")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from apiclient.running_env(request, tmp_path_factory, roles="api,billing",
                                     env={"WARP_BILLING_RATE_INTERVAL": "50ms"})


def deck(api, direction, csv, currency="USD"):
    d = api.admin.create(DECKS, {"name": "d", "direction": direction, "currency": currency})
    r = api.admin.post("%s/%s/versions" % (DECKS, d["id"]), csv.encode(),
                       headers={"Content-Type": "text/csv"})
    assert r.status == 201, r.body
    r = api.admin.post("%s/%s/versions/1/activate" % (DECKS, d["id"]), {})
    assert r.status == 200, r.body
    return d["id"]


def priced_parties(api, sell_csv=SELL, billing_type="prepaid"):
    """A customer on a sell deck and a carrier on a buy deck."""
    sell, buy = deck(api, "sell", sell_csv), deck(api, "buy", BUY)
    cid = api.customer(currency="USD", sell_deck_id=sell, billing_type=billing_type)
    car = api.admin.create("/api/v1/carriers", {"name": "c", "buy_deck_id": buy})["id"]
    time.sleep(0.01)  # the CDRs start after the versions took effect
    return cid, car, sell


def insert_cdr(api, customer_id, carrier_id, number="447700900123", duration_ms=61500,
               start_ms=None):
    return insert_cdrs(api, customer_id, carrier_id, [number], duration_ms, start_ms)[0]


def insert_cdrs(api, customer_id, carrier_id, numbers, duration_ms=61500, start_ms=None):
    """CDRs to numbers in one INSERT (one transaction: the role sees them
    all in one batch); their ids."""
    rows = [cdr_row(customer_id, carrier_id, n, duration_ms, start_ms) for n in numbers]
    api.store.execute("INSERT INTO cdrs (%s) VALUES %s" % (", ".join(rows[0]), ", ".join(
        "(%s)" % ", ".join(_pg_literal(v) for v in r.values()) for r in rows)))
    return [r["id"] for r in rows]


def cdr_row(customer_id, carrier_id, number, duration_ms, start_ms):
    cid = "cdr_" + uuid.uuid4().hex[:26]
    start = start_ms or int(time.time() * 1000)
    row = {
        "id": cid, "call_id": uuid.uuid4().hex + "@test", "direction": "termination",
        "customer_id": customer_id, "trunk_id": "trk_test", "carrier_id": carrier_id,
        "gateway_id": "gw_test", "caller": "+15550001111", "dialed": number,
        "normalized": number, "source": "192.0.2.10:5060", "start_ms": start,
        "answer_ms": start + 2000 if duration_ms else None,
        "end_ms": start + 2000 + duration_ms, "duration_ms": duration_ms,
        "billable_ms": (duration_ms + 999) // 1000 * 1000,
        "final_code": 200 if duration_ms else 486, "final_reason": None, "hangup": "caller",
        "attempts": '[{"gateway_id":"gw_test","code":200,"start_ms":%d}]' % start,
        "pdd_ms": 900, "created_at": start,
    }
    return row


def cdr(api, cid, client=None, want=None, timeout=10):
    """GET /api/v1/cdrs/{id} until its rating state is `want`."""
    deadline = time.monotonic() + timeout
    while True:
        r = (client or api.admin).get("/api/v1/cdrs/" + cid)
        assert r.status == 200, r.body
        c = r.json()["data"]
        if want is None or c["rating"]["state"] == want:
            return c
        assert time.monotonic() < deadline, c
        time.sleep(0.05)


def entries(api, cid):
    return api.admin.list_all("/api/v1/customers/%s/ledger" % cid)


def test_cdr_rated_with_exact_prices_and_charged_once(api):
    cid, car, sell = priced_parties(api)
    c = cdr(api, insert_cdr(api, cid, car), want="rated")
    p = c["rating"]
    assert (p["sell"], p["sell_micros"], p["buy"], p["buy_micros"]) == (
        "0.0331", 33100, "0.0155", 15500)
    assert (p["margin"], p["margin_micros"], p["currency"]) == ("0.0176", 17600, "USD")
    assert (p["zone"], p["prefix"], p["billable_s"]) == ("UK Mobile", "447", 66)
    assert p["sell_deck"] == {"deck_id": sell, "version": 1}
    assert p["buy_deck"]["version"] == 1 and p["reason"] is None
    e = entries(api, cid)
    assert len(e) == 1
    assert (e[0]["type"], e[0]["amount"], e[0]["amount_micros"]) == ("call_charge", "-0.0331",
                                                                     -33100)
    assert e[0]["reference"] == {"type": "cdr", "id": c["id"]}
    assert e[0]["description"].startswith("zone UK Mobile")
    assert metric(api, 'warp_billing_ledger_postings_total{kind="call_charge",result="posted"}') >= 1
    # an unanswered call owes nothing and posts nothing
    c = cdr(api, insert_cdr(api, cid, car, duration_ms=0), want="rated")
    assert c["rating"]["sell_micros"] == 0 and len(entries(api, cid)) == 1


def metric(api, line_start):
    for line in api.warp.get("/metrics").body.decode().splitlines():
        if line.startswith(line_start + " "):
            return int(float(line.split()[-1]))
    return None


def test_quarantined_cdr_is_rated_once_its_deck_is_fixed(api):
    cid, car, _ = priced_parties(api)
    fixed = deck(api, "sell", SELL + "33,France,EU,0.03,1/1,0,0,voice\n")
    time.sleep(0.01)
    # once one call is rated, the snapshot knows the customer
    cdr(api, insert_cdr(api, cid, car), want="rated")
    bad = insert_cdr(api, cid, car, number="33612345678", duration_ms=30000)
    good = insert_cdr(api, cid, car)
    c = cdr(api, bad, want="quarantined")
    assert (c["rating"]["reason"], c["rating"]["side"]) == ("no_rate", "sell")
    assert c["rating"]["sell"] is None
    # the record behind it is not held up
    assert cdr(api, good, want="rated")["rating"]["sell_micros"] == 33100
    deadline = time.monotonic() + 10
    while (metric(api, 'warp_billing_quarantined{reason="no_rate"}') or 0) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # a deck that covers it: rated under the next snapshot, at the call's time
    assert api.admin.patch("/api/v1/customers/" + cid, {"sell_deck_id": fixed}).status == 200
    p = cdr(api, bad, want="rated")["rating"]
    assert (p["sell_micros"], p["buy_micros"], p["zone"]) == (15000, 5000, "EU")
    assert p["sell_deck"]["deck_id"] == fixed
    assert [x["amount_micros"] for x in entries(api, cid)] == [-15000, -33100, -33100]
    assert metric(api, 'warp_billing_rated_total{kind="cdr"}') >= 2
    assert metric(api, "warp_billing_rating_lag_seconds") == 0  # caught up


def test_rerate_posts_the_difference_once(api):
    cid, car, _ = priced_parties(api)
    dear = deck(api, "sell", SELL.replace("0.021,6/6,0.01,10", "0.042,6/6,0.01,10"))
    c = cdr(api, insert_cdr(api, cid, car), want="rated")
    assert api.admin.patch("/api/v1/customers/" + cid, {"sell_deck_id": dear}).status == 200
    r = api.admin.post("/api/v1/cdrs/%s/rerate" % c["id"], {})
    assert r.status == 202, r.body
    deadline = time.monotonic() + 10
    while cdr(api, c["id"])["rating"]["sell_micros"] != 56200:  # 0.01 + 0.042 * 66 / 60
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # the same price again, asked for by time range: nothing more is posted
    r = api.admin.post("/api/v1/cdr-rerates", {"from": c["start_ms"], "to": c["start_ms"] + 1,
                                               "customer_id": cid})
    assert r.status == 202 and r.json()["data"] == {"queued": 1}, r.body
    assert_error(api.admin.post("/api/v1/cdr-rerates", {"from": 5, "to": 5}), 422,
                 "invalid_value", "/to")
    deadline = time.monotonic() + 10
    while cdr(api, c["id"])["rating"]["ratings"] != 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    e = entries(api, cid)
    assert [(x["type"], x["amount_micros"]) for x in e] == [("adjustment", -23100),
                                                           ("call_charge", -33100)]
    assert e[0]["reference"] == {"type": "cdr", "id": c["id"]}


def test_a_batch_charges_a_postpaid_customer_once_for_all_its_calls(api):
    """Decision 0052: the calls of one customer rated in one batch are one
    ledger entry for their sum; each keeps its price in its rating, and a
    re-rating of one posts its own adjustment."""
    cid, car, _ = priced_parties(api, billing_type="postpaid")
    ids = insert_cdrs(api, cid, car, ["447700900123", "447700900124", "441234567890"])
    rated = [cdr(api, i, want="rated")["rating"] for i in ids]
    # UK: 62 s at 0.0125/min 60/60 is 120 s, 0.025
    assert [p["sell_micros"] for p in rated] == [33100, 33100, 25000]
    e = entries(api, cid)
    assert [(x["type"], x["amount_micros"], x["reference"]) for x in e] == [
        ("call_charge", -91200, {"type": "cdr_batch", "id": None})]
    assert e[0]["description"] == "3 calls rated together"
    assert e[0]["idempotency_key"] == "cdrs:" + sorted(ids)[0]
    b = api.admin.get("/api/v1/customers/%s/balance" % cid).json()["data"]
    assert b["balance_micros"] == -91200
    # the rating rows name the entry and each call's part of it
    parts = api.rows("SELECT cdr_id, entry_id, entry_amount FROM cdr_ratings WHERE cdr_id IN "
                     "(%s)" % ", ".join("'%s'" % i for i in ids))
    assert {(r["entry_id"], r["entry_amount"]) for r in parts} == {
        (e[0]["id"], 33100), (e[0]["id"], 25000)}
    r = api.admin.post("/api/v1/cdrs/%s/rerate" % ids[2], {})
    assert r.status == 202, r.body
    deadline = time.monotonic() + 10
    while cdr(api, ids[2])["rating"]["ratings"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # the same price again: nothing posted, the batch's entry untouched
    assert [x["amount_micros"] for x in entries(api, cid)] == [-91200]


def test_customer_sees_only_its_sell_price_and_zone(api):
    cid, car, _ = priced_parties(api)
    client = api.key(cid)[1]
    one = insert_cdr(api, cid, car)
    cdr(api, one, want="rated")
    mine = cdr(api, one, client=client)
    assert mine["rating"] == {"state": "rated", "sell": "0.0331", "sell_micros": 33100,
                              "currency": "USD", "zone": "UK Mobile"}
    listed = client.get("/api/v1/cdrs").json()["data"]
    assert [x["rating"] for x in listed] == [mine["rating"]]
    admin = api.admin.get("/api/v1/cdrs?customer_id=" + cid).json()["data"][0]["rating"]
    assert admin["buy_micros"] == 15500 and admin["margin_micros"] == 17600
    assert_error(client.post("/api/v1/cdrs/%s/rerate" % one, {}), 403, "forbidden")


def insert_message(api, customer_id, carrier_id, parts=3, number="447700900123"):
    """A message of `parts` parts as the smsc stores it, taken by the carrier
    (submitted), then delivered; returns its id (the group's)."""
    gid = "msg_" + uuid.uuid4().hex[:26]
    now = int(time.time() * 1000)
    for seq in range(1, parts + 1):
        row = {
            "id": gid if seq == 1 else "msg_" + uuid.uuid4().hex[:26], "group_id": gid,
            "part_seq": seq, "part_total": parts, "customer_id": customer_id,
            "origin": "http", "source": "WARP", "destination": number, "body": "00",
            "state": "submitted", "carrier_id": carrier_id, "upstream_id": "up%d" % seq,
            "expires_at": now + 3600000, "created_at": now, "updated_at": now,
            "submitted_at": now,
        }
        api.store.execute("INSERT INTO messages (%s) VALUES (%s)" % (
            ", ".join(row), ", ".join(_pg_literal(v) for v in row.values())))
    return gid


def message(api, gid, client=None, want="rated", timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        r = (client or api.admin).get("/api/v1/messages/" + gid)
        assert r.status == 200, r.body
        m = r.json()["data"]
        if m["rating"]["state"] == want:
            return m
        assert time.monotonic() < deadline, m
        time.sleep(0.05)


def test_message_charged_per_segment_once_every_part_is_final(api):
    cid, car, _ = priced_parties(api)
    cdr(api, insert_cdr(api, cid, car), want="rated")  # the snapshot knows them
    gid = insert_message(api, cid, car)
    time.sleep(0.3)
    # submitted parts are not final: nothing is rated or charged yet
    assert message(api, gid, want="pending")["rating"]["sell"] is None
    api.store.execute("UPDATE messages SET state = 'delivered' WHERE group_id = '%s'" % gid)
    m = message(api, gid)
    # 3 segments at 0.004 sell, 0.0025 buy
    assert (m["rating"]["sell"], m["rating"]["sell_micros"]) == ("0.012", 12000)
    assert (m["rating"]["buy_micros"], m["rating"]["margin_micros"]) == (7500, 4500)
    assert [p["rating"]["sell_micros"] for p in m["parts"]] == [4000, 4000, 4000]
    e = [x for x in entries(api, cid) if x["type"] == "message_charge"]
    assert [(x["amount_micros"], x["reference"]) for x in e] == [
        (-12000, {"type": "message", "id": gid})]
    client = api.key(cid)[1]
    mine = message(api, gid, client=client)["rating"]
    assert mine == {"state": "rated", "sell": "0.012", "sell_micros": 12000,
                    "currency": "USD", "zone": "UK Mobile"}
