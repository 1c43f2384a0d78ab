"""Invoices issued through the API reach NetSuite from the billing role
(decision 0054): `warp run` with the api and billing roles, a run started by
POST /api/v1/invoice-runs, and the local HTTPS NetSuite of test_netsuite.py
(it recomputes every OAuth 1.0a signature, upserts by external id and
records what it got).  Shown: the issued invoice arrives once, by external
id, without any `warp invoice run`; a rerun through the API sends nothing
more; a NetSuite that fails is retried with a growing wait, the document's
attempts and next attempt kept in the store, so a warp restarted while it
waits goes on with the same document and sends it once NetSuite answers.
Against SQLite and PostgreSQL."""
import time

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
from test_invoices import customer_with_deck, november  # noqa: E402
from test_netsuite import ACCOUNT, CREDS, FakeNetSuite  # noqa: E402

pytest_plugins = ["apiclient"]

PATH = "/services/rest/record/v1/invoice/eid:"


@pytest.fixture(scope="module")
def ns(tmp_path_factory):
    s = FakeNetSuite(tmp_path_factory.mktemp("netsuite"))
    yield s
    s.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory, ns):
    env = dict(WARP_NETSUITE_ACCOUNT_ID=ACCOUNT, WARP_NETSUITE_BASE_URL=ns.base,
               WARP_NETSUITE_CA_FILE=str(ns.cert), WARP_NETSUITE_CALLS_ITEM="200",
               WARP_NETSUITE_SMS_ITEM="300", WARP_NETSUITE_ADJUSTMENT_ITEM="400",
               WARP_NETSUITE_TIMEOUT="5s", WARP_NETSUITE_POLL="100ms",
               WARP_NETSUITE_RETRY_BASE="1s", WARP_NETSUITE_RETRY_MAX="4s",
               # the rater stays out of the way of the ledger these tests write
               WARP_BILLING_RATE_INTERVAL="1h",
               **{"WARP_NETSUITE_" + k.upper(): v for k, v in CREDS.items()})
    yield from apiclient.running_env(request, tmp_path_factory, roles="api,billing", env=env)


def restart(api, entities):
    """warp again with this entity map (customers are made at run time)."""
    rc, _ = api.warp.stop()
    assert rc == 0, api.warp.stderr()[-4000:]
    api.warp.env["WARP_NETSUITE_ENTITY_MAP"] = entities
    api.warp.start()


def api_run(api, cid):
    r = api.admin.post("/api/v1/invoice-runs", {"period": "2026-11", "customer_id": cid})
    assert r.status == 201, r.body
    [res] = [x for x in r.json()["data"]["results"] if x["customer_id"] == cid]
    return res


def netsuite_state(api, inv_id, until, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        got = api.admin.get("/api/v1/invoices/" + inv_id).json()["data"]["netsuite"]
        if until(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def puts_to(ns, ext):
    with ns.lock:
        return [t for t, (_, p, _) in zip(ns.times, ns.requests) if p == PATH + ext]


def test_an_invoice_issued_through_the_api_reaches_netsuite_once(api, ns):
    cid = customer_with_deck(api, "Through the API")
    november(api, cid)
    restart(api, "%s=501" % cid)
    res = api_run(api, cid)
    assert res["action"] == "issued"
    inv = res["document"]
    got = netsuite_state(api, inv["id"], lambda n: n["state"] == "sent")
    assert got["state"] == "sent" and got["attempts"] == 1, got
    assert got["record_id"] == ns.records[inv["external_id"]][1]
    assert got["next_attempt_at"] is None and got["error"] is None
    kind, _, rec = ns.records[inv["external_id"]]
    assert kind == "invoice" and rec["entity"] == {"id": "501"}
    assert rec["externalId"] == inv["external_id"] and inv["number"] in rec["memo"]
    assert ns.bad_signatures == 0
    # A rerun through the API changes nothing and sends nothing more.
    assert api_run(api, cid)["action"] == "unchanged"
    time.sleep(1)  # ten polls of the sender
    assert len(puts_to(ns, inv["external_id"])) == 1


def test_a_failed_delivery_waits_longer_each_time_and_survives_a_restart(api, ns):
    cid = customer_with_deck(api, "Flaky NetSuite")
    november(api, cid)
    restart(api, "%s=502" % cid)
    with ns.lock:
        ns.unavailable = 3  # three 503s before it takes the record
        # this customer's alone: another test's document still being retried
        # must not use them up
        ns.unavailable_entity = "502"
    inv = api_run(api, cid)["document"]
    ext = inv["external_id"]
    got = netsuite_state(api, inv["id"], lambda n: n["attempts"] >= 2)
    assert got["state"] == "failed" and got["error"].startswith("HTTP 503"), got
    assert got["next_attempt_at"] and got["sent_at"] is None, got
    # Stopped while it waits: the document, its attempts and its next
    # attempt are in the store; the restarted warp goes on from there.
    restart(api, "%s=502" % cid)
    got = netsuite_state(api, inv["id"], lambda n: n["state"] == "sent")
    # 4 attempts, or 3 when the stop came while the third was in flight: a
    # request a stopping warp abandons is not an attempt, though the server
    # saw it (and answered its 503 to a closed connection).
    assert got["state"] == "sent" and got["attempts"] in (3, 4), got
    times = puts_to(ns, ext)
    assert len(times) == 4
    waits = [b - a for a, b in zip(times, times[1:])]
    # retry_base 1 s doubled per failure, half of each random: at least
    # 0.5, 1 and 2 s (the restart only adds to one of them; after an
    # abandoned third request the restarted warp sends the fourth at once).
    assert waits[0] >= 0.5 and waits[1] >= 1.0, waits
    assert got["attempts"] == 3 or waits[2] >= 2.0, waits
    assert len(ns.records) and ns.records[ext][2]["entity"] == {"id": "502"}
    # Sent is final: nothing more goes.
    time.sleep(1)
    assert len(puts_to(ns, ext)) == 4


def test_a_stop_abandons_the_request_in_flight(api, ns):
    """[netsuite] timeout is 5 s here; a warp stopped while NetSuite sits on
    a request exits at once, and the document goes again after a restart."""
    cid = customer_with_deck(api, "Slow NetSuite")
    november(api, cid)
    restart(api, "%s=503" % cid)
    ns.hung.clear()
    ns.hang = 3
    inv = api_run(api, cid)["document"]
    assert ns.hung.wait(10), "the request did not come"
    rc, took = api.warp.stop()
    assert rc == 0 and took < 2, (rc, took)
    ns.hang = 0
    api.warp.start()
    got = netsuite_state(api, inv["id"], lambda n: n["state"] == "sent")
    assert got["state"] == "sent" and got["attempts"] == 2, got
    assert ns.records[inv["external_id"]][2]["entity"] == {"id": "503"}
