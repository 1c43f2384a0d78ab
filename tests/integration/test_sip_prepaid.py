"""Real-time prepaid authorization of calls through the real binary
(decision 0037): a prepaid customer's INVITE is priced from its sell deck
and money reserved before it is routed; the call is cut by the proxy's BYE
at the last second its balance buys and the ledger shows the exact charge
(key cdr:<id>); 402 when broke, 403 with the reason when the deck has no
rate, 503 when the store does not answer in time; and 100 parallel calls on
a balance that covers ten minutes never take it below the credit limit, on
SQLite and with two sip processes on one PostgreSQL.  SIPp plays the
customer's PBX and the carrier's gateway on loopback."""
import json
import os
import re
import sqlite3
import time

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
import conftest  # noqa: E402
from sipfix import (SipWarp, TOKEN, ini, render, scenario, shared_scenario,  # noqa: E402
                    sip_port, wait_sip_listening)

pytest_plugins = ["apiclient"]

NUMBER = "15551234567"
MICRO = 1000000


def start_warp(tmp, store_url, extra=""):
    port = sip_port()
    w = conftest.Warp(tmp, store_url=store_url, extra_ini=ini(port, extra),
                      env={"WARP_ADMIN_TOKEN": TOKEN}, args=["--roles", "api,sip"])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    return w


class Prepaid(SipWarp):
    """A running warp with helpers for decks, balances and the ledger."""

    def __init__(self, warp, tmp, store):
        super().__init__(warp, tmp)
        self.store = store

    def deck(self, csv):
        d = self.api("POST", "/rate-decks", {"name": "sell", "direction": "sell",
                                              "currency": "USD"})
        r = conftest.http("POST", self.w.base + "/api/v1/rate-decks/%s/versions" % d["id"],
                          csv.encode(), headers=dict(AUTH_CSV))
        assert r.status == 201, r.body
        self.api("POST", "/rate-decks/%s/versions/1/activate" % d["id"], {})
        return d["id"]

    def topup(self, cid, amount):
        self.api("POST", "/customers/%s/balance-transactions" % cid,
                 {"type": "topup", "amount": amount})

    def balance(self, cid):
        return self.api("GET", "/customers/%s/balance" % cid)

    def rows(self, sql, *params):
        return self.store.rows(sql, *params)

    def version(self):
        return self.rows("SELECT version FROM config_version")[0]["version"]

    def synced(self, timeout=5.0):
        """Both snapshots the sip role reads have the store's config version."""
        target = self.version()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.w.get("/metrics").body.decode()
            got = [int(v) for v in re.findall(
                r'^warp_snapshot_version\{name="(?:sip_policy|billing_rating)"\} (\d+)$',
                text, re.M)]
            if len(got) == 2 and min(got) >= target:
                return
            time.sleep(0.02)
        raise AssertionError("snapshots did not reach config version %d" % target)

    def provision(self, caller_ports, gw_ports, csv, balance=None, credit_limit=0, **trunk):
        deck = self.deck(csv)
        cus = self.customer(billing_type="prepaid", credit_limit=credit_limit,
                            sell_deck_id=deck)
        trk = self.trunk(cus, caller_ports, **trunk)
        car, gws = self.carrier("carrier-a", gw_ports)
        self.route("1", [car])
        if balance:
            self.topup(cus, balance)
        self.synced()
        return cus

    def cdrs(self, expect=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows("SELECT * FROM cdrs ORDER BY start_ms, id")
            if len(rows) >= expect or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def charges(self, cid):
        return self.rows("SELECT amount, idempotency_key, reference_type, reference_id FROM "
                         "ledger_entries WHERE customer_id = ? AND kind = 'call_charge' "
                         "ORDER BY seq", cid)

    def settled(self, cid, expect=1, timeout=10.0):
        """Waits until cid has expect reservations and none is open; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows("SELECT state, amount, reference_id FROM reservations WHERE "
                             "customer_id = ?", cid)
            done = len(rows) >= expect and all(r["state"] != "open" for r in rows)
            if done or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def metric(self, pattern):
        m = re.search(pattern, self.w.get("/metrics").body.decode(), re.M)
        return float(m.group(1)) if m else None


AUTH_CSV = {"Authorization": "Bearer " + TOKEN, "Content-Type": "text/csv"}

# 1.20 a minute billed per second (0.02/s) and 0.01 to connect, for the
# dialled number; nothing for 44.
DECK = ("prefix,destination,rate,increments,connection fee\r\n"
        "1555,US test,1.20,1/1,0.01\r\n"
        "44,UK,0.60,1/1,0\r\n")


@pytest.fixture
def prepaid(tmp_path):
    w = start_warp(tmp_path, "sqlite:%s" % (tmp_path / "warp.db"),
                   "prepaid_timeout = 500ms\nprepaid_sweep_interval = 1s\n")
    p = Prepaid(w, tmp_path, apiclient.SqliteRows(str(tmp_path / "warp.db")))
    yield p
    rc, _ = p.stop()
    assert rc == 0, "warp exited %s: %s" % (rc, w.stderr()[-3000:])


def test_call_is_cut_at_what_the_balance_buys_and_charged_exactly(prepaid):
    p = prepaid
    cport, gport = sip_port(), sip_port()
    # 0.07 buys 0.01 + 3 s at 0.02: less than a quantum (5 minutes), so the
    # call reserves all of it and may talk for 3 seconds.
    cus = p.provision([cport], [gport], DECK, balance="0.07")
    callee = p.sipp("callee", scenario("uas_held_up.xml"), gport).start()
    caller = p.caller("caller", scenario("uac_held_up.xml"), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    assert caller.requests() == ["BYE"] and callee.requests() == ["INVITE", "ACK", "BYE"]
    (r,) = p.cdrs(1)
    assert r["hangup"] == "proxy" and r["final_code"] == 200
    assert 2000 <= r["duration_ms"] <= 3000, r["duration_ms"]  # inside the 3rd second
    rsv = p.settled(cus)
    assert [x["state"] for x in rsv] == ["settled"] and rsv[0]["amount"] == 70000
    (c,) = p.charges(cus)
    assert c == {"amount": -70000, "idempotency_key": "cdr:" + r["id"],
                 "reference_type": "cdr", "reference_id": r["id"]}
    b = p.balance(cus)
    assert (b["balance_micros"], b["reserved_micros"]) == (0, 0), b


def test_one_call_extends_quantum_by_quantum_to_all_its_balance_buys(tmp_path):
    w = start_warp(tmp_path, "sqlite:%s" % (tmp_path / "warp.db"), "prepaid_quantum = 2s\n")
    p = Prepaid(w, tmp_path, apiclient.SqliteRows(str(tmp_path / "warp.db")))
    try:
        cport, gport = sip_port(), sip_port()
        # A quantum (2 s) costs 0.05 with the fee; 0.11 buys 5 s: two
        # quanta and then what is left (0.01), reserved while the call talks.
        cus = p.provision([cport], [gport], DECK, balance="0.11")
        callee = p.sipp("callee", scenario("uas_held_up.xml"), gport).start()
        caller = p.caller("caller", scenario("uac_held_up.xml"), cport, NUMBER).start()
        deadline = time.monotonic() + 5
        while 200 not in caller.codes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert p.metric(r"^warp_sip_prepaid_reservations (\d+)") >= 1
        assert caller.wait() == 0, caller.describe()
        assert callee.wait() == 0, callee.describe()
        (r,) = p.cdrs(1)
        assert r["hangup"] == "proxy" and 4000 <= r["duration_ms"] <= 5000, r["duration_ms"]
        rsv = p.settled(cus, expect=3)
        assert sorted((x["state"], x["amount"]) for x in rsv) == [
            ("released", 10000), ("released", 50000), ("settled", 50000)], rsv
        (c,) = p.charges(cus)
        assert c["amount"] == -110000 and c["idempotency_key"] == "cdr:" + r["id"]
        b = p.balance(cus)
        assert (b["balance_micros"], b["reserved_micros"]) == (0, 0), b
        assert p.metric(r"^warp_sip_prepaid_reservations (\d+)") == 0
        # the INVITE's, two more, and a fourth refused: nothing left
        assert p.metric(r"^warp_sip_prepaid_authorization_seconds_count (\d+)") == 4
    finally:
        rc, _ = p.stop()
    assert rc == 0, "warp exited %s: %s" % (rc, w.stderr()[-3000:])


def test_short_call_is_charged_its_own_duration(prepaid):
    p = prepaid
    cport, gport = sip_port(), sip_port()
    cus = p.provision([cport], [gport], DECK, balance="10")
    callee = p.sipp("callee", shared_scenario("uas_rr.xml"), gport).start()
    caller = p.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER,
                      hold_ms=1200).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    (r,) = p.cdrs(1)
    assert r["hangup"] == "caller"
    seconds = -(-r["duration_ms"] // 1000)
    p.settled(cus)
    (c,) = p.charges(cus)
    assert c["amount"] == -(10000 + 20000 * seconds) and c["idempotency_key"] == "cdr:" + r["id"]
    # A quantum was held while the call was up: 0.01 + 300 s at 0.02.
    (x,) = p.rows("SELECT amount, state FROM reservations")
    assert x == {"amount": 6010000, "state": "settled"}
    assert p.balance(cus)["reserved_micros"] == 0


def test_unanswered_call_gives_its_reservation_back(prepaid, tmp_path):
    p = prepaid
    cport, gport = sip_port(), sip_port()
    cus = p.provision([cport], [gport], DECK, balance="10")
    busy = p.sipp("gw", render(tmp_path, "uas_reject.xml", code=486), gport).start()
    caller = p.caller("caller", conftest_render(tmp_path, 486), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    assert busy.wait() == 0, busy.describe()
    (r,) = p.cdrs(1)
    assert r["final_code"] == 486
    rows = p.settled(cus)
    assert [(x["state"], x["reference_id"]) for x in rows] == [("released", r["id"])], rows
    assert p.charges(cus) == []
    b = p.balance(cus)
    assert (b["balance"], b["reserved_micros"]) == ("10.00", 0), b


def test_sigterm_with_a_prepaid_call_up_charges_it_before_exiting(tmp_path):
    w = start_warp(tmp_path, "sqlite:%s" % (tmp_path / "warp.db"))
    p = Prepaid(w, tmp_path, apiclient.SqliteRows(str(tmp_path / "warp.db")))
    try:
        cport, gport = sip_port(), sip_port()
        cus = p.provision([cport], [gport], DECK, balance="10")
        callee = p.sipp("callee", scenario("uas_held_up.xml"), gport).start()
        caller = p.caller("caller", scenario("uac_held_up.xml"), cport, NUMBER).start()
        deadline = time.monotonic() + 5
        while 200 not in caller.codes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert 200 in caller.codes(), caller.describe()
        time.sleep(1.1)
    except BaseException:
        p.stop()  # a failure before the SIGTERM under test must not leave warp running
        raise
    rc, _ = p.stop()
    assert rc == 0, w.stderr()[-3000:]
    (r,) = p.cdrs(1, timeout=0)
    assert r["hangup"] == "proxy" and r["answer_ms"] > 0
    # The BYE of the shutdown ended the call; its settle ran before exit.
    rsv = p.settled(cus, timeout=0)
    assert [x["state"] for x in rsv] == ["settled"], rsv
    (c,) = p.charges(cus)
    seconds = -(-r["duration_ms"] // 1000)
    assert c["amount"] == -(10000 + 20000 * seconds) and c["idempotency_key"] == "cdr:" + r["id"]


def test_broke_customer_gets_402_and_a_cdr(prepaid, tmp_path):
    p = prepaid
    cport, gport = sip_port(), sip_port()
    cus = p.provision([cport], [gport], DECK, balance="0.02")  # not the fee and 1 s
    caller = p.caller("caller", conftest_render(tmp_path, 402), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    last = caller.messages()[-1]
    assert 'Reason: SIP;cause=402;text="prepaid: insufficient balance"' in last, last
    (r,) = p.cdrs(1)
    assert (r["final_code"], r["customer_id"]) == (402, cus)
    assert r["final_reason"] == "prepaid: insufficient balance"
    assert p.charges(cus) == [] and p.rows("SELECT * FROM reservations") == []
    assert p.metric(r'^warp_sip_prepaid_refusals_total\{reason="insufficient_funds"\} (\d+)') == 1


def test_number_without_a_rate_is_refused_403_with_the_reason(prepaid, tmp_path):
    p = prepaid
    cport, gport = sip_port(), sip_port()
    cus = p.provision([cport], [gport], "prefix,rate\r\n44,0.60\r\n", balance="10")
    caller = p.caller("caller", conftest_render(tmp_path, 403), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    last = caller.messages()[-1]
    assert 'text="prepaid: no rate for the dialled number"' in last, last
    (r,) = p.cdrs(1)
    assert (r["final_code"], r["customer_id"]) == (403, cus)
    assert p.metric(r'^warp_sip_prepaid_refusals_total\{reason="no_rate"\} (\d+)') == 1
    assert p.balance(cus)["balance"] == "10.00"


def test_prepaid_customer_without_a_sell_deck_is_refused_403(prepaid, tmp_path):
    """No sell deck at all is no price: the call is refused, never routed
    unpriced (decision 0052; before, it went to the carrier unrated)."""
    p = prepaid
    cport, gport = sip_port(), sip_port()
    cus = p.customer(billing_type="prepaid")
    p.trunk(cus, [cport])
    car, _ = p.carrier("carrier-a", [gport])
    p.route("1", [car])
    p.topup(cus, "10")
    p.synced()
    caller = p.caller("caller", conftest_render(tmp_path, 403), cport, NUMBER).start()
    assert caller.wait() == 0, caller.describe()
    last = caller.messages()[-1]
    assert 'Reason: SIP;cause=403;text="prepaid: no sell deck, so no price for the call"' in \
        last, last
    (r,) = p.cdrs(1)
    assert (r["final_code"], r["customer_id"]) == (403, cus)
    assert json.loads(r["attempts"] or "[]") == []  # no carrier saw it
    assert p.metric(r'^warp_sip_prepaid_refusals_total\{reason="no_deck"\} (\d+)') == 1
    assert p.balance(cus)["balance"] == "10.00"


def test_store_that_does_not_answer_in_time_gives_503(prepaid, tmp_path):
    p = prepaid
    cport, gport = sip_port(), sip_port()
    cus = p.provision([cport], [gport], DECK, balance="10")
    # A writer holding SQLite's lock: the reservation waits behind it
    # (busy timeout 5 s), longer than prepaid_timeout (500 ms).
    db = sqlite3.connect(str(p.tmp / "warp.db"), timeout=5, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    try:
        caller = p.caller("caller", conftest_render(tmp_path, 503), cport, NUMBER).start()
        assert caller.wait() == 0, caller.describe()
    finally:
        time.sleep(0.3)
        db.execute("ROLLBACK")
        db.close()
    last = caller.messages()[-1]
    assert 'text="prepaid authorization timed out"' in last, last
    assert p.metric(r'^warp_sip_prepaid_refusals_total\{reason="timeout"\} (\d+)') == 1
    # The reservation the store made late is given back.
    rows = p.settled(cus)
    assert [r["state"] for r in rows] == ["released"], rows
    assert p.balance(cus)["reserved_micros"] == 0


def test_reservations_a_dead_process_left_are_swept(prepaid):
    p = prepaid
    cus = p.customer(billing_type="prepaid")
    p.topup(cus, "5")
    # What a sip process that died mid-call leaves: an open reservation
    # past its expiry, its amount still held in the balance row.
    now = int(time.time() * 1000)
    p.store.execute("INSERT INTO reservations (id, customer_id, amount, state, reference_type, "
                    "reference_id, expires_at, created_at) VALUES ('rsv_dead', '%s', 2000000, "
                    "'open', 'cdr', 'cdr_dead', %d, %d)" % (cus, now - 1000, now - 60000))
    p.store.execute("UPDATE balances SET reserved = reserved + 2000000 WHERE customer_id = '%s'"
                    % cus)
    assert p.balance(cus)["available"] == "3.00"
    # prepaid_sweep_interval = 1s in this fixture
    (r,) = p.settled(cus, timeout=5)
    assert r["state"] == "expired"
    b = p.balance(cus)
    assert (b["available"], b["reserved_micros"], b["balance"]) == ("5.00", 0, "5.00"), b


def conftest_render(tmp, code):
    return render(tmp, "uac_expect.xml", code=code, mf=70)


# ---------------------------------------------------------------- parallel

# 1.00 a second billed per second: ten minutes are 600.00.  A quantum of
# 10 s costs 10.00, so 60 calls get one, one more what is left of the
# credit limit (5 s), the others 402, and nobody gets a second quantum.
PARALLEL_DECK = "prefix,rate,increments\r\n1555,60,1/1\r\n"
PARALLEL_INI = "prepaid_quantum = 10s\nprepaid_timeout = 5s\nprepaid_threads = 2\n"


def run_parallel(envs, cus, gport, cports, calls):
    callee = envs[0].sipp("callee", scenario("uas_held_up.xml"), gport, calls=calls,
                          timeout_s=40).start()
    callers = []
    for i, (e, port) in enumerate(zip(envs, cports)):
        n = calls // len(envs)
        callers.append(e.caller("caller%d" % i, scenario("uac_held_up.xml"), port, NUMBER,
                                calls=n, timeout_s=40,
                                extra=["-r", "200", "-l", str(n)]).start())
    for c in callers:
        c.wait(timeout=60)
    callee.stop()
    return callers


def check_no_overspend(p, cus, calls, credit):
    rows = p.cdrs(calls, timeout=20)
    assert len(rows) == calls
    p.settled(cus, timeout=20)
    b = p.balance(cus)
    assert b["reserved_micros"] == 0, b
    assert b["balance_micros"] >= -credit, b
    charges = p.charges(cus)
    assert sum(c["amount"] for c in charges) == b["balance_micros"] - 600 * MICRO
    answered = [r for r in rows if r["answer_ms"]]
    # each answered call charged once, by its CDR's key, as its duration says
    by_key = {c["idempotency_key"]: c["amount"] for c in charges}
    assert len(by_key) == len(charges) == len(answered)
    for r in answered:
        assert by_key["cdr:" + r["id"]] == -MICRO * (-(-r["duration_ms"] // 1000))
    refused = [r for r in rows if not r["answer_ms"]]
    assert {r["final_code"] for r in refused} <= {402}, {r["final_code"] for r in refused}
    # the balance was used, not left idle: at least 9 of its 10 minutes
    assert b["balance_micros"] <= 60 * MICRO, b
    print("answered %d refused %d balance %s" % (len(answered), len(refused), b["balance"]))
    return answered, refused


def test_hundred_parallel_calls_never_overspend(tmp_path):
    w = start_warp(tmp_path, "sqlite:%s" % (tmp_path / "warp.db"), PARALLEL_INI)
    p = Prepaid(w, tmp_path, apiclient.SqliteRows(str(tmp_path / "warp.db")))
    try:
        gport, (cport,) = sip_port(), [sip_port()]
        cus = p.provision([cport], [gport], PARALLEL_DECK, balance="600",
                          credit_limit=5 * MICRO)
        run_parallel([p], cus, gport, [cport], 100)
        answered, refused = check_no_overspend(p, cus, 100, 5 * MICRO)
        assert 55 <= len(answered) <= 61 and len(refused) == 100 - len(answered)
    finally:
        rc, _ = p.stop()
    assert rc == 0, "warp exited %s: %s" % (rc, w.stderr()[-3000:])


@pytest.fixture
def pg_url(request, tmp_path):
    port = request.getfixturevalue("pg_port")
    db = "prepaid_%d" % os.getpid()
    apiclient.PgRows(port, "postgres").psql('DROP DATABASE IF EXISTS "%s"' % db)
    apiclient.PgRows(port, "postgres").psql('CREATE DATABASE "%s"' % db)
    return "postgres://warp-test@127.0.0.1:%d/%s" % (port, db), apiclient.PgRows(port, db)


def test_two_sip_processes_on_one_postgres_never_overspend(tmp_path, pg_url):
    url, rows = pg_url
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    wa = start_warp(a_dir, url, PARALLEL_INI)
    wb = None
    try:
        wb = start_warp(b_dir, url, PARALLEL_INI)
        a, b = Prepaid(wa, a_dir, rows), Prepaid(wb, b_dir, rows)
        gport, cports = sip_port(), [sip_port(), sip_port()]
        cus = a.provision(cports, [gport], PARALLEL_DECK, balance="600",
                          credit_limit=5 * MICRO)
        b.synced()
        callers = run_parallel([a, b], cus, gport, cports, 100)
        answered, refused = check_no_overspend(a, cus, 100, 5 * MICRO)
        assert 55 <= len(answered) <= 61
        # both processes took calls
        for c in callers:
            assert 200 in c.codes(), c.describe()
    finally:
        rcs = [x.stop(timeout=10)[0] for x in (wa, wb) if x]
    assert rcs == [0] * len(rcs), (wa.stderr()[-2000:], wb.stderr()[-2000:] if wb else "")
