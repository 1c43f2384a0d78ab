"""Least-cost routing of messages (decision 0038): a message route in lcr
mode sends each message to the carrier whose SMS buy rate for its
destination is lowest (an npm smpp ESME submits, npm smpp servers are the
carriers' SMSCs), follows a buy deck's new version, and leaves out a carrier
whose rate keeps less than the route's minimum margin over the customer's
sell rate; with none left the message is rejected with the reason.  Against
SQLite and PostgreSQL."""
import re
import time
import uuid

import pytest

from smppfix import carrier_with_connector, deck, deck_version  # noqa: F401
from smppfix import smsc_peers as peers  # noqa: F401
from smppfix import snapshots_synced as synced

pytest.register_assert_rewrite("apiclient")
from apiclient import running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK = 0x00


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


def provision(api, upstream, prefix, buys, sell=None, **route):
    """A customer with an SMPP account (and a sell deck when `sell` is a
    rate), one carrier per buy rate with its own upstream, and an lcr route
    over them in that priority order."""
    cid = api.customer(billing_type="postpaid")  # prepaid parts would need a balance
    if sell is not None:
        r = api.admin.patch("/api/v1/customers/" + cid,
                            {"sell_deck_id": deck(api, "sell", prefix, sell)})
        assert r.status == 200, r.body
    sid = "lcr" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"],
                                                "throughput": 1000, "window": 100})
    ups, cars = [], []
    for rate in buys:
        up = upstream()
        car = carrier_with_connector(api, up.port)
        r = api.admin.patch("/api/v1/carriers/" + car, {"buy_deck_id": deck(api, "buy", prefix,
                                                                             rate)})
        assert r.status == 200, r.body
        ups.append(up)
        cars.append(car)
    body = {"prefix": prefix, "mode": "lcr",
            "carriers": [{"carrier_id": c, "priority": i} for i, c in enumerate(cars)]}
    body.update(route)
    rte = api.admin.create("/api/v1/message-routes", body)
    for up in ups:
        up.wait("bind", timeout=10)
    synced(api)
    return sid, cars, ups, rte


def wait_message(api, mid, states, timeout=10):
    mid = mid if mid.startswith("msg_") else "msg_" + mid
    deadline = time.monotonic() + timeout
    while True:
        rows = api.rows("SELECT state, carrier_id, error FROM messages WHERE id = ?", mid)
        if rows and rows[0]["state"] in states:
            return rows[0]
        assert time.monotonic() < deadline, "message %s is %r" % (mid, rows)
        time.sleep(0.05)


def excluded(api, reason):
    m = re.search(r'^warp_smsc_lcr_excluded_total\{reason="%s"\} (\d+)$' % reason,
                  api.warp.get("/metrics").body.decode(), re.M)
    return int(m.group(1)) if m else 0


def send(e, dest):
    r = e.submit(source_addr="WARP", destination_addr=dest, short_message="lcr", data_coding=0)
    assert r["command_status"] == ROK, r
    return r["message_id"]


def test_the_cheapest_carrier_gets_the_message_and_a_new_version_moves_it(api, peers):
    upstream, esme = peers
    prefix = "4475001"
    sid, cars, ups, _ = provision(api, upstream, prefix, ["0.0050", "0.0030"])
    e = esme()
    assert e.bind(sid, "pw") == ROK
    row = wait_message(api, send(e, prefix + "0001"), ("sent", "delivered"))
    assert row["carrier_id"] == cars[1]
    ups[1].wait("submit_sm", destination_addr=prefix + "0001")
    assert not ups[0].seen("submit_sm")

    buy1 = api.admin.get("/api/v1/carriers/" + cars[1]).json()["data"]["buy_deck_id"]
    deck_version(api, buy1, prefix, "0.0060")
    synced(api)
    row = wait_message(api, send(e, prefix + "0002"), ("sent", "delivered"))
    assert row["carrier_id"] == cars[0]
    ups[0].wait("submit_sm", destination_addr=prefix + "0002")


def test_a_carrier_under_the_margin_is_skipped_and_none_left_rejects(api, peers):
    """Sell 0.0040, 10 %: carrier 0 at 0.0038 keeps 5 % and is skipped,
    carrier 1 at 0.0036 keeps exactly 10 %.  At 20 % none is kept."""
    upstream, esme = peers
    prefix = "4475002"
    sid, cars, ups, rte = provision(api, upstream, prefix, ["0.0038", "0.0036"], sell="0.0040",
                                    min_margin_bps=1000)
    e = esme()
    assert e.bind(sid, "pw") == ROK
    before = excluded(api, "margin")
    row = wait_message(api, send(e, prefix + "0001"), ("sent", "delivered"))
    assert row["carrier_id"] == cars[1]
    assert not ups[0].seen("submit_sm")
    assert excluded(api, "margin") > before

    r = api.admin.patch("/api/v1/message-routes/" + rte["id"], {"min_margin_bps": 2000})
    assert r.status == 200, r.body
    synced(api)
    row = wait_message(api, send(e, prefix + "0002"), ("rejected",))
    assert row["error"] == "no_carrier_within_margin" and row["carrier_id"] in (None, "")
    assert not ups[0].seen("submit_sm") and len(ups[1].seen("submit_sm")) == 1


def test_the_customers_margin_applies_where_the_route_sets_none(api, peers):
    upstream, esme = peers
    prefix = "4475003"
    sid, cars, ups, rte = provision(api, upstream, prefix, ["0.0038", "0.0036"], sell="0.0040")
    cid = api.rows("SELECT customer_id FROM smpp_accounts WHERE system_id = ?",
                   sid)[0]["customer_id"]
    r = api.admin.patch("/api/v1/customers/" + cid, {"min_margin_bps": 2000})
    assert r.status == 200 and r.json()["data"]["min_margin_bps"] == 2000, r.body
    synced(api)
    e = esme()
    assert e.bind(sid, "pw") == ROK
    row = wait_message(api, send(e, prefix + "0001"), ("rejected",))
    assert row["error"] == "no_carrier_within_margin"
    r = api.admin.patch("/api/v1/message-routes/" + rte["id"], {"min_margin_bps": 1000})
    assert r.status == 200, r.body
    synced(api)
    row = wait_message(api, send(e, prefix + "0002"), ("sent", "delivered"))
    assert row["carrier_id"] == cars[1]
