"""query_sm, cancel_sm, replace_sm and submit_multi on the customer's SMPP
session (SMPP 3.4 §4.5, §4.8-4.10): an ESME (npm smpp, tests/peers/esme.js)
asks about, withdraws, rewrites and fans out messages it submitted, and what
the carrier's SMSC (npm smpp, tests/peers/smsc_sim.js) receives shows the
effect.  A message is kept waiting by an upstream that refuses WARP's binds
until the test lets it bind.  Against SQLite and PostgreSQL."""
import re
import subprocess
import time
import uuid

import pytest

import smppfix
from smppfix import carrier_with_connector, route

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
import pgserver  # noqa: E402
from apiclient import running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK, RINVDSTADR, RCANCELFAIL, RREPLACEFAIL = 0x00, 0x0B, 0x11, 0x13
RINVDLNAME, RTHROTTLED, RQUERYFAIL, RBINDFAIL = 0x34, 0x58, 0x67, 0x0D
ENROUTE, DELIVERED, DELETED, UNDELIVERABLE = 1, 2, 4, 5


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


class Setup:
    """One customer with an SMPP account bound from an ESME, routed by
    prefix to one upstream."""

    def __init__(self, api, started, prefix, **upstream):
        self.api, self.prefix, self.started = api, prefix, started
        self.up = smppfix.UpstreamSmsc(**upstream)
        started.append(self.up)
        self.cid = api.customer()
        route(api, prefix, [carrier_with_connector(api, self.up.port)])
        self.esme = self.new_esme(started, self.cid)

    def new_esme(self, started, cid, peer=smppfix.Esme, **limits):
        sid = "ops" + uuid.uuid4().hex[:8]
        body = {"customer_id": cid, "system_id": sid, "password": "pw",
                "allowed_cidrs": ["127.0.0.1"], "throughput": 1000, "window": 100}
        body.update(limits)
        self.api.admin.create("/api/v1/smpp-accounts", body)
        time.sleep(0.5)  # snapshots rebuilt
        e = peer(int(self.api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1]))
        started.append(e)
        e.wait("connected")
        assert e.bind(sid, "pw") == ROK
        return e

    def submit(self, dest_suffix, text, esme=None):
        r = (esme or self.esme).submit(source_addr="WARP", destination_addr=self.prefix + dest_suffix,
                                       short_message=text, registered_delivery=1)
        assert r["command_status"] == ROK
        return r["message_id"]

    def release(self):
        """Lets WARP bind to the upstream from now on."""
        self.up.send(cmd="config", refuse_bind=0)
        self.up.wait("bind", timeout=10, command_status=ROK)


@pytest.fixture
def setup(api):
    started = []
    yield lambda prefix, **up: Setup(api, started, prefix, **up)
    for p in started:
        p.stop()


def pdu(esme, command, timeout=10.0, **fields):
    tag = "%s-%d" % (command, len(esme.events))
    esme.send(cmd="pdu", command=command, fields=fields, tag=tag)
    return esme.wait(command + "_resp", timeout, tag=tag)


def query(esme, mid, source="WARP"):
    return pdu(esme, "query_sm", message_id=mid, source_addr=source)


def row(api, mid, cols="state, error, body"):
    return api.rows("SELECT %s FROM messages WHERE id = ?" % cols, "msg_" + mid)[0]


def wait_state(api, mid, state, timeout=10):
    deadline = time.monotonic() + timeout
    while row(api, mid)["state"] != state:
        assert time.monotonic() < deadline, "message %s is %r, not %s" % (mid, row(api, mid), state)
        time.sleep(0.05)


def test_query_of_a_queued_then_a_delivered_message(api, setup):
    s = setup("44901", refuse_bind=RBINDFAIL)
    mid = s.submit("0001", "where are you")
    q = query(s.esme, mid)
    assert q["command_status"] == ROK and q["message_id"] == mid
    assert q["message_state"] == ENROUTE and q["error_code"] == 0 and not q.get("final_date")
    s.release()
    s.up.wait("submit_sm", destination_addr="449010001")
    wait_state(api, mid, "delivered")
    q = query(s.esme, mid)
    assert q["command_status"] == ROK and q["message_state"] == DELIVERED
    assert q["error_code"] == 0 and q["final_date"][:4] == time.strftime("%Y", time.gmtime())


def test_query_of_an_undelivered_message_names_the_network_error(api, setup):
    s = setup("44902", dlr={"delay_ms": 0, "stat": "UNDELIV", "err": "011"})
    mid = s.submit("0001", "nobody home")
    wait_state(api, mid, "undeliverable")
    q = query(s.esme, mid)
    assert q["command_status"] == ROK and q["message_state"] == UNDELIVERABLE
    assert q["error_code"] == 11 and q["final_date"]


def test_query_never_reveals_another_customers_message(api, setup):
    s = setup("44903", refuse_bind=RBINDFAIL)
    mid = s.submit("0001", "mine")
    other = s.new_esme([], api.customer())
    try:
        assert query(other, mid)["command_status"] == RQUERYFAIL
    finally:
        other.stop()
    assert query(s.esme, mid, source="OTHER")["command_status"] == RQUERYFAIL
    assert query(s.esme, "0" * len(mid))["command_status"] == RQUERYFAIL
    assert query(s.esme, "not-an-id")["command_status"] == RQUERYFAIL
    assert query(s.esme, mid)["command_status"] == ROK


def test_cancel_of_a_queued_message_keeps_it_from_the_upstream(api, setup):
    s = setup("44904", refuse_bind=RBINDFAIL)
    mid = s.submit("0001", "never mind")
    r = pdu(s.esme, "cancel_sm", message_id=mid, source_addr="WARP")
    assert r["command_status"] == ROK
    assert row(api, mid)["state"] == "rejected" and row(api, mid)["error"] == "cancelled"
    assert query(s.esme, mid)["message_state"] == DELETED
    assert pdu(s.esme, "cancel_sm", message_id=mid,
               source_addr="WARP")["command_status"] == RCANCELFAIL
    s.release()
    s.submit("0002", "after the cancel")
    s.up.wait("submit_sm", destination_addr="449040002")
    assert s.up.seen("submit_sm", destination_addr="449040001") == []


def test_query_and_cancel_from_perl_net_smpp(api, setup):
    s = setup("44910", refuse_bind=RBINDFAIL)
    e = s.new_esme(s.started, s.cid, peer=smppfix.PerlEsme)
    mid = s.submit("0001", "from perl", esme=e)
    q = query(e, mid)
    assert q["command_status"] == ROK and q["message_state"] == ENROUTE
    assert pdu(e, "cancel_sm", message_id=mid, source_addr="WARP")["command_status"] == ROK
    q = query(e, mid)
    assert q["command_status"] == ROK and q["message_state"] == DELETED and q["final_date"]
    assert pdu(e, "cancel_sm", message_id=mid, source_addr="WARP")["command_status"] == RCANCELFAIL


def test_cancel_by_source_and_destination(api, setup):
    s = setup("44905", refuse_bind=RBINDFAIL)
    a, b = s.submit("0001", "one"), s.submit("0001", "two")
    keep = s.submit("0002", "three")
    r = pdu(s.esme, "cancel_sm", message_id="", source_addr="WARP", destination_addr="449050001")
    assert r["command_status"] == ROK
    assert [row(api, m)["state"] for m in (a, b, keep)] == ["rejected", "rejected", "accepted"]
    assert pdu(s.esme, "cancel_sm", message_id="", source_addr="WARP",
               destination_addr="449050001")["command_status"] == RCANCELFAIL


def test_cancel_and_replace_after_submit_fail(api, setup):
    s = setup("44906", dlr=False)
    mid = s.submit("0001", "already gone")
    s.up.wait("submit_sm", destination_addr="449060001")
    wait_state(api, mid, "submitted")
    assert pdu(s.esme, "cancel_sm", message_id=mid,
               source_addr="WARP")["command_status"] == RCANCELFAIL
    assert pdu(s.esme, "replace_sm", message_id=mid, source_addr="WARP",
               short_message="too late")["command_status"] == RREPLACEFAIL
    assert row(api, mid)["state"] == "submitted"


def test_replace_sends_the_new_text_upstream(api, setup):
    s = setup("44907", refuse_bind=RBINDFAIL)
    mid = s.submit("0001", "old text")
    before = row(api, mid, "next_attempt_at, expires_at")
    r = pdu(s.esme, "replace_sm", message_id=mid, source_addr="WARP", short_message="new text",
            registered_delivery=0, validity_period="000001000000000R")
    assert r["command_status"] == ROK
    after = row(api, mid, "next_attempt_at, expires_at")
    # A new validity (one day from now, relative), the schedule kept (none given).
    assert abs(after["expires_at"] - (time.time() + 86400) * 1000) < 60000
    assert after["expires_at"] != before["expires_at"]
    assert after["next_attempt_at"] == before["next_attempt_at"]
    assert pdu(s.esme, "replace_sm", message_id=mid, source_addr="OTHER",
               short_message="not mine")["command_status"] == RREPLACEFAIL
    s.release()
    assert row(api, mid, "registered_delivery")["registered_delivery"] == 0
    got = s.up.wait("submit_sm", destination_addr="449070001")
    assert got["text"] == "new text"
    assert len(s.up.seen("submit_sm", destination_addr="449070001")) == 1


def test_submit_multi_lists_the_destinations_it_refused(api, setup):
    s = setup("44908")
    dests = [{"destination_addr": "449080001"}, {"destination_addr": "999000111"},
             {"destination_addr": "449080002"}, {"dl_name": "friends"}]
    r = pdu(s.esme, "submit_multi", source_addr="WARP", dest_address=dests,
            short_message="to all of you", registered_delivery=1)
    assert r["command_status"] == ROK and r["message_id"]
    assert [(u["destination_addr"], u["error_status_code"]) for u in r["unsuccess_sme"]] == [
        ("999000111", RINVDSTADR), ("friends", RINVDLNAME)]
    for dest in ("449080001", "449080002"):
        assert s.up.wait("submit_sm", destination_addr=dest)["text"] == "to all of you"
    rows = api.rows("SELECT destination FROM messages WHERE group_id = ? ORDER BY destination",
                    "msg_" + r["message_id"])
    assert [x["destination"] for x in rows] == ["449080001", "449080002"]
    wait_group(api, r["message_id"], {"449080001": "delivered", "449080002": "delivered"})
    assert query(s.esme, r["message_id"])["message_state"] == DELIVERED


def test_submit_multi_with_no_destination_routed_is_refused(api, setup):
    s = setup("44909")
    r = pdu(s.esme, "submit_multi", source_addr="WARP",
            dest_address=[{"destination_addr": "999000111"}], short_message="nobody")
    assert r["command_status"] == RINVDSTADR and not r.get("message_id")


def test_submit_multi_takes_a_token_per_destination(api, setup):
    s = setup("44911")
    e = s.new_esme(s.started, s.cid, throughput=1, burst=2)
    dests = [{"destination_addr": "44911000%d" % i} for i in range(5)]
    r = pdu(e, "submit_multi", source_addr="WARP", dest_address=dests, short_message="bulk")
    assert r["command_status"] == ROK
    assert [(u["destination_addr"], u["error_status_code"]) for u in r["unsuccess_sme"]] == [
        ("449110002", RTHROTTLED), ("449110003", RTHROTTLED), ("449110004", RTHROTTLED)]


def group_states(api, mid):
    return {r["destination"]: r["state"] for r in api.rows(
        "SELECT destination, state FROM messages WHERE group_id = ?", "msg_" + mid)}


def wait_group(api, mid, want, timeout=10):
    deadline = time.monotonic() + timeout
    while group_states(api, mid) != want:
        assert time.monotonic() < deadline, group_states(api, mid)
        time.sleep(0.05)


def test_query_and_get_of_a_submit_multi_show_every_destination(api, setup):
    s = setup("44912", dlr=False)  # receipts only when the test sends them
    dests = ["449120001", "449120002"]
    r = pdu(s.esme, "submit_multi", source_addr="WARP", short_message="to both",
            dest_address=[{"destination_addr": d} for d in dests], registered_delivery=1)
    assert r["command_status"] == ROK
    mid = r["message_id"]
    upstream = {d: s.up.wait("submit_sm", destination_addr=d)["message_id"] for d in dests}
    wait_group(api, mid, {d: "submitted" for d in dests})
    # One destination delivered: the message is not, and query_sm says so
    # (by the group's id: no row bears it, decision 0043).
    s.up.send(cmd="dlr", id=upstream[dests[0]], stat="DELIVRD", err="000")
    wait_group(api, mid, {dests[0]: "delivered", dests[1]: "submitted"})
    q = query(s.esme, mid)
    assert q["command_status"] == ROK and q["message_state"] == ENROUTE and not q.get("final_date")
    msg = api.admin.get("/api/v1/messages/msg_" + mid).json()["data"]
    assert msg["status"] == "submitted" and msg["segments"] == 1
    assert msg["destinations"] == [{"to": dests[0], "status": "delivered"},
                                   {"to": dests[1], "status": "submitted"}]
    assert [(p["to"], p["state"]) for p in msg["parts"]] == [(dests[0], "delivered"),
                                                              (dests[1], "submitted")]
    # The other one fails: so does the message, in both views.
    s.up.send(cmd="dlr", id=upstream[dests[1]], stat="UNDELIV", err="011")
    wait_group(api, mid, {dests[0]: "delivered", dests[1]: "undeliverable"})
    q = query(s.esme, mid)
    assert q["command_status"] == ROK and q["message_state"] == UNDELIVERABLE
    assert q["error_code"] == 11 and q["final_date"]
    msg = api.admin.get("/api/v1/messages/msg_" + mid).json()["data"]
    assert msg["status"] == "undeliverable"
    assert [d["status"] for d in msg["destinations"]] == ["delivered", "undeliverable"]


def ops_counts(api):
    text = api.warp.get("/metrics").body.decode()
    return {(m.group(1), m.group(2)): int(m.group(3)) for m in re.finditer(
        r'^warp_smsc_ops_total\{op="(\w+)",result="(\w+)"\} (\d+)$', text, re.M)}


def test_ops_are_counted_by_result_in_metrics(api, setup):
    s = setup("44913", refuse_bind=RBINDFAIL)
    before = ops_counts(api)
    mid = s.submit("0001", "count me")
    assert query(s.esme, mid)["command_status"] == ROK
    assert query(s.esme, "0" * len(mid))["command_status"] == RQUERYFAIL
    assert pdu(s.esme, "replace_sm", message_id=mid, source_addr="WARP",
               short_message="new")["command_status"] == ROK
    assert pdu(s.esme, "cancel_sm", message_id=mid, source_addr="WARP")["command_status"] == ROK
    assert pdu(s.esme, "cancel_sm", message_id=mid,
               source_addr="WARP")["command_status"] == RCANCELFAIL
    assert pdu(s.esme, "cancel_sm", message_id="not-an-id",
               source_addr="WARP")["command_status"] == RCANCELFAIL
    after = ops_counts(api)
    grew = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    # An id that is not one fails as one the store does not hold.
    assert grew == {("query_sm", "ok"): 1, ("query_sm", "failed"): 1, ("replace_sm", "ok"): 1,
                    ("cancel_sm", "ok"): 1, ("cancel_sm", "failed"): 2}
    assert len([k for k in after if k[0] == "replace_sm"]) == 4  # every result is a series


@pytest.fixture(scope="module", params=["postgres"])
def pg_api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


def expired_outcomes(api):
    text = api.warp.get("/metrics").body.decode()
    m = re.search(r'^warp_smsc_upstream_outcomes_total\{state="expired"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else 0


def test_an_expiry_is_counted_once_it_took_effect(pg_api):
    """The expiry sweep (every second) finds a message whose validity ended
    until its move commits.  With the row locked from the test, the move
    waits and each sweep queues it again; only the one that takes effect is
    counted in warp_smsc_upstream_outcomes_total{state="expired"}.  On
    PostgreSQL, where a row lock holds back the writer's UPDATE but not the
    sweep's SELECT."""
    started = []
    try:
        s = Setup(pg_api, started, "44914", refuse_bind=RBINDFAIL)  # the message stays queued
        before = expired_outcomes(pg_api)
        r = s.esme.submit(source_addr="WARP", destination_addr="449140001",
                          short_message="soon gone", validity_period="000000000002000R")
        assert r["command_status"] == ROK
        mid = "msg_" + r["message_id"]
        store = pg_api.store
        lock = subprocess.Popen(
            [apiclient.PSQL, "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(store.port), "-U",
             pgserver.USER, "-d", store.db, "-c",
             "BEGIN; SELECT id FROM messages WHERE id = '%s' FOR UPDATE; "
             "SELECT pg_sleep(4.5); COMMIT;" % mid],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            assert lock.wait(timeout=30) == 0, lock.stderr.read()
        finally:
            lock.kill()
            lock.stderr.close()
        deadline = time.monotonic() + 10
        while row(pg_api, r["message_id"], "state")["state"] != "expired":
            assert time.monotonic() < deadline, row(pg_api, r["message_id"], "state, error")
            time.sleep(0.05)
        time.sleep(1.5)  # settled, and one more sweep finds nothing
        assert expired_outcomes(pg_api) - before == 1
    finally:
        for p in started:
            p.stop()
