"""The smsc role's SMPP server as customers' ESMEs see it: every bind error,
bind states, enquire_link, generic_nack for what does not decode, window and
throttle limits, and submits answered with an id only once the message is a
row in the store.  The ESMEs are the npm `smpp` package and Perl Net::SMPP,
never WARP's own codec; against SQLite and PostgreSQL (the `api` fixture)."""
import time

import pytest

import smppfix

pytest.register_assert_rewrite("apiclient")
from apiclient import API_INI, running_env  # noqa: E402

pytest_plugins = ["apiclient"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    """The api and smsc roles on a fresh store of each kind."""
    yield from running_env(request, tmp_path_factory, roles="api,smsc")

ROK, RINVBNDSTS, RALYBND, RINVDSTADR = 0x00, 0x04, 0x05, 0x0B
RBINDFAIL, RINVPASWD, RINVSYSID, RMSGQFUL, RTHROTTLED = 0x0D, 0x0E, 0x0F, 0x14, 0x58
RINVCMDID, RINVEXPIRY = 0x03, 0x62

_n = [0]


def smsc_port(api):
    return int(api.warp.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])


def account(api, cid=None, **fields):
    _n[0] += 1
    body = {"customer_id": cid or api.customer(), "system_id": "bind%d" % _n[0],
            "password": "pw%d" % _n[0], "allowed_cidrs": ["127.0.0.0/8"]}
    body.update(fields)
    a = api.admin.create("/api/v1/smpp-accounts", body)
    a["password"] = body["password"]
    time.sleep(0.5)  # the smsc sees accounts through a snapshot polled every 200 ms
    return a


@pytest.fixture(scope="module", autouse=True)
def default_route(api):
    """Every destination routed (to a carrier whose SMSC is not there): the
    submits here are about the customer side only."""
    carrier = smppfix.carrier_with_connector(api, 9)
    smppfix.route(api, "", [carrier])


@pytest.fixture
def esmes(api):
    started = []

    def make(**cfg):
        e = smppfix.Esme(smsc_port(api), **cfg)
        started.append(e)
        e.wait("connected")
        return e

    yield make
    for e in started:
        e.stop()


def test_bind_with_the_right_password_and_submit_gets_a_stored_id(api, esmes):
    a = account(api)
    e = esmes()
    assert e.bind(a["system_id"], a["password"]) == ROK
    r = e.submit(source_addr="12025550100", destination_addr="447700900123",
                 short_message="hello from npm")
    assert r["command_status"] == ROK
    rows = api.rows("SELECT * FROM messages WHERE id = ?", "msg_" + r["message_id"])
    assert len(rows) == 1
    m = rows[0]
    assert (m["customer_id"], m["smpp_account_id"], m["source"], m["destination"]) == (
        a["customer_id"], a["id"], "12025550100", "447700900123")
    assert bytes.fromhex(m["body"]) == b"hello from npm"
    assert m["state"] == "accepted" and m["origin"] == "smpp"


@pytest.mark.parametrize("how,status", [
    ("wrong password", RINVPASWD),
    ("unknown system_id", RINVSYSID),
    ("account disabled", RBINDFAIL),
    ("address not allowed", RBINDFAIL),
    ("customer suspended", RBINDFAIL),
])
def test_every_bind_error(api, esmes, how, status):
    cid = api.customer()
    a = account(api, cid, **({"enabled": False} if how == "account disabled" else
                            {"allowed_cidrs": ["192.0.2.0/24"]} if how == "address not allowed"
                            else {}))
    if how == "customer suspended":
        assert api.admin.patch("/api/v1/customers/" + cid, {"status": "suspended"}).status == 200
    time.sleep(0.5)  # the snapshot sees the change
    e = esmes()
    pw = "nope" if how == "wrong password" else a["password"]
    sid = "nosuch" if how == "unknown system_id" else a["system_id"]
    assert e.bind(sid, pw) == status
    e.wait("closed")  # a refused bind ends the session


def test_max_binds_then_a_bind_frees_its_slot(api, esmes):
    a = account(api, max_binds=1)
    first = esmes()
    assert first.bind(a["system_id"], a["password"]) == ROK
    second = esmes()
    assert second.bind(a["system_id"], a["password"]) == RBINDFAIL
    first.send(cmd="unbind", tag="u")
    first.wait("unbind_resp", tag="u")
    third = esmes()
    assert third.bind(a["system_id"], a["password"]) == ROK


def test_bind_states(api, esmes):
    a = account(api)
    e = esmes()
    # Before a bind: a submit is out of state; enquire_link is always fine.
    assert e.submit(destination_addr="1", short_message="x")["command_status"] == RINVBNDSTS
    e.send(cmd="enquire_link", tag="el")
    assert e.wait("enquire_link_resp", tag="el")["command_status"] == ROK
    assert e.bind(a["system_id"], a["password"], "receiver") == ROK
    assert e.bind(a["system_id"], a["password"]) == RALYBND
    # A receiver may not submit.
    assert e.submit(destination_addr="1", short_message="x")["command_status"] == RINVBNDSTS


def test_undecodable_pdu_gets_generic_nack_and_the_session_goes_on(api, esmes):
    a = account(api)
    e = esmes()
    assert e.bind(a["system_id"], a["password"]) == ROK
    # A well-framed PDU with an unknown command_id (0x00000777), sequence 42.
    e.send(cmd="raw", hex="00000010" "00000777" "00000000" "0000002a")
    nack = e.wait("generic_nack")
    assert nack["command_status"] == RINVCMDID and nack["sequence_number"] == 42
    r = e.submit(destination_addr="15550001", short_message="still here")
    assert r["command_status"] == ROK


def test_submit_without_destination_and_bad_validity(api, esmes):
    a = account(api)
    e = esmes()
    assert e.bind(a["system_id"], a["password"]) == ROK
    assert e.submit(destination_addr="", short_message="x")["command_status"] == RINVDSTADR
    r = e.submit(destination_addr="1555", short_message="x", validity_period="not-a-time")
    assert r["command_status"] == RINVEXPIRY


def test_throttle_and_window(api, esmes):
    a = account(api, throughput=5, burst=5, window=1000)
    e = esmes()
    assert e.bind(a["system_id"], a["password"]) == ROK
    e.send(cmd="submit_many", n=20, window=20, tag="t",
           fields={"destination_addr": "1555{i}", "short_message": "t"})
    done = e.wait("submit_many_done", tag="t")
    by = {int(k): v for k, v in done["by_status"].items()}
    assert by.get(ROK, 0) <= 6 and by.get(RTHROTTLED, 0) >= 14, by

    w = account(api, throughput=100000, window=2)
    f = esmes()
    assert f.bind(w["system_id"], w["password"]) == ROK
    f.send(cmd="submit_many", n=50, window=50, tag="w",
           fields={"destination_addr": "1666{i}", "short_message": "w"})
    done = f.wait("submit_many_done", tag="w")
    by = {int(k): v for k, v in done["by_status"].items()}
    assert by.get(RMSGQFUL, 0) > 0 and by.get(ROK, 0) >= 2, by


def test_kill_9_loses_no_acknowledged_message(api, warp_factory, tmp_path):
    """Thousands of submits in flight, warp killed with SIGKILL: every
    message the ESME got ESME_ROK for is a row after the restart."""
    a = account(api, throughput=100000, burst=100000, window=1000)
    w = warp_factory(store_url=api.warp.store_url, extra_ini=API_INI,
                     env={"WARP_ADMIN_TOKEN": "unused-but-long-enough-0", "WARP_RUN_ROLES": "smsc"})
    w.start()
    port = int(w.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])
    e = smppfix.Esme(port)
    try:
        e.wait("connected")
        assert e.bind(a["system_id"], a["password"]) == ROK
        e.send(cmd="submit_many", n=20000, window=200, each=True, tag="k",
               fields={"destination_addr": "1777{i}", "short_message": "durable"})
        e.wait("submit_resp", timeout=30, count=1000, tag="k", command_status=ROK)
        w.proc.kill()
        w.proc.wait()
        time.sleep(0.3)  # the ESME reads what was on the wire before the reset
        acked = {"msg_" + ev["message_id"] for ev in e.seen("submit_resp", tag="k", command_status=ROK)}
    finally:
        e.stop()
    assert len(acked) >= 1000
    stored = {r["id"] for r in api.rows("SELECT id FROM messages WHERE destination LIKE '1777%'")}
    assert acked <= stored, "%d acknowledged messages are not in the store" % len(acked - stored)


def test_perl_net_smpp_binds_and_submits(api):
    a = account(api)
    e = smppfix.PerlEsme(smsc_port(api))
    try:
        e.wait("connected")
        assert e.bind(a["system_id"], a["password"], "transmitter") == ROK
        r = e.submit(source_addr="15550100", destination_addr="15550199",
                     short_message="from Net::SMPP")
        assert r["command_status"] == ROK
        m = api.rows("SELECT body, destination FROM messages WHERE id = ?", "msg_" + r["message_id"])
        assert m and bytes.fromhex(m[0]["body"]) == b"from Net::SMPP"
        assert e.bind(a["system_id"], a["password"], "transmitter") == RALYBND
    finally:
        e.stop()
