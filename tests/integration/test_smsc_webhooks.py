"""message.status webhooks from the SMSC: an ESME (npm smpp) submits to
WARP, WARP submits upstream to a carrier's SMSC (npm smpp,
tests/peers/smsc_sim.js) whose receipts the test sends one by one, and a
real HTTP receiver on loopback records what the webhook dispatcher POSTs,
checking each signature with Python's hmac.  A message in parts — UDH or
SAR, one submit_sm each — gives one final status for the whole message,
after its last part's receipt, or at its first failed part; and none of
this moves the config version (decision 0026).  Against SQLite and
PostgreSQL."""
import json
import re
import time
import uuid

import pytest

pytest.register_assert_rewrite("apiclient")
import apiclient  # noqa: E402
from smppfix import carrier_with_connector, route  # noqa: E402
from test_smsc_forward import peers  # noqa: E402,F401  (the ESME and upstream peers)
from test_webhooks import SECRET, Receiver, valid_signature  # noqa: E402

pytest_plugins = ["apiclient"]

ROK = 0x00


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("smsc-webhooks-" + request.param)
    w, store = apiclient._start(tmp, request.param, request, "api,smsc")
    # The api fixtures turn the dispatcher off; here it is what is tested,
    # polling fast and allowed to reach the receiver on 127.0.0.1.
    w.env.update({"WARP_WEBHOOKS_ENABLED": "true", "WARP_WEBHOOKS_POLL": "20ms",
                  "WARP_WEBHOOKS_ALLOW_PRIVATE": "true"})
    w.start()
    try:
        yield apiclient.Env(w, store)
    finally:
        rc, _ = w.stop()
        assert rc == 0, "warp exited %s after SIGTERM: %s" % (rc, w.stderr()[-4000:])


@pytest.fixture
def rx():
    r = Receiver()
    yield r
    r.close()


def provision(api, up, rx, prefix):
    """A customer with an SMPP account and a message.status webhook, a route
    for prefix to a carrier whose connector binds to up; a bound ESME's
    session is the caller's."""
    cid = api.customer()
    carrier = carrier_with_connector(api, up.port)
    route(api, prefix, [carrier])
    sid = "wh" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"],
                                                "throughput": 1000, "window": 100})
    api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": rx.url, "secret": SECRET,
                                          "event_types": ["message.status"]})
    time.sleep(0.5)  # snapshots rebuilt
    up.wait("bind")
    return cid, carrier, sid


def status_events(rx):
    return [json.loads(r["body"]) for r in rx.requests
            if r["headers"].get("warp-event-type") == "message.status"]


def config_version(api):
    return api.rows("SELECT version FROM config_version WHERE id = 1")[0]["version"]


def submitted_ids(up, prefix, n):
    """The upstream's ids of the n parts to prefix..., in part order."""
    subs = up.wait("submit_sm", count=n, timeout=10)
    return [s["message_id"] for s in subs]


def wait_quiet(rx, n, settle=0.7):
    """Waits until rx has n message.status events and nothing more comes."""
    rx.wait_for(lambda reqs: len(status_events(rx)) >= n, timeout=15)
    time.sleep(settle)
    return status_events(rx)


def test_single_message_receipt_as_deliver_sm_and_one_signed_webhook(api, peers, rx):
    upstream, esme = peers
    up = upstream(dlr={"delay_ms": 20, "stat": "DELIVRD", "err": "000", "tlv": True,
                       "text": True})
    cid, carrier, sid = provision(api, up, rx, "44901")
    e = esme()
    assert e.bind(sid, "pw") == ROK
    version = config_version(api)
    r = e.submit(source_addr="15550100", destination_addr="449010001", short_message="one",
                 registered_delivery=1, user_message_reference=42)
    assert r["command_status"] == ROK
    # The receipt reaches the ESME as deliver_sm ...
    d = e.wait("deliver_sm", timeout=10)
    assert d["esm_class"] == 4 and d["receipted_message_id"] == r["message_id"]
    # ... and the customer's webhook as one signed message.status.
    events = wait_quiet(rx, 1)
    assert len(events) == 1
    req = [q for q in rx.requests if q["headers"].get("warp-event-type") == "message.status"][0]
    assert valid_signature(req)
    ev = events[0]
    assert req["headers"]["warp-event-id"] == ev["id"]
    assert ev["type"] == "message.status" and ev["customer_id"] == cid
    assert ev["resource_id"] == "msg_" + r["message_id"]
    data = ev["data"]
    assert data["id"] == "msg_" + r["message_id"] and data["status"] == "delivered"
    assert data["parts"] == {"total": 1, "delivered": 1, "failed": 0}
    assert data["error"] is None and data["carrier_id"] == carrier
    assert data["client_ref"] == "42"
    assert data["submitted_at"] <= data["done_at"]
    # The API shows the same event, and lists it under its type.
    shown = api.admin.get("/api/v1/events/" + ev["id"])
    assert shown.status == 200 and shown.json()["data"] == ev
    listed = api.admin.list_all("/api/v1/events?type=message.status&customer_id=" + cid)
    assert [x["id"] for x in listed] == [ev["id"]]
    # Message traffic never moves the config version (no snapshot rebuilds).
    assert config_version(api) == version
    metrics = api.warp.get("/metrics").body.decode()
    assert re.search(r'^warp_smsc_message_status_total\{status="delivered"\} [1-9]', metrics,
                     re.M), metrics


def udh(ref, total, seq):
    return "050003%02x%02x%02x" % (ref, total, seq)


def submit_parts(e, dest, kind, texts):
    """Submits a long message as len(texts) submit_sm, tied by a UDH or by
    SAR TLVs; returns the message ids WARP answered."""
    ids = []
    for i, text in enumerate(texts, 1):
        fields = {"source_addr": "15550100", "destination_addr": dest, "data_coding": 0}
        if kind == "udh":
            fields.update(short_message=text, udh_hex=udh(0x5A, len(texts), i))
        else:
            fields.update(short_message=text, sar_msg_ref_num=0x1234,
                          sar_total_segments=len(texts), sar_segment_seqnum=i)
        r = e.submit(**fields)
        assert r["command_status"] == ROK
        ids.append(r["message_id"])
    return ids


@pytest.mark.parametrize("kind", ["udh", "sar"])
def test_three_parts_three_receipts_one_final_status(api, peers, rx, kind):
    upstream, esme = peers
    up = upstream(dlr=False)  # receipts only when the test sends them
    prefix = "44902" if kind == "udh" else "44903"
    _, _, sid = provision(api, up, rx, prefix)
    e = esme()
    assert e.bind(sid, "pw") == ROK
    version = config_version(api)
    ids = submit_parts(e, prefix + "0001", kind, ["part one ", "part two ", "part three"])
    upstream_ids = submitted_ids(up, prefix, 3)
    for uid in upstream_ids[:2]:
        up.send(cmd="dlr", id=uid, stat="DELIVRD", err="000")
    deadline = time.monotonic() + 10
    while api.count("messages", "state = 'delivered' AND group_id = ?", "msg_" + ids[0]) < 2:
        assert time.monotonic() < deadline, api.rows("SELECT id, group_id, state FROM messages")
        time.sleep(0.05)
    time.sleep(0.5)
    assert status_events(rx) == []  # two of three parts: not final yet
    up.send(cmd="dlr", id=upstream_ids[2], stat="DELIVRD", err="000")
    events = wait_quiet(rx, 1)
    assert len(events) == 1
    data = events[0]["data"]
    assert data["id"] == "msg_" + ids[0] and data["status"] == "delivered"
    assert data["parts"] == {"total": 3, "delivered": 3, "failed": 0}
    assert config_version(api) == version


def test_a_failed_part_fails_the_message_once(api, peers, rx):
    upstream, esme = peers
    up = upstream(dlr=False)
    _, _, sid = provision(api, up, rx, "44904")
    e = esme()
    assert e.bind(sid, "pw") == ROK
    ids = submit_parts(e, "449040001", "udh", ["a" * 10, "b" * 10, "c" * 10])
    upstream_ids = submitted_ids(up, "44904", 3)
    up.send(cmd="dlr", id=upstream_ids[0], stat="DELIVRD", err="000")
    up.send(cmd="dlr", id=upstream_ids[1], stat="UNDELIV", err="001")
    events = wait_quiet(rx, 1)
    assert len(events) == 1
    data = events[0]["data"]
    assert data["id"] == "msg_" + ids[0] and data["status"] == "undeliverable"
    # The failing part's error as the receipt gave it (here its network_error_code TLV).
    failed = api.rows("SELECT error FROM messages WHERE group_id = ? AND state = 'undeliverable'",
                      "msg_" + ids[0])
    assert len(failed) == 1 and data["error"] == failed[0]["error"] and data["error"]
    assert data["parts"]["total"] == 3 and data["parts"]["failed"] == 1
    # The last part's receipt moves that part only: no second event.
    up.send(cmd="dlr", id=upstream_ids[2], stat="DELIVRD", err="000")
    deadline = time.monotonic() + 10
    while api.count("messages", "state = 'delivered' AND group_id = ?", "msg_" + ids[0]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.7)
    assert len(status_events(rx)) == 1


def test_validity_ending_in_the_queue_expires_the_message_once(api, peers, rx):
    upstream, esme = peers
    up = upstream()
    _, _, sid = provision(api, up, rx, "44905")
    up.send(cmd="stop_listening")
    up.send(cmd="close_all")  # the carrier is gone: the message waits in the queue
    e = esme()
    assert e.bind(sid, "pw") == ROK
    r = e.submit(destination_addr="449050001", short_message="too late",
                 validity_period="000000000002000R")  # two seconds (SMPP 3.4 §7.1.1.2)
    assert r["command_status"] == ROK
    events = wait_quiet(rx, 1, settle=1.5)
    assert len(events) == 1
    data = events[0]["data"]
    assert data["id"] == "msg_" + r["message_id"] and data["status"] == "expired"
    assert data["error"] == "validity_period" and data["carrier_id"] is None
    assert data["parts"] == {"total": 1, "delivered": 0, "failed": 1}


def test_submit_multi_is_final_when_every_destination_is(api, peers, rx):
    """Two destinations of one submit_multi: the first delivered gives its
    own receipt (under the multi's id, from its destination) and no
    message.status; the second undelivered gives its receipt and the one
    event, undeliverable, counting both destinations (decision 0043)."""
    upstream, esme = peers
    up = upstream(dlr=False)  # receipts only when the test sends them
    _, _, sid = provision(api, up, rx, "44906")
    e = esme()
    assert e.bind(sid, "pw") == ROK
    dests = ["449060001", "449060002"]
    e.send(cmd="pdu", command="submit_multi", tag="multi",
           fields={"source_addr": "15550100", "short_message": "to both",
                   "registered_delivery": 1,
                   "dest_address": [{"destination_addr": d} for d in dests]})
    r = e.wait("submit_multi_resp", tag="multi")
    assert r["command_status"] == ROK and r["message_id"]
    mid = "msg_" + r["message_id"]
    upstream_ids = {d: up.wait("submit_sm", destination_addr=d)["message_id"] for d in dests}
    up.send(cmd="dlr", id=upstream_ids[dests[0]], stat="DELIVRD", err="000")
    first = e.wait("deliver_sm", timeout=10)
    assert first["esm_class"] == 4 and first["source_addr"] == dests[0]
    assert first["receipted_message_id"] == r["message_id"] and first["message_state"] == 2
    time.sleep(0.7)
    assert status_events(rx) == []  # one destination of two: not final yet
    up.send(cmd="dlr", id=upstream_ids[dests[1]], stat="UNDELIV", err="011")
    second = e.wait("deliver_sm", timeout=10, source_addr=dests[1])
    assert second["receipted_message_id"] == r["message_id"] and second["message_state"] == 5
    events = wait_quiet(rx, 1)
    assert len(events) == 1
    data = events[0]["data"]
    assert events[0]["resource_id"] == mid and data["id"] == mid
    assert data["status"] == "undeliverable" and data["error"]
    assert data["parts"] == {"total": 2, "delivered": 1, "failed": 1}
    assert data["destinations"] == {"total": 2, "delivered": 1, "failed": 1}
    assert api.admin.get("/api/v1/messages/" + mid).json()["data"]["status"] == "undeliverable"
    assert len(e.seen("deliver_sm")) == 2


# --------------------------------------------- inbound (MO) as message.received


def received_events(rx):
    return [json.loads(r["body"]) for r in rx.requests
            if r["headers"].get("warp-event-type") == "message.received"]


def test_mo_goes_to_the_message_received_webhook_not_the_bound_session(api, peers, rx):
    """A customer whose webhook takes message.* gets its MO there, joined
    when it came in parts, signed; its bound receiver gets no deliver_sm."""
    upstream, esme = peers
    up = upstream()
    cid = api.customer()
    number = "4479%08d" % (int(uuid.uuid4().hex[:7], 16) % 10**8)
    api.admin.create("/api/v1/numbers", {"e164": "+" + number, "customer_id": cid, "sms": True})
    carrier_with_connector(api, up.port)
    sid = "mw" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"]})
    api.admin.create("/api/v1/webhooks", {"customer_id": cid, "url": rx.url, "secret": SECRET,
                                          "event_types": ["message.*"]})
    time.sleep(0.5)  # snapshots rebuilt
    up.wait("bind")
    e = esme()
    assert e.bind(sid, "pw", "receiver") == ROK
    up.send(cmd="mo", tag="one", source_addr="447700900200", destination_addr=number,
            text="single, to the webhook")
    assert up.wait("deliver_sm_resp", what="one")["command_status"] == ROK
    parts = ["first part, ", "second part, ", "third part"]
    for i in (1, 0, 2):
        up.send(cmd="mo", tag="p%d" % i, source_addr="447700900201", destination_addr=number,
                text=parts[i], udh_hex="0500037703%02x" % (i + 1))
        assert up.wait("deliver_sm_resp", what="p%d" % i)["command_status"] == ROK
    rx.wait_for(lambda reqs: len(received_events(rx)) >= 2, timeout=15)
    time.sleep(0.5)  # nothing more comes
    got = {ev["data"]["from"]: ev for ev in received_events(rx)}
    assert len(received_events(rx)) == 2 and set(got) == {"447700900200", "447700900201"}
    one, joined = got["447700900200"], got["447700900201"]
    assert one["data"]["text"] == "single, to the webhook" and one["data"]["to"] == "+" + number
    assert joined["data"]["text"] == "".join(parts)
    assert joined["data"]["parts"] == {"received": 3, "total": 3}
    assert all(valid_signature(r) for r in rx.requests
               if r["headers"].get("warp-event-type") == "message.received")
    rows = api.rows("SELECT state, delivered_to FROM inbound_messages WHERE number = ?",
                    "+" + number)
    assert [(r["state"], r["delivered_to"]) for r in rows] == [("delivered", "webhook")] * 2
    assert not e.seen("deliver_sm")
