"""Filtered message routes (decision 0051): routes of one prefix tried by
priority, the first whose filters all match taking the message — by the
time of day in a zone, by content, by source address, by a customer's
label — each shown by which of two upstream SMSCs (npm smpp) the message
reaches; a filter that does not compile refused 422 naming it; and failover
on a negative receipt a carrier marks retryable: the message goes out again
through the route's next carrier and the ESME gets one DELIVRD receipt.
Against SQLite and PostgreSQL."""
import datetime
import re
import time
import uuid
import zoneinfo

import pytest

from smppfix import carrier_with_connector, smsc_peers, snapshots_synced  # noqa: F401

pytest.register_assert_rewrite("apiclient")
from apiclient import assert_error, running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK = 0x00
PATH = "/api/v1/message-routes"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


def account(api, cid):
    sid = "flt" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"],
                                                "throughput": 1000, "window": 100})
    return sid


def filtered(api, prefix, carrier, priority, filters=None, customer_id=None):
    body = {"prefix": prefix, "priority": priority, "carriers": [{"carrier_id": carrier}]}
    if filters is not None:
        body["filters"] = filters
    if customer_id:
        body["customer_id"] = customer_id
    return api.admin.create(PATH, body)


def two_upstreams(api, smsc_peers, **dlr):  # noqa: F811
    """Upstreams A and B, each a carrier's connector, both bound; an ESME
    of a new customer bound; (a, b, carrier_a, carrier_b, esme, customer)."""
    upstream, esme = smsc_peers
    a, b = upstream(**dlr.get("a", {})), upstream(**dlr.get("b", {}))
    ca = carrier_with_connector(api, a.port, **dlr.get("connector_a", {}))
    cb = carrier_with_connector(api, b.port)
    cid = api.customer(**dlr.get("customer", {}))
    sid = account(api, cid)
    a.wait("bind", timeout=10)
    b.wait("bind", timeout=10)
    return a, b, ca, cb, sid, cid


def send(smsc_peers, sid, **fields):  # noqa: F811
    e = smsc_peers[1]()
    assert e.bind(sid, "pw") == ROK
    r = e.submit(**fields)
    assert r["command_status"] == ROK, r
    return e, r


def tendlc_synced(api, timeout=5.0):
    """The smsc's compliance snapshot (content rules) at the store's version."""
    target = api.rows("SELECT version FROM config_version WHERE id = 1")[0]["version"]
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(r'^warp_snapshot_version\{name="tendlc_smsc"\} (\d+)$',
                      api.warp.get("/metrics").body.decode(), re.M)
        if m and int(m.group(1)) >= target:
            return
        assert time.monotonic() < deadline, "tendlc_smsc not at version %d" % target
        time.sleep(0.02)


def hhmm(t):
    return t.strftime("%H:%M")


def test_time_of_day_route_in_a_zone(api, smsc_peers):  # noqa: F811
    a, b, ca, cb, sid, _ = two_upstreams(api, smsc_peers)
    now = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    h = datetime.timedelta(hours=1)
    # First by priority: a window of Tokyo's clock that holds no "now", to A;
    # then one that does (wrapping midnight when it must), to B.
    away = filtered(api, "44901", ca, 1, {"time_of_day": {"from": hhmm(now + 2 * h),
                                                          "to": hhmm(now + 3 * h)},
                                          "timezone": "Asia/Tokyo"})
    here = filtered(api, "44901", cb, 2, {"time_of_day": {"from": hhmm(now - h),
                                                          "to": hhmm(now + h)},
                                          "timezone": "Asia/Tokyo"})
    assert api.admin.get(PATH + "/" + here["id"]).json()["data"]["filters"] == {
        "time_of_day": {"from": hhmm(now - h), "to": hhmm(now + h)}, "timezone": "Asia/Tokyo"}
    snapshots_synced(api)
    send(smsc_peers, sid, source_addr="WARP", destination_addr="449010001", short_message="tod")
    b.wait("submit_sm", destination_addr="449010001")
    assert not a.seen("submit_sm", destination_addr="449010001")
    # The window that holds now, first: A takes the next one.
    assert api.admin.patch(PATH + "/" + away["id"], {"filters": here["filters"]}).status == 200
    snapshots_synced(api)
    send(smsc_peers, sid, source_addr="WARP", destination_addr="449010002", short_message="tod")
    a.wait("submit_sm", destination_addr="449010002")
    assert not b.seen("submit_sm", destination_addr="449010002")


def test_filter_chain_chooses_the_carrier_by_content(api, smsc_peers):  # noqa: F811
    a, b, ca, cb, sid, _ = two_upstreams(api, smsc_peers)
    filtered(api, "44902", ca, 10, {"content_regex": "(code|OTP) [0-9]{4,8}"})
    filtered(api, "44902", cb, 20)  # the chain's end: everything else
    snapshots_synced(api)
    e, _ = send(smsc_peers, sid, source_addr="WARP", destination_addr="449020001",
                short_message="Your code 123456")
    assert e.submit(source_addr="WARP", destination_addr="449020002",
                    short_message="Lunch at noon?")["command_status"] == ROK
    assert a.wait("submit_sm", destination_addr="449020001")["text"] == "Your code 123456"
    assert b.wait("submit_sm", destination_addr="449020002")["text"] == "Lunch at noon?"
    assert not a.seen("submit_sm", destination_addr="449020002")
    assert not b.seen("submit_sm", destination_addr="449020001")


def test_source_regex_and_customer_label(api, smsc_peers):  # noqa: F811
    a, b, ca, cb, sid, cid = two_upstreams(api, smsc_peers, customer={"labels": ["wholesale"]})
    assert api.admin.get("/api/v1/customers/" + cid).json()["data"]["labels"] == ["wholesale"]
    filtered(api, "44903", ca, 1, {"source_regex": "^1555[0-9]+$",
                                   "customer_labels": ["wholesale", "gold"]})
    filtered(api, "44903", cb, 2)
    snapshots_synced(api)
    e, _ = send(smsc_peers, sid, source_addr="15550001111", destination_addr="449030001",
                short_message="from a long code")
    assert e.submit(source_addr="WARP", destination_addr="449030002",
                    short_message="from an alphanumeric")["command_status"] == ROK
    a.wait("submit_sm", destination_addr="449030001")
    b.wait("submit_sm", destination_addr="449030002")
    assert not a.seen("submit_sm", destination_addr="449030002")
    # Without the label the source alone does not take it.
    assert api.admin.patch("/api/v1/customers/" + cid, {"labels": []}).status == 200
    snapshots_synced(api)
    assert e.submit(source_addr="15550001111", destination_addr="449030003",
                    short_message="unlabelled")["command_status"] == ROK
    b.wait("submit_sm", destination_addr="449030003")


def test_no_filter_matches_and_no_catch_all_is_rejected_no_route(api, smsc_peers):  # noqa: F811
    a, _, ca, _, sid, _ = two_upstreams(api, smsc_peers)
    filtered(api, "44904", ca, 1, {"content_regex": "^never$"})
    snapshots_synced(api)
    _, r = send(smsc_peers, sid, source_addr="WARP", destination_addr="449040001",
                short_message="anything")
    deadline = time.monotonic() + 10
    while api.rows("SELECT state FROM messages WHERE id = ?",
                   "msg_" + r["message_id"])[0]["state"] != "rejected":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert api.rows("SELECT error FROM messages WHERE id = ?",
                    "msg_" + r["message_id"])[0]["error"] == "no_route"
    assert not a.seen("submit_sm", destination_addr="449040001")


@pytest.mark.parametrize("filters,pointer", [
    ({"content_regex": "([a-z"}, "/filters/content_regex"),
    ({"source_regex": "a{2,1}"}, "/filters/source_regex"),
    ({"time_of_day": {"from": "9am"}}, "/filters/time_of_day"),
    ({"time_of_day": {"from": "09:00"}, "timezone": "Nowhere/Atlantis"}, "/filters/timezone"),
    ({"destination_prefixes": ["44x"]}, "/filters/destination_prefixes"),
    ({"colour": "red"}, "/filters/colour"),
])
def test_a_filter_that_does_not_compile_is_refused_422(api, filters, pointer):
    c = api.admin.create("/api/v1/carriers", {"name": "bad filters"})["id"]
    r = api.admin.post(PATH, {"prefix": "44905", "carriers": [{"carrier_id": c}],
                              "filters": filters})
    assert_error(r, 422, "invalid_filter", pointer)
    assert api.count("message_routes", "prefix = ?", "44905") == 0


def test_same_prefix_and_priority_is_a_conflict(api):
    c = api.admin.create("/api/v1/carriers", {"name": "dup"})["id"]
    filtered(api, "44906", c, 5, {"content_regex": "x"})
    r = api.admin.post(PATH, {"prefix": "44906", "priority": 5, "carriers": [{"carrier_id": c}]})
    assert_error(r, 409, "duplicate", "/prefix")
    assert filtered(api, "44906", c, 6)["priority"] == 6


def one_receipt(e, message_id, state, timeout=15):
    """The ESME's one receipt for message_id (state: SMPP message_state),
    and no second one within a second."""
    d = e.wait("deliver_sm", timeout=timeout, receipted_message_id=message_id)
    assert d["message_state"] == state, d
    time.sleep(1.0)
    assert len(e.seen("deliver_sm", receipted_message_id=message_id)) == 1, e.seen("deliver_sm")
    return d


def test_retryable_negative_receipt_fails_over_to_the_next_carrier(api, smsc_peers):  # noqa: F811
    """Upstream A answers the 10DLC "sending limit reached" as UNDELIV
    err:088, which its connector marks retryable: the message goes out
    again through B, and the ESME gets B's DELIVRD as its one receipt."""
    a, b, ca, cb, sid, _ = two_upstreams(
        api, smsc_peers, a={"dlr": {"delay_ms": 20, "stat": "UNDELIV", "err": "088",
                                    "tlv": False, "text": True}},
        connector_a={"failover_errors": ["err:088", "stat:REJECTD"]})
    api.admin.create(PATH, {"prefix": "44910", "carriers": [{"carrier_id": ca, "priority": 0},
                                                            {"carrier_id": cb, "priority": 1}]})
    snapshots_synced(api)
    e, r = send(smsc_peers, sid, source_addr="WARP", destination_addr="449100001",
                short_message="limit", registered_delivery=1)
    a.wait("submit_sm", destination_addr="449100001")
    b.wait("submit_sm", destination_addr="449100001", timeout=15)
    one_receipt(e, r["message_id"], 2)
    row = api.rows("SELECT state, carrier_id, carriers_tried, receipt_failovers FROM messages "
                   "WHERE id = ?", "msg_" + r["message_id"])[0]
    assert row == {"state": "delivered", "carrier_id": cb, "carriers_tried": ca + ",",
                   "receipt_failovers": 1}
    assert len(a.seen("submit_sm", destination_addr="449100001")) == 1
    assert len(b.seen("submit_sm", destination_addr="449100001")) == 1
    text = api.warp.get("/metrics").body.decode()
    assert 'warp_smsc_receipt_failovers_total{result="rerouted"} ' in text
    assert api.admin.get("/api/v1/smpp-connectors").json()["data"] and any(
        c["failover_errors"] == ["err:088", "stat:REJECTD"]
        for c in api.admin.list_all("/api/v1/smpp-connectors"))


def test_every_carrier_retryable_ends_undeliverable_once(api, smsc_peers):  # noqa: F811
    """Both carriers answer a retryable error: each gets the message once,
    then it ends undeliverable with the last error, one receipt."""
    upstream, _ = smsc_peers
    # A's receipt in text (its err), B's with TLVs too (its message_state).
    a = upstream(dlr={"delay_ms": 20, "stat": "UNDELIV", "err": "088", "tlv": False,
                      "text": True})
    b = upstream(dlr={"delay_ms": 20, "stat": "UNDELIV", "err": "088", "tlv": True, "text": True})
    ca = carrier_with_connector(api, a.port, failover_errors=["err:088"])
    cb = carrier_with_connector(api, b.port, failover_errors=["stat:undeliv"])
    sid = account(api, api.customer())
    a.wait("bind", timeout=10)
    b.wait("bind", timeout=10)
    api.admin.create(PATH, {"prefix": "44911", "carriers": [{"carrier_id": ca, "priority": 0},
                                                            {"carrier_id": cb, "priority": 1}]})
    snapshots_synced(api)
    e, r = send(smsc_peers, sid, source_addr="WARP", destination_addr="449110001",
                short_message="nowhere", registered_delivery=1)
    one_receipt(e, r["message_id"], 5)  # UNDELIVERABLE
    row = api.rows("SELECT state, error FROM messages WHERE id = ?", "msg_" + r["message_id"])[0]
    assert row["state"] == "undeliverable" and row["error"].startswith(("err:088", "network:"))
    assert len(a.seen("submit_sm", destination_addr="449110001")) == 1
    assert len(b.seen("submit_sm", destination_addr="449110001")) == 1
    assert 'warp_smsc_receipt_failovers_total{result="exhausted"} ' in api.warp.get(
        "/metrics").body.decode()


def test_a_receipt_not_marked_retryable_is_final(api, smsc_peers):  # noqa: F811
    a, b, ca, cb, sid, _ = two_upstreams(
        api, smsc_peers, a={"dlr": {"delay_ms": 20, "stat": "UNDELIV", "err": "001",
                                    "tlv": False, "text": True}},
        connector_a={"failover_errors": ["err:088"]})
    api.admin.create(PATH, {"prefix": "44912", "carriers": [{"carrier_id": ca, "priority": 0},
                                                            {"carrier_id": cb, "priority": 1}]})
    snapshots_synced(api)
    e, r = send(smsc_peers, sid, source_addr="WARP", destination_addr="449120001",
                short_message="final", registered_delivery=1)
    one_receipt(e, r["message_id"], 5)
    assert not b.seen("submit_sm", destination_addr="449120001")


def test_tag_filter_follows_a_tagging_content_rule(api, smsc_peers):  # noqa: F811
    """A content rule with the action tag (US destinations) names a tag a
    route's filter asks for: the tagged text goes to A, the rest to B."""
    a, b, ca, cb, sid, _ = two_upstreams(api, smsc_peers)
    rule = "promo-" + uuid.uuid4().hex[:6]
    api.admin.create("/api/v1/content-rules", {"name": rule, "match": "keyword",
                                               "patterns": ["flash sale"], "action": "tag"})
    filtered(api, "1919", ca, 1, {"tags": [rule]})
    filtered(api, "1919", cb, 2)
    snapshots_synced(api)
    tendlc_synced(api)
    e, _ = send(smsc_peers, sid, source_addr="WARP", destination_addr="19195550001",
                short_message="FLASH SALE tonight only")
    assert e.submit(source_addr="WARP", destination_addr="19195550002",
                    short_message="your table is ready")["command_status"] == ROK
    a.wait("submit_sm", destination_addr="19195550001")
    b.wait("submit_sm", destination_addr="19195550002")
    assert not a.seen("submit_sm", destination_addr="19195550002")
    assert not b.seen("submit_sm", destination_addr="19195550001")
