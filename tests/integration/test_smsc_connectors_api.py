"""The smsc's routing provisioned through the API alone: an SMPP connector
and a message route made with /api/v1/smpp-connectors and
/api/v1/message-routes are what the smsc binds with and routes by.  The
upstream is an npm smpp server (tests/peers/smsc_sim.js) that checks the
credentials it is presented; the customer an npm smpp ESME.  Against SQLite
and PostgreSQL."""
import time
import uuid

import pytest

import smppfix

pytest.register_assert_rewrite("apiclient")
from apiclient import running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK, RINVPASWD = 0x00, 0x0E


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api,smsc")


@pytest.fixture
def peers():
    started = []

    def start(peer):
        started.append(peer)
        return peer

    yield start
    for p in started:
        p.stop()


def wait_state(api, mid, state, timeout=10):
    mid = mid if mid.startswith("msg_") else "msg_" + mid
    deadline = time.monotonic() + timeout
    while True:
        rows = api.rows("SELECT state, carrier_id FROM messages WHERE id = ?", mid)
        if rows and rows[0]["state"] == state:
            return rows[0]
        if time.monotonic() > deadline:
            raise AssertionError("message %s is %r, not %s" % (mid, rows, state))
        time.sleep(0.05)


def test_a_connector_and_route_made_with_the_api_carry_a_message(api, peers):
    up = peers(smppfix.UpstreamSmsc(accounts={"apiwarp": "s3cr3t"}))
    car = api.admin.create("/api/v1/carriers", {"name": "api-made"})["id"]
    conn = api.admin.create("/api/v1/smpp-connectors", {
        "carrier_id": car, "name": "primary", "host": "127.0.0.1", "port": up.port,
        "system_id": "apiwarp", "password": "wrong", "system_type": "VMA", "binds": 2,
        "reconnect_min_ms": 200, "reconnect_max_ms": 1000, "response_timeout_ms": 2000})
    # The password is presented as stored: the upstream refuses this one...
    up.wait("bind", system_id="apiwarp", command_status=RINVPASWD)
    # ...and a PATCH rebinds with the new one, every bind of the connector.
    r = api.admin.patch("/api/v1/smpp-connectors/" + conn["id"], {"password": "s3cr3t"})
    assert r.status == 200, r.body
    binds = up.wait("bind", count=2, timeout=10, system_id="apiwarp", command_status=ROK)
    assert {b["command"] for b in binds} == {"bind_transceiver"}
    assert {b["system_type"] for b in binds} == {"VMA"}

    api.admin.create("/api/v1/message-routes", {"prefix": "44990",
                                                "carriers": [{"carrier_id": car}]})
    cid = api.customer()
    sid = "api" + uuid.uuid4().hex[:8]
    api.admin.create("/api/v1/smpp-accounts", {"customer_id": cid, "system_id": sid,
                                                "password": "pw", "allowed_cidrs": ["127.0.0.1"]})
    time.sleep(0.5)  # snapshots rebuilt
    esme = peers(smppfix.Esme(int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])))
    esme.wait("connected")
    assert esme.bind(sid, "pw") == ROK
    s = esme.submit(source_addr="WARP", destination_addr="449900001", short_message="via api")
    assert s["command_status"] == ROK
    got = up.wait("submit_sm", destination_addr="449900001")
    assert got["text"] == "via api"
    assert wait_state(api, s["message_id"], "delivered")["carrier_id"] == car
