"""Receipts from an upstream SMSC (npm smpp, tests/peers/smsc_sim.js) and
the upstream side's batched writes (decision 0029): a burst of receipts
that come before their submit_sm_resp is matched in memory, each message
final once with one message.status event; a receipt for a message an
earlier process sent is found in the store; a receipt's deliver_sm is
answered once its state is durable; after kill -9 in the middle of
traffic with receipts, every acknowledged message still ends delivered
with one event.  Each test runs its own smsc process on the module's
store, so it can be restarted or killed.  Against SQLite and PostgreSQL."""
import re
import time
import uuid

import pytest

import smppfix
from smppfix import carrier_with_connector, route

pytest.register_assert_rewrite("apiclient")
from apiclient import API_INI, running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK = 0x00
# Short leases, so messages a killed process held are taken again soon.
SMSC_INI = API_INI + "\n[smsc]\nlease = 5s\n"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api")


@pytest.fixture
def peers(api, warp_factory):
    started, warps = [], []

    def smsc():
        w = warp_factory(store_url=api.warp.store_url, extra_ini=SMSC_INI,
                         env={"WARP_ADMIN_TOKEN": "unused-but-long-enough-0",
                              "WARP_RUN_ROLES": "smsc"})
        warps.append(w)
        return w.start()

    def add(p):
        started.append(p)
        return p

    yield smsc, add
    smppfix.stop_smsc_test(api, warps, started)


def provision(api, up, prefix):
    cid = api.customer()
    route(api, prefix, [carrier_with_connector(api, up.port)])
    sid = "rc" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {
        "customer_id": cid, "system_id": sid, "password": "pw", "allowed_cidrs": ["127.0.0.1"],
        "throughput": 100000, "burst": 100000, "window": 1000})
    return sid


def esme(add, w, sid):
    e = add(smppfix.Esme(int(w.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])))
    e.wait("connected")
    assert e.bind(sid, "pw") == ROK
    return e


def metric(w, name, label):
    text = w.get("/metrics").body.decode()
    m = re.search(r'^%s\{%s\} (\d+)' % (name, label), text, re.M)
    return int(m.group(1)) if m else 0


def wait_metric(w, name, label, want, timeout=5):
    """name{label} reaches want (counted once the commit is seen, at the
    upstream thread's next tick) and stays there."""
    deadline = time.monotonic() + timeout
    while metric(w, name, label) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    return metric(w, name, label)


def states(api, prefix):
    rows = api.rows("SELECT state, COUNT(*) AS n FROM messages WHERE destination LIKE ? "
                    "GROUP BY state", prefix + "%")
    return {r["state"]: r["n"] for r in rows}


def wait_states(api, prefix, want, timeout=30):
    deadline = time.monotonic() + timeout
    while states(api, prefix) != want:
        assert time.monotonic() < deadline, states(api, prefix)
        time.sleep(0.1)


def events(api, prefix):
    return api.rows("SELECT e.group_id FROM message_events e JOIN messages m ON m.id = e.group_id "
                    "WHERE m.destination LIKE ? AND e.type = 'message.status'", prefix + "%")


def test_burst_of_receipts_before_their_submit_sm_resps(api, peers):
    smsc, add = peers
    up = add(smppfix.UpstreamSmsc(resp_delay_ms=300, dlr={
        "stat": "DELIVRD", "err": "000", "tlv": True, "text": True, "before_resp": True}))
    prefix = "4481%d" % (uuid.uuid4().int % 900 + 100)
    sid = provision(api, up, prefix)
    w = smsc()
    up.wait("bind")
    e = esme(add, w, sid)
    e.send(cmd="submit_many", n=400, window=400, tag="b",
           fields={"destination_addr": prefix + "{i}", "short_message": "early"})
    assert e.wait("submit_many_done", timeout=30, tag="b")["by_status"] == {"0": 400}
    wait_states(api, prefix, {"delivered": 400})
    # Every receipt was held until its submit_sm_resp and then taken, once.
    assert wait_metric(w, "warp_smsc_receipts_total", 'result="matched"', 400) == 400
    assert metric(w, "warp_smsc_receipts_total", 'result="unmatched"') == 0
    assert wait_metric(w, "warp_smsc_message_status_total", 'status="delivered"', 400) == 400
    assert len(events(api, prefix)) == 400
    answers = up.wait("deliver_sm_resp", timeout=15, count=400)
    assert all(a["command_status"] == ROK for a in answers)


def test_receipt_for_a_message_an_earlier_process_sent(api, peers):
    """The receipt comes to a process that never saw the submit_sm_resp
    (restarted meanwhile): it is found in the store, not in memory."""
    smsc, add = peers
    up = add(smppfix.UpstreamSmsc(dlr=False))
    prefix = "4482%d" % (uuid.uuid4().int % 900 + 100)
    sid = provision(api, up, prefix)
    w1 = smsc()
    up.wait("bind")
    e = esme(add, w1, sid)
    r = e.submit(destination_addr=prefix + "1", short_message="late receipt")
    assert r["command_status"] == ROK
    sent = up.wait("submit_sm", destination_addr=prefix + "1")
    wait_states(api, prefix, {"submitted": 1})
    rc, _ = w1.stop()
    assert rc == 0
    w2 = smsc()
    up.wait("bind", count=2)
    up.send(cmd="dlr", id=sent["message_id"], stat="UNDELIV", err="001")
    assert up.wait("deliver_sm_resp")["command_status"] == ROK
    wait_states(api, prefix, {"undeliverable": 1})
    assert wait_metric(w2, "warp_smsc_receipts_total", 'result="matched"', 1) == 1
    assert wait_metric(w2, "warp_smsc_message_status_total", 'status="undeliverable"', 1) == 1
    assert len(events(api, prefix)) == 1


def test_kill_9_with_receipts_flowing_ends_every_message_once(api, peers):
    """Acknowledged messages survive kill -9 in the middle of submits and
    receipts: each ends delivered with one message.status event, through
    the next process once the killed one's leases ran out (and the
    upstream resent the receipts it had no answer for)."""
    smsc, add = peers
    up = add(smppfix.UpstreamSmsc(resp_delay_ms=5, dlr={
        "delay_ms": 5, "stat": "DELIVRD", "err": "000", "tlv": True, "text": True}))
    prefix = "4483%d" % (uuid.uuid4().int % 900 + 100)
    sid = provision(api, up, prefix)
    w1 = smsc()
    up.wait("bind")
    e = esme(add, w1, sid)
    e.send(cmd="submit_many", n=6000, window=300, each=True, tag="k",
           fields={"destination_addr": prefix + "{i}", "short_message": "crash"})
    e.wait("submit_resp", timeout=30, count=1500, tag="k", command_status=ROK)
    up.wait("deliver_sm_resp", timeout=30, count=500)
    w1.proc.kill()
    w1.proc.wait()
    time.sleep(0.3)  # the ESME reads what was on the wire before the reset
    acked = {"msg_" + ev["message_id"] for ev in e.seen("submit_resp", tag="k",
                                                         command_status=ROK)}
    assert len(acked) >= 1500
    w2 = smsc()
    up.wait("bind", count=2)
    # A receipt is answered only once its state is durable; the upstream
    # resends one it got no answer for (this one only when told to).
    answered = {ev["what"][len("receipt "):] for ev in up.seen("deliver_sm_resp")
                if ev["command_status"] == ROK}
    for s in up.seen("submit_sm"):
        if s.get("message_id") and s["message_id"] not in answered:
            up.send(cmd="dlr", id=s["message_id"], stat="DELIVRD", err="000")
    deadline = time.monotonic() + 60
    while True:
        rows = api.rows("SELECT id, state FROM messages WHERE destination LIKE ?", prefix + "%")
        done = {r["id"] for r in rows if r["state"] == "delivered"}
        if acked <= done:
            break
        assert time.monotonic() < deadline, "%d acknowledged messages not delivered" % (
            len(acked - done))
        time.sleep(0.2)
    groups = [r["group_id"] for r in events(api, prefix)]
    assert len(groups) == len(set(groups)), "a message with two message.status events"
    assert acked <= set(groups)
    # Sent twice upstream only when the crash came between its submit and
    # the commit of its "submitted" row (its lease then ran out).
    counts = {}
    for s in up.seen("submit_sm"):
        counts[s["destination_addr"]] = counts.get(s["destination_addr"], 0) + 1
    twice = sum(1 for n in counts.values() if n > 1)
    print("sent twice: %d, at most %d times" % (twice, max(counts.values())))
    assert max(counts.values()) <= 2 and twice < 1200, twice
    assert w2.proc.poll() is None
