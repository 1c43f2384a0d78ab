"""Inbound (MO) messages: an upstream carrier's SMSC (npm smpp,
tests/peers/smsc_sim.js) sends deliver_sm to one of a customer's numbers
with sms enabled; WARP answers ESME_ROK once the message is stored and
delivers it as deliver_sm to a receiver the customer has bound (npm smpp or
Perl Net::SMPP), holding it while none is; multi-part MO (UDH 8/16-bit,
SAR) is joined first; a destination that is not such a number is refused
at the upstream.  Each test runs its own smsc process on the module's store
(the api role alone serves provisioning), so one can be killed with
SIGKILL.  Against SQLite and PostgreSQL."""
import re
import time
import uuid

import pytest

import smppfix
from smppfix import carrier_with_connector

pytest.register_assert_rewrite("apiclient")
from apiclient import API_INI, running_env  # noqa: E402

pytest_plugins = ["apiclient"]

ROK, RINVDSTADR, RX_P_APPN = 0x00, 0x0B, 0x65
_n = [0]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def api(request, tmp_path_factory):
    yield from running_env(request, tmp_path_factory, roles="api")


@pytest.fixture
def peers(api, warp_factory):
    started, warps = [], []

    def smsc(**env):
        e = {"WARP_ADMIN_TOKEN": "unused-but-long-enough-0", "WARP_RUN_ROLES": "smsc"}
        e.update(env)
        w = warp_factory(store_url=api.warp.store_url, extra_ini=API_INI, env=e)
        warps.append(w)
        return w.start()

    def upstream(**cfg):
        u = smppfix.UpstreamSmsc(**cfg)
        started.append(u)
        return u

    def esme(w, perl=False):
        port = int(w.env["WARP_SMSC_LISTEN"].rsplit(":", 1)[1])
        e = (smppfix.PerlEsme if perl else smppfix.Esme)(port)
        started.append(e)
        e.wait("connected")
        return e

    yield smsc, upstream, esme
    smppfix.stop_smsc_test(api, warps, started)


def provision(api, up, sms=True):
    """A customer with a number (sms as given), an SMPP account and a
    carrier whose connector binds to the upstream up."""
    _n[0] += 1
    cid = api.customer()
    number = "+4479%08d" % (int(uuid.uuid4().hex[:7], 16) % 10**8)
    api.admin.create("/api/v1/numbers", {"e164": number, "customer_id": cid, "sms": sms})
    sid = "mo%d%s" % (_n[0], uuid.uuid4().hex[:6])
    acct = api.admin.create("/api/v1/smpp-accounts", {
        "customer_id": cid, "system_id": sid, "password": "pw", "allowed_cidrs": ["127.0.0.1"]})
    carrier_with_connector(api, up.port)
    return cid, number[1:], sid, acct["id"]


def mo_row(api, number, timeout=10, state=None):
    deadline = time.monotonic() + timeout
    while True:
        rows = api.rows("SELECT state, delivered_to, parts, part_total, body FROM inbound_messages "
                        "WHERE number = ? AND state <> 'part'", "+" + number)
        if rows and (state is None or rows[0]["state"] == state):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError("MO to %s is %r, not %s" % (number, rows, state))
        time.sleep(0.05)


def send_mo(up, tag, **fields):
    up.send(cmd="mo", tag=tag, **fields)
    resp = "data_sm_resp" if fields.get("data_sm") else "deliver_sm_resp"
    return up.wait(resp, what=tag)["command_status"]


def metric(w, result):
    text = w.get("/metrics").body.decode()
    m = re.search(r'^warp_smsc_mo_total\{result="%s"\} (\d+)' % result, text, re.M)
    return int(m.group(1)) if m else 0


@pytest.mark.parametrize("perl", [False, True], ids=["npm", "net-smpp"])
def test_mo_reaches_a_bound_receiver(api, peers, perl):
    smsc, upstream, esme = peers
    up = upstream()
    _, number, sid, acct = provision(api, up)
    w = smsc()
    up.wait("bind")
    e = esme(w, perl)
    assert e.bind(sid, "pw", "receiver") == ROK
    assert send_mo(up, "m1", source_addr="447700900123", destination_addr=number,
                   text="hello from the handset") == ROK
    if perl:
        e.send(cmd="read", seconds=5, tag="r")
    d = e.wait("deliver_sm")
    assert (d["source_addr"], d["destination_addr"]) == ("447700900123", number)
    assert d["text"] == "hello from the handset"
    assert d["esm_class"] == 0 and d["data_coding"] == 0
    row = mo_row(api, number, state="delivered")[0]
    assert row["delivered_to"] == acct
    assert metric(w, "received") >= 1 and metric(w, "delivered") >= 1


def test_mo_as_data_sm_reaches_a_bound_receiver(api, peers):
    smsc, upstream, esme = peers
    up = upstream()
    _, number, sid, _ = provision(api, up)
    w = smsc()
    up.wait("bind")
    e = esme(w)
    assert e.bind(sid, "pw", "transceiver") == ROK
    assert send_mo(up, "d1", data_sm=True, source_addr="447700900130", destination_addr=number,
                   text="sent as data_sm") == ROK
    d = e.wait("deliver_sm")
    assert d["text"] == "sent as data_sm" and d["source_addr"] == "447700900130"
    mo_row(api, number, state="delivered")


def test_mo_held_until_a_receiver_binds(api, peers):
    smsc, upstream, esme = peers
    up = upstream()
    _, number, sid, _ = provision(api, up)
    w = smsc()
    up.wait("bind")
    tx = esme(w)
    assert tx.bind(sid, "pw", "transmitter") == ROK
    assert send_mo(up, "h1", source_addr="447700900124", destination_addr=number,
                   text="wait for me") == ROK
    time.sleep(0.7)
    assert not tx.seen("deliver_sm")
    assert mo_row(api, number)[0]["state"] == "pending"
    rx = esme(w)
    assert rx.bind(sid, "pw", "transceiver") == ROK
    d = rx.wait("deliver_sm")
    assert d["text"] == "wait for me" and d["destination_addr"] == number
    mo_row(api, number, state="delivered")


# 126 + 117 + 17 octets: each part fits an SMS with its UDH, the joined
# message does not fit short_message (254) and goes as message_payload.
PARTS = ["The first part of a long inbound message, " * 3,
         "then the second part, long enough too. " * 3,
         "and the last one."]


def part_fields(mode, i, ref):
    if mode == "udh8":
        return {"udh_hex": "050003%02x03%02x" % (ref & 0xff, i + 1)}
    if mode == "udh16":
        return {"udh_hex": "060804%04x03%02x" % (ref, i + 1)}
    return {"tlvs": {"sar_msg_ref_num": ref, "sar_total_segments": 3,
                     "sar_segment_seqnum": i + 1}}


@pytest.mark.parametrize("mode", ["udh8", "udh16", "sar"])
def test_multipart_mo_arrives_joined(api, peers, mode):
    smsc, upstream, esme = peers
    up = upstream()
    _, number, sid, _ = provision(api, up)
    w = smsc()
    up.wait("bind")
    e = esme(w)
    assert e.bind(sid, "pw", "receiver") == ROK
    for i in (2, 0, 1):  # out of order: joined by seqnum
        assert send_mo(up, "p%d" % i, source_addr="447700900125", destination_addr=number,
                       text=PARTS[i], **part_fields(mode, i, 0x1234)) == ROK
        if i != 1:
            time.sleep(0.3)
            assert not e.seen("deliver_sm"), "a part went out before the set was complete"
    d = e.wait("deliver_sm")
    assert d["payload_text"] == "".join(PARTS)  # 260 octets: past short_message's 254
    assert d["esm_class"] == 0 and "udh_hex" not in d
    row = mo_row(api, number, state="delivered")[0]
    assert (row["parts"], row["part_total"]) == (3, 3)
    assert api.count("inbound_messages", "number = ? AND state = 'part'", "+" + number) == 0


def test_incomplete_multipart_mo_is_delivered_after_the_timeout(api, peers):
    smsc, upstream, esme = peers
    up = upstream()
    _, number, sid, _ = provision(api, up)
    w = smsc(WARP_SMSC_MO_REASSEMBLY_TIMEOUT="1s")
    up.wait("bind")
    e = esme(w)
    assert e.bind(sid, "pw", "receiver") == ROK
    for i in (0, 2):
        assert send_mo(up, "q%d" % i, source_addr="447700900126", destination_addr=number,
                       text=PARTS[i], **part_fields("udh8", i, 0x77)) == ROK
    d = e.wait("deliver_sm", timeout=10)
    assert d["text"] == PARTS[0] + PARTS[2]
    row = mo_row(api, number, state="delivered")[0]
    assert (row["parts"], row["part_total"]) == (2, 3)
    assert metric(w, "incomplete") >= 1


def test_mo_to_a_number_without_sms_or_unknown_is_refused(api, peers):
    smsc, upstream, _ = peers
    up = upstream()
    _, number, _, _ = provision(api, up, sms=False)
    w = smsc()
    up.wait("bind")
    assert send_mo(up, "n1", source_addr="447700900127", destination_addr=number,
                   text="no sms here") == RINVDSTADR
    assert send_mo(up, "n2", source_addr="447700900127", destination_addr="15559990000",
                   text="nobody's") == RINVDSTADR
    assert api.count("inbound_messages", "number = ?", "+" + number) == 0
    assert metric(w, "refused") == 2


def test_mo_with_a_concatenation_that_does_not_hold_is_refused(api, peers):
    smsc, upstream, _ = peers
    up = upstream()
    _, number, _, _ = provision(api, up)
    w = smsc()
    up.wait("bind")
    # Part 4 of 3: the upstream must not resend it (ESME_RX_P_APPN).
    assert send_mo(up, "c1", source_addr="447700900129", destination_addr=number,
                   text="broken", udh_hex="0500031203" "04") == RX_P_APPN
    assert api.count("inbound_messages", "number = ?", "+" + number) == 0
    assert metric(w, "refused") == 1


def test_kill_9_after_the_upstream_got_rok_still_delivers(api, peers):
    smsc, upstream, esme = peers
    up = upstream()
    _, number, sid, _ = provision(api, up)
    w = smsc()
    up.wait("bind")
    assert send_mo(up, "k1", source_addr="447700900128", destination_addr=number,
                   text="survive the crash") == ROK
    w.proc.kill()
    w.proc.wait()
    w2 = smsc()
    e = esme(w2)
    assert e.bind(sid, "pw", "receiver") == ROK
    d = e.wait("deliver_sm")
    assert d["text"] == "survive the crash" and d["source_addr"] == "447700900128"
    mo_row(api, number, state="delivered")


def test_multipart_mo_is_joined_across_two_processes(api, peers):
    """The parts of one multi-part MO stored by two smsc processes on one
    store — the first killed (-9) once its part was acknowledged — are
    joined once, by the process that finds the set complete: parts wait as
    rows of inbound_messages, not in a process's memory (decision 0025), so
    where each part came in does not matter."""
    smsc, upstream, esme = peers
    up = upstream()
    _, number, sid, _ = provision(api, up)
    a = smsc()
    up.wait("bind")
    assert send_mo(up, "x0", source_addr="447700900131", destination_addr=number,
                   text=PARTS[0], **part_fields("udh8", 0, 0x42)) == ROK
    a.proc.kill()
    a.proc.wait()
    b = smsc()
    up.wait("bind", count=2)
    for i in (1, 2):
        assert send_mo(up, "x%d" % i, source_addr="447700900131", destination_addr=number,
                       text=PARTS[i], **part_fields("udh8", i, 0x42)) == ROK
    e = esme(b)
    assert e.bind(sid, "pw", "receiver") == ROK
    d = e.wait("deliver_sm")
    assert d["payload_text"] == "".join(PARTS)
    rows = mo_row(api, number, state="delivered")
    assert len(rows) == 1 and (rows[0]["parts"], rows[0]["part_total"]) == (3, 3)
    assert api.count("inbound_messages", "number = ? AND state = 'part'", "+" + number) == 0
    time.sleep(0.5)
    assert len(e.seen("deliver_sm")) == 1
