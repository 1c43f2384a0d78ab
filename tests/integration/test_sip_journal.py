"""Answered calls survive a crash of the SIP process (src/sip/journal.c).

A warp with the api and sip roles holds an answered call between two SIPp
peers and is killed with SIGKILL: no CDR can be written at the call's end.
A second warp started on the same store (a new node) finds the dead node's
heartbeat three intervals old and bills the call to that last heartbeat:
the CDR a user reads from GET /api/v1/cdrs says 200, the recovered reason,
an answer time and a duration that ends within one heartbeat before the
kill.  A call that ends normally leaves no open row behind and keeps its
own CDR.  Both on SQLite and on PostgreSQL: the recovery is one SQL
transaction that must run on both.
"""
import signal
import time

import pytest

from sipfix import (TOKEN, SipWarp, ini, shared_scenario, sip_port, store_of,
                    wait_sip_listening)

NUMBER = "15551234567"
HEARTBEAT_MS = 200
RECOVERED = "call state lost: billed to the last heartbeat"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    """(store URL or None for SQLite, a row reader for it)."""
    return store_of(request, tmp_path, "journal")


class JournalWarp(SipWarp):
    def __init__(self, warp, tmp, rows):
        super().__init__(warp, tmp)
        self.rows = rows

    def synced(self, timeout=3.0):
        target = self.rows.rows("SELECT version FROM config_version")[0]["version"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.w.get("/metrics").body.decode()
            if 'warp_snapshot_version{name="sip_policy"} %d' % target in text:
                return
            time.sleep(0.02)
        raise AssertionError("sip snapshot did not reach config version %d" % target)


def start(warp_factory, tmp_path, store, port=None):
    url, rows = store
    port = port or sip_port()
    w = warp_factory(store_url=url,
                     extra_ini=ini(port, "call_heartbeat = %dms\n" % HEARTBEAT_MS),
                     env={"WARP_ADMIN_TOKEN": TOKEN}, args=["--roles", "api,sip"])
    w.sip_port = port
    w.start()
    wait_sip_listening(port)
    return JournalWarp(w, tmp_path, rows)


def provision(sw, cport, gport):
    cus = sw.customer()
    trk = sw.trunk(cus, [cport])
    car, (gw,) = sw.carrier("carrier-a", [gport])
    sw.route("1", [car])
    sw.synced()
    return cus, trk, car, gw


def api_cdrs(sw, expect, timeout):
    deadline = time.monotonic() + timeout
    while True:
        data = sw.api("GET", "/cdrs")
        if len(data) >= expect or time.monotonic() > deadline:
            return data
        time.sleep(0.1)


def test_call_answered_when_warp_is_killed_is_billed_to_its_last_heartbeat(
        warp_factory, tmp_path, store):
    sw = start(warp_factory, tmp_path, store)
    cport, gport = sip_port(), sip_port()
    cus, trk, car, gw = provision(sw, cport, gport)
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), gport, timeout_s=60).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER, hold_ms=30000,
                       timeout_s=60).start()
    deadline = time.monotonic() + 10
    while 200 not in caller.codes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 200 in caller.codes(), caller.describe()
    assert callee.requests()[:1] == ["INVITE"], callee.describe()
    # The open row is queued at answer and committed within a batch's delay.
    deadline = time.monotonic() + 3
    while not sw.rows.rows("SELECT call_id FROM open_calls") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sw.rows.rows("SELECT call_id FROM open_calls")) == 1
    time.sleep(1.0)  # a few heartbeats into the call
    killed_ms = int(time.time() * 1000)
    sw.w.stop(sig=signal.SIGKILL)
    assert sw.rows.rows("SELECT * FROM cdrs") == []

    # A new process on the same store: another node, which recovers the call.
    sw2 = start(warp_factory, tmp_path, store, port=sw.port)
    sw2.peers = sw.peers
    try:
        (c,) = api_cdrs(sw2, 1, timeout=10)
        assert c["final_code"] == 200 and c["final_reason"] == RECOVERED, c
        assert c["hangup"] == "proxy", c
        assert (c["customer_id"], c["trunk_id"], c["carrier_id"], c["gateway_id"]) == (
            cus, trk, car, gw), c
        assert c["answer_ms"] and c["end_ms"] == c["answer_ms"] + c["duration_ms"], c
        # Billed to the last heartbeat: never after the kill, and not long
        # before it (one interval when the machine is idle; up to five
        # allowed for a loaded one running the sanitizer build).
        assert killed_ms - 5 * HEARTBEAT_MS <= c["end_ms"] <= killed_ms, (killed_ms, c)
        assert c["duration_ms"] > 0, c  # heartbeats came after the answer
        assert c["billable_ms"] == (c["duration_ms"] + 999) // 1000 * 1000, c
        assert sw2.rows.rows("SELECT call_id FROM open_calls") == []
        text = sw2.w.get("/metrics").body.decode()
        assert "warp_sip_calls_recovered_total 1" in text, text
    finally:
        rc, _ = sw2.stop()
    assert rc == 0, sw2.w.stderr()[-3000:]


def test_call_ended_normally_leaves_no_open_row_and_keeps_its_cdr(warp_factory, tmp_path, store):
    sw = start(warp_factory, tmp_path, store)
    cport, gport = sip_port(), sip_port()
    provision(sw, cport, gport)
    callee = sw.sipp("callee", shared_scenario("uas_rr.xml"), gport).start()
    caller = sw.caller("caller", shared_scenario("uac_rr.xml"), cport, NUMBER,
                       hold_ms=500).start()
    assert caller.wait() == 0, caller.describe()
    assert callee.wait() == 0, callee.describe()
    (c,) = api_cdrs(sw, 1, timeout=5)
    assert c["final_code"] == 200 and c["final_reason"] != RECOVERED and c["duration_ms"] >= 500
    deadline = time.monotonic() + 3
    while sw.rows.rows("SELECT call_id FROM open_calls") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sw.rows.rows("SELECT call_id FROM open_calls") == []
    # Several heartbeats later nothing is recovered: the node is alive.
    time.sleep(4 * HEARTBEAT_MS / 1000)
    assert [r["final_reason"] for r in sw.rows.rows("SELECT final_reason FROM cdrs")] == [
        c["final_reason"]]
    assert "warp_sip_calls_recovered_total 0" in sw.w.get("/metrics").body.decode()
    rc, _ = sw.stop()
    assert rc == 0, sw.w.stderr()[-3000:]


def test_open_row_whose_node_vanished_is_billed_at_the_sweep(warp_factory, tmp_path, store):
    """An open row no node row speaks for (its node was taken for dead, its
    row deleted, and it died before its next heartbeat) is billed by the
    periodic sweep, with no duration: there is no heartbeat to bill to."""
    sw = start(warp_factory, tmp_path, store)
    now = int(time.time() * 1000)
    sw.rows.execute("INSERT INTO open_calls (node_id, id, call_id, direction, start_ms, answer_ms, "
                "end_ms, final_code, attempts, created_at) VALUES ('node_gone', 'cdr_orphan1', "
                "'orphan-1', 'termination', %d, %d, 0, 0, '[]', %d)" % (now - 900, now - 800, now))
    (c,) = api_cdrs(sw, 1, timeout=10)  # ten rounds of 200 ms between sweeps
    assert (c["id"], c["final_code"], c["final_reason"], c["duration_ms"]) == (
        "cdr_orphan1", 200, RECOVERED, 0), c
    assert c["answer_ms"] == c["end_ms"] == now - 800, c
    assert sw.rows.rows("SELECT call_id FROM open_calls") == []
    rc, _ = sw.stop()
    assert rc == 0, sw.w.stderr()[-3000:]
