"""Prepaid customers' messages (decision 0038), end to end: an npm smpp ESME
submits, npm smpp servers are the carrier's SMSC.  Each part is reserved at
its price per segment when it is stored; a part the available balance does
not cover is refused ESME_RSUBMITFAIL and one without a sell price
ESME_RINVDSTADR; once final, a message is charged once under msg:<group id>
for its delivered parts and what its undelivered parts held is given back.
Against SQLite and PostgreSQL."""
import time
import uuid

import pytest

from smppfix import carrier_with_connector, route, smsc_peers as peers  # noqa: F401
from smppfix import deck, snapshots_synced as synced

pytest.register_assert_rewrite("apiclient")
from apiclient import running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK, RINVDSTADR, RSUBMITFAIL = 0x00, 0x0B, 0x45


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


def provision(api, upstream, prefix, price, topup):
    """A prepaid customer with a sell deck of `price` per segment on prefix,
    `topup` on its balance, an SMPP account, and a route to one carrier."""
    cid = api.customer(billing_type="prepaid")
    r = api.admin.patch("/api/v1/customers/" + cid, {"sell_deck_id": deck(api, "sell", prefix,
                                                                          price)})
    assert r.status == 200, r.body
    r = api.admin.post("/api/v1/customers/%s/balance-transactions" % cid,
                       {"type": "topup", "amount": topup, "description": "test"})
    assert r.status == 201, r.body
    sid = "pp" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"],
                                                "throughput": 1000, "window": 100})
    up = upstream()
    car = carrier_with_connector(api, up.port)
    route(api, prefix, [car])
    up.wait("bind", timeout=10)
    synced(api)
    return cid, sid, up


def balance(api, cid):
    r = api.admin.get("/api/v1/customers/%s/balance" % cid)
    assert r.status == 200, r.body
    return r.json()["data"]


def charges(api, cid):
    return api.rows("SELECT kind, amount, idempotency_key, reference_type, reference_id FROM "
                    "ledger_entries WHERE customer_id = ? AND kind <> 'topup' ORDER BY seq", cid)


def wait_settled(api, cid, reserved=0, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        b = balance(api, cid)
        if b["reserved_micros"] == reserved:
            return b
        assert time.monotonic() < deadline, "reserved is still %s" % b["reserved"]
        time.sleep(0.05)


def wait_state(api, mid, state, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        rows = api.rows("SELECT state, group_id FROM messages WHERE id = ?", "msg_" + mid)
        if rows and rows[0]["state"] == state:
            return rows[0]
        assert time.monotonic() < deadline, "message %s is %r" % (mid, rows)
        time.sleep(0.05)


UNDELIV = {"delay_ms": 50, "stat": "UNDELIV", "err": "001", "tlv": True, "text": True}


def undeliverable_one(api, cid, sid, e, prefix):
    """One part through an upstream answering UNDELIV; the balance once settled."""
    assert e.bind(sid, "pw") == ROK
    r = e.submit(source_addr="WARP", destination_addr=prefix + "0001", short_message="no",
                 data_coding=0)
    assert r["command_status"] == ROK
    wait_state(api, r["message_id"], "undeliverable")
    return wait_settled(api, cid)


def part(e, dest, ref, seq, total=2):
    return e.submit(source_addr="WARP", destination_addr=dest, data_coding=0,
                    short_message="part %d" % seq, udh_hex="050003%02x%02x%02x" % (ref, total, seq))


def test_a_long_message_is_charged_per_segment_once_delivered(api, peers):
    upstream, esme = peers
    prefix = "4476001"
    cid, sid, up = provision(api, upstream, prefix, "0.0100", "0.05")
    e = esme()
    assert e.bind(sid, "pw") == ROK
    first = part(e, prefix + "0001", 0x21, 1)
    second = part(e, prefix + "0001", 0x21, 2)
    assert (first["command_status"], second["command_status"]) == (ROK, ROK)
    group = wait_state(api, first["message_id"], "delivered")["group_id"]
    wait_state(api, second["message_id"], "delivered")
    b = wait_settled(api, cid)
    assert (b["balance"], b["reserved"]) == ("0.03", "0.00"), b
    assert charges(api, cid) == [{"kind": "message_charge", "amount": -20000,
                                  "idempotency_key": "msg:" + group,
                                  "reference_type": "message", "reference_id": group}]


def test_an_undeliverable_message_is_given_back(api, peers):
    upstream, esme = peers
    prefix = "4476002"
    cid, sid, up = provision(api, upstream, prefix, "0.0100", "0.05")
    up.send(cmd="config", dlr=UNDELIV)
    up.wait("configured")
    b = undeliverable_one(api, cid, sid, esme(), prefix)
    assert (b["balance"], b["reserved"], b["available"]) == ("0.05", "0.00", "0.05"), b
    assert charges(api, cid) == []


def held_with_unpriced(api, upstream, esme, prefix, topup):
    """provision() with an upstream that sends no receipts (parts stay
    reserved) and a route for a prefix the deck has no price for (prefix
    with its fifth digit 9); the customer, the unpriced prefix and an ESME
    bound as the customer."""
    cid, sid, up = provision(api, upstream, prefix, "0.0100", topup)
    up.send(cmd="config", dlr=False)
    up.wait("configured")
    unpriced = prefix[:4] + "9" + prefix[5:]
    route(api, unpriced, [api.admin.list_all("/api/v1/message-routes")[0]["carriers"][0][
        "carrier_id"]])
    synced(api)
    e = esme()
    assert e.bind(sid, "pw") == ROK
    return cid, unpriced, e


def test_broke_and_unpriced_parts_are_refused(api, peers):
    """0.015 covers one part at 0.01: held while the carrier has not
    answered with a receipt, the next part is refused; a destination the
    deck has no price for is refused whatever the balance."""
    upstream, esme = peers
    prefix = "4476003"
    cid, unpriced, e = held_with_unpriced(api, upstream, esme, prefix, "0.015")
    r = e.submit(source_addr="WARP", destination_addr=prefix + "0001", short_message="one",
                 data_coding=0)
    assert r["command_status"] == ROK
    b = balance(api, cid)
    assert (b["reserved"], b["available"]) == ("0.01", "0.005"), b
    r = e.submit(source_addr="WARP", destination_addr=prefix + "0002", short_message="two",
                 data_coding=0)
    assert r["command_status"] == RSUBMITFAIL
    r = e.submit(source_addr="WARP", destination_addr=unpriced + "0001", short_message="unpriced",
                 data_coding=0)
    assert r["command_status"] == RINVDSTADR
    assert api.count("messages", "customer_id = ?", cid) == 1
    assert api.count("reservations", "customer_id = ? AND state = 'open'", cid) == 1


def test_http_send_reserves_per_segment_refuses_402_and_422(api, peers):
    """The same over POST /api/v1/messages: a two-segment text reserves two
    prices and, delivered, is charged once for both; what is left does not
    cover two more segments (402); a number without a price is 422."""
    upstream, _ = peers
    prefix = "4476004"
    cid, _, up = provision(api, upstream, prefix, "0.0100", "0.03")
    route(api, "4476904", [api.admin.list_all("/api/v1/message-routes")[0]["carriers"][0][
        "carrier_id"]])
    synced(api)
    _, client = api.key(cid)
    long_text = "x" * 200  # GSM 03.38: two parts of 153 and 47
    r = client.post("/api/v1/messages", {"from": "WARP", "to": "+" + prefix + "0001",
                                         "text": long_text})
    assert r.status == 202, r.body
    mid = r.json()["data"]["id"]
    assert r.json()["data"]["segments"] == 2
    b = wait_settled(api, cid)
    assert (b["balance"], b["reserved"]) == ("0.01", "0.00"), b
    assert charges(api, cid) == [{"kind": "message_charge", "amount": -20000,
                                  "idempotency_key": "msg:" + mid,
                                  "reference_type": "message", "reference_id": mid}]
    r = client.post("/api/v1/messages", {"from": "WARP", "to": "+" + prefix + "0002",
                                         "text": long_text})
    assert r.status == 402 and r.json()["errors"][0]["code"] == "insufficient_funds", r.body
    r = client.post("/api/v1/messages", {"from": "WARP", "to": "+44769040001", "text": "hi"})
    assert r.status == 422 and r.json()["errors"][0]["code"] == "no_rate", r.body
    assert api.count("messages", "customer_id = ?", cid) == 2
    assert api.count("reservations", "customer_id = ? AND state = 'open'", cid) == 0


def test_a_prepaid_customer_without_a_sell_deck_sends_nothing_unpriced(api, peers):
    """No sell deck at all is no price (decision 0052; before, the parts
    went to the carrier unpriced): SMPP ESME_RINVDSTADR, HTTP 422
    no_sell_deck, nothing stored or reserved."""
    upstream, esme = peers
    prefix = "4476006"
    cid, sid, _ = provision(api, upstream, prefix, "0.0100", "1")
    r = api.admin.patch("/api/v1/customers/" + cid, {"sell_deck_id": None})
    assert r.status == 200, r.body
    synced(api)
    e = esme()
    assert e.bind(sid, "pw") == ROK
    r = e.submit(source_addr="WARP", destination_addr=prefix + "0001", short_message="one",
                 data_coding=0)
    assert r["command_status"] == RINVDSTADR
    _, client = api.key(cid)
    r = client.post("/api/v1/messages", {"from": "WARP", "to": "+" + prefix + "0002",
                                         "text": "hi"})
    assert r.status == 422 and r.json()["errors"][0]["code"] == "no_sell_deck", r.body
    assert api.count("messages", "customer_id = ?", cid) == 0
    assert api.count("reservations", "customer_id = ?", cid) == 0
    text = api.warp.get("/metrics").body.decode()
    assert 'warp_smsc_prepaid_total{result="no_deck"} 1' in text.splitlines(), text


def test_a_burst_never_takes_more_than_the_balance(api, peers):
    """Ten parts back to back on a balance covering four, held (no receipt):
    exactly four are stored, the rest refused, available never below 0."""
    upstream, esme = peers
    prefix = "4476005"
    cid, sid, up = provision(api, upstream, prefix, "0.0100", "0.04")
    up.send(cmd="config", dlr=False)
    up.wait("configured")
    e = esme()
    assert e.bind(sid, "pw") == ROK
    tags = ["burst-%d" % i for i in range(10)]
    for i, tag in enumerate(tags):
        e.send(cmd="submit", tag=tag, fields={"source_addr": "WARP", "data_coding": 0,
                                              "destination_addr": "%s%04d" % (prefix, i),
                                              "short_message": "burst"})
    got = [e.wait("submit_sm_resp", tag=t)["command_status"] for t in tags]
    assert sorted(got) == [ROK] * 4 + [RSUBMITFAIL] * 6, got
    b = balance(api, cid)
    assert (b["balance"], b["reserved"], b["available"]) == ("0.04", "0.04", "0.00"), b
    assert api.count("messages", "customer_id = ?", cid) == 4


@pytest.fixture(scope="module", params=["sqlite"])
def no_refund(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc",
                           env={"WARP_BILLING_SMS_REFUND_UNDELIVERED": "false"})


def test_without_refunds_a_part_the_carrier_took_is_charged(no_refund):
    from smppfix import Esme, UpstreamSmsc, stop_smsc_test
    api = no_refund
    up = UpstreamSmsc(dlr=UNDELIV)
    started = [up]
    try:
        prefix = "4476006"
        cid, sid, _ = provision(api, lambda: up, prefix, "0.0100", "0.05")
        e = Esme(int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1]))
        started.append(e)
        e.wait("connected")
        b = undeliverable_one(api, cid, sid, e, prefix)
        assert (b["balance"], b["reserved"]) == ("0.04", "0.00"), b
        assert [c["amount"] for c in charges(api, cid)] == [-10000]
    finally:
        stop_smsc_test(api, [], started)


def test_submit_multi_lists_the_destinations_not_covered_or_not_priced(api, peers):
    """submit_multi to three priced destinations on a balance covering two,
    and one destination the deck has no price for: the third is listed
    ESME_RSUBMITFAIL, the unpriced one ESME_RINVDSTADR."""
    upstream, esme = peers
    prefix = "4476007"
    cid, unpriced, e = held_with_unpriced(api, upstream, esme, prefix, "0.02")
    dests = [{"destination_addr": prefix + "0001"}, {"destination_addr": prefix + "0002"},
             {"destination_addr": prefix + "0003"}, {"destination_addr": unpriced + "0001"}]
    tag = "multi-1"
    e.send(cmd="pdu", command="submit_multi", tag=tag,
           fields={"source_addr": "WARP", "dest_address": dests, "short_message": "all"})
    r = e.wait("submit_multi_resp", tag=tag)
    assert r["command_status"] == ROK, r
    assert sorted((u["destination_addr"], u["error_status_code"]) for u in r["unsuccess_sme"]) == [
        (prefix + "0003", RSUBMITFAIL), (unpriced + "0001", RINVDSTADR)]
    assert api.count("messages", "customer_id = ?", cid) == 2
    b = balance(api, cid)
    assert (b["reserved"], b["available"]) == ("0.02", "0.00"), b
