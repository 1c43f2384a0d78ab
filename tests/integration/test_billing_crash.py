"""The billing role killed with SIGKILL in the middle of rating, then started
again (decisions 0036, 0052): every CDR ends rated once, and what each
customer's ledger and balance took is exactly the sum of its CDRs' prices —
nothing lost, nothing charged twice — whether its calls were charged per
batch (postpaid) or one by one (prepaid).  SQLite, whose batches commit
with the WAL synced as the role runs them."""
import signal
import time

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
from test_billing_role import BUY, SELL, deck, insert_cdrs  # noqa: E402

pytest_plugins = ["apiclient"]

CDRS = 6000  # per customer
BATCH = "60"  # small batches: many commits, so the kill lands between two


def rated(w):
    for line in w.get("/metrics").body.decode().splitlines():
        if line.startswith('warp_billing_rated_total{kind="cdr"} '):
            return int(float(line.split()[-1]))
    return 0


@pytest.fixture
def crashable(request, tmp_path):
    w, store = apiclient._start(tmp_path, "sqlite", request, roles="api")
    w.start()
    yield w, apiclient.Env(w, store)
    if w.proc and w.proc.poll() is None:
        w.proc.kill()
        w.proc.wait()


def test_a_kill_in_the_middle_of_rating_loses_and_repeats_nothing(crashable):
    w, api = crashable
    sell, buy = deck(api, "sell", SELL), deck(api, "buy", BUY)
    car = api.admin.create("/api/v1/carriers", {"name": "c", "buy_deck_id": buy})["id"]
    customers = [api.customer(currency="USD", sell_deck_id=sell, billing_type=t)
                 for t in ("postpaid", "postpaid", "prepaid")]
    assert w.stop()[0] == 0
    time.sleep(0.01)  # the calls start after the decks took effect
    for cid in customers:
        for _ in range(CDRS // 500):
            insert_cdrs(api, cid, car, ["447700900123", "441234567890"] * 250)
    w.env.update({"WARP_RUN_ROLES": "api,billing", "WARP_BILLING_RATE_BATCH": BATCH,
                  "WARP_BILLING_RATE_INTERVAL": "20ms"})
    w.start()
    deadline = time.monotonic() + 30
    while rated(w) < 600:  # some batches are in
        assert time.monotonic() < deadline and w.proc.poll() is None, w.stderr()[-2000:]
        time.sleep(0.005)
    w.proc.send_signal(signal.SIGKILL)
    w.proc.wait()
    left = api.count("cdr_ratings", "state = 'pending'")
    assert 0 < left < 3 * CDRS, "the kill did not land while rating"
    # a SIGTERM while the backlog is read ahead stops both threads at once
    w.start()
    while rated(w) < 60:
        assert w.proc.poll() is None, w.stderr()[-2000:]
        time.sleep(0.005)
    rc, took = w.stop()
    assert rc == 0 and took < 5, w.stderr()[-2000:]
    w.start()
    deadline = time.monotonic() + 60
    while api.count("cdr_ratings", "state = 'pending'"):
        assert time.monotonic() < deadline and w.proc.poll() is None, w.stderr()[-2000:]
        time.sleep(0.1)
    rc, _ = w.stop()
    assert rc == 0, w.stderr()[-2000:]
    assert api.count("cdr_ratings", "state = 'rated' AND ratings = 1") == 3 * CDRS
    for cid in customers:
        sold = api.rows("SELECT SUM(g.sell) AS s FROM cdr_ratings g JOIN cdrs c ON "
                        "c.id = g.cdr_id WHERE c.customer_id = ?", cid)[0]["s"]
        took = api.rows("SELECT -SUM(amount) AS s, COUNT(*) AS n FROM ledger_entries WHERE "
                        "customer_id = ?", cid)[0]
        bal = api.rows("SELECT balance FROM balances WHERE customer_id = ?", cid)[0]["balance"]
        assert sold == (33100 + 25000) * CDRS // 2 == took["s"] == -bal, cid
        # every batch entry's parts add up to it: the invoice's lines add up
        parts = api.rows("SELECT e.amount AS a, SUM(g.entry_amount) AS p FROM ledger_entries e "
                         "JOIN cdr_ratings g ON g.entry_id = e.id WHERE e.customer_id = ? "
                         "GROUP BY e.id, e.amount", cid)
        assert all(r["a"] == -r["p"] for r in parts)
        if cid == customers[2]:  # prepaid: one entry per call, under its key
            assert took["n"] == CDRS and not parts
        else:
            assert 0 < len(parts) <= took["n"] < CDRS // 10
