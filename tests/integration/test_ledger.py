"""Balances and the append-only ledger through the real binary (decision
0035): top-ups and adjustments posted with POST
/api/v1/customers/{id}/balance-transactions as exact decimal strings, the
Idempotency-Key as the entry's own key (a retry answers the first entry, a
different body 409), the balance read in one row and always equal to the sum
of the entries (also with concurrent posters), a customer reading only its
own, and the signed balance.low webhook once per crossing of the threshold
to a receiver on loopback.  Against SQLite and PostgreSQL, and with two
processes posting for one customer on one PostgreSQL."""
import json
import threading
import time
import uuid

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
import conftest  # noqa: E402
from apiclient import assert_error  # noqa: E402
from test_webhooks import SECRET, Receiver, valid_signature  # noqa: E402

pytest_plugins = ["apiclient"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    # balance.low delivered to 127.0.0.1; the default threshold is what
    # customers without their own get.
    env = dict(apiclient.WEBHOOKS_ENV, WARP_BILLING_LOW_BALANCE_THRESHOLD="1.50")
    yield from apiclient.running_env(request, tmp_path_factory, env=env)


@pytest.fixture
def rx():
    r = Receiver()
    yield r
    r.close()


def post(api, cid, body, key=None, client=None):
    headers = {"Idempotency-Key": key} if key else {}
    return (client or api.admin).post("/api/v1/customers/%s/balance-transactions" % cid, body,
                                      headers=headers)


def posted(api, cid, kind, amount, key=None):
    r = post(api, cid, {"type": kind, "amount": amount, "description": "test"}, key)
    assert r.status == 201, r.body
    return r.json()["data"]


def balance(api, cid, client=None):
    r = (client or api.admin).get("/api/v1/customers/%s/balance" % cid)
    assert r.status == 200, r.body
    return r.json()["data"]


def entries(api, cid, query="", client=None):
    return (client or api.admin).list_all("/api/v1/customers/%s/ledger%s" % (cid, query), limit=3)


def test_topup_and_negative_adjustment(api):
    cid = api.customer(credit_limit=5000000)
    e = posted(api, cid, "topup", "10.00")
    assert (e["type"], e["seq"], e["amount"], e["amount_micros"]) == ("topup", 1, "10.00", 10000000)
    assert (e["balance_after"], e["currency"], e["customer_id"]) == ("10.00", "USD", cid)
    assert e["id"].startswith("led_") and e["description"] == "test" and e["reference"] is None
    e = posted(api, cid, "adjustment", "-2.345678")
    assert (e["seq"], e["amount"], e["balance_after"]) == (2, "-2.345678", "7.654322")
    b = balance(api, cid)
    assert (b["balance"], b["balance_micros"], b["currency"], b["currency_decimals"]) == (
        "7.654322", 7654322, "USD", 2)
    assert (b["credit_limit"], b["reserved"], b["available"], b["available_micros"]) == (
        "5.00", "0.00", "12.654322", 12654322)
    assert (b["seq"], b["low"], b["low_balance_threshold"]) == (2, False, "1.50")
    # A customer with no entry yet has a zero balance, not a 404.
    fresh = balance(api, api.customer())
    assert (fresh["balance"], fresh["seq"], fresh["updated_at"]) == ("0.00", 0, 0)


def test_amounts_are_exact_and_checked(api):
    cid = api.customer()
    for _ in range(3):
        posted(api, cid, "topup", "0.1")
    assert balance(api, cid)["balance_micros"] == 300000
    assert_error(post(api, cid, {"type": "topup", "amount": "1.0000001"}), 422, "invalid_value",
                 "/amount")
    assert_error(post(api, cid, {"type": "topup", "amount": 10}), 422, "invalid_type", "/amount")
    assert_error(post(api, cid, {"type": "topup", "amount": "-1"}), 422, "invalid_value",
                 "/amount")
    assert_error(post(api, cid, {"type": "adjustment", "amount": "0"}), 422, "invalid_value",
                 "/amount")
    assert_error(post(api, cid, {"type": "topup", "amount": "2000000000"}), 422, "out_of_range",
                 "/amount")
    assert_error(post(api, cid, {"type": "call_charge", "amount": "-1"}), 422, "invalid_value",
                 "/type")
    assert_error(post(api, cid, {"type": "topup", "amount": "1", "x": 1}), 422, "unknown_field")
    assert_error(post(api, "cus_nobody", {"type": "topup", "amount": "1"}), 404, "not_found")
    assert balance(api, cid)["seq"] == 3


def test_idempotent_retry_returns_the_same_entry(api):
    cid = api.customer()
    key = "topup-" + uuid.uuid4().hex
    body = {"type": "topup", "amount": "25.00", "description": "wire 1234"}
    first = post(api, cid, body, key)
    again = post(api, cid, body, key)
    assert first.status == again.status == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["data"]["idempotency_key"] == key
    assert [e["id"] for e in entries(api, cid)] == [first.json()["data"]["id"]]
    assert balance(api, cid)["balance"] == "25.00"
    metrics = api.warp.get("/metrics").body.decode()
    for result in ("posted", "replayed"):
        line = 'warp_billing_ledger_postings_total{kind="topup",result="%s"} ' % result
        assert line in metrics and int(metrics.split(line)[1].split()[0]) >= 1, metrics[-2000:]


def test_conflicting_retry_is_refused(api):
    cid = api.customer()
    key = "k-" + uuid.uuid4().hex
    assert post(api, cid, {"type": "topup", "amount": "5"}, key).status == 201
    assert_error(post(api, cid, {"type": "topup", "amount": "6"}, key), 409,
                 "idempotency_key_reused")
    assert_error(post(api, cid, {"type": "adjustment", "amount": "5"}, key), 409,
                 "idempotency_key_reused")
    assert balance(api, cid)["balance"] == "5.00"
    # The key is the customer's: another customer may use it.
    assert post(api, api.customer(), {"type": "topup", "amount": "6"}, key).status == 201


def test_balance_equals_the_sum_of_entries(api):
    cid = api.customer()
    posted(api, cid, "topup", "100")
    results = []

    def poster(n):
        for i in range(10):
            kind, amount = ("adjustment", "-1.25") if (n + i) % 2 else ("topup", "0.75")
            r = post(api, cid, {"type": kind, "amount": amount}, "c-%d-%d" % (n, i))
            results.append(r.status)

    threads = [threading.Thread(target=poster, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [201] * 40
    listed = entries(api, cid)
    assert [e["seq"] for e in listed] == list(range(41, 0, -1))  # newest first, no gap
    b = balance(api, cid)
    assert b["balance_micros"] == sum(e["amount_micros"] for e in listed) == 100000000 - 20 * 500000
    stored = api.rows("SELECT SUM(amount) AS s FROM ledger_entries WHERE customer_id = ?", cid)
    assert stored[0]["s"] == b["balance_micros"]
    assert listed[0]["balance_after_micros"] == b["balance_micros"]
    adjustments = entries(api, cid, "?type=adjustment")
    assert len(adjustments) == 20 and {e["type"] for e in adjustments} == {"adjustment"}
    assert entries(api, cid, "?to=1") == []


def test_balance_keeps_its_currency(api):
    cid = api.customer(currency="JPY")
    assert posted(api, cid, "topup", "1500")["amount"] == "1500"  # JPY has no decimals
    assert balance(api, cid)["currency_decimals"] == 0
    assert api.admin.patch("/api/v1/customers/" + cid, {"currency": "EUR"}).status == 200
    assert_error(post(api, cid, {"type": "topup", "amount": "1"}), 409, "currency_mismatch")
    b = balance(api, cid)
    assert (b["currency"], b["balance"]) == ("JPY", "1500")


def test_customers_read_only_their_own(api):
    cid, me = api.tenant()
    other = api.customer()
    posted(api, cid, "topup", "3")
    posted(api, other, "topup", "4")
    assert balance(api, cid, client=me)["balance"] == "3.00"
    mine = entries(api, cid, client=me)
    assert len(mine) == 1 and "created_by" not in mine[0] and "idempotency_key" not in mine[0]
    assert_error(me.get("/api/v1/customers/%s/balance" % other), 404, "not_found")
    assert_error(me.get("/api/v1/customers/%s/ledger" % other), 404, "not_found")
    assert_error(post(api, cid, {"type": "topup", "amount": "1"}, client=me), 403, "forbidden")
    assert_error(post(api, other, {"type": "topup", "amount": "1"}, client=me), 403, "forbidden")
    assert_error(api.admin.get("/api/v1/customers/cus_nobody/ledger"), 404, "not_found")
    assert balance(api, other)["balance"] == "4.00"


def test_entries_are_kept(api):
    cid = api.customer()
    posted(api, cid, "topup", "1")
    # No route changes an entry; the store refuses it too (a trigger).
    assert api.admin.delete("/api/v1/customers/%s/ledger" % cid).status in (404, 405)
    with pytest.raises(Exception):
        api.store.execute("UPDATE ledger_entries SET amount = 0 WHERE customer_id = '%s'" % cid)
    with pytest.raises(Exception):
        api.store.execute("DELETE FROM ledger_entries WHERE customer_id = '%s'" % cid)
    assert_error(api.admin.delete("/api/v1/customers/" + cid), 409, "has_dependents")
    assert balance(api, cid)["balance"] == "1.00"


def low_events(reqs):
    return [r for r in reqs if r["headers"].get("warp-event-type") == "balance.low"]


def test_balance_low_webhook_once_per_crossing(api, rx):
    cid = api.customer(low_balance_threshold=5000000)
    api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": rx.url, "secret": SECRET,
                                          "event_types": ["balance.*"]})
    posted(api, cid, "topup", "10")
    crossed = posted(api, cid, "adjustment", "-6")  # 4.00: below 5.00
    posted(api, cid, "adjustment", "-1")  # 3.00: still below, no second event
    rx.wait_for(lambda reqs: len(low_events(reqs)) >= 1)
    time.sleep(0.5)
    assert len(low_events(rx.requests)) == 1
    posted(api, cid, "topup", "2")  # 5.00: back at the threshold, re-armed
    again = posted(api, cid, "adjustment", "-0.01")  # 4.99: a new crossing
    rx.wait_for(lambda reqs: len(low_events(reqs)) >= 2)
    time.sleep(0.5)
    got = low_events(rx.requests)
    assert len(got) == 2
    assert all(valid_signature(r) for r in got)
    bodies = [json.loads(r["body"]) for r in got]
    assert [b["type"] for b in bodies] == ["balance.low"] * 2
    assert [b["resource_id"] for b in bodies] == [crossed["id"], again["id"]]
    data = [b["data"] for b in bodies]
    assert [(d["balance"], d["balance_micros"]) for d in data] == [("4.00", 4000000),
                                                                  ("4.99", 4990000)]
    assert {(d["threshold"], d["currency"], d["customer_id"]) for d in data} == {
        ("5.00", "USD", cid)}
    # The same events through the API.
    listed = api.admin.get("/api/v1/events?type=balance.low&customer_id=" + cid).json()["data"]
    assert [e["id"] for e in listed] == [b["id"] for b in bodies]


def test_balance_low_default_threshold(api, rx):
    cid = api.customer()  # no threshold of its own: [billing] low_balance_threshold 1.50
    api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": rx.url, "secret": SECRET,
                                          "event_types": ["balance.low"]})
    posted(api, cid, "topup", "2")
    posted(api, cid, "adjustment", "-0.50")  # 1.50: not below
    posted(api, cid, "adjustment", "-0.01")  # 1.49: below
    rx.wait_for(lambda reqs: len(low_events(reqs)) >= 1)
    time.sleep(0.3)
    assert len(low_events(rx.requests)) == 1
    d = json.loads(low_events(rx.requests)[0]["body"])["data"]
    assert (d["balance"], d["threshold"], d["threshold_micros"]) == ("1.49", "1.50", 1500000)
    assert balance(api, cid)["low"] is True


@pytest.fixture(scope="module", params=["postgres"])
def pg_pair(request, tmp_path_factory):
    """Two api processes on one PostgreSQL database."""
    gen = apiclient.running_env(request, tmp_path_factory)
    first = next(gen)
    second = conftest.Warp(tmp_path_factory.mktemp("ledger-second"), store_url=first.warp.store_url,
                           extra_ini=apiclient.API_INI,
                           env={"WARP_ADMIN_TOKEN": apiclient.ADMIN_TOKEN, "WARP_RUN_ROLES": "api"})
    second.start()
    try:
        yield first, apiclient.Env(second, first.store)
    finally:
        rc, _ = second.stop()
        next(gen, None)  # stops the first, which must exit 0 too
        assert rc == 0, "second warp exited %s: %s" % (rc, second.stderr()[-3000:])


def test_two_processes_post_for_one_customer(pg_pair):
    a, b = pg_pair
    cid = a.customer()
    posted(a, cid, "topup", "100")
    statuses = []

    # Each key is posted once through each process at about the same time:
    # one entry per key, whichever commits first.
    def poster(env, keys, amount):
        for i in range(15):
            r = post(env, cid, {"type": "adjustment", "amount": amount}, "%s-%d" % (keys, i))
            statuses.append(r.status)

    threads = [threading.Thread(target=poster, args=args) for args in
               ((a, "minus", "-1.25"), (b, "minus", "-1.25"), (a, "plus", "0.75"),
                (b, "plus", "0.75"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [201] * 60
    assert balance(b, cid)["balance"] == balance(a, cid)["balance"] == "92.50"
    rows = a.rows("SELECT seq, amount, balance_after FROM ledger_entries WHERE customer_id = ? "
                  "ORDER BY seq", cid)
    assert [r["seq"] for r in rows] == list(range(1, 32))
    running = 0
    for r in rows:
        running += r["amount"]
        assert r["balance_after"] == running, rows
    assert running == balance(a, cid)["balance_micros"]
